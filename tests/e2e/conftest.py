"""Real-browser tests: Debian's chromium, headless, driven by Playwright for Python (never `playwright install`).

``live_app`` serves a fresh SQLite installation (programme + test users, see tests/helpers.py) with uvicorn in a
thread on a free port; ``page`` is a new browser page. Screenshots go to ``test-artifacts/``.
"""

from __future__ import annotations

import shutil
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import uvicorn

from cleanheat.config import Settings
from cleanheat.web.app import create_app
from tests.helpers import PASSWORD, bootstrap

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic"]

# The tests here are marked ``e2e`` by tests/suite_rules.py (a ``pytestmark`` in a conftest has no effect).


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LiveApp:
    def __init__(self, settings: Settings, url: str) -> None:
        self.settings = settings
        self.url = url


@pytest.fixture
def e2e_settings(tmp_path: Path, sqlite_template: Path) -> Settings:
    shutil.copyfile(sqlite_template, tmp_path / "e2e.db")  # the session's migrated template (tests/conftest.py)
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'e2e.db'}", var_dir=tmp_path / "var",
                        secret_key="e2e-secret")
    bootstrap(settings)
    return settings


def serve(settings: Settings, *, background: bool = False) -> tuple[uvicorn.Server, threading.Thread, str]:
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(settings, background=background), host="127.0.0.1",
                                           port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.time() + 20
    while not server.started:
        if time.time() > deadline:
            raise RuntimeError("test server did not start")
        time.sleep(0.05)
    return server, thread, f"http://127.0.0.1:{port}"


@pytest.fixture
def live_app(e2e_settings: Settings) -> Iterator[LiveApp]:
    server, thread, url = serve(e2e_settings)
    yield LiveApp(e2e_settings, url)
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture(scope="package")
def browser():
    """One browser for the e2e package, closed when the package is done: Playwright's sync API keeps an event
    loop running in this thread while it is open, which would break later tests that call asyncio.run()."""
    from playwright.sync_api import sync_playwright

    exe = shutil.which("chromium")
    if exe is None:
        pytest.fail("Debian's chromium is not installed (make system-deps)")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=exe, headless=True, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser, request):
    context = browser.new_context(viewport={"width": 1360, "height": 900}, locale="zh-CN")
    pg = context.new_page()
    yield pg
    if getattr(request.node, "rep_call", None) is not None and request.node.rep_call.failed:
        ARTIFACTS.mkdir(exist_ok=True)
        pg.screenshot(path=str(ARTIFACTS / f"FAILED-{request.node.name}.png"), full_page=True)
    context.close()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, f"rep_{rep.when}", rep)


@pytest.fixture
def login_as(page) -> Callable[[str, str], None]:
    def do(base_url: str, username: str) -> None:
        page.goto(f"{base_url}/login")
        page.fill("#username", username)
        page.fill("#password", PASSWORD)
        with page.expect_navigation():
            page.click("button[type=submit]")
        page.wait_for_load_state("networkidle")

    return do


def shot(page, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def assert_no_sideways_scroll(page) -> None:
    """The page is no wider than the viewport (a phone never scrolls a page sideways); names what sticks out."""
    width = page.evaluate("window.innerWidth")
    out = page.evaluate("""() => [...document.querySelectorAll('body *')]
        .filter(e => e.getBoundingClientRect().right > window.innerWidth + 1
                && !e.closest('table.data, .scroll-x') && getComputedStyle(e).position !== 'fixed')
        .slice(0, 6)
        .map(e => `${e.tagName.toLowerCase()}#${e.id}.${e.className} `
                  + Math.round(e.getBoundingClientRect().right))""")
    assert page.evaluate("document.documentElement.scrollWidth") <= width, out
