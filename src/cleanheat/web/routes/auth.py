"""Login and logout (pages), bearer tokens (API), the current user, language switch, audit log."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from urllib.parse import urlparse

from fastapi import APIRouter, Depends, Form, HTTPException, Request, status
from fastapi.responses import JSONResponse, RedirectResponse
from pydantic import BaseModel

from cleanheat.auth import service as auth_service
from cleanheat.auth.login import LoginResult, attempt_login
from cleanheat.auth.passwords import HashingBusyError
from cleanheat.auth.roles import ROLE_LABELS, Role
from cleanheat.auth.service import Actor
from cleanheat.store.base import utcnow
from cleanheat.web import formatting
from cleanheat.web.deps import (
    ApiActor,
    AppSettings,
    CsrfChecked,
    DbSession,
    LoginRequired,
    optional_actor,
    render,
    require_roles,
)
from cleanheat.web.nav import NavItem
from cleanheat.web.paging import local_day, pager
from cleanheat.web.params import Id, Limit, PageNo

router = APIRouter()

NAV = [NavItem("/admin/audit", "审计日志", "Audit log", order=900,
               roles=frozenset({Role.ADMIN, Role.PROGRAMME_OFFICE}), secondary=True)]


def _safe_next(target: str | None) -> str:
    """Only local redirects after login."""
    if not target or urlparse(target).netloc or not target.startswith("/") or target.startswith("//"):
        return "/"
    return target


def _address(request: Request) -> str:
    """The client address the throttle counts (behind a proxy: run uvicorn with --proxy-headers)."""
    return request.client.host if request.client else "unknown"


def _when(request: Request, retry_at: datetime | None) -> str:
    settings = request.app.state.settings
    return formatting.local_time(retry_at, settings.display_timezone, "%H:%M:%S") if retry_at else ""


def _refusal(request: Request, result: LoginResult | None) -> tuple[int, tuple[str, str], dict[str, str]]:
    """HTTP status, (Chinese, English) message and headers for a login that did not succeed."""
    if result is None:
        return 503, ("登录请求过多，服务器繁忙，请稍后再试", "Too many logins at once: the server is busy, try again "
                     "shortly"), {"Retry-After": "5"}
    verdict, now = result.verdict, utcnow()
    if verdict.locked:
        return 423, ("该账户因多次密码错误已被锁定，请联系系统管理员解锁",
                     "This account is locked after too many wrong passwords: an administrator must unlock it"), {}
    wait = verdict.retry_after_s(now) if verdict.retry_at else 0
    at = _when(request, verdict.retry_at)
    if result.checked:
        zh, en = "用户名或密码错误", "Wrong username or password"
        if wait:
            zh, en = (f"{zh}。下次尝试请等待 {wait} 秒（{at} 之后）",
                      f"{en}. Wait {wait} s before the next try (after {at})")
        return 401, (zh, en), ({"Retry-After": str(wait)} if wait else {})
    return 429, (f"尝试次数过多，请在 {wait} 秒后（{at} 之后）再试",
                 f"Too many attempts: try again in {wait} s (after {at})"), {"Retry-After": str(wait)}


def _login(request: Request, username: str, password: str) -> LoginResult | None:
    """Run the login use case; None when no hashing slot freed up in time."""
    try:
        return attempt_login(request.app.state.sessionmaker, request.app.state.auth_config, username.strip(),
                             password, _address(request))
    except HashingBusyError:
        return None


@router.get("/login", include_in_schema=False)
def login_page(request: Request, next: str = "/"):
    return render(request, "login.html", {"next": _safe_next(next), "error": None})


@router.post("/login", include_in_schema=False)
def login(request: Request, db: DbSession, username: Annotated[str, Form()], password: Annotated[str, Form()],
          next: Annotated[str, Form()] = "/"):
    result = _login(request, username, password)
    if result is None or not result.ok:
        code, message, headers = _refusal(request, result)
        response = render(request, "login.html", {"next": _safe_next(next), "error": message, "username": username},
                          status_code=code)
        response.headers.update(headers)
        return response
    request.session.clear()  # a new session (and cookie) for the new login
    request.session["uid"] = result.user_id
    user = auth_service.get_user(db, result.user_id)
    if user is not None and user.must_change_password:
        return RedirectResponse("/account/password", status_code=303)
    return RedirectResponse(_safe_next(next), status_code=303)


def account_actor(actor: Annotated[Actor | None, Depends(optional_actor)]) -> Actor:
    """The logged-in user, also one who must still change their password (the account pages and logout)."""
    if actor is None:
        raise LoginRequired()
    return actor


AccountActor = Annotated[Actor, Depends(account_actor)]


@router.post("/logout", include_in_schema=False, dependencies=[CsrfChecked])
def logout(request: Request, _actor: AccountActor):
    request.session.clear()  # revokes the session's record
    return RedirectResponse("/login", status_code=303)


@router.get("/lang/{lang}", include_in_schema=False)
def set_language(request: Request, lang: str, next: str = "/"):
    resp = RedirectResponse(_safe_next(next), status_code=303)
    if lang in ("zh", "en"):
        resp.set_cookie("lang", lang, max_age=365 * 86400, samesite="lax")
    return resp


class TokenOut(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_in_days: int


@router.post("/api/auth/token", response_model=TokenOut, tags=["auth"],
             responses={401: {}, 403: {}, 423: {}, 429: {}, 503: {}})
def issue_token(request: Request, db: DbSession, settings: AppSettings, username: Annotated[str, Form()],
                password: Annotated[str, Form()]):
    """Exchange a username and password (form fields) for a bearer token. Wrong passwords are throttled like
    logins (429 with Retry-After; 423 when the account is locked); 403 while the password must be changed."""
    result = _login(request, username, password)
    if result is None or not result.ok:
        code, message, headers = _refusal(request, result)
        return JSONResponse({"detail": f"{message[0]} / {message[1]}"}, status_code=code, headers=headers)
    user = auth_service.get_user(db, result.user_id)
    try:
        token = auth_service.issue_token(db, user, max_age_days=settings.token_max_age_days)
    except auth_service.PasswordChangeRequiredError as exc:
        raise HTTPException(status.HTTP_403_FORBIDDEN, str(exc)) from exc
    return TokenOut(access_token=token, expires_in_days=settings.token_max_age_days)


class MeOut(BaseModel):
    username: str
    role: str
    role_label_zh: str
    org_code: str | None
    org_kind: str | None
    admin_unit_code: str | None


@router.get("/api/me", response_model=MeOut, tags=["auth"])
def me(actor: ApiActor):
    return MeOut(username=actor.actor, role=actor.role, role_label_zh=ROLE_LABELS[actor.role][0],
                 org_code=actor.org_code, org_kind=actor.org_kind, admin_unit_code=actor.admin_unit_code)


class AuditOut(BaseModel):
    at: str
    actor: str
    action: str
    entity: str
    entity_id: str
    summary: str
    detail: dict


@router.get("/api/audit", response_model=list[AuditOut], tags=["auth"])
def audit_api(db: DbSession, actor: Annotated[Actor, Depends(require_roles(Role.ADMIN, Role.PROGRAMME_OFFICE))],
              limit: Limit = 200):
    rows = auth_service.list_audit(db, actor, limit=min(limit, 2000))
    return [AuditOut(at=r.at.isoformat(), actor=r.actor, action=r.action, entity=r.entity,
                     entity_id=r.entity_id, summary=r.summary, detail=r.detail) for r in rows]


AuditReader = Annotated[Actor, Depends(require_roles(Role.ADMIN, Role.PROGRAMME_OFFICE, page=True))]
AUDIT_PAGE_SIZE = 50


def _audit_filter(request: Request, actor_name: str, entity: str, entity_id: str, action: str, since: str,
                  until: str, text: str) -> auth_service.AuditFilter:
    """The filter from the query (dates are local days, ``until`` inclusive)."""
    tz = request.app.state.settings.display_timezone
    return auth_service.AuditFilter(actor=actor_name.strip()[:100], entity=entity.strip()[:64],
                                    entity_id=entity_id.strip()[:64], action=action.strip()[:64],
                                    since=local_day(since, "since", tz), until=local_day(until, "until", tz, 1),
                                    text=text.strip()[:200])


@router.get("/admin/audit", include_in_schema=False)
def audit_page(request: Request, db: DbSession, actor: AuditReader, page: PageNo = 1, who: str = "",
               entity: str = "", entity_id: str = "", action: str = "", since: str = "", until: str = "",
               q: str = ""):
    """The audit log: who did what to which object and what changed; filtered and paged (newest first)."""
    f = _audit_filter(request, who, entity, entity_id, action, since, until, q)
    rows = auth_service.audit_page(db, actor, f, page=page, per_page=AUDIT_PAGE_SIZE)
    query = {"who": who, "entity": entity, "entity_id": entity_id, "action": action, "since": since,
             "until": until, "q": q}
    return render(request, "audit.html", pager(rows, query, "/admin/audit", "audit") | {
        "choices": auth_service.audit_choices(db, actor)}, actor=actor)


@router.get("/admin/audit.xlsx", include_in_schema=False)
def audit_export(request: Request, db: DbSession, actor: AuditReader, who: str = "", entity: str = "",
                 entity_id: str = "", action: str = "", since: str = "", until: str = "", q: str = ""):
    """The filtered audit log as a spreadsheet (every text cell stored as text)."""
    from fastapi.responses import Response

    from cleanheat.web.audit_export import audit_workbook

    f = _audit_filter(request, who, entity, entity_id, action, since, until, q)
    rows, cut = auth_service.export_audit(db, actor, f)
    content = audit_workbook(rows, cut, request.app.state.settings.display_timezone)
    return Response(content, media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                    headers={"Content-Disposition": 'attachment; filename="audit-log.xlsx"'})


# --- administration of users (admin only) ----------------------------------------------------------------------

Admin = Annotated[Actor, Depends(require_roles(Role.ADMIN, page=True))]
NAV.append(NavItem("/admin/users", "用户管理", "Users", order=910, roles=frozenset({Role.ADMIN}),
                   secondary=True))


@router.get("/admin/users", include_in_schema=False)
def users_page(request: Request, db: DbSession, actor: Admin):
    from cleanheat.assets import service as assets_service
    from cleanheat.auth.policy import load_policy
    from cleanheat.auth.roles import ORG_KIND_LABELS

    return render(request, "admin_users.html", {
        "users": auth_service.list_users(db, actor), "orgs": auth_service.list_orgs(db, actor),
        "roles": ROLE_LABELS, "kinds": ORG_KIND_LABELS, "locked": auth_service.locked_accounts(db, actor),
        "min_length": load_policy().min_length, "households": assets_service.households_of_residents(db, actor),
    }, actor=actor)


def _refusal_text(request: Request, exc: Exception) -> str:
    """An error for a flash message in the page's language, without field names."""
    from cleanheat.errors import InputError
    from cleanheat.web.deps import language

    en = language(request) == "en"
    if isinstance(exc, InputError) and exc.issues:
        return "; ".join((i.message_en if en and i.message_en else i.message) for i in exc.issues)
    return str(exc)


