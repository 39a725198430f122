"""The app factory. Routers are discovered in ``cleanheat.web.routes``: each module exposes ``router``
(and optionally ``NAV`` and ``lifespan``; ``ROUTES_CONTRACT``), so an area adds pages without touching this file."""

from __future__ import annotations

import importlib
import pkgutil
from contextlib import AsyncExitStack, asynccontextmanager, contextmanager
from pathlib import Path

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.exceptions import HTTPException

from cleanheat import __version__
from cleanheat.auth import service as auth_service
from cleanheat.auth.config import AuthConfig
from cleanheat.auth.middleware import ServerSessionMiddleware
from cleanheat.auth.passwords import configure_hasher, configure_hashing
from cleanheat.auth.service import Actor
from cleanheat.config import Settings
from cleanheat.errors import ConflictError, InputError, NotFoundError, PermissionDeniedError
from cleanheat.plugins import Contract, function_of, list_of
from cleanheat.store.engine import make_engine, make_sessionmaker, session_scope
from cleanheat.web import formatting, routes
from cleanheat.web.deps import LoginRequired, PasswordChangeRequired, render, verify_csrf
from cleanheat.web.limits import RequestLimits
from cleanheat.web.nav import NavItem
from cleanheat.web.security_headers import SecurityHeadersMiddleware

WEB_DIR = Path(__file__).parent

_ERROR_STATUS = {NotFoundError: 404, PermissionDeniedError: 403, ConflictError: 409, InputError: 422}


#: what a ``cleanheat.web.routes.<area>`` module exposes (checked at discovery; a misspelt name fails loudly)
ROUTES_CONTRACT = Contract("route module", required={"router": APIRouter},
                           optional={"NAV": list_of(NavItem), "lifespan": function_of(1)})


def discover_routers() -> list:
    modules = []
    for mod in sorted(pkgutil.iter_modules(routes.__path__), key=lambda m: m.name):
        modules.append(ROUTES_CONTRACT.check(importlib.import_module(f"{routes.__name__}.{mod.name}")))
    return modules


@contextmanager
def _worker_thread(app: FastAPI, *, full: bool):
    """The background worker in a thread of this process (``Settings.background_in_web``, the one-machine
    default): queued jobs always; periodic rounds and the demo services too unless ``full`` is False."""
    from cleanheat.jobs.worker import Worker, worker_name

    worker = Worker(app.state.settings, app.state.engine, name=worker_name("web"), services=full, periodic=full)
    app.state.worker = worker
    worker.start()
    try:
        yield worker
    finally:
        worker.stop()


def create_app(settings: Settings, *, engine=None, background: bool = True) -> FastAPI:
    """Build the web app for ``settings`` (the database must already be migrated: ``cleanheat init``).

    Route modules may expose ``lifespan(app)``, an async context manager run while the app serves (the
    programme's prepared figures); with ``Settings.background_in_web`` a worker thread runs the background work
    (``cleanheat.jobs``). ``background=False`` (tests of pages alone) skips the route lifespans and runs only
    queued jobs, no periodic rounds or demo services.
    """
    modules = discover_routers()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        async with AsyncExitStack() as stack:
            if background:
                for module in modules:
                    if hasattr(module, "lifespan"):
                        await stack.enter_async_context(module.lifespan(app))
            if settings.background_in_web:
                stack.enter_context(_worker_thread(app, full=background))
            yield

    app = FastAPI(
        lifespan=lifespan,
        dependencies=[Depends(verify_csrf)],
        title="cleanheat",
        version=__version__,
        description="清洁取暖平台 API — clean-heating platform. Authenticate with `Authorization: Bearer <token>` "
        "from POST /api/auth/token.",
        openapi_url="/api/openapi.json",
        docs_url="/api/docs",
        redoc_url=None,
        swagger_ui_oauth2_redirect_url=None,
    )
    engine = engine or make_engine(settings.database_url)
    app.state.settings = settings
    app.state.engine = engine
    app.state.sessionmaker = make_sessionmaker(engine)
    templates = Jinja2Templates(directory=str(WEB_DIR / "templates"))
    templates.env.filters.update(
        wan=formatting.wan_m2, pct=formatting.pct, num=formatting.num, share=formatting.share_pct,
        localtime=lambda v, fmt="%Y-%m-%d %H:%M": formatting.local_time(v, settings.display_timezone, fmt),
    )
    app.state.templates = templates
    app.state.auth_config = auth_config = AuthConfig()
    configure_hashing(auth_config.hash_concurrency, auth_config.hash_wait_s)
    configure_hasher(auth_config.argon2_time_cost, auth_config.argon2_memory_kib, auth_config.argon2_parallelism)
    app.add_middleware(RequestLimits)  # inside the session middleware: it reads the session, before any body
    app.add_middleware(ServerSessionMiddleware, factory=app.state.sessionmaker,
                       max_age_s=settings.session_max_age_s, https_only=settings.cookie_secure)
    app.add_middleware(SecurityHeadersMiddleware, docs_path=app.docs_url)  # outermost: every response has them
    app.mount("/static", StaticFiles(directory=str(WEB_DIR / "static")), name="static")

    nav = []
    for module in modules:
        app.include_router(module.router)
        nav.extend(getattr(module, "NAV", []))
    app.state.nav = sorted(nav, key=lambda n: n.order)

    _install_error_handlers(app)
    return app


