"""Issue #10 item 8: server-side sessions that end on logout and password change; tokens listed and revoked."""

from datetime import timedelta

from sqlalchemy import select

from cleanheat.auth import service
from cleanheat.auth import sessions as records
from cleanheat.auth.tables import ApiToken, AuthSession
from cleanheat.store.base import utcnow
from cleanheat.store.engine import session_scope
from cleanheat.web.deps import flash
from tests.helpers import PASSWORD, login, make_client, token

COOKIE = "cleanheat_session"
NEW_PASSWORD = "Songhua-river-in-winter"


def _replay(client, cookie: str):
    """GET /api/me with only this session cookie."""
    client.cookies.clear()
    client.cookies.set(COOKIE, cookie)
    return client.get("/api/me")


def test_cookie_carries_only_a_random_id_and_data_lives_on_the_server(app_client, session_factory):
    login(app_client, "office")
    sid = app_client.cookies.get(COOKIE)
    assert sid and len(sid) < 64 and "." not in sid  # no signed payload, just the id
    with session_scope(session_factory) as s:
        row = s.scalar(select(AuthSession).where(AuthSession.sid_hash == records.sid_digest(sid)))
        assert row is not None and row.data["uid"] == row.user_id and "csrf" in row.data
        assert row.sid_hash != sid


def test_a_large_flash_message_does_not_grow_the_cookie(app_client, settings):
    """The cookie used to hold the flash; one over 4 KB made the browser drop the whole session."""
    from fastapi import Request

    app = app_client.app

    @app.get("/_test/flash")
    def _big_flash(request: Request):
        flash(request, "error", "x" * 10_000, details=["detail " * 200] * 5)
        return {"ok": True}

    login(app_client, "office")
    r = app_client.get("/_test/flash")
    assert all(len(c) < 300 for c in r.headers.get_list("set-cookie"))
    page = app_client.get("/admin/audit")
    assert page.status_code == 200 and "x" * 10_000 in page.text  # the flash arrives, and the session lives on
    assert app_client.get("/api/me").json()["username"] == "office"


def test_logout_ends_the_session_on_the_server(app_client):
    csrf = login(app_client, "office")
    old = app_client.cookies.get(COOKIE)
    assert app_client.post("/logout", data={"csrf_token": csrf}, follow_redirects=False).status_code == 303
    assert _replay(app_client, old).status_code == 401  # the old cookie, replayed, is refused


def test_password_change_ends_other_sessions_and_tokens_but_keeps_this_browser(app_client, settings):
    bearer = token(app_client, "office")
    with make_client(settings) as other:
        login(other, "office")
        other_cookie = other.cookies.get(COOKIE)
    csrf = login(app_client, "office")
    before = app_client.cookies.get(COOKIE)
    r = app_client.post("/account/password", data={"csrf_token": csrf, "current_password": PASSWORD,
                                                    "new_password": NEW_PASSWORD, "new_password2": NEW_PASSWORD})
    assert r.status_code == 200 and "密码已修改" in r.text
    assert app_client.get("/api/me").json()["username"] == "office"  # this browser continues...
    after = app_client.cookies.get(COOKIE)
    assert after != before  # ...in a new session
    assert app_client.get("/api/me", headers=bearer).status_code == 401  # old bearer token refused
    assert _replay(app_client, other_cookie).status_code == 401  # the other browser's cookie refused
    assert _replay(app_client, before).status_code == 401
    r = app_client.post("/login", data={"username": "office", "password": NEW_PASSWORD}, follow_redirects=False)
    assert r.status_code == 303


def test_password_change_through_the_api_ends_the_callers_token(app_client):
    bearer = token(app_client, "daoli")
    r = app_client.post("/api/auth/password", headers=bearer,
                        json={"current_password": PASSWORD, "new_password": NEW_PASSWORD})
    assert r.status_code == 204
    assert app_client.get("/api/me", headers=bearer).status_code == 401
    r = app_client.post("/api/auth/password", headers=token(app_client, "eeb"),
                        json={"current_password": PASSWORD, "new_password": "eeb"})
    assert r.status_code == 422 and r.json()["issues"][0]["field"] == "password"


def test_admin_reset_ends_sessions_and_tokens_and_forces_a_change(app_client, settings):
    bearer = token(app_client, "daoli")
    with make_client(settings) as victim:
        login(victim, "daoli")
        assert victim.get("/api/me").status_code == 200
        csrf = login(app_client, "admin")
        r = app_client.post("/admin/users/daoli/password", data={"csrf_token": csrf, "password": NEW_PASSWORD})
        assert "已重置密码" in r.text
        assert victim.get("/api/me").status_code == 401
    assert app_client.get("/api/me", headers=bearer).status_code == 401
    r = app_client.post("/api/auth/token", data={"username": "daoli", "password": NEW_PASSWORD})
    assert r.status_code == 403 and "change your password" in r.json()["detail"]