@router.post("/admin/users/{username}/edit", include_in_schema=False, dependencies=[CsrfChecked])
def edit_user_form(request: Request, username: str, db: DbSession, actor: Admin, role: Annotated[str, Form()],
                   org_code: Annotated[str, Form()], display_name: Annotated[str, Form()] = ""):
    """An administrator changes a user's role, organisation and name."""
    from cleanheat.errors import CleanheatError
    from cleanheat.web.deps import flash

    try:
        auth_service.update_user(db, actor, username, role=role, org_code=org_code, display_name=display_name)
    except CleanheatError as exc:
        db.rollback()
        flash(request, "error", f"未修改 / not changed: {_refusal_text(request, exc)}")
    else:
        flash(request, "ok", f"已修改用户 / user changed: {username}")
    return RedirectResponse("/admin/users", status_code=303)


@router.post("/admin/users/{username}/household", include_in_schema=False, dependencies=[CsrfChecked])
def link_household_form(request: Request, username: str, db: DbSession, actor: Admin,
                        household: Annotated[str, Form(max_length=64)] = ""):
    """An administrator links a resident's account to a household (empty: unlinks it)."""
    from cleanheat.assets import service as assets_service
    from cleanheat.errors import CleanheatError
    from cleanheat.web.deps import flash

    try:
        hh = assets_service.link_resident(db, actor, username, household)
    except CleanheatError as exc:
        db.rollback()
        flash(request, "error", f"未关联 / not linked: {_refusal_text(request, exc)}")
    else:
        flash(request, "ok", f"已关联住户 / household linked: {username} → {hh.code}" if hh
              else f"已取消关联 / unlinked: {username}")
    return RedirectResponse("/admin/users", status_code=303)


