"""The landing page (each role goes to its own start page) and the health check."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse

from cleanheat.auth.roles import Role
from cleanheat.store.engine import ping
from cleanheat.web.deps import DbSession, PageActor

router = APIRouter()

#: Start page per role; areas that add a page for a role register it here.
HOME_BY_ROLE: dict[Role, str] = {
    Role.ADMIN: "/programme",
    Role.PROGRAMME_OFFICE: "/programme",
    Role.REPORTING_UNIT: "/programme/reports",
    Role.HEAT_COMPANY: "/assets/sources",
    Role.ECOLOGY_BUREAU: "/emissions",
    Role.RESIDENT: "/me",
}


@router.get("/", include_in_schema=False)
def home(request: Request, actor: PageActor):
    return RedirectResponse(HOME_BY_ROLE.get(actor.role, "/programme"), status_code=303)


@router.get("/healthz", include_in_schema=False)
def healthz(db: DbSession):
    ping(db)
    return {"ok": True}
