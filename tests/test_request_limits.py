"""Issue #10.10 and #10.11: bodies are limited and authorised before they are read; numeric parameters are
bounded (4xx, never 500); the SQLite database is readable by its owner only."""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import re
import stat
from pathlib import Path

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from cleanheat.config import Settings
from cleanheat.store.engine import make_engine
from cleanheat.web.app import all_routes, create_app
from tests.helpers import bootstrap, token

HUGE = 10**30
MB = 1024 * 1024


# --- bodies: authorised first, limited by Content-Length and while read --------------------------------------

class Probe:
    """An ASGI client: sends ``chunks`` as the body and records what the app read and answered."""

    def __init__(self, chunks: list[bytes]) -> None:
        self.chunks, self.read, self.messages = list(chunks), 0, []

    async def receive(self) -> dict:
        if not self.chunks:
            return {"type": "http.request", "body": b"", "more_body": False}
        chunk = self.chunks.pop(0)
        self.read += len(chunk)
        return {"type": "http.request", "body": chunk, "more_body": bool(self.chunks)}

    async def send(self, message: dict) -> None:
        self.messages.append(message)

    @property
    def status(self) -> int:
        return next(m["status"] for m in self.messages if m["type"] == "http.response.start")

    @property
    def headers(self) -> dict[str, str]:
        start = next(m for m in self.messages if m["type"] == "http.response.start")
        return {k.decode(): v.decode() for k, v in start["headers"]}


def post(app, path: str, headers: dict[str, str], chunks: list[bytes]) -> Probe:
    probe = Probe(chunks)
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
             "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "",
             "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
             "client": ("127.0.0.1", 1234), "server": ("testserver", 80)}
    # on a thread of its own: a browser test on the same xdist worker may leave Playwright's loop running here
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, app(scope, probe.receive, probe.send)).result()
    return probe


@pytest.fixture
def app(settings):
    bootstrap(settings)
    return create_app(settings, background=False)


@pytest.fixture
def htjt(app) -> dict[str, str]:
    return token(TestClient(app), "htjt")


MULTIPART = {"content-type": "multipart/form-data; boundary=xyz"}


def test_an_anonymous_body_is_refused_unread(app):
    """100 MB announced by an anonymous client: 401 (API) or the login page (pages), nothing read."""
    api = post(app, "/api/assets/import", MULTIPART | {"content-length": str(100 * MB)}, [b"x" * 1000])
    assert api.status == 401 and api.read == 0
    page = post(app, "/assets/import", MULTIPART | {"content-length": str(100 * MB)}, [b"x" * 1000])
    assert page.status == 303 and page.headers["location"].startswith("/login") and page.read == 0
    chunked = post(app, "/api/programme/reports", MULTIPART | {"transfer-encoding": "chunked"}, [b"x" * 1000] * 5)
    assert chunked.status == 401 and chunked.read == 0
    forged = post(app, "/api/assets/import", MULTIPART | {"content-length": "1000", "authorization": "Bearer nope"},
                  [b"x" * 1000])
    assert forged.status == 401 and forged.read == 0


def test_an_oversized_body_is_refused_by_its_length_unread(app, htjt):
    upload = post(app, "/api/assets/import", MULTIPART | htjt | {"content-length": str(100 * MB)}, [b"x" * 1000])
    assert upload.status == 413 and upload.read == 0
    limit = app.state.settings.body_max_bytes
    as_json = post(app, "/api/planner/scenarios", htjt | {"content-type": "application/json",
                                                          "content-length": str(limit + 1)}, [b"{" * 10])
    assert as_json.status == 413 and as_json.read == 0
    body = json.loads(b"".join(m.get("body", b"") for m in as_json.messages))
    assert f"{limit:,}" in body["detail"]


def test_an_oversized_form_upload_gets_a_page_saying_so(app, htjt):
    """Issue 12.1: a page's upload form (a browser without script) gets a readable page, not JSON, unread."""
    page = post(app, "/assets/import", MULTIPART | htjt | {"content-length": str(100 * MB), "accept": "text/html",
                                                           "referer": "http://testserver/assets?x=1"}, [b"x" * 1000])
    assert page.status == 413 and page.read == 0 and page.headers["content-type"].startswith("text/html")
    text = b"".join(m.get("body", b"") for m in page.messages).decode()
    limit = app.state.settings.upload_max_bytes + 64 * 1024
    assert "请求过大" in text and f"{limit:,}" in text and 'href="/assets"' in text