@router.post("/admin/users", include_in_schema=False, dependencies=[CsrfChecked])
def create_user_form(request: Request, db: DbSession, actor: Admin, username: Annotated[str, Form()],
                     password: Annotated[str, Form()], role: Annotated[str, Form()], org_code: Annotated[str, Form()],
                     display_name: Annotated[str, Form()] = ""):
    from cleanheat.auth.passwords import WeakPasswordError
    from cleanheat.errors import CleanheatError
    from cleanheat.web.deps import flash

    try:
        auth_service.create_user(db, actor, username=username.strip(), password=password, role=role,
                                 org_code=org_code, display_name=display_name)
    except (CleanheatError, WeakPasswordError, ValueError) as exc:
        db.rollback()
        flash(request, "error", f"创建失败 / not created: {exc}")
    else:
        flash(request, "ok", f"已创建用户 / user created: {username}")
    return RedirectResponse("/admin/users", status_code=303)


@router.post("/admin/users/{username}/active", include_in_schema=False, dependencies=[CsrfChecked])
def set_active_form(request: Request, username: str, db: DbSession, actor: Admin, active: Annotated[str, Form()]):
    from cleanheat.errors import CleanheatError
    from cleanheat.web.deps import flash

    try:
        auth_service.set_active(db, actor, username, active == "1")
    except CleanheatError as exc:
        db.rollback()
        flash(request, "error", str(exc))
    return RedirectResponse("/admin/users", status_code=303)


