"""Dependencies shared by all routers: settings, DB session, the acting user, CSRF, rendering."""


import secrets
from collections.abc import Iterator
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request, status
from fastapi.responses import HTMLResponse
from sqlalchemy.orm import Session

from cleanheat.auth import service as auth_service
from cleanheat.auth.middleware import session_actor
from cleanheat.auth.roles import Role
from cleanheat.auth.service import Actor
from cleanheat.config import Settings
from cleanheat.store.engine import session_scope
from cleanheat.web.i18n import labeller, pick_language, translator, unit_translator


class LoginRequired(Exception):
    """Raised by page dependencies when nobody is logged in; handled as a redirect to /login."""


class PasswordChangeRequired(Exception):
    """Raised by page dependencies when the user must first change their password (redirect to the form)."""


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


def get_db(request: Request) -> Iterator[Session]:
    """One session per request: committed when the handler succeeds, rolled back otherwise. Its scope is the
    handler (``scope="function"`` below): the commit is done before the answer leaves, so that a client is told
    "done" (a 303 to the new record, a 201) only for what is stored, and may read it at once."""
    with session_scope(request.app.state.sessionmaker) as session:
        yield session


DbSession = Annotated[Session, Depends(get_db, scope="function")]
AppSettings = Annotated[Settings, Depends(get_settings)]


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip()
    return None


def optional_actor(request: Request, db: DbSession) -> Actor | None:
    """The caller from a bearer token or the session cookie, or None."""
    token = _bearer(request)
    if token:
        user = auth_service.user_for_token(db, token)
        if user is None:
            raise HTTPException(status.HTTP_401_UNAUTHORIZED, "invalid or expired token",
                                headers={"WWW-Authenticate": "Bearer"})
        if user.must_change_password:
            raise HTTPException(status.HTTP_403_FORBIDDEN, auth_service.PASSWORD_CHANGE_REQUIRED)
        request.state.via_token = True
        return Actor.for_user(user)
    uid = request.session.get("uid")
    if uid is None:
        return None
    known, actor = session_actor(request, int(uid))  # read with the session row (one query for both)
    if not known:
        user = auth_service.get_user(db, int(uid))
        actor = Actor.for_user(user) if user is not None else None
    if actor is None:  # disabled (or gone): the session ends
        request.session.clear()
        return None
    request.state.via_token = False
    return actor


def api_actor(actor: Annotated[Actor | None, Depends(optional_actor)]) -> Actor:
    if actor is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "authentication required",
                            headers={"WWW-Authenticate": "Bearer"})
    if actor.must_change_password:
        raise HTTPException(status.HTTP_403_FORBIDDEN, auth_service.PASSWORD_CHANGE_REQUIRED)
    return actor


def page_actor(actor: Annotated[Actor | None, Depends(optional_actor)]) -> Actor:
    if actor is None:
        raise LoginRequired()
    if actor.must_change_password:
        raise PasswordChangeRequired()
    return actor


ApiActor = Annotated[Actor, Depends(api_actor)]
PageActor = Annotated[Actor, Depends(page_actor)]


def require_roles(*roles: Role, page: bool = False):
    """A dependency returning the actor when it holds one of ``roles`` (admin always passes)."""

    base = page_actor if page else api_actor

    def dep(actor: Annotated[Actor, Depends(base)]) -> Actor:
        if actor.role not in roles and actor.role != Role.ADMIN:
            raise HTTPException(status.HTTP_403_FORBIDDEN, "your role may not use this")
        return actor

    return dep


# --- CSRF (session-authenticated form posts) ------------------------------------------------------------

def csrf_token(request: Request) -> str:
    token = request.session.get("csrf")
    if not token:
        token = secrets.token_urlsafe(24)
        request.session["csrf"] = token
    return token


#: Routes that authenticate by username and password in the request itself (nothing a forged request could use).
CREDENTIAL_PATHS = frozenset({"/login", "/api/auth/token"})


async def verify_csrf(request: Request) -> None:
    """Reject a state-changing, cookie-authenticated request without the session's CSRF token.

    Installed on the whole app (``create_app``), so every route is covered: requests with a bearer token and
    requests without a logged-in session (nothing to forge; the route's own authentication answers them) pass.
    """
    if request.method in ("GET", "HEAD", "OPTIONS") or _bearer(request) or request.session.get("uid") is None \
            or request.url.path in CREDENTIAL_PATHS:
        return
    expected = request.session.get("csrf")
    sent = request.headers.get("x-csrf-token")
    if not sent:
        ctype = request.headers.get("content-type", "")
        if ctype.startswith("application/x-www-form-urlencoded") or ctype.startswith("multipart/form-data"):
            form = await request.form()
            sent = form.get("csrf_token")
    if not expected or not sent or not secrets.compare_digest(str(expected), str(sent)):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "missing or wrong CSRF token; reload the page")


