"""Network simulation pages and API: stored networks of a heat company, upload, solve, the network drawn and
coloured by temperature, pressure or heat loss, the worst pipes, seasonal heat loss, renovation scenarios and
result downloads. Heat companies work on their own networks; the programme office sees all of them."""

from __future__ import annotations

import json
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.responses import JSONResponse, RedirectResponse, Response
from pydantic import BaseModel, Field

from cleanheat.auth.roles import Role
from cleanheat.auth.service import Actor, list_orgs
from cleanheat.errors import ConflictError, InputError, InputIssue
from cleanheat.network import service
from cleanheat.network.friction import MODELS
from cleanheat.network.io import FORMATS
from cleanheat.network.registry import registered_networks
from cleanheat.web.deps import AppSettings, CsrfChecked, DbSession, flash, render, require_roles, verify_csrf
from cleanheat.web.job_pages import accepted, submitted
from cleanheat.web.nav import NavItem
from cleanheat.web.params import Id, Limit

router = APIRouter()
NAV = [NavItem("/network", "管网计算", "Networks", order=60, roles=frozenset(service.READ_ROLES))]
Viewer = Annotated[Actor, Depends(require_roles(*service.READ_ROLES, page=True))]
ApiViewer = Annotated[Actor, Depends(require_roles(*service.READ_ROLES))]
Writer = Annotated[Actor, Depends(require_roles(*service.WRITE_ROLES, page=True))]
_ApiWriterNoCsrf = Annotated[Actor, Depends(require_roles(*service.WRITE_ROLES))]


async def _api_writer(request: Request, actor: _ApiWriterNoCsrf) -> Actor:
    """A writer on the API: bearer tokens pass; a browser session must also send its CSRF token (checked after
    authentication, so that an anonymous caller gets 401)."""
    await verify_csrf(request)
    return actor


ApiWriter = Annotated[Actor, Depends(_api_writer)]

FORMAT_LABELS = {"native": ("cleanheat 原生 JSON", "cleanheat native JSON"),
                 "dhnet-bench/1": ("dhnet-bench/1 交换格式", "dhnet-bench/1 exchange format"),
                 "geojson": ("GeoJSON (DistrictHeatSim)", "GeoJSON (DistrictHeatSim)")}
INSULATION_LABELS = {"pre-insulated": ("预制直埋保温管（完好）", "pre-insulated, intact"),
                     "old": ("老旧管沟、保温层老化", "old trench pipe, degraded insulation")}
FRICTION_LABELS = {"colebrook_laminar": ("Colebrook-White + 层流段（默认）",
                                         "Colebrook-White with laminar branch (default)"),
                   "colebrook": ("Colebrook-White（全雷诺数，pandapipes）", "Colebrook-White at all Re (pandapipes)"),
                   "nikuradse": ("Nikuradse", "Nikuradse"), "swamee_jain": ("Swamee-Jain", "Swamee-Jain")}


def _issues(exc: InputError) -> list[str]:
    return [str(i) for i in exc.issues]


def _org_names(db, actor: Actor) -> dict[int, str]:
    return {o.id: o.name_zh for o in list_orgs(db, actor)}


# --- pages -------------------------------------------------------------------------------------------------

@router.get("/network", include_in_schema=False)
def networks_page(request: Request, db: DbSession, actor: Viewer):
    nets = service.list_networks(db, actor)
    latest = {n.id: service.latest_run(db, actor, n.id) for n in nets}
    return render(request, "network/list.html", {
        "networks": nets, "latest": latest, "orgs": _org_names(db, actor), "formats": FORMAT_LABELS,
        "can_upload": actor.role in (*service.WRITE_ROLES, Role.ADMIN),
        "registered": registered_networks(db, actor) if actor.role in service.WRITE_ROLES else [],
        "insulations": INSULATION_LABELS,
    }, actor=actor)


@router.post("/network/from-registry", include_in_schema=False, dependencies=[CsrfChecked])
def from_registry_page(request: Request, db: DbSession, actor: Writer,
                       network_code: Annotated[str, Form(max_length=64)],
                       insulation: Annotated[str, Form(max_length=16)] = "pre-insulated"):
    try:
        stored = service.import_registered(db, actor, network_code, insulation=insulation)
    except (InputError, ConflictError) as exc:
        db.rollback()
        flash(request, "error", f"未生成 / not built: {exc.summary if isinstance(exc, InputError) else exc}",
              _issues(exc) if isinstance(exc, InputError) else None)
        return RedirectResponse("/network", status_code=303)
    flash(request, "ok", f"已生成并计算 / built and solved: {stored.name} ({stored.n_pipes} 条管道 pipes)")
    return RedirectResponse(f"/network/{stored.id}", status_code=303)


