"""Issue #10.3: live-update streams take a database connection only for each read, so many open live pages
never exhaust the connection pool (other users' requests keep answering)."""

from __future__ import annotations

import socket
import threading
import time

import httpx
import pytest
import uvicorn

from cleanheat.telemetry.config import TelemetryConfig
from cleanheat.web.app import create_app
from tests.helpers import PASSWORD, bootstrap

STREAMS = 50


def _serve(app):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                           timeout_graceful_shutdown=5))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_for(lambda: server.started, 30, "server start")
    return server, thread, f"http://127.0.0.1:{port}"


def wait_for(condition, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def _login(url: str, username: str) -> httpx.Cookies:
    with httpx.Client(base_url=url, timeout=30) as c:
        r = c.post("/login", data={"username": username, "password": PASSWORD, "next": "/"})
        assert r.status_code == 303, r.text
        return c.cookies


class _Tab(threading.Thread):
    """One open live page: reads the first snapshot, then keeps the stream open until told to close."""

    def __init__(self, url: str, cookies: httpx.Cookies, close: threading.Event) -> None:
        super().__init__(daemon=True)
        self.url, self.cookies, self.close = url, cookies, close
        self.got_snapshot = threading.Event()
        self.error: str | None = None
        self.client = httpx.Client(base_url=url, cookies=cookies, timeout=120)

    def run(self) -> None:
        try:
            with self.client.stream("GET", "/telemetry/stream", params={"scope": "overview", "interval_s": 1}) as r:
                if r.status_code != 200:
                    self.error = f"HTTP {r.status_code}"
                    return
                for line in r.iter_lines():
                    if line.startswith("event: snapshot"):
                        self.got_snapshot.set()
        except Exception as exc:  # reported by the test (closing the tab ends it too)
            if not self.close.is_set():
                self.error = repr(exc)

    def stop(self) -> None:
        """Close the tab (the thread ends when the server notices, at the latest when it shuts down)."""
        self.close.set()
        try:
            self.client.close()
        except Exception:  # closing while the other thread reads may complain
            pass


@pytest.fixture
def live(settings):
    bootstrap(settings)
    app = create_app(settings, background=False)
    app.state.telemetry_config = TelemetryConfig(stream_max_per_user=STREAMS)
    server, thread, url = _serve(app)
    yield app, url
    server.should_exit = True
    thread.join(timeout=30)


def test_fifty_open_streams_hold_no_connections_and_others_still_answer(live):
    app, url = live
    cookies = _login(url, "htjt")
    close = threading.Event()
    tabs = [_Tab(url, cookies, close) for _ in range(STREAMS)]
    for t in tabs:
        t.start()
    try:
        wait_for(lambda: all(t.got_snapshot.is_set() or t.error for t in tabs), 180, "every stream's first snapshot")
        assert [t.error for t in tabs if t.error] == []
        # between reads, the streams hold no pooled connection
        wait_for(lambda: app.state.engine.pool.checkedout() <= 2, 30, "connections given back between reads")
        # another user's requests answer (a generous bound: the test machine is slow; without the fix they
        # wait for the pool timeout, 30 s, and fail)
        with httpx.Client(base_url=url, timeout=20) as other:
            assert other.get("/healthz").status_code == 200
        with httpx.Client(base_url=url, timeout=20, cookies=_login(url, "office")) as other:
            assert other.get("/telemetry").status_code == 200
    finally:
        for t in tabs:
            t.stop()


def test_a_user_may_hold_only_so_many_streams(live):
    app, url = live
    app.state.telemetry_config = TelemetryConfig(stream_max_per_user=2)
    cookies = _login(url, "htjt")
    close = threading.Event()
    tabs = [_Tab(url, cookies, close) for _ in range(2)]
    for t in tabs:
        t.start()
    try:
        wait_for(lambda: all(t.got_snapshot.is_set() or t.error for t in tabs), 60, "two streams")
        with httpx.Client(base_url=url, cookies=cookies, timeout=20) as c:
            r = c.get("/telemetry/stream", params={"scope": "overview"})
            assert r.status_code == 429 and "at most 2" in r.text
            assert c.get("/telemetry/stream", params={"scope": "station:" + "9" * 30}).status_code == 422
    finally:
        for t in tabs:
            t.stop()
