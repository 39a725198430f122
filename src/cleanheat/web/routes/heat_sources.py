"""Heat-source registry pages and API: list (scoped), detail with status history, import, status events."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.responses import RedirectResponse, Response
from pydantic import BaseModel

from cleanheat.assets import heat_sources as hs
from cleanheat.assets.heat_source_import import import_registry, registry_template
from cleanheat.assets.registry_checks import source_warnings
from cleanheat.assets.vocab import EMISSION_CLASSES, EVENTS, FUELS, SOURCE_KINDS, STATUSES
from cleanheat.auth.roles import Role
from cleanheat.auth.service import Actor
from cleanheat.errors import InputError, InputIssue
from cleanheat.programme.model import AREA_TYPE_LABELS
from cleanheat.programme.plan_store import load_plan
from cleanheat.timeutil import local_today
from cleanheat.web.deps import AppSettings, CsrfChecked, DbSession, flash, render, require_roles
from cleanheat.web.nav import NavItem
from cleanheat.web.paging import pager
from cleanheat.web.params import Limit, PageNo

router = APIRouter()
ROLES = (Role.PROGRAMME_OFFICE, Role.HEAT_COMPANY, Role.ECOLOGY_BUREAU, Role.REPORTING_UNIT)
NAV = [NavItem("/assets/sources", "热源登记", "Heat sources", order=50, roles=frozenset(ROLES))]
Viewer = Annotated[Actor, Depends(require_roles(*ROLES, page=True))]
ApiViewer = Annotated[Actor, Depends(require_roles(*ROLES))]
Writer = Annotated[Actor, Depends(require_roles(*hs.WRITE_ROLES, page=True))]
ApiWriter = Annotated[Actor, Depends(require_roles(*hs.WRITE_ROLES))]
VOCAB = {"kinds": SOURCE_KINDS, "fuels": FUELS, "classes": EMISSION_CLASSES, "events": EVENTS, "statuses": STATUSES,
         "area_types": AREA_TYPE_LABELS}


@router.get("/assets/sources", include_in_schema=False)
def sources_page(request: Request, db: DbSession, actor: Viewer, unit: str = "", status: str = "", fuel: str = "",
                 q: str = "", page: PageNo = 1):
    """The registry: paged, filtered (district/county, status, fuel) and searched (code, name, plant, address)."""
    plan = load_plan(db)
    f = hs.SourceFilter(admin_unit_code=unit.strip()[:64], status=status.strip()[:32], fuel=fuel.strip()[:32],
                        text=q.strip()[:200])
    rows = hs.search_sources(db, actor, f, page=page)
    summary = hs.summary(db, actor)
    by_status: dict[str, int] = {}
    for key, v in summary.items():
        st = key.split("/")[0]
        by_status[st] = by_status.get(st, 0) + v["count"]
    query = {"unit": f.admin_unit_code, "status": f.status, "fuel": f.fuel, "q": f.text}
    return render(request, "heat_sources/list.html", pager(rows, query, "/assets/sources", "sources") | {
        "plan": plan, "by_status": by_status, "vocab": VOCAB, "filters": query,
        "can_write": hs.may_write(actor), "warnings": hs.warnings(db, actor),
    }, actor=actor)


@router.get("/assets/sources/template", include_in_schema=False)
def template(actor: Viewer):
    return _xlsx(registry_template(), "heat-sources-template.xlsx")


@router.post("/assets/sources/import", include_in_schema=False, dependencies=[CsrfChecked])
async def import_page(request: Request, db: DbSession, settings: AppSettings, actor: Writer,
                      file: Annotated[UploadFile, File()]):
    data = await file.read(settings.upload_max_bytes + 1)
    try:
        result = _import(db, actor, settings, data, file.filename or "upload.xlsx")
    except InputError as exc:
        db.rollback()
        flash(request, "error", f"导入失败，未导入任何数据 / import refused, nothing imported: {exc.summary}",
              [str(i) for i in exc.issues])
        return RedirectResponse("/assets/sources", status_code=303)
    flash(request, "ok", f"导入成功：新增 {result['created']}，更新 {result['updated']}，状态变化 {result['events']} / "
                           f"imported: {result['created']} new, {result['updated']} updated, {result['events']} events")
    return RedirectResponse("/assets/sources", status_code=303)


@router.get("/assets/sources/{code}", include_in_schema=False)
def source_page(request: Request, code: str, db: DbSession, actor: Viewer, settings: AppSettings):
    src = hs.get_source(db, actor, code)
    owner = hs.owner_of(db, src)
    return render(request, "heat_sources/detail.html", {
        "s": src, "owner": owner, "vocab": VOCAB, "today": local_today().isoformat(),
        "warnings": source_warnings(src), "mw_per_t_h": hs.mw_per_t_h(settings.city_dir),
        "can_write": hs.may_write(actor, src.org_id),
    }, actor=actor)


@router.post("/assets/sources/{code}/events", include_in_schema=False, dependencies=[CsrfChecked])
def add_event_page(request: Request, code: str, db: DbSession, actor: Writer, event: Annotated[str, Form()],
                   effective_date: Annotated[date, Form()], note: Annotated[str, Form()] = ""):
    try:
        hs.add_event(db, actor, code, event, effective_date, note)
    except (InputError, hs.ConflictError) as exc:
        db.rollback()
        flash(request, "error", str(exc))
        return RedirectResponse(f"/assets/sources/{code}", status_code=303)
    flash(request, "ok", f"已记录 / recorded: {EVENTS[event][0]} {EVENTS[event][1]} {effective_date}")
    return RedirectResponse(f"/assets/sources/{code}", status_code=303)


# --- API ---------------------------------------------------------------------------------------------------

class EventOut(BaseModel):
    event: str
    effective_date: date
    note: str
    recorded_by: str


class SourceOut(BaseModel):
    code: str
    name_zh: str
    owner_org_id: int
    admin_unit_code: str
    area_type: str
    kind: str
    fuel: str
    current_fuel: str
    capacity_t_h: float | None
    capacity_mw: float | None
    emission_class: str
    vintage: str
    served_area_m2: float
    status: str
    status_date: date | None
    lon: float | None
    lat: float | None
    events: list[EventOut] = []
    #: registry warnings (e.g. a new coal source that is not ultra-low), English text
    warnings: list[str] = []


def _out(s, with_events: bool = False) -> SourceOut:
    return SourceOut(code=s.code, name_zh=s.name_zh, owner_org_id=s.org_id, admin_unit_code=s.admin_unit_code,
                     area_type=s.area_type, kind=s.kind, fuel=s.fuel, current_fuel=s.current_fuel,
                     capacity_t_h=s.capacity_t_h, capacity_mw=s.capacity_mw, emission_class=s.emission_class,
                     vintage=s.vintage, served_area_m2=s.served_area_m2, status=s.status, status_date=s.status_date,
                     lon=s.lon, lat=s.lat,
                     events=[EventOut(event=e.event, effective_date=e.effective_date, note=e.note,
                                      recorded_by=e.recorded_by) for e in s.events] if with_events else [],
                     warnings=[w.message_en for w in source_warnings(s)] if with_events else [])


@router.get("/api/assets/heat-sources", response_model=list[SourceOut], tags=["assets"])
def api_list(db: DbSession, actor: ApiViewer, unit: str | None = None, status: str | None = None,
             fuel: str | None = None, limit: Limit = 1000):
    return [_out(s) for s in hs.list_sources(db, actor, admin_unit_code=unit, status=status, fuel=fuel,
                                             limit=min(limit, 10000))]


@router.get("/api/assets/heat-sources/{code}", response_model=SourceOut, tags=["assets"])
def api_get(code: str, db: DbSession, actor: ApiViewer):
    return _out(hs.get_source(db, actor, code), with_events=True)


@router.post("/api/assets/heat-sources/import", tags=["assets"])
async def api_import(db: DbSession, settings: AppSettings, actor: ApiWriter, file: Annotated[UploadFile, File()]):
    """Import sources (sheet 热源) and events (sheet 状态变化) from .xlsx or .csv; all or nothing (422 lists
    every problem with sheet, row and column)."""
    data = await file.read(settings.upload_max_bytes + 1)
    return _import(db, actor, settings, data, file.filename or "upload.xlsx")


class EventIn(BaseModel):
    event: str
    effective_date: date
    note: str = ""


@router.post("/api/assets/heat-sources/{code}/events", response_model=SourceOut, status_code=201, tags=["assets"])
def api_event(code: str, body: EventIn, db: DbSession, actor: ApiWriter):
    hs.add_event(db, actor, code, body.event, body.effective_date, body.note)
    return _out(hs.get_source(db, actor, code), with_events=True)


def _import(db, actor: Actor, settings, data: bytes, filename: str) -> dict:
    if len(data) > settings.upload_max_bytes:
        raise InputError("file too large", [InputIssue("文件过大", file=filename)])
    return import_registry(db, actor, data, filename, load_plan(db).units, hs.mw_per_t_h(settings.city_dir))


def _xlsx(content: bytes, name: str) -> Response:
    return Response(content, media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})