@router.post("/network/upload", include_in_schema=False, dependencies=[CsrfChecked])
async def upload_page(request: Request, db: DbSession, settings: AppSettings, actor: Writer,
                      file: Annotated[UploadFile, File()], fmt: Annotated[str, Form()] = "",
                      name: Annotated[str, Form()] = "", description: Annotated[str, Form()] = "",
                      supply_temperature_c: Annotated[str, Form()] = "",
                      return_temperature_c: Annotated[str, Form()] = "",
                      insulation: Annotated[str, Form(max_length=16)] = ""):
    data = await file.read(settings.upload_max_bytes + 1)
    filename = file.filename or "upload.json"
    try:
        opts = _import_options(fmt, name, description, supply_temperature_c, return_temperature_c, insulation)
        stored = _import(db, actor, settings, data, filename, opts)
    except InputError as exc:
        db.rollback()
        flash(request, "error", f"导入失败，未保存任何数据 / import failed, nothing stored: {exc.summary}",
              _issues(exc))
        return RedirectResponse("/network", status_code=303)
    except ConflictError as exc:
        db.rollback()
        flash(request, "error", f"导入失败：本企业已有同名管网，请换一个名称 / import failed: {exc}")
        return RedirectResponse("/network", status_code=303)
    flash(request, "ok", f"已导入并计算 / imported and solved: {stored.name} ({stored.n_pipes} 条管道 pipes)")
    return RedirectResponse(f"/network/{stored.id}", status_code=303)


@router.get("/network/{network_id}", include_in_schema=False)
def network_page(request: Request, network_id: Id, db: DbSession, actor: Viewer, run: Id | None = None):
    net = service.get_network(db, actor, network_id)
    solve_run = service.get_run(db, actor, run) if run else service.latest_run(db, actor, network_id)
    if solve_run is not None and (solve_run.network_id != net.id or solve_run.kind != "solve"):
        solve_run = service.latest_run(db, actor, network_id)
    last_any = service.latest_run(db, actor, network_id, "solve", ok_only=False)
    failed = last_any if last_any is not None and last_any.status == "failed" else None
    seasonal = service.latest_run(db, actor, network_id, "seasonal")
    renovations = [r for r in service.list_runs(db, actor, network_id, "renovation") if r.status == "ok"][:5]
    solves = service.list_runs(db, actor, network_id, "solve")[:10]
    worst = service.worst_pipes(db, actor, solve_run.id, 20) if solve_run else []
    price, price_source = service.default_price()
    return render(request, "network/detail.html", {
        "net": net, "run": solve_run, "failed": failed, "seasonal": seasonal, "renovations": renovations,
        "solves": solves, "worst": worst, "owner": _org_names(db, actor).get(net.org_id, ""),
        "can_write": service.can_write(actor, net), "formats": FORMAT_LABELS, "friction": FRICTION_LABELS,
        "price": price, "price_source": price_source,
    }, actor=actor)


@router.post("/network/{network_id}/solve", include_in_schema=False, dependencies=[CsrfChecked])
def solve_page(request: Request, network_id: Id, db: DbSession, actor: Writer,
               pandapipes_compatible: Annotated[str, Form()] = "", friction_model: Annotated[str, Form()] = ""):
    try:
        run = service.solve_network(db, actor, network_id, pandapipes_compatible=bool(pandapipes_compatible),
                                    friction_model=friction_model or None)
    except InputError as exc:
        db.rollback()
        flash(request, "error", exc.summary, _issues(exc))
        return RedirectResponse(f"/network/{network_id}", status_code=303)
    if run.status == "ok":
        flash(request, "ok", f"计算完成 / solved in {run.solve_s:.3f} s")
    else:
        flash(request, "error", f"计算未收敛 / the solve failed: {run.error}")
    return RedirectResponse(f"/network/{network_id}", status_code=303)


