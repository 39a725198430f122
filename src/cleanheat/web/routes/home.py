"""The landing page (each role goes to its own start page) and the health check."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse

from cleanheat.auth.roles import Role
from cleanheat.auth.service import Actor
from cleanheat.store.engine import ping
from cleanheat.web.deps import DbSession, PageActor

router = APIRouter()

#: Start page per role, where its daily work is; areas that add a page for a role register it here. ``{unit}``
#: is the user's administrative unit (a district or county lands on its own unit page); users without one go to
#: ``HOME_FALLBACK_BY_ROLE`` (or the overview).
HOME_BY_ROLE: dict[Role, str] = {
    Role.ADMIN: "/programme",
    Role.PROGRAMME_OFFICE: "/programme",
    Role.REPORTING_UNIT: "/programme/units/{unit}",
    Role.HEAT_COMPANY: "/telemetry",
    Role.ECOLOGY_BUREAU: "/emissions",
    Role.RESIDENT: "/me",
}
HOME_FALLBACK_BY_ROLE: dict[Role, str] = {Role.REPORTING_UNIT: "/programme/reports"}


def home_path(actor: Actor) -> str:
    """The start page of ``actor``."""
    path = HOME_BY_ROLE.get(actor.role, "/programme")
    if "{unit}" in path:
        if not actor.admin_unit_code:
            return HOME_FALLBACK_BY_ROLE.get(actor.role, "/programme")
        path = path.replace("{unit}", actor.admin_unit_code)
    return path


@router.get("/", include_in_schema=False)
def home(request: Request, actor: PageActor):
    return RedirectResponse(home_path(actor), status_code=303)


@router.get("/healthz", include_in_schema=False)
def healthz(db: DbSession):
    ping(db)
    return {"ok": True}