def _wants_json(request: Request) -> bool:
    return request.url.path.startswith("/api/") or "application/json" in request.headers.get("accept", "")


def _actor_of(request: Request):
    """The logged-in user for an error page's menu (None when there is none or it cannot be read)."""
    try:
        uid = request.session.get("uid")
        if uid is None:
            return None
        with session_scope(request.app.state.sessionmaker) as s:
            user = auth_service.get_user(s, int(uid))
            return Actor.for_user(user) if user is not None else None
    except Exception:  # an error page must render even when the session or database does not
        return None


def _error_page(request: Request, code: int, error: dict, headers=None):
    response = render(request, "error.html", {"code": code, "error": error}, actor=_actor_of(request),
                      status_code=code)
    if headers:
        response.headers.update(headers)
    return response


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(LoginRequired)
    async def _login_required(request: Request, _exc: LoginRequired):
        return RedirectResponse(f"/login?next={request.url.path}", status_code=303)

    @app.exception_handler(PasswordChangeRequired)
    async def _password_change_required(request: Request, _exc: PasswordChangeRequired):
        return RedirectResponse("/account/password", status_code=303)

    async def _domain_error(request: Request, exc: Exception):
        code = next(c for t, c in _ERROR_STATUS.items() if isinstance(exc, t))
        body = {"detail": str(exc) if not isinstance(exc, InputError) else exc.summary}
        if isinstance(exc, InputError):
            body["issues"] = [i.as_dict() for i in exc.issues]
        if _wants_json(request):
            return JSONResponse(body, status_code=code)
        return _error_page(request, code, body)

    for exc_type in _ERROR_STATUS:
        app.add_exception_handler(exc_type, _domain_error)

    @app.exception_handler(HTTPException)
    async def _http_error(request: Request, exc: HTTPException):
        if _wants_json(request) or exc.status_code == 401:
            return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers)
        return _error_page(request, exc.status_code, {"detail": exc.detail})

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError):
        if _wants_json(request):
            return JSONResponse({"detail": "invalid request", "issues": exc.errors()}, status_code=422)
        # a page with a bad query value or an incomplete form: the error page, naming the field and the value
        issues = []
        for e in exc.errors():
            loc = [str(x) for x in e.get("loc", ()) if x not in ("query", "body", "path", "form")]
            value = e.get("input")
            shown = f" ({value!r})" if isinstance(value, str | int | float) else ""
            issues.append({"where": ".".join(loc) or "?", "message": f"{e.get('msg', '')}{shown}"})
        return _error_page(request, 422, {"detail": "", "issues": issues})


def all_routes(app: FastAPI) -> list:
    """Every route of the app, with included routers flattened (routers are included without a prefix)."""
    out = []

    def walk(routes) -> None:
        for r in routes:
            inner = getattr(r, "original_router", None)
            if inner is not None:
                walk(inner.routes)
            else:
                out.append(r)

    walk(app.routes)
    return out


def app_from_environment() -> FastAPI:
    """The app of a long-lived server process, its settings from the environment (``cleanheat serve``; uvicorn
    calls this in each web process it starts)."""
    app = create_app(Settings())
    app.state.freeze_heap_when_warm = True  # see web/routes/programme.py
    return app