@router.post("/network/{network_id}/seasonal", include_in_schema=False, dependencies=[CsrfChecked])
def seasonal_page(request: Request, network_id: Id, db: DbSession, actor: Writer):
    """One solve per weather bin of the season: run by a background worker, its progress on the job's page."""
    return submitted(request, service.submit_seasonal(db, actor, network_id))


@router.post("/network/{network_id}/renovation", include_in_schema=False, dependencies=[CsrfChecked])
def renovation_page(request: Request, network_id: Id, db: DbSession, actor: Writer,
                    pipes: Annotated[list[str] | None, Form()] = None, worst: Annotated[str, Form()] = "",
                    supply_offset_k: Annotated[str, Form()] = "", price_yuan_per_gj: Annotated[str, Form()] = "",
                    existing_insulation: Annotated[str, Form(max_length=16)] = ""):
    """Two seasons of weather bins: checked here, run by a background worker (the job's page moves on to the
    network page's renovation section, where the scenario is listed with its note)."""
    try:
        n_worst = _int_field(worst, "worst")
        offset = _float_field(supply_offset_k, "supply_offset_k")
        job = service.submit_renovation(db, actor, network_id, pipe_ids=pipes or [], worst=n_worst,
                                        supply_offset_k=offset, price_yuan_per_gj=price_yuan_per_gj,
                                        existing_insulation=existing_insulation)
    except InputError as exc:
        db.rollback()
        flash(request, "error", f"改造方案无法计算 / scenario not run: {exc.summary}", _issues(exc))
        return RedirectResponse(f"/network/{network_id}#renovation", status_code=303)
    return submitted(request, job)


@router.post("/network/{network_id}/delete", include_in_schema=False, dependencies=[CsrfChecked])
def delete_page(request: Request, network_id: Id, db: DbSession, actor: Writer):
    net = service.get_network(db, actor, network_id)
    name = net.name
    service.delete_network(db, actor, network_id)
    flash(request, "ok", f"已删除 / deleted: {name}")
    return RedirectResponse("/network", status_code=303)


def _int_field(v: str, field: str) -> int:
    if not str(v).strip():
        return 0
    try:
        return int(str(v).strip())
    except ValueError as exc:
        raise InputError("not a whole number", [InputIssue(f"{v!r} is not a whole number", field=field)]) from exc


def _float_field(v: str, field: str, default: float = 0.0) -> float:
    if not str(v).strip():
        return default
    try:
        return float(str(v).strip())
    except ValueError as exc:
        raise InputError("not a number", [InputIssue(f"{v!r} is not a number", field=field)]) from exc


def _import_options(fmt: str, name: str, description: str, supply_c: str, return_c: str,
                    insulation: str = "") -> service.ImportOptions:
    if fmt and fmt not in FORMATS:
        raise InputError("unknown format", [InputIssue(f"format must be one of {', '.join(FORMATS)}", field="fmt")])
    if insulation and insulation not in INSULATION_LABELS:
        raise InputError("unknown insulation", [InputIssue(
            f"insulation must be one of {', '.join(INSULATION_LABELS)}", field="insulation")])
    return service.ImportOptions(
        fmt=fmt or None, name=name.strip() or None, description=description.strip(), insulation=insulation or None,
        supply_temperature_c=_float_field(supply_c, "supply_temperature_c", None) if supply_c.strip() else None,
        return_temperature_c=_float_field(return_c, "return_temperature_c", None) if return_c.strip() else None)


def _import(db, actor: Actor, settings, data: bytes, filename: str, opts: service.ImportOptions):
    if len(data) > settings.upload_max_bytes:
        raise InputError("file too large", [InputIssue(f"文件超过 {settings.upload_max_bytes // 1024 // 1024} MB / "
                                                       "file too large", file=filename)])
    return service.import_network(db, actor, data, filename, opts)


# --- API -------------------------------------------------------------------------------------------------

class NetworkOut(BaseModel):
    id: int
    name: str
    description: str
    owner_org_id: int
    source_format: str
    source_filename: str
    crs: str | None
    n_nodes: int
    n_pipes: int
    n_consumers: int
    n_sources: int
    total_length_m: float
    design_heat_w: float
    created_by: str
    created_at: datetime