def test_users_list_and_revoke_their_own_tokens_and_sessions(app_client, settings):
    first, second = token(app_client, "htjt"), token(app_client, "htjt")
    other = token(app_client, "daoli")
    listed = app_client.get("/api/auth/tokens", headers=first).json()
    assert len(listed) == 2 and all("token_hash" not in t and "access_token" not in t for t in listed)
    daoli_token_id = app_client.get("/api/auth/tokens", headers=other).json()[0]["id"]
    assert app_client.delete(f"/api/auth/tokens/{daoli_token_id}", headers=first).status_code == 404
    second_id = max(t["id"] for t in listed)
    r = app_client.delete(f"/api/auth/tokens/{second_id}", headers=first)
    assert r.status_code == 200 and r.json()["revoked"] is True
    assert app_client.get("/api/me", headers=second).status_code == 401
    assert app_client.get("/api/me", headers=first).status_code == 200
    assert app_client.get("/api/me", headers=other).status_code == 200

    # The account page lists them and revokes by form; sessions likewise.
    with make_client(settings) as laptop:
        login(laptop, "htjt")
        csrf = login(app_client, "htjt")
        page = app_client.get("/account").text
        assert "当前会话" in page and page.count("/revoke") >= 2
        sessions = app_client.get("/api/auth/sessions").json()
        assert len(sessions) == 2 and sum(s["current"] for s in sessions) == 1
        laptop_id = next(s["id"] for s in sessions if not s["current"])
        app_client.post(f"/account/sessions/{laptop_id}/revoke", data={"csrf_token": csrf})
        assert laptop.get("/api/me").status_code == 401
        first_id = min(t["id"] for t in listed)
        r = app_client.post(f"/account/tokens/{first_id}/revoke", data={"csrf_token": csrf})
        assert "令牌已撤销" in r.text
        assert app_client.get("/api/me", headers=first).status_code == 401


def test_deactivation_ends_sessions(app_client, settings):
    with make_client(settings) as victim:
        login(victim, "daoli")
        csrf = login(app_client, "admin")
        app_client.post("/admin/users/daoli/active", data={"csrf_token": csrf, "active": "0"})
        assert victim.get("/api/me").status_code == 401


def test_expired_sessions_are_refused_and_cleaned_up(settings, session_factory, app_client):
    login(app_client, "office")
    sid = app_client.cookies.get(COOKIE)
    with session_scope(session_factory) as s:
        row = s.scalar(select(AuthSession).where(AuthSession.sid_hash == records.sid_digest(sid)))
        row.expires_at = utcnow() - timedelta(days=2)
        tok = ApiToken(user_id=row.user_id, name="old", token_hash="0" * 64, expires_at=utcnow() - timedelta(days=40))
        s.add(tok)
    assert app_client.get("/api/me").status_code == 401
    with session_scope(session_factory) as s:
        from cleanheat.auth.config import AuthConfig

        counts = service.cleanup_expired(s, AuthConfig())
        assert counts["sessions"] >= 1 and counts["tokens"] >= 1
        assert s.scalar(select(AuthSession).where(AuthSession.sid_hash == records.sid_digest(sid))) is None


def test_a_flash_reaches_another_web_process_whole_up_to_its_caps(app_client, settings):
    """Issue 12.1: the message is kept in the database, so a second web process (another app on the same
    database) shows it; every issue is listed with the count, and an outsized list is capped and says so."""
    from fastapi import Request

    from cleanheat.web import deps

    app = app_client.app
    issues = [f"第 {i:04d} 行：面积不合理 " + "。" * 150 for i in range(3000)]  # ≈ 500,000 characters

    @app.get("/_test/many-issues")
    def _many(request: Request):
        flash(request, "error", "导入失败", details=issues)
        return {"ok": True}

    login(app_client, "office")
    app_client.get("/_test/many-issues")
    with make_client(settings) as other:  # another process on the same database, given the same cookie
        other.cookies.set(COOKIE, app_client.cookies.get(COOKIE))
        page = other.get("/admin/audit").text
    kept = deps.FLASH_ISSUES_TOTAL_MAX // len(issues[0])
    assert "导入失败" in page and "共 3000 处问题" in page and f"下面列出前 {kept} 处" in page
    assert issues[kept - 1] in page and issues[kept] not in page
    assert "下载问题清单" in page
    assert "导入失败" not in app_client.get("/admin/audit").text  # shown once


def test_a_request_reads_the_session_its_user_and_organisation_in_one_statement(app_client):
    """Every page of a logged-in user needs who is asking first: one statement for the session row, the user and
    their organisation (they were three); a disabled user is still refused at once (test above)."""
    from sqlalchemy import event

    login(app_client, "daoli")
    engine = app_client.app.state.engine
    seen: list[str] = []

    def record(_conn, _cursor, statement, *_args):
        if "users" in statement or "auth_sessions" in statement or "organisations" in statement:
            seen.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        assert app_client.get("/api/me").json()["username"] == "daoli"
    finally:
        event.remove(engine, "before_cursor_execute", record)
    assert len(seen) == 1, seen
    assert all(t in seen[0] for t in ("auth_sessions", "users", "organisations"))
