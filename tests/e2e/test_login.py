from tests.e2e.conftest import shot


def test_login_page_in_chinese_and_wrong_password(live_app, page):
    page.goto(f"{live_app.url}/login")
    assert page.locator("h1").inner_text().startswith("登录")
    page.fill("#username", "office")
    page.fill("#password", "wrong-password")
    page.click("button[type=submit]")
    assert "用户名或密码错误" in page.content()
    shot(page, "login-error")


def test_login_then_audit_page_and_english(live_app, page, login_as):
    login_as(live_app.url, "office")
    page.goto(f"{live_app.url}/admin/audit")
    assert "审计日志" in page.locator("h1").inner_text()
    page.click("text=English")
    assert "Audit log" in page.locator("h1").inner_text()