class RunOut(BaseModel):
    id: int
    network_id: int
    kind: str
    status: str
    options: dict[str, Any]
    summary: dict[str, Any]
    warnings: list[dict[str, Any]]
    error: str
    solve_s: float | None
    saved_gj: float | None
    saved_yuan: Decimal | None
    created_by: str
    created_at: datetime


class NetworkDetailOut(NetworkOut):
    latest_solve: RunOut | None = None
    runs: list[RunOut] = []


def _net_out(n) -> NetworkOut:
    return NetworkOut(id=n.id, name=n.name, description=n.description, owner_org_id=n.org_id,
                      source_format=n.source_format, source_filename=n.source_filename, crs=n.crs, n_nodes=n.n_nodes,
                      n_pipes=n.n_pipes, n_consumers=n.n_consumers, n_sources=n.n_sources,
                      total_length_m=n.total_length_m, design_heat_w=n.design_heat_w, created_by=n.created_by,
                      created_at=n.created_at)


def _run_out(r) -> RunOut:
    return RunOut(id=r.id, network_id=r.network_id, kind=r.kind, status=r.status, options=r.options or {},
                  summary=r.summary or {}, warnings=r.warnings or [], error=r.error or "", solve_s=r.solve_s,
                  saved_gj=r.saved_gj, saved_yuan=r.saved_yuan, created_by=r.created_by, created_at=r.created_at)


@router.get("/api/network/networks", response_model=list[NetworkOut], tags=["network"])
def api_list(db: DbSession, actor: ApiViewer):
    return [_net_out(n) for n in service.list_networks(db, actor)]


@router.post("/api/network/networks", response_model=NetworkDetailOut, status_code=201, tags=["network"])
async def api_upload(db: DbSession, settings: AppSettings, actor: ApiWriter, file: Annotated[UploadFile, File()],
                     fmt: Annotated[str, Form()] = "", name: Annotated[str, Form()] = "",
                     description: Annotated[str, Form()] = "", supply_temperature_c: Annotated[str, Form()] = "",
                     return_temperature_c: Annotated[str, Form()] = ""):
    """Upload a network (native JSON, GeoJSON or dhnet-bench/1) and solve it once. All or nothing: a bad file
    gives 422 with every problem and where it is (file, section, row, field)."""
    data = await file.read(settings.upload_max_bytes + 1)
    opts = _import_options(fmt, name, description, supply_temperature_c, return_temperature_c)
    stored = _import(db, actor, settings, data, file.filename or "upload.json", opts)
    return _detail(db, actor, stored.id)


def _detail(db, actor: Actor, network_id: Id) -> NetworkDetailOut:
    n = service.get_network(db, actor, network_id)
    latest = service.latest_run(db, actor, network_id)
    return NetworkDetailOut(**_net_out(n).model_dump(), latest_solve=_run_out(latest) if latest else None,
                            runs=[_run_out(r) for r in service.list_runs(db, actor, network_id)[:50]])


@router.get("/api/network/networks/{network_id}", response_model=NetworkDetailOut, tags=["network"])
def api_get(network_id: Id, db: DbSession, actor: ApiViewer):
    return _detail(db, actor, network_id)


@router.delete("/api/network/networks/{network_id}", status_code=204, tags=["network"])
def api_delete(network_id: Id, db: DbSession, actor: ApiWriter):
    service.delete_network(db, actor, network_id)
    return Response(status_code=204)


@router.get("/api/network/networks/{network_id}/model", tags=["network"])
def api_model(network_id: Id, db: DbSession, actor: ApiViewer):
    """The stored network as a ``cleanheat-network/1`` document."""
    return service.get_network(db, actor, network_id).model


class SolveIn(BaseModel):
    pandapipes_compatible: bool = False
    friction_model: str | None = Field(default=None, description=f"one of {', '.join(MODELS)}")


@router.post("/api/network/networks/{network_id}/solve", response_model=RunOut, status_code=201, tags=["network"])
def api_solve(network_id: Id, db: DbSession, actor: ApiWriter, body: SolveIn | None = None):
    """Solve the stored network; a solve that does not converge is stored and returned with status 'failed'."""
    body = body or SolveIn()
    return _run_out(service.solve_network(db, actor, network_id, pandapipes_compatible=body.pandapipes_compatible,
                                          friction_model=body.friction_model))


class SeasonalIn(BaseModel):
    bin_k: float = 2.0


