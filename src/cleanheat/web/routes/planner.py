"""Planner pages (/planner) and API (/api/planner): scenario editor, results with charts and an area map,
per-area appraisal, comparison, sensitivity, proposals to the programme, XLSX/PDF downloads."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, Query, Request, UploadFile
from fastapi.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from cleanheat.auth.service import Actor
from cleanheat.errors import ConflictError, InputError, InputIssue
from cleanheat.planner import forms, service
from cleanheat.planner.appraisal import EMISSION_LABELS, REASONS
from cleanheat.planner.scenario import CAP_KEYS
from cleanheat.programme.model import AREA_TYPE_LABELS, AREA_TYPES
from cleanheat.web.deps import AppSettings, CsrfChecked, DbSession, flash, language, render, require_roles
from cleanheat.web.job_pages import accepted, submitted
from cleanheat.web.nav import NavItem
from cleanheat.web.params import Id, PageNo

router = APIRouter()

READERS = service.READ_ROLES
NAV = [NavItem("/planner", "方式规划", "Planner", order=60, roles=frozenset(READERS))]

PageReader = Annotated[Actor, Depends(require_roles(*READERS, page=True))]
PageWriter = Annotated[Actor, Depends(require_roles(*service.WRITE_ROLES, page=True))]
ApiReader = Annotated[Actor, Depends(require_roles(*READERS))]
ApiWriter = Annotated[Actor, Depends(require_roles(*service.WRITE_ROLES))]

OPTION_COLOURS = {
    "chp_network": "#1f77b4", "gas_boiler_house": "#ff7f0e", "gas_wall_hung": "#ffbb78",
    "electric_storage_boiler": "#9467bd", "electric_film": "#c5b0d5", "ashp": "#17becf", "gshp": "#8c564b",
    "biomass_pellet_stove": "#2ca02c", "biomass_boiler_house": "#98df8a", "biomass_chp": "#bcbd22",
    "geothermal": "#e377c2", "sewage_waste_heat": "#7f7f7f", "coal_briquette": "#c49c94", "loose_coal": "#000000",
    "coal_boiler_legacy": "#d62728",
}


def _ctx(settings) -> dict:
    inp = service.inputs(settings)
    return {"cat": inp.catalogue, "plan": inp.plan, "AREA_TYPES": AREA_TYPES, "AREA_TYPE_LABELS": AREA_TYPE_LABELS,
            "EMISSION_LABELS": EMISSION_LABELS, "CAP_KEYS": CAP_KEYS, "OPTION_COLOURS": OPTION_COLOURS,
            "opt_names": {o.code: (o.name_zh, o.name_en) for o in inp.catalogue.options},
            "group_names": {g[0]: (g[1], g[2] or g[1]) for g in inp.plan.technology_groups}}


# --- pages ----------------------------------------------------------------------------------------------

@router.get("/planner", include_in_schema=False)
def index(request: Request, db: DbSession, actor: PageReader, settings: AppSettings):
    syn = service.synthetic_summary(settings)
    return render(request, "planner/index.html", {
        **_ctx(settings), "synthetic": syn,
        "scenarios": service.list_scenarios(db, actor), "area_sets": service.list_area_sets(db, actor),
        "proposals": service.list_proposals(db, actor), "results": service.list_results(db, actor)[:30],
        "can_write": service.can_write(actor)}, actor)


def _editor(request: Request, db, actor: Actor, settings, *, row=None, yaml_text: str | None = None,
            errors: list | None = None, status_code: int = 200, copied_from: str = "", base_ref: str = ""):
    ctx = _ctx(settings)
    doc = forms.load_doc(yaml_text if yaml_text is not None else (row.yaml_text if row else None))
    values = forms.form_values(doc, ctx["cat"], ctx["plan"])
    return render(request, "planner/editor.html", {
        **ctx, "row": row, "v": values, "yaml_text": yaml_text if yaml_text is not None else
        (row.yaml_text if row else forms.DEFAULT_YAML), "errors": errors or [], "copied_from": copied_from,
        "base_ref": base_ref,
        "area_sets": service.list_area_sets(db, actor),
        "results": service.list_results(db, actor, row.id) if row else [], "can_write": service.can_write(actor),
    }, actor, status_code=status_code)


@router.get("/planner/scenarios/new", include_in_schema=False)
def new_scenario(request: Request, db: DbSession, actor: PageWriter, settings: AppSettings,
                 copy: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None):
    """A new scenario starts as a copy: of the scenario ``copy``, else of the reference scenario (targets, limits
    and build rates included), under a new name."""
    base_ref = f"copy:{copy}" if copy else "reference"
    text, source = service.copy_base(db, actor, settings, base_ref)
    return _editor(request, db, actor, settings, yaml_text=text, copied_from=source, base_ref=base_ref)


@router.get("/planner/scenarios/{scenario_id}", include_in_schema=False)
def edit_scenario(request: Request, scenario_id: Id, db: DbSession, actor: PageReader, settings: AppSettings):
    return _editor(request, db, actor, settings, row=service.get_scenario(db, actor, scenario_id))


async def _save(request: Request, db, actor: Actor, settings, scenario_id: Id | None):
    form = dict((await request.form()).items())
    # checking and solving are CPU work: keep them off the event loop
    return await run_in_threadpool(_save_sync, request, db, actor, settings, scenario_id, form)


def _save_sync(request: Request, db, actor: Actor, settings, scenario_id: Id | None, form: dict):
    row = service.get_scenario(db, actor, scenario_id) if scenario_id else None
    if row:
        base = row.yaml_text
    elif form.get("base_ref"):  # a new scenario keeps what it was copied from (e.g. build rates the form lacks)
        base = service.copy_base(db, actor, settings, str(form["base_ref"])[:40])[0]
    else:
        base = None
    keep_ref = "" if row else str(form.get("base_ref", ""))[:40]
    ctx = _ctx(settings)
    try:
        if form.get("mode") == "yaml":
            text = str(form.get("yaml_text", ""))
        else:
            text = forms.apply_form(base, form, ctx["cat"], ctx["plan"])
    except InputError as exc:
        return _editor(request, db, actor, settings, row=row, yaml_text=base, errors=exc.issues, status_code=422,
                       base_ref=keep_ref)
    try:
        saved = service.save_scenario(db, actor, settings, text, scenario_id=scenario_id)
    except (InputError, ConflictError) as exc:
        db.rollback()
        issues = exc.issues if isinstance(exc, InputError) else [InputIssue(str(exc), field="name")]
        return _editor(request, db, actor, settings, row=row, yaml_text=text, errors=issues, base_ref=keep_ref,
                       status_code=422 if isinstance(exc, InputError) else 409)
    flash(request, "ok", f"已保存情景 {saved.name}" if language(request) == "zh" else f"Saved {saved.name}")
    action = form.get("then")
    if action == "solve":  # solved by a background worker; the job's page moves on to the result
        return submitted(request, service.submit_run(db, actor, saved.id, "planner.solve"))
    return RedirectResponse(f"/planner/scenarios/{saved.id}", status_code=303)


@router.post("/planner/scenarios", include_in_schema=False, dependencies=[CsrfChecked])
async def create_scenario(request: Request, db: DbSession, actor: PageWriter, settings: AppSettings):
    return await _save(request, db, actor, settings, None)


@router.post("/planner/scenarios/{scenario_id}", include_in_schema=False, dependencies=[CsrfChecked])
async def update_scenario(request: Request, scenario_id: Id, db: DbSession, actor: PageWriter, settings: AppSettings):
    return await _save(request, db, actor, settings, scenario_id)


@router.post("/planner/scenarios/{scenario_id}/solve", include_in_schema=False, dependencies=[CsrfChecked])
def solve_page(request: Request, scenario_id: Id, db: DbSession, actor: PageWriter):
    return submitted(request, service.submit_run(db, actor, scenario_id, "planner.solve"))


@router.post("/planner/scenarios/{scenario_id}/sensitivity", include_in_schema=False, dependencies=[CsrfChecked])
def sensitivity_page(request: Request, scenario_id: Id, db: DbSession, actor: PageWriter):
    return submitted(request, service.submit_run(db, actor, scenario_id, "planner.sensitivity"))


@router.post("/planner/scenarios/{scenario_id}/delete", include_in_schema=False, dependencies=[CsrfChecked])
def delete_page(request: Request, scenario_id: Id, db: DbSession, actor: PageWriter):
    service.delete_scenario(db, actor, scenario_id)
    flash(request, "ok", "情景已删除" if language(request) == "zh" else "Scenario deleted")
    return RedirectResponse("/planner", status_code=303)


@router.post("/planner/areas/import", include_in_schema=False, dependencies=[CsrfChecked])
async def import_page(request: Request, db: DbSession, actor: PageWriter, settings: AppSettings,
                      file: Annotated[UploadFile, File()], name: Annotated[str, Form()] = ""):
    data = await file.read()
    try:
        row = service.import_area_set(db, actor, settings, filename=file.filename or "areas.csv", data=data,
                                      name=name or None)
    except InputError as exc:
        db.rollback()
        flash(request, "error", exc.summary, [str(i) for i in exc.issues])
        return RedirectResponse("/planner", status_code=303)
    except ConflictError as exc:
        db.rollback()
        flash(request, "error", f"未导入：已有同名的区域集，请换一个名称 / not imported: {exc}")
        return RedirectResponse("/planner", status_code=303)
    flash(request, "ok", f"已导入 {row.name}：{row.n_areas} 个区域" if language(request) == "zh"
          else f"Imported {row.name}: {row.n_areas} areas")
    return RedirectResponse("/planner", status_code=303)


def _map_points(view: service.ResultView) -> list[dict]:
    pts = []
    last = str(view.summary["years"][-1])
    for a in view.areas:
        if a.get("lon") is None:
            continue
        opts = a["years"].get(last, [])
        top = max(opts, key=lambda o: o["share"]) if opts else {"option": "", "share": 0}
        pts.append({"code": a["code"], "name": a["name"], "lon": a["lon"], "lat": a["lat"],
                    "area": a["heated_area_m2"], "option": top["option"], "share": top["share"]})
    return pts


@router.get("/planner/results/{result_id}", include_in_schema=False)
def result_page(request: Request, result_id: Id, db: DbSession, actor: PageReader, settings: AppSettings,
                unit: str = "", area_type: str = "", page: PageNo = 1):
    view = service.get_result(db, actor, result_id)
    ctx = _ctx(settings)
    if view.row.kind == "sensitivity":
        return render(request, "planner/sensitivity.html", {**ctx, "view": view, "s": view.summary}, actor)
    rows = [a for a in view.areas if (not unit or a["unit_code"] == unit) and (not area_type or
                                                                              a["area_type"] == area_type)]
    per = 50
    pages = max(1, (len(rows) + per - 1) // per)
    page = min(max(1, page), pages)
    return render(request, "planner/result.html", {
        **ctx, "view": view, "s": view.summary, "rows": rows[(page - 1) * per: page * per], "n_rows": len(rows),
        "page": page, "pages": pages, "unit": unit, "area_type": area_type,
        "units": sorted({a["unit_code"] for a in view.areas}),
        "map_points": _map_points(view), "scenario_id": view.row.scenario_id,
        "evaluated": service.evaluated_years(db),
    }, actor)


@router.get("/planner/results/{result_id}/report.{fmt}", include_in_schema=False)
def report_download(request: Request, result_id: Id, fmt: str, db: DbSession, actor: PageWriter,
                    settings: AppSettings):
    content, media, name = service.result_report(db, actor, settings, result_id, fmt, language(request))
    return Response(content, media_type=media, headers={"Content-Disposition": f'attachment; filename="{name}"'})


@router.post("/planner/results/{result_id}/propose", include_in_schema=False, dependencies=[CsrfChecked])
def propose_page(request: Request, result_id: Id, db: DbSession, actor: PageWriter,
                 title: Annotated[str, Form()], note: Annotated[str, Form()] = ""):
    try:
        p = service.propose(db, actor, result_id, title=title, note=note)
    except InputError as exc:
        db.rollback()
        flash(request, "error", "未提出建议 / not proposed: " + "；".join(
            (i.message_en if language(request) == "en" and i.message_en else i.message) for i in exc.issues))
        return RedirectResponse(f"/planner/results/{result_id}", status_code=303)
    flash(request, "ok", "已提出规划建议" if language(request) == "zh" else "Proposal saved")
    return RedirectResponse(f"/planner/proposals/{p.id}", status_code=303)


@router.get("/planner/compare", include_in_schema=False)
def compare_page(request: Request, db: DbSession, actor: PageReader, settings: AppSettings,
                 ids: Annotated[list[Id], Query()] = []):  # noqa: B006
    cols = service.compare_results(db, actor, ids) if ids else []
    return render(request, "planner/compare.html", {**_ctx(settings), "cols": cols,
                                                    "results": service.list_results(db, actor)}, actor)


@router.get("/planner/scenarios/{scenario_id}/areas/{code}", include_in_schema=False)
def area_page(request: Request, scenario_id: Id, code: str, db: DbSession, actor: PageReader,
              settings: AppSettings):
    a = service.area_appraisal(db, actor, settings, scenario_id, code)
    options_json = [json.loads(json.dumps(asdict(o), default=str)) for o in a["options"]]
    return render(request, "planner/area.html", {**_ctx(settings), "a": a, "REASONS": REASONS,
                                                 "options_json": options_json}, actor)


@router.get("/planner/proposals/{proposal_id}", include_in_schema=False)
def proposal_page(request: Request, proposal_id: Id, db: DbSession, actor: PageReader, settings: AppSettings):
    p = service.get_proposal(db, actor, proposal_id)
    return render(request, "planner/proposal.html", {**_ctx(settings), "p": p,
                                                     "rates": service.proposal_labels(p)}, actor)


@router.get("/planner/proposals/{proposal_id}/export.yaml", include_in_schema=False)
def proposal_export_page(proposal_id: Id, db: DbSession, actor: PageReader, settings: AppSettings,
                         kind: str = "targets"):
    text = service.export_proposal_yaml(db, actor, proposal_id, kind=kind, settings=settings)
    return PlainTextResponse(text, media_type="application/yaml", headers={
        "Content-Disposition": f'attachment; filename="planner-proposal-{proposal_id}-{kind}.yaml"'})


# --- API ------------------------------------------------------------------------------------------------

class ScenarioCreate(BaseModel):
    yaml: str


class ScenarioPublic(BaseModel):
    id: int
    name: str
    description: str
    yaml_text: str


class ResultRef(BaseModel):
    id: int
    status: str
    total_cost_yuan: float | None


def _result_ref(r) -> ResultRef:
    return ResultRef(id=r.id, status=r.status,
                     total_cost_yuan=float(r.total_cost_yuan) if r.total_cost_yuan is not None else None)


@router.get("/api/planner/catalogue", tags=["planner"])
def api_catalogue(_actor: ApiReader, settings: AppSettings) -> dict:
    """The option catalogue: every value with its range, confidence and source."""
    inp = service.inputs(settings)
    cat = inp.catalogue
    return {"version": cat.version, "valid_from": cat.valid_from, "valid_to": cat.valid_to,
            "finance": {k: q.as_dict() for k, q in cat.finance.items()},
            "fuels": {k: {"name_zh": f.name_zh, "name_en": f.name_en, "unit": f.unit, "carrier": f.carrier,
                          "price_yuan_per_gj": f.price_yuan_per_gj,
                          **{n: getattr(f, n).as_dict() for n in ("price_yuan_per_unit", "gj_per_unit",
                                                                  "co2_kg_per_gj", "pm_g_per_gj", "so2_g_per_gj",
                                                                  "nox_g_per_gj")}}
                      for k, f in cat.fuels.items()},
            "options": [{"code": o.code, "name_zh": o.name_zh, "name_en": o.name_en, "role": o.role, "clean": o.clean,
                         "group": o.group, "programme_technology": o.programme_technology, "fuel": o.fuel,
                         "seasonal_efficiency": (inp.climate.seasonal_cop(o.cop_curve) if o.cop_curve else
                                                 (o.cop or o.efficiency).value),
                         "quantities": {k: q.as_dict() for k, q in o.quantities().items()},
                         "availability": {"area_types": sorted(o.availability.area_types),
                                          "requires_gas": o.availability.requires_gas,
                                          "max_network_distance_km": o.availability.max_network_distance_km,
                                          "requires_resource": o.availability.requires_resource}}
                        for o in cat.options]}


@router.get("/api/planner/scenarios", tags=["planner"])
def api_scenarios(db: DbSession, actor: ApiReader) -> list[dict]:
    return [{"id": s["id"], "name": s["name"], "description": s["description"],
             "latest": _result_ref(s["latest"]).model_dump() if s["latest"] else None}
            for s in service.list_scenarios(db, actor)]


@router.post("/api/planner/scenarios", tags=["planner"], status_code=201, dependencies=[CsrfChecked])
def api_create_scenario(body: ScenarioCreate, db: DbSession, actor: ApiWriter, settings: AppSettings
                        ) -> ScenarioPublic:
    """Save a scenario given as YAML text; errors come back as 422 with the line and field of each problem."""
    row = service.save_scenario(db, actor, settings, body.yaml)
    return ScenarioPublic(id=row.id, name=row.name, description=row.description, yaml_text=row.yaml_text)


@router.get("/api/planner/scenarios/{scenario_id}", tags=["planner"])
def api_scenario(scenario_id: Id, db: DbSession, actor: ApiReader) -> ScenarioPublic:
    row = service.get_scenario(db, actor, scenario_id)
    return ScenarioPublic(id=row.id, name=row.name, description=row.description, yaml_text=row.yaml_text)


@router.post("/api/planner/scenarios/{scenario_id}/solve", tags=["planner"], status_code=202,
             dependencies=[CsrfChecked], responses={202: {"description": "the solve is queued as a job"}})
def api_solve(scenario_id: Id, db: DbSession, actor: ApiWriter) -> JSONResponse:
    """Queue the solve of a saved scenario as a job (``202 Accepted``, ``Location: /api/jobs/<id>``). Poll
    ``/api/jobs/<id>``: when its ``state`` is ``done``, ``result_url`` is ``/api/planner/results/<id>`` (status,
    cost, rates, emissions, shadow prices...)."""
    return accepted(db, service.submit_run(db, actor, scenario_id, "planner.solve"))


@router.get("/api/planner/results/{result_id}", tags=["planner"])
def api_result(result_id: Id, db: DbSession, actor: ApiReader) -> dict:
    """A result; ``areas`` holds the per-area rows the caller may see (its own unit for reporting units)."""
    view = service.get_result(db, actor, result_id)
    return {"id": view.row.id, "kind": view.row.kind, "scenario_id": view.row.scenario_id, **view.summary,
            "areas": view.areas, "area_scope": view.area_scope}


@router.get("/api/planner/scenarios/{scenario_id}/areas/{code}/appraisal", tags=["planner"])
def api_area(scenario_id: Id, code: str, db: DbSession, actor: ApiReader, settings: AppSettings) -> dict:
    a = service.area_appraisal(db, actor, settings, scenario_id, code)
    a.pop("scenario")
    a["options"] = [json.loads(json.dumps(asdict(o), default=str)) for o in a["options"]]
    return a


@router.get("/api/planner/proposals", tags=["planner"])
def api_proposals(db: DbSession, actor: ApiReader) -> list[dict]:
    return [_proposal_json(p) for p in service.list_proposals(db, actor)]


def _proposal_json(p) -> dict:
    return {"id": p.id, "title": p.title, "note": p.note, "status": p.status, "scenario": p.scenario_name,
            "result_id": p.result_id, "years": p.years, "rate_targets": p.rate_targets,
            "technology_targets": p.technology_targets, "builds": p.builds,
            "total_cost_yuan": float(p.total_cost_yuan) if p.total_cost_yuan is not None else None,
            "created_by": p.created_by, "created_at": p.created_at.isoformat()}


@router.get("/api/planner/proposals/{proposal_id}", tags=["planner"])
def api_proposal(proposal_id: Id, db: DbSession, actor: ApiReader) -> dict:
    return _proposal_json(service.get_proposal(db, actor, proposal_id))


@router.get("/api/planner/proposals/{proposal_id}/export", tags=["planner"])
def api_proposal_export(proposal_id: Id, db: DbSession, actor: ApiReader, settings: AppSettings,
                        kind: str = "targets"):
    return PlainTextResponse(service.export_proposal_yaml(db, actor, proposal_id, kind=kind, settings=settings),
                             media_type="application/yaml")