CsrfChecked = Depends(verify_csrf)


# --- rendering -------------------------------------------------------------------------------------------

def language(request: Request) -> str:
    return pick_language(request.cookies.get("lang"), request.app.state.settings.default_language)


def unit_names(app) -> dict[str, tuple[str, str]]:
    """Administrative unit code -> (name_zh, name_en), read once from the city's plan data."""
    names = getattr(app.state, "unit_names", None)
    if names is None:
        from cleanheat.programme.plan_data import read_plan

        try:
            names = {u.code: (u.name_zh, u.name_en) for u in read_plan(app.state.settings.city_dir).units}
        except Exception:  # names are cosmetic; a missing plan shows the codes
            names = {}
        app.state.unit_names = names
    return names


def unit_namer(app, lang: str):
    """``U(code)`` in templates: the administrative unit's name in the page language (the code when unknown)."""
    names = unit_names(app)

    def U(code: str | None) -> str:
        if not code:
            return "—"
        n = names.get(code)
        return (n[1] if lang == "en" and n[1] else n[0]) if n else code

    return U


def render(request: Request, template: str, context: dict[str, Any] | None = None,
           actor: Actor | None = None, status_code: int = 200) -> HTMLResponse:
    """Render a page with the common context: language, ``T``, navigation, the actor, the CSRF token."""
    lang = language(request)
    nav = [n.for_unit(actor.admin_unit_code) for n in request.app.state.nav
           if actor is not None and n.visible_to(actor.role)]
    nav = [n for n in nav if n is not None]
    active = active_nav_path(nav, request.url.path)
    shown, more = split_nav(nav)
    ctx = {
        "request": request,
        "lang": lang,
        "T": translator(lang),
        "L": labeller(lang),
        "U": unit_namer(request.app, lang),
        "M": unit_translator(lang),
        "nav": nav,
        "nav_shown": shown,
        "nav_more": more,
        "nav_active": active,
        "actor": actor,
        "csrf_token": csrf_token(request),
        "path": request.url.path,
        "flash": request.session.pop("flash", None),
        "upload_max_bytes": request.app.state.settings.upload_max_bytes,
    }
    ctx.update(context or {})
    return request.app.state.templates.TemplateResponse(request, template, ctx, status_code=status_code)


def active_nav_path(nav: list, path: str) -> str | None:
    """The path of the one menu entry to highlight: the longest entry path that is ``path`` or a parent of it
    (``/assets/sources/X`` highlights "Heat sources", not also "Registry" at ``/assets``)."""
    best = None
    for item in nav:
        p = item.path.rstrip("/") or "/"
        if (path == p or path.startswith(p + "/")) and (best is None or len(p) > len(best)):
            best = item.path
    return best


#: Menus up to this length are shown whole; longer ones put secondary entries into "更多 / More".
NAV_WHOLE = 6


def split_nav(nav: list) -> tuple[list, list]:
    """Entries for the bar and entries for the "更多 / More" menu (secondary ones: audit log, users...).

    The bar's script moves further entries from the end of the bar into "more" when the window is too narrow
    (without script the bar scrolls sideways), so the bar never wraps.
    """
    if len(nav) <= NAV_WHOLE:
        return list(nav), []
    return [n for n in nav if not n.secondary], [n for n in nav if n.secondary]


#: Caps of one flash message: its text and each listed issue [characters], and all its issues together
#: [characters]; issues beyond the total cap are counted, not kept (the page says how many it shows).
FLASH_TEXT_MAX = 20_000
FLASH_ISSUE_MAX = 500
FLASH_ISSUES_TOTAL_MAX = 200_000


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def flash(request: Request, kind: str, message: str, details: list[str] | None = None) -> None:
    """A message for the next page the user sees (the result of a form post followed by a redirect).

    It is kept on the server, in the session's ``auth_sessions`` row (the cookie holds only the session id; see
    ``auth/middleware.py``), so several web processes share it, it expires with the session, and a long list
    of issues (a refused upload) reaches the page whole: every issue up to the caps above, with their count."""
    issues, size = [], 0
    for d in details or []:
        text = _cut(str(d), FLASH_ISSUE_MAX)
        size += len(text)
        if size > FLASH_ISSUES_TOTAL_MAX:
            break
        issues.append(text)
    request.session["flash"] = {"kind": kind, "message": _cut(str(message), FLASH_TEXT_MAX), "details": issues,
                                "total": len(details or [])}
