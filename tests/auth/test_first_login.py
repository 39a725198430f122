"""Issue #10 item 9: accounts an administrator created (or reset) must change their password at first login."""

from sqlalchemy import select

from cleanheat.auth.tables import User
from cleanheat.store.engine import session_scope
from tests.helpers import csrf_of, login

INITIAL = "Initial-pass-2026"
CHOSEN = "Songhua-river-in-winter"


def _admin_creates_newbie(client) -> None:
    csrf = login(client, "admin")
    r = client.post("/admin/users", data={"csrf_token": csrf, "username": "newbie", "password": INITIAL,
                                          "role": "reporting_unit", "org_code": "gov-acheng"})
    assert "已创建用户" in r.text
    client.post("/logout", data={"csrf_token": csrf})


def test_admin_created_user_must_change_password_before_anything_else(app_client):
    _admin_creates_newbie(app_client)
    r = app_client.post("/login", data={"username": "newbie", "password": INITIAL, "next": "/programme"},
                        follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/account/password"
    for path in ("/", "/account", "/admin/audit"):
        r = app_client.get(path, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"] == "/account/password", path
    page = app_client.get("/account/password").text
    assert "继续使用前请先修改密码" in page
    r = app_client.get("/api/me")
    assert r.status_code == 403 and "change your password" in r.json()["detail"]
    r = app_client.post("/api/auth/token", data={"username": "newbie", "password": INITIAL})
    assert r.status_code == 403 and "请先登录网页修改密码" in r.json()["detail"]

    csrf = csrf_of(app_client)
    r = app_client.post("/account/password", data={"csrf_token": csrf, "current_password": INITIAL,
                                                    "new_password": CHOSEN, "new_password2": CHOSEN},
                        follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/account"
    r = app_client.get("/admin/audit", follow_redirects=False)
    assert r.status_code == 403  # an ordinary reporting unit now: its pages, not the password form
    assert app_client.get("/api/me").json()["username"] == "newbie"
    assert app_client.post("/api/auth/token", data={"username": "newbie", "password": CHOSEN}).status_code == 200


def test_a_user_with_a_pending_change_can_still_log_out(app_client):
    _admin_creates_newbie(app_client)
    app_client.post("/login", data={"username": "newbie", "password": INITIAL})
    csrf = csrf_of(app_client)
    r = app_client.post("/logout", data={"csrf_token": csrf}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/login"
    assert app_client.get("/api/me").status_code == 401


def test_loaders_and_the_cli_decide_explicitly(settings, session_factory, monkeypatch):
    from typer.testing import CliRunner

    from cleanheat.cli.main import app
    from cleanheat.demo_accounts import DemoAccount, ensure_demo_accounts
    from tests.helpers import bootstrap

    bootstrap(settings)
    monkeypatch.setenv("CLEANHEAT_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("CLEANHEAT_VAR_DIR", str(settings.var_dir))
    runner = CliRunner()
    r = runner.invoke(app, ["user", "create", "ops1", "--role", "admin", "--org", "platform", "--password", INITIAL])
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["user", "create", "svc1", "--role", "heat_company", "--org", "htjt",
                            "--password", INITIAL, "--no-change-at-login"])
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["user", "create", "weak1", "--role", "heat_company", "--org", "htjt",
                            "--password", "12345678"])
    assert r.exit_code != 0 and "密码至少需要 10 个字符" in r.output
    with session_scope(session_factory) as s:
        # the demo city's logins work at once with the README's password
        assert ensure_demo_accounts(s, extra=(DemoAccount("demo1", "heat_company", "htjt", "演示"),)) == 1
    with session_scope(session_factory) as s:
        flags = dict(s.execute(select(User.username, User.must_change_password)).all())
    assert flags["ops1"] is True and flags["svc1"] is False and flags["demo1"] is False
