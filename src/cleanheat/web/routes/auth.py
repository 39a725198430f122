"""Login and logout (pages), bearer tokens (API), the current user, language switch, audit log."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlparse

from fastapi import APIRouter, Depends, Form, HTTPException, Request, status
from fastapi.responses import RedirectResponse
from pydantic import BaseModel

from cleanheat.auth import service as auth_service
from cleanheat.auth.roles import ROLE_LABELS, Role
from cleanheat.auth.service import Actor
from cleanheat.web.deps import ApiActor, AppSettings, CsrfChecked, DbSession, PageActor, render, require_roles
from cleanheat.web.nav import NavItem
from cleanheat.web.params import Limit

router = APIRouter()

NAV = [NavItem("/admin/audit", "审计日志", "Audit log", order=900,
               roles=frozenset({Role.ADMIN, Role.PROGRAMME_OFFICE}), secondary=True)]


def _safe_next(target: str | None) -> str:
    """Only local redirects after login."""
    if not target or urlparse(target).netloc or not target.startswith("/") or target.startswith("//"):
        return "/"
    return target


@router.get("/login", include_in_schema=False)
def login_page(request: Request, next: str = "/"):  # noqa: A002
    return render(request, "login.html", {"next": _safe_next(next), "error": None})


@router.post("/login", include_in_schema=False)
def login(request: Request, db: DbSession, username: Annotated[str, Form()], password: Annotated[str, Form()],
          next: Annotated[str, Form()] = "/"):  # noqa: A002
    user = auth_service.authenticate(db, username.strip(), password)
    if user is None:
        return render(request, "login.html", {"next": _safe_next(next), "error": True, "username": username},
                      status_code=401)
    request.session.clear()
    request.session["uid"] = user.id
    return RedirectResponse(_safe_next(next), status_code=303)


@router.post("/logout", include_in_schema=False, dependencies=[CsrfChecked])
def logout(request: Request, _actor: PageActor):
    request.session.clear()
    return RedirectResponse("/login", status_code=303)


@router.get("/lang/{lang}", include_in_schema=False)
def set_language(request: Request, lang: str, next: str = "/"):  # noqa: A002
    resp = RedirectResponse(_safe_next(next), status_code=303)
    if lang in ("zh", "en"):
        resp.set_cookie("lang", lang, max_age=365 * 86400, samesite="lax")
    return resp


class TokenOut(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_in_days: int


@router.post("/api/auth/token", response_model=TokenOut, tags=["auth"])
def issue_token(db: DbSession, settings: AppSettings, username: Annotated[str, Form()],
                password: Annotated[str, Form()]):
    """Exchange a username and password (form fields) for a bearer token."""
    user = auth_service.authenticate(db, username, password)
    if user is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "wrong username or password")
    token = auth_service.issue_token(db, user, max_age_days=settings.token_max_age_days)
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


@router.get("/admin/audit", include_in_schema=False)
def audit_page(request: Request, db: DbSession,
               actor: Annotated[Actor, Depends(require_roles(Role.ADMIN, Role.PROGRAMME_OFFICE, page=True))]):
    rows = auth_service.list_audit(db, actor, limit=500)
    return render(request, "audit.html", {"rows": rows}, actor=actor)


# --- administration of users (admin only) ----------------------------------------------------------------------

Admin = Annotated[Actor, Depends(require_roles(Role.ADMIN, page=True))]
NAV.append(NavItem("/admin/users", "用户管理", "Users", order=910, roles=frozenset({Role.ADMIN}),
                   secondary=True))


@router.get("/admin/users", include_in_schema=False)
def users_page(request: Request, db: DbSession, actor: Admin):
    from cleanheat.auth.roles import ORG_KIND_LABELS

    return render(request, "admin_users.html", {
        "users": auth_service.list_users(db, actor), "orgs": auth_service.list_orgs(db, actor),
        "roles": ROLE_LABELS, "kinds": ORG_KIND_LABELS,
    }, actor=actor)


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
