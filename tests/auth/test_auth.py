import pytest

from cleanheat.auth.passwords import hash_password, verify_password
from cleanheat.auth.policy import WeakPasswordError, enforce_password
from cleanheat.web.app import all_routes, create_app
from tests.helpers import PASSWORD, bootstrap, login, make_client, token


def test_argon2_hash_and_verify():
    h = hash_password("correct horse")
    assert h.startswith("$argon2id$")
    assert verify_password(h, "correct horse")
    assert not verify_password(h, "wrong horse")
    with pytest.raises(WeakPasswordError):
        enforce_password("short")


@pytest.fixture
def client(settings):
    bootstrap(settings)
    with make_client(settings) as c:
        yield c


def test_token_and_me(client):
    r = client.post("/api/auth/token", data={"username": "daoli", "password": "nope"})
    assert r.status_code == 401
    headers = token(client, "daoli")
    me = client.get("/api/me", headers=headers).json()
    assert me["role"] == "reporting_unit" and me["admin_unit_code"] == "daoli"
    assert client.get("/api/me", headers={"Authorization": "Bearer ch_forged"}).status_code == 401


def test_login_logout_with_csrf(client):
    assert client.get("/", follow_redirects=False).headers["location"].startswith("/login")
    csrf = login(client, "office")
    assert client.get("/api/me").json()["username"] == "office"
    assert client.post("/logout", follow_redirects=False).status_code == 403  # no CSRF token
    assert client.post("/logout", data={"csrf_token": csrf}, follow_redirects=False).status_code == 303
    assert client.get("/api/me").status_code == 401


def test_wrong_password_rejected_on_page(client):
    r = client.post("/login", data={"username": "office", "password": PASSWORD + "x"}, follow_redirects=False)
    assert r.status_code == 401


def test_login_redirect_is_local_only(client):
    r = client.post("/login", data={"username": "office", "password": PASSWORD, "next": "https://evil.example/"},
                    follow_redirects=False)
    assert r.headers["location"] == "/"


def test_audit_log_records_writes_and_is_scoped(client):
    office = token(client, "office")
    rows = client.get("/api/audit", headers=office).json()
    assert any(r["entity"] == "user" and r["action"] == "create" for r in rows)
    assert client.get("/api/audit", headers=token(client, "daoli")).status_code == 403


OPEN_PATHS = {"/login", "/api/auth/token", "/healthz", "/api/openapi.json", "/api/docs", "/api/docs/oauth2-redirect"}


def test_every_route_requires_authentication(settings):
    """Anonymous callers are denied on every route except the login, token, health and API-description ones."""
    bootstrap(settings)
    app = create_app(settings, background=False)
    with make_client(settings) as anon:
        checked = 0
        for route in all_routes(app):
            path = getattr(route, "path", "")
            methods = getattr(route, "methods", None) or set()
            if not path or path.startswith("/static") or path in OPEN_PATHS or path.startswith("/lang/"):
                continue
            url = path
            for part in [p for p in path.split("/") if p.startswith("{")]:
                url = url.replace(part, "1")
            for method in methods - {"HEAD", "OPTIONS"}:
                r = anon.request(method, url, follow_redirects=False)
                assert r.status_code in (401, 403, 303), f"{method} {path} answered {r.status_code} to anonymous"
                if r.status_code == 303:
                    assert r.headers["location"].startswith("/login"), f"{method} {path}"
                checked += 1
        assert checked >= 3


def test_admin_manages_users_and_deactivation_revokes_access(client):
    from tests.helpers import login

    daoli = token(client, "daoli")
    csrf = login(client, "admin")
    r = client.post("/admin/users", data={"csrf_token": csrf, "username": "newbie", "password": "long-enough-1",
                                          "role": "reporting_unit", "org_code": "gov-acheng"}, follow_redirects=True)
    assert "newbie" in r.text
    # A role the organisation cannot hold is refused.
    r = client.post("/admin/users", data={"csrf_token": csrf, "username": "bad", "password": "long-enough-1",
                                          "role": "ecology_bureau", "org_code": "gov-acheng"}, follow_redirects=True)
    assert "创建失败" in r.text
    client.post("/admin/users/daoli/active", data={"csrf_token": csrf, "active": "0"})
    assert client.get("/api/me", headers=daoli).status_code == 401  # tokens revoked, login refused
    assert client.post("/api/auth/token", data={"username": "daoli", "password": PASSWORD}).status_code == 401
    # Only admins see the page.
    client.post("/logout", data={"csrf_token": csrf})
    login(client, "office")
    assert client.get("/admin/users").status_code == 403


def test_csrf_is_required_on_every_cookie_authenticated_write(client, settings):
    """The app-wide CSRF check: a logged-in browser session cannot be made to write without its token."""
    from cleanheat.web.app import all_routes

    csrf = login(client, "office")
    app = client.app
    writes = [(m, r.path) for r in all_routes(app) for m in (getattr(r, "methods", None) or set())
              if m in ("POST", "PUT", "PATCH", "DELETE") and r.path not in OPEN_PATHS]
    assert len(writes) > 20
    for method, path in writes:
        url = path
        for part in [p for p in path.split("/") if p.startswith("{")]:
            url = url.replace(part, "1")
        r = client.request(method, url, follow_redirects=False)
        assert r.status_code == 403, f"{method} {path} accepted a cookie-authenticated write without CSRF token"
    # With the token (header) the request reaches the route (here: a review of a report that does not exist).
    r = client.post("/api/programme/reports/999/review", json={"decision": "accept"}, headers={"X-CSRF-Token": csrf})
    assert r.status_code == 404


def test_healthz_user_lookup_and_org_names(client, settings):
    """The queries moved out of routes and commands: the health check, a user by name, organisation names."""
    from cleanheat.auth.service import Actor, find_user, org_names
    from cleanheat.cli.common import db_session

    assert client.get("/healthz").json() == {"ok": True}
    with db_session(settings) as s:
        assert find_user(s, "office").username == "office"
        assert find_user(s, "nobody") is None
        names = org_names(s, Actor.system("test"))
    assert len(names) >= 2 and all(isinstance(k, int) and v for k, v in names.items())