@router.post("/admin/users/{username}/unlock", include_in_schema=False, dependencies=[CsrfChecked])
def unlock_form(request: Request, username: str, db: DbSession, actor: Admin):
    from cleanheat.web.deps import flash

    was_locked = auth_service.unlock_account(db, actor, username)
    flash(request, "ok", f"已解锁 / unlocked: {username}" if was_locked
          else f"该账户未被锁定 / the account was not locked: {username}")
    return RedirectResponse("/admin/users", status_code=303)


@router.post("/admin/users/{username}/password", include_in_schema=False, dependencies=[CsrfChecked])
def reset_password_form(request: Request, username: str, db: DbSession, actor: Admin,
                        password: Annotated[str, Form()]):
    """An administrator sets a new password: the user's sessions and tokens end; they must change it at login."""
    from cleanheat.errors import CleanheatError
    from cleanheat.web.deps import flash

    try:
        auth_service.set_password(db, actor, username, password)
    except CleanheatError as exc:
        db.rollback()
        flash(request, "error", f"未重置 / not reset: {exc}")
    else:
        flash(request, "ok", f"已重置密码，用户下次登录时须修改 / password reset, to be changed at the next login: "
                             f"{username}")
    return RedirectResponse("/admin/users", status_code=303)


# --- the user's own account: password, API tokens, login sessions -------------------------------------------

def _account_context(request: Request, db, actor: Actor) -> dict:
    from cleanheat.auth.middleware import current_session_row
    from cleanheat.auth.policy import load_policy

    return {"tokens": auth_service.list_tokens(db, actor), "sessions": auth_service.list_sessions(db, actor),
            "current_session": current_session_row(request), "policy": load_policy(), "now": utcnow(),
            "forced": actor.must_change_password, "errors": []}


@router.get("/account", include_in_schema=False)
def account_page(request: Request, db: DbSession, actor: AccountActor):
    if actor.must_change_password:
        return RedirectResponse("/account/password", status_code=303)
    return render(request, "account.html", _account_context(request, db, actor), actor=actor)


@router.get("/account/password", include_in_schema=False)
def password_page(request: Request, db: DbSession, actor: AccountActor):
    return render(request, "account.html", _account_context(request, db, actor), actor=actor)


