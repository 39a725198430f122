"""The network registry: pages and JSON API for networks, stations, buildings, households, devices and points,
with CSV/Excel import (all-or-nothing) and export. (Heat sources have their own pages.)"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, HTTPException, Request, UploadFile
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError

from cleanheat.assets import io as assets_io
from cleanheat.assets import service
from cleanheat.assets.schemas import (
    KIND_SCHEMAS,
    BuildingOut,
    DeviceIn,
    DeviceOut,
    DeviceWithPointsIn,
    HouseholdOut,
    NetworkOut,
    PointIn,
    PointOut,
    StationOut,
)
from cleanheat.auth.roles import Role
from cleanheat.auth.service import Actor
from cleanheat.errors import InputError, InputIssue
from cleanheat.web.deps import AppSettings, CsrfChecked, DbSession, flash, render, require_roles
from cleanheat.web.nav import NavItem
from cleanheat.web.params import Id, Limit, Offset, PageNo

router = APIRouter()
VIEW = (Role.HEAT_COMPANY, Role.PROGRAMME_OFFICE)
NAV = [NavItem("/assets", "资产台账", "Registry", order=200, roles=frozenset(VIEW))]

ViewPage = Annotated[Actor, Depends(require_roles(*VIEW, page=True))]
ViewApi = Annotated[Actor, Depends(require_roles(*VIEW))]
EditPage = Annotated[Actor, Depends(require_roles(Role.HEAT_COMPANY, page=True))]
EditApi = Annotated[Actor, Depends(require_roles(Role.HEAT_COMPANY))]

OUT = {"networks": NetworkOut, "stations": StationOut, "buildings": BuildingOut, "households": HouseholdOut,
       "devices": DeviceOut}
KIND_LABELS = {"networks": ("热网", "Networks"), "stations": ("换热站", "Stations"), "buildings": ("楼栋", "Buildings"),
               "households": ("住户", "Households"), "devices": ("设备", "Devices"), "points": ("测点", "Points")}


# --- JSON API -------------------------------------------------------------------------------------------

@router.get("/api/assets/export", tags=["assets"])
def export_api(db: DbSession, actor: ViewApi, format: str = "json", kind: str = "stations"):
    """Everything the caller may see, as import files: ``json``, ``xlsx`` (one sheet per kind) or ``csv`` (one kind)."""
    tables = service.export_rows(db, actor)
    if format == "xlsx":
        return Response(assets_io.write_assets_xlsx(tables),
                        media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                        headers={"content-disposition": 'attachment; filename="assets.xlsx"'})
    if format == "csv":
        if kind not in KIND_SCHEMAS:
            raise HTTPException(422, f"kind: one of {', '.join(KIND_SCHEMAS)}")
        return Response(assets_io.write_assets_csv(tables, kind), media_type="text/csv; charset=utf-8",
                        headers={"content-disposition": f'attachment; filename="{kind}.csv"'})
    if format != "json":
        raise HTTPException(422, "format: json | xlsx | csv")
    return Response(assets_io.write_assets_json(tables), media_type="application/json")


@router.post("/api/assets/import", tags=["assets"], dependencies=[CsrfChecked])
def import_api(db: DbSession, actor: EditApi, settings: AppSettings, file: Annotated[UploadFile, File()],
               kind: Annotated[str | None, Form()] = None):
    """Import a registry file (Excel: sheets by kind; CSV: one kind). All or nothing: a 422 lists every problem."""
    data = file.file.read(settings.upload_max_bytes + 1)
    if len(data) > settings.upload_max_bytes:
        raise HTTPException(413, "file too large")
    rows = assets_io.read_assets_file(data, file.filename or "upload", kind)
    summary = service.import_rows(db, actor, rows, file=file.filename or "upload", data_dir=settings.data_dir)
    return {"created": summary.created, "updated": summary.updated}


@router.post("/api/assets/points", tags=["assets"], dependencies=[CsrfChecked])
def point_api(db: DbSession, actor: EditApi, settings: AppSettings, body: PointIn):
    """Create or update a measurement point (by device code and key; the catalogue fills in the defaults)."""
    return PointOut.model_validate(service.upsert(db, actor, "points", body, data_dir=settings.data_dir)).model_dump()


def _list_route(kind: str):
    def list_api(db: DbSession, actor: ViewApi, limit: Limit = 1000, offset: Offset = 0):
        return [OUT[kind].model_validate(r).model_dump()
                for r in service.list_records(db, actor, kind, limit=min(limit, 10000), offset=offset)]

    list_api.__doc__ = f"{KIND_LABELS[kind][1]} the caller may see."
    return list_api


def _get_route(kind: str):
    def get_api(db: DbSession, actor: ViewApi, record_id: Id):
        return OUT[kind].model_validate(service.get_record(db, actor, kind, record_id)).model_dump()

    get_api.__doc__ = f"One of the {KIND_LABELS[kind][1].lower()}."
    return get_api


def _upsert_route(kind: str):
    async def upsert_api(request: Request, db: DbSession, actor: EditApi, settings: AppSettings):
        body = await request.json()
        schema = DeviceWithPointsIn if kind == "devices" else KIND_SCHEMAS[kind]
        try:
            item = schema.model_validate(body)
        except ValidationError as exc:
            raise InputError("invalid body", [InputIssue(e["msg"], field=".".join(map(str, e["loc"])))
                                              for e in exc.errors()]) from exc
        if kind == "devices":
            points = [p if isinstance(p, str) else PointIn.model_validate(p | {"device_code": item.code})
                      for p in item.points]
            row = service.upsert_device_with_points(db, actor, DeviceIn.model_validate(item.model_dump(
                exclude={"points"})), points, data_dir=settings.data_dir)
        else:
            row = service.upsert(db, actor, kind, item, data_dir=settings.data_dir)
        return OUT[kind].model_validate(row).model_dump()

    upsert_api.__doc__ = (f"Create or update one of the {KIND_LABELS[kind][1].lower()} by code (body: its input "
                          "schema; a device may list its `points`, keys alone taking the catalogue defaults).")
    return upsert_api


# explicit paths per kind, so that other routers' /api/assets/... paths (heat sources) are never shadowed
for _kind_name in OUT:
    router.add_api_route(f"/api/assets/{_kind_name}", _list_route(_kind_name), methods=["GET"], tags=["assets"],
                         name=f"list_{_kind_name}")
    router.add_api_route(f"/api/assets/{_kind_name}/{{record_id}}", _get_route(_kind_name), methods=["GET"],
                         tags=["assets"], name=f"get_{_kind_name}")
    router.add_api_route(f"/api/assets/{_kind_name}", _upsert_route(_kind_name), methods=["POST"],
                         tags=["assets"], name=f"upsert_{_kind_name}", dependencies=[CsrfChecked])


# --- pages ---------------------------------------------------------------------------------------------

def _ctx() -> dict:
    return {"kind_labels": KIND_LABELS}


@router.get("/assets", include_in_schema=False)
def index_page(request: Request, db: DbSession, actor: ViewPage):
    return render(request, "assets/index.html", _ctx() | {
        "counts": service.count_records(db, actor), "networks": service.list_records(db, actor, "networks"),
        "stations": service.list_records(db, actor, "stations")}, actor=actor)


@router.get("/assets/stations/{station_id}", include_in_schema=False)
def station_page(request: Request, db: DbSession, actor: ViewPage, station_id: Id):
    return render(request, "assets/station.html", _ctx() | service.station_tree(db, actor, station_id), actor=actor)


@router.get("/assets/devices", include_in_schema=False)
def devices_page(request: Request, db: DbSession, actor: ViewPage, kind: str | None = None, page: PageNo = 1):
    rows = service.list_records(db, actor, "devices")
    if kind:
        rows = [d for d in rows if d.kind == kind]
    per = 100
    return render(request, "assets/devices.html", _ctx() | {
        "rows": rows[(page - 1) * per: page * per], "total": len(rows), "page": page, "per": per, "kind": kind},
        actor=actor)


@router.post("/assets/import", include_in_schema=False, dependencies=[CsrfChecked])
def import_page(request: Request, db: DbSession, actor: EditPage, settings: AppSettings,
                file: Annotated[UploadFile, File()], kind: Annotated[str, Form()] = ""):
    data = file.file.read(settings.upload_max_bytes + 1)
    try:
        if len(data) > settings.upload_max_bytes:
            raise InputError("file too large")
        rows = assets_io.read_assets_file(data, file.filename or "upload", kind or None)
        summary = service.import_rows(db, actor, rows, file=file.filename or "upload", data_dir=settings.data_dir)
    except InputError as exc:
        db.rollback()
        flash(request, "error", f"导入失败，未写入任何数据 / Import refused, nothing written: {exc.summary}",
              [str(i) for i in exc.issues])
        return RedirectResponse("/assets", status_code=303)
    flash(request, "ok", f"导入成功 / Imported: {summary.text()}")
    return RedirectResponse("/assets", status_code=303)