_QUEUED = {202: {"description": "queued as a job: poll `/api/jobs/<id>` (the `Location`), then open its "
                                "`result_url`, the network run"}}


@router.post("/api/network/networks/{network_id}/seasonal", status_code=202, tags=["network"], responses=_QUEUED)
def api_seasonal(network_id: Id, db: DbSession, actor: ApiWriter, body: SeasonalIn | None = None) -> JSONResponse:
    """Seasonal heat loss with Harbin's hourly weather, one solve per weather bin: a job (``202 Accepted``,
    ``Location: /api/jobs/<id>``). When the job is done its ``result_url`` is the run (``/api/network/runs/<id>``:
    GJ per season; the worst pipes per km in ``detail``)."""
    return accepted(db, service.submit_seasonal(db, actor, network_id, bin_k=(body or SeasonalIn()).bin_k))


class RenovationIn(BaseModel):
    pipes: list[str] = []
    worst: int = 0
    supply_offset_k: float = 0.0
    price_yuan_per_gj: Decimal | None = None


@router.post("/api/network/networks/{network_id}/renovation", status_code=202, tags=["network"],
             responses=_QUEUED)
def api_renovation(network_id: Id, body: RenovationIn, db: DbSession, actor: ApiWriter) -> JSONResponse:
    """Renovation scenario, two seasons of weather bins: a job (``202 Accepted``, ``Location: /api/jobs/<id>``);
    the input is checked now (422 with every problem). When the job is done its ``result_url`` is the run: GJ and
    yuan saved per season (``saved_gj``, ``saved_yuan``)."""
    return accepted(db, service.submit_renovation(db, actor, network_id, pipe_ids=body.pipes, worst=body.worst,
                                                  supply_offset_k=body.supply_offset_k,
                                                  price_yuan_per_gj=body.price_yuan_per_gj))


@router.get("/api/network/networks/{network_id}/runs", response_model=list[RunOut], tags=["network"])
def api_runs(network_id: Id, db: DbSession, actor: ApiViewer, kind: str | None = None):
    return [_run_out(r) for r in service.list_runs(db, actor, network_id, kind)]


@router.get("/api/network/networks/{network_id}/map", tags=["network"])
def api_map(network_id: Id, db: DbSession, actor: ApiViewer, run: Id | None = None):
    """Pipe segments (node coordinates) with their results, consumers and sources: what the page draws."""
    return service.map_data(db, actor, network_id, run)


class RunDetailOut(RunOut):
    detail: dict[str, Any]


@router.get("/api/network/runs/{run_id}", response_model=RunDetailOut, tags=["network"])
def api_run(run_id: Id, db: DbSession, actor: ApiViewer):
    r = service.get_run(db, actor, run_id)
    return RunDetailOut(**_run_out(r).model_dump(), detail=r.detail or {})


@router.get("/api/network/runs/{run_id}/worst-pipes", tags=["network"])
def api_worst(run_id: Id, db: DbSession, actor: ApiViewer, top: Limit = 20):
    """The pipes with the highest heat loss per metre (W/m = kW/km) in a solve."""
    return service.worst_pipes(db, actor, run_id, max(1, min(top, 1000)))


@router.get("/api/network/runs/{run_id}/result.json", tags=["network"])
def api_result_json(run_id: Id, db: DbSession, actor: ApiViewer):
    doc = service.run_result_json(db, actor, run_id)
    return _download(json.dumps(doc, ensure_ascii=False), "application/json", f"network-run-{run_id}.json")


@router.get("/api/network/runs/{run_id}/result.geojson", tags=["network"])
def api_result_geojson(run_id: Id, db: DbSession, actor: ApiViewer):
    doc = service.run_result_geojson(db, actor, run_id)
    return _download(json.dumps(doc, ensure_ascii=False), "application/geo+json", f"network-run-{run_id}.geojson")


@router.get("/api/network/runs/{run_id}/result.csv", tags=["network"])
def api_result_csv(run_id: Id, db: DbSession, actor: ApiViewer, table: str = "pipes"):
    text = service.run_result_csv(db, actor, run_id, table)
    return _download("\ufeff" + text, "text/csv; charset=utf-8", f"network-run-{run_id}-{table}.csv")


def _download(text: str, media: str, filename: str) -> Response:
    return Response(text.encode("utf-8"), media_type=media,
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})

