"""Real browser: the lockout message on the login page, and the account page's password change (issue #10)."""

import pytest

from cleanheat.auth import service as auth_service
from cleanheat.auth.service import Actor
from cleanheat.store.engine import make_engine, make_sessionmaker, session_scope
from tests.e2e.conftest import serve, shot
from tests.helpers import PASSWORD

pytestmark = pytest.mark.e2e

CHOSEN = "Songhua-river-in-winter"


@pytest.fixture
def locking_app(e2e_settings, monkeypatch):
    """A live app that locks an account after two wrong passwords (no back-off in between)."""
    monkeypatch.setenv("CLEANHEAT_AUTH_LOCKOUT_AFTER_FAILURES", "2")
    monkeypatch.setenv("CLEANHEAT_AUTH_BACKOFF_BASE_S", "0")
    server, thread, url = serve(e2e_settings)
    yield url
    server.should_exit = True
    thread.join(timeout=10)


def _submit(page, base_url: str, username: str, password: str) -> None:
    page.goto(f"{base_url}/login")
    page.fill("#username", username)
    page.fill("#password", password)
    with page.expect_navigation():
        page.click("button[type=submit]")
    page.wait_for_load_state("networkidle")


def test_login_page_says_the_account_is_locked_in_chinese_and_english(locking_app, page):
    for _ in range(2):
        _submit(page, locking_app, "daoli", "wrong-password-x")
    _submit(page, locking_app, "daoli", PASSWORD)
    error = page.locator("#login-error").inner_text()
    assert "该账户因多次密码错误已被锁定" in error and "an administrator must unlock it" in error
    shot(page, "login-locked")


def test_first_login_change_and_account_page(live_app, page):
    engine = make_engine(live_app.settings.database_url)
    with session_scope(make_sessionmaker(engine)) as s:
        auth_service.create_user(s, Actor.system("test"), username="newbie", password="Initial-pass-2026",
                                 role="reporting_unit", org_code="gov-acheng", must_change_password=True)
    engine.dispose()
    _submit(page, live_app.url, "newbie", "Initial-pass-2026")
    assert page.url.endswith("/account/password")
    assert page.locator("#forced-change").is_visible()
    page.fill("#current_password", "Initial-pass-2026")
    page.fill("#new_password", "1234567890")
    page.fill("#new_password2", "1234567890")
    with page.expect_navigation():
        page.click("#change-password")
    page.wait_for_load_state("networkidle")
    assert "简单的字符序列" in page.locator("#password-errors").inner_text()
    page.fill("#current_password", "Initial-pass-2026")
    page.fill("#new_password", CHOSEN)
    page.fill("#new_password2", CHOSEN)
    with page.expect_navigation():
        page.click("#change-password")
    page.wait_for_load_state("networkidle")
    assert page.url.endswith("/account")
    assert "密码已修改" in page.content()
    assert page.locator("#sessions").inner_text().count("当前会话") == 1
    shot(page, "account-page")
    with page.expect_navigation():
        page.click("header .who button")  # log out
    page.wait_for_load_state("networkidle")
    _submit(page, live_app.url, "newbie", CHOSEN)
    assert not page.url.endswith("/login") and not page.url.endswith("/account/password")