@router.post("/account/password", include_in_schema=False, dependencies=[CsrfChecked])
def change_password_form(request: Request, db: DbSession, actor: AccountActor,
                         current_password: Annotated[str, Form()], new_password: Annotated[str, Form()],
                         new_password2: Annotated[str, Form()]):
    from cleanheat.errors import InputError
    from cleanheat.web.deps import flash

    try:
        if new_password != new_password2:
            raise InputError("两次输入的新密码不一致 / the two new passwords differ")
        auth_service.change_own_password(db, actor, current_password, new_password)
    except InputError as exc:
        db.rollback()
        ctx = _account_context(request, db, actor)
        ctx["errors"] = [(i.message, i.message_en or "") for i in exc.issues] or [tuple(exc.summary.split(" / ", 1))]
        return render(request, "account.html", ctx, actor=actor, status_code=422)
    # Every session and token of the user ended; this browser continues in a new session.
    uid = request.session.get("uid")
    request.session.clear()
    if uid is not None:
        request.session["uid"] = uid
    flash(request, "ok", "密码已修改，其他登录会话和 API 令牌均已失效 / password changed: your other sessions and "
                         "API tokens have ended")
    return RedirectResponse("/account", status_code=303)


@router.post("/account/tokens/{token_id}/revoke", include_in_schema=False, dependencies=[CsrfChecked])
def revoke_token_form(request: Request, token_id: Id, db: DbSession, actor: AccountActor):
    from cleanheat.web.deps import flash

    row = auth_service.revoke_token(db, actor, token_id)
    flash(request, "ok", f"令牌已撤销 / token revoked: {row.name}")
    return RedirectResponse("/account", status_code=303)


@router.post("/account/sessions/{session_id}/revoke", include_in_schema=False, dependencies=[CsrfChecked])
def revoke_session_form(request: Request, session_id: Id, db: DbSession, actor: AccountActor):
    from cleanheat.web.deps import flash

    auth_service.revoke_session(db, actor, session_id)
    flash(request, "ok", "会话已结束 / session ended")
    return RedirectResponse("/account", status_code=303)


class TokenInfo(BaseModel):
    id: int
    name: str
    created_at: datetime
    expires_at: datetime
    last_used_at: datetime | None
    revoked: bool


class SessionInfo(BaseModel):
    id: int
    created_at: datetime
    last_seen_at: datetime
    expires_at: datetime
    user_agent: str
    address: str
    current: bool


class PasswordChange(BaseModel):
    current_password: str
    new_password: str


@router.get("/api/auth/tokens", response_model=list[TokenInfo], tags=["auth"])
def my_tokens(db: DbSession, actor: ApiActor):
    """The caller's own API tokens (the tokens themselves are never stored; only their hashes)."""
    return [TokenInfo.model_validate(t, from_attributes=True) for t in auth_service.list_tokens(db, actor)]


@router.delete("/api/auth/tokens/{token_id}", response_model=TokenInfo, tags=["auth"])
def revoke_my_token(token_id: Id, db: DbSession, actor: ApiActor):
    """Revoke one of the caller's API tokens."""
    return TokenInfo.model_validate(auth_service.revoke_token(db, actor, token_id), from_attributes=True)


@router.get("/api/auth/sessions", response_model=list[SessionInfo], tags=["auth"])
def my_sessions(request: Request, db: DbSession, actor: ApiActor):
    """The caller's live login sessions (web pages)."""
    from cleanheat.auth.middleware import current_session_row

    current = current_session_row(request)
    return [SessionInfo(id=s.id, created_at=s.created_at, last_seen_at=s.last_seen_at, expires_at=s.expires_at,
                        user_agent=s.user_agent, address=s.address, current=s.id == current)
            for s in auth_service.list_sessions(db, actor)]


@router.delete("/api/auth/sessions/{session_id}", status_code=204, tags=["auth"])
def revoke_my_session(session_id: Id, db: DbSession, actor: ApiActor):
    """End one of the caller's login sessions."""
    auth_service.revoke_session(db, actor, session_id)


@router.post("/api/auth/password", status_code=204, tags=["auth"])
def change_my_password(body: PasswordChange, db: DbSession, actor: ApiActor):
    """Change the caller's password: every session and API token of the caller ends (this one too)."""
    auth_service.change_own_password(db, actor, body.current_password, body.new_password)
