"""Helpers for API and page tests: an app on a migrated database with the programme loaded and users."""

from __future__ import annotations

import re
from pathlib import Path

from fastapi.testclient import TestClient

from cleanheat.auth import service as auth_service
from cleanheat.auth.service import Actor
from cleanheat.config import REPO_ROOT, Settings
from cleanheat.programme.bootstrap import load_reference
from cleanheat.store.engine import make_engine, make_sessionmaker, session_scope
from cleanheat.web.app import create_app
from tests import snapshots

PASSWORD = "test-password-1"

#: username -> (role, organisation code)
TEST_USERS = {
    "admin": ("admin", "platform"),
    "office": ("programme_office", "office"),
    "daoli": ("reporting_unit", "gov-daoli"),
    "nangang": ("reporting_unit", "gov-nangang"),
    "binxian": ("reporting_unit", "gov-binxian"),
    "htjt": ("heat_company", "htjt"),
    "veolia": ("heat_company", "veolia"),
    "eeb": ("ecology_bureau", "hrb-eeb"),
}


def bootstrap(settings: Settings, users: dict[str, tuple[str, str]] | None = None) -> None:
    """Load the programme's reference data and create the test users (on a fresh database: a copy of the
    session's bootstrapped snapshot, see tests/snapshots.py)."""
    users = users or TEST_USERS
    shipped_city = Path(settings.city_dir).resolve().is_relative_to(REPO_ROOT / "data")  # not a test's own copy
    key = (str(settings.city_dir), tuple(sorted(users.items())))
    if not (shipped_city and snapshots.restore(settings, key, lambda s: _bootstrap(s, users))):
        _bootstrap(settings, users)


def _bootstrap(settings: Settings, users: dict[str, tuple[str, str]]) -> None:
    engine = make_engine(settings.database_url)
    with session_scope(make_sessionmaker(engine)) as session:
        load_reference(session, settings)
        for name, (role, org) in users.items():
            auth_service.create_user(session, Actor.system("test"), username=name, password=PASSWORD, role=role,
                                     org_code=org)
    engine.dispose()


def make_client(settings: Settings) -> TestClient:
    return TestClient(create_app(settings, background=False))


def accepted_job(r) -> str:
    """The job a JSON API route queued: checks the ``202 Accepted`` answer and returns its ``Location``."""
    assert r.status_code == 202, r.text
    body = r.json()
    assert r.headers["location"] == body["status_url"] == f"/api/jobs/{body['job_id']}", body
    assert body["state"] == "queued" and body["page_url"] == f"/jobs/{body['job_id']}"
    return r.headers["location"]


def token(client: TestClient, username: str) -> dict[str, str]:
    r = client.post("/api/auth/token", data={"username": username, "password": PASSWORD})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def login(client: TestClient, username: str) -> str:
    """Log in through the form; returns the CSRF token of the session for later form posts."""
    r = client.post("/login", data={"username": username, "password": PASSWORD, "next": "/"},
                    follow_redirects=False)
    assert r.status_code == 303, r.text
    return csrf_of(client)


def csrf_of(client: TestClient, path: str = "/admin/audit") -> str:
    page = client.get("/login")
    m = re.search(r'"X-CSRF-Token": "([^"]+)"', page.text)
    assert m, "no CSRF token in page"
    return m.group(1)


def run_async(coro):
    """``asyncio.run(coro)`` on a thread of its own: a browser test earlier on the same xdist worker leaves
    Playwright's event loop running in the main thread, where ``asyncio.run`` refuses to start."""
    import asyncio
    import concurrent.futures

    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


def finish_jobs(client: TestClient, job_url: str, timeout_s: float = 300.0, headers: dict | None = None) -> dict:
    """Let the queued jobs run (here, when the app runs no worker thread), then wait for the job at ``job_url``
    (``/jobs/<id>`` or the API's ``/api/jobs/<id>``) to end; its JSON (state, result, result_url, error), read
    with ``headers`` (a bearer token) or the client's session."""
    import time

    from cleanheat.jobs.worker import Worker

    app = client.app
    job_id = int(job_url.split("?", 1)[0].rstrip("/").rsplit("/", 1)[1])
    if getattr(app.state, "worker", None) is None:
        Worker(app.state.settings, app.state.engine, services=False, periodic=False).run_pending()
    deadline = time.monotonic() + timeout_s
    while True:
        j = client.get(f"/api/jobs/{job_id}", headers=headers).json()
        if j["state"] in ("done", "failed") or time.monotonic() > deadline:
            return j
        time.sleep(0.2)