def test_a_chunked_body_is_cut_off_at_the_limit(app, htjt):
    limit = app.state.settings.upload_max_bytes
    chunk = b"x" * (256 * 1024)
    n = limit // len(chunk) + 20
    head = b'--xyz\r\nContent-Disposition: form-data; name="file"; filename="a.csv"\r\nContent-Type: text/csv\r\n\r\n'
    probe = post(app, "/api/assets/import", MULTIPART | htjt | {"transfer-encoding": "chunked"},
                 [head] + [chunk] * n)
    assert probe.status == 413
    assert probe.read <= limit + 64 * 1024 + len(chunk) < len(head) + n * len(chunk)  # stopped reading at the limit


def test_device_ingest_has_its_own_limit_and_still_works(app):
    from cleanheat.telemetry.config import TelemetryConfig

    app.state.telemetry_config = TelemetryConfig(http_ingest_max_bytes=4096)
    probe = post(app, "/api/telemetry/ingest", {"content-type": "application/json", "content-length": "5000",
                                                "authorization": "Bearer chd_x"}, [b" " * 5000])
    assert probe.status == 413 and probe.read == 0
    small = post(app, "/api/telemetry/ingest", {"content-type": "application/json", "content-length": "2",
                                                "authorization": "Bearer chd_x"}, [b"{}"])
    assert small.status == 401  # the route's own device-token check, not the size limit


def test_logged_in_forms_and_login_still_work(app):
    client = TestClient(app)
    r = client.post("/login", data={"username": "htjt", "password": "wrong", "next": "/"}, follow_redirects=False)
    assert r.status_code in (200, 401, 422) and r.status_code != 413


# --- numeric parameters: 4xx, never 500 ---------------------------------------------------------------------

def _int_params(route: APIRoute) -> list[tuple[str, str]]:
    """(where, name) of every int path/query parameter of a route, its dependencies included."""
    out, stack = [], [route.dependant]
    while stack:
        dep = stack.pop()
        stack.extend(dep.dependencies)
        for where, params in (("path", dep.path_params), ("query", dep.query_params)):
            for p in params:
                if re.search(r"\bint\b", str(p.field_info.annotation)):
                    out.append((where, p.alias or p.name))
    return out


def _fill(path: str, int_names: set[str], target: str | None) -> str:
    def value(m: re.Match) -> str:
        name = m.group(1).split(":")[0]
        if name == target:
            return str(HUGE)
        return "1" if name in int_names else {"fmt": "xlsx"}.get(name, "x")
    return re.sub(r"\{([^}]+)\}", value, path)


def test_every_int_parameter_of_every_route_refuses_a_huge_number(app):
    client = TestClient(app, raise_server_exceptions=False)
    auth = token(client, "admin")
    cases = []
    for route in all_routes(app):
        if not isinstance(route, APIRoute):
            continue
        params = _int_params(route)
        names = {n for w, n in params if w == "path"}
        for where, name in params:
            for method in sorted(route.methods - {"HEAD"}):
                path = _fill(route.path, names, name if where == "path" else None)
                query = {name: str(HUGE)} if where == "query" else {}
                cases.append((method, path, query))
    assert len(cases) > 60  # the routes were found
    failed = []
    for method, path, query in cases:
        r = client.request(method, path, params=query, headers=auth, follow_redirects=False)
        if not 400 <= r.status_code < 500:
            failed.append((method, path, query, r.status_code))
    assert failed == []


# --- the SQLite file ------------------------------------------------------------------------------------------

def test_the_sqlite_database_is_readable_by_its_owner_only(tmp_path: Path):
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'var' / 'new' / 'cleanheat.db'}", secret_key="x")
    engine = make_engine(settings.database_url)
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE t (x INTEGER)")
        conn.exec_driver_sql("INSERT INTO t VALUES (1)")
        db = tmp_path / "var" / "new" / "cleanheat.db"
        files = [db, Path(f"{db}-wal"), Path(f"{db}-shm")]
        assert all(p.exists() for p in files)
        assert [stat.S_IMODE(p.stat().st_mode) for p in files] == [0o600] * 3
    assert stat.S_IMODE(db.parent.stat().st_mode) == 0o700
    engine.dispose()


def test_an_existing_world_readable_database_is_restricted(tmp_path: Path):
    db = tmp_path / "old.db"
    db.touch(mode=0o644)
    db.chmod(0o644)
    make_engine(f"sqlite:///{db}").dispose()
    assert stat.S_IMODE(db.stat().st_mode) == 0o600
