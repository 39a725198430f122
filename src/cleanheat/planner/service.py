"""Use cases of the planner. Every function takes a session and an :class:`Actor`; none commits.

Who may do what:

* programme office and administrators: everything (import areas, save, solve, compare, propose, download);
* reporting units (district/county governments), heat companies and the ecology bureau: read-only — scenarios,
  city-wide results, proposals; a reporting unit also sees the per-area rows of its own administrative unit;
  the full per-area downloads (XLSX/PDF) are for the programme office;
* residents: nothing.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

import yaml
from sqlalchemy import select
from sqlalchemy.orm import Session

from cleanheat.auth.roles import Role
from cleanheat.auth.service import Actor, audit
from cleanheat.config import Settings
from cleanheat.errors import ConflictError, InputError, InputIssue, NotFoundError, PermissionDeniedError
from cleanheat.planner import engine
from cleanheat.planner.appraisal import area_view, money
from cleanheat.planner.areas import AreaSet, areas_from_rows, read_areas
from cleanheat.planner.errors import ScenarioError
from cleanheat.planner.scenario import Scenario
from cleanheat.planner.tables import PlannerAreaSet, PlannerProposal, PlannerResult, PlannerScenario
from cleanheat.planner.yamlloc import parse_yaml
from cleanheat.programme.model import AREA_TYPE_LABELS

WRITE_ROLES = (Role.PROGRAMME_OFFICE,)
READ_ROLES = (Role.PROGRAMME_OFFICE, Role.REPORTING_UNIT, Role.HEAT_COMPANY, Role.ECOLOGY_BUREAU)
#: Plan clause of each technology group's heated-area target (plan §三(一)1-6), for exported tasks.
GROUP_CLAUSES = {"clean_coal": "§三(一)1", "gas": "§三(一)2", "electric": "§三(一)3", "biomass": "§三(一)4",
                 "geothermal": "§三(一)5", "waste_heat": "§三(一)6"}


def can_write(actor: Actor) -> bool:
    return actor.role in WRITE_ROLES or actor.role == Role.ADMIN


def require_read(actor: Actor) -> None:
    actor.require_roles(*READ_ROLES)


def require_write(actor: Actor) -> None:
    actor.require_roles(*WRITE_ROLES)


def inputs(settings: Settings) -> engine.Inputs:
    return engine.load_inputs(settings.data_dir, settings.city)


# --- area sets ------------------------------------------------------------------------------------------

def import_area_set(session: Session, actor: Actor, settings: Settings, *, filename: str, data: bytes,
                    name: str | None = None) -> PlannerAreaSet:
    """Import an area file (CSV/XLSX) all-or-nothing; a bad file raises AreaDataError listing every problem."""
    require_write(actor)
    if len(data) > settings.upload_max_bytes:
        raise InputError("file too large", [InputIssue(f"文件超过 {settings.upload_max_bytes} 字节", file=filename)])
    inp = inputs(settings)
    areas = read_areas(filename, inp.catalogue, data=data, name=name)
    set_name = (name or areas.name).strip()
    if set_name == "synthetic":
        raise InputError("reserved name", [InputIssue("名称 synthetic 已保留给合成示范数据", field="name")])
    if session.scalar(select(PlannerAreaSet).where(PlannerAreaSet.name == set_name)) is not None:
        raise ConflictError(f"an area set named {set_name!r} exists already")
    row = PlannerAreaSet(name=set_name, source_file=filename, synthetic=areas.synthetic, n_areas=len(areas),
                         heated_area_m2=float(areas.heated_area_m2.sum()), rows=areas.to_rows(),
                         created_by=actor.actor)
    session.add(row)
    session.flush()
    audit(session, actor, "import", "planner_area_set", row.id,
          {"name": set_name, "file": filename, "areas": len(areas)},
          summary=f"导入规划区域 {set_name}（{len(areas)} 个）")
    return row


def synthetic_summary(settings: Settings) -> dict[str, Any]:
    a = engine.synthetic_areas(inputs(settings))
    return {"areas": len(a), "heated_area_m2": float(a.heated_area_m2.sum())}


def list_area_sets(session: Session, actor: Actor) -> list[PlannerAreaSet]:
    require_read(actor)
    return list(session.scalars(select(PlannerAreaSet).order_by(PlannerAreaSet.id)))


def _areas_for(session: Session, settings: Settings, sc: Scenario) -> AreaSet:
    inp = inputs(settings)
    if sc.areas == "synthetic":
        return engine.synthetic_areas(inp)
    row = session.scalar(select(PlannerAreaSet).where(PlannerAreaSet.name == sc.areas))
    if row is None:
        doc = parse_yaml(sc.text, sc.source_file, ScenarioError)
        names = [n for (n,) in session.execute(select(PlannerAreaSet.name))]
        raise ScenarioError("unknown area set", [doc.issue(
            f"没有名为 {sc.areas!r} 的区域数据（可用: synthetic{', ' if names else ''}{', '.join(names)}）",
            ("areas",), f"no area set named {sc.areas!r}")])
    return areas_from_rows(row.rows, inp.catalogue, name=row.name, source=row.source_file, synthetic=row.synthetic)


# --- scenarios ------------------------------------------------------------------------------------------

def parse_scenario_text(settings: Settings, yaml_text: str, label: str = "scenario.yaml") -> Scenario:
    return engine.parse(yaml_text, label, inputs(settings))


def save_scenario(session: Session, actor: Actor, settings: Settings, yaml_text: str, *,
                  scenario_id: int | None = None) -> PlannerScenario:
    """Check and save a scenario (new, or replacing ``scenario_id``). Errors name the line and field."""
    require_write(actor)
    sc = parse_scenario_text(settings, yaml_text)
    _areas_for(session, settings, sc)  # the area set must exist
    clash = session.scalar(select(PlannerScenario).where(PlannerScenario.name == sc.name))
    if scenario_id is None:
        if clash is not None:
            raise ConflictError(f"a scenario named {sc.name!r} exists already")
        row = PlannerScenario(name=sc.name, created_by=actor.actor)
        session.add(row)
        action = "create"
    else:
        row = get_scenario(session, actor, scenario_id)
        if clash is not None and clash.id != row.id:
            raise ConflictError(f"a scenario named {sc.name!r} exists already")
        action = "update"
    row.name, row.description, row.yaml_text = sc.name, sc.description, yaml_text
    session.flush()
    audit(session, actor, action, "planner_scenario", row.id, {"name": sc.name}, summary=f"保存情景 {sc.name}")
    return row


def list_scenarios(session: Session, actor: Actor) -> list[dict[str, Any]]:
    require_read(actor)
    out = []
    for s in session.scalars(select(PlannerScenario).order_by(PlannerScenario.id)):
        latest = session.scalar(select(PlannerResult).where(PlannerResult.scenario_id == s.id,
                                                            PlannerResult.kind == "pathway")
                                .order_by(PlannerResult.id.desc()).limit(1))
        out.append({"id": s.id, "name": s.name, "description": s.description, "updated_at": s.updated_at,
                    "created_by": s.created_by, "latest": latest})
    return out


#: the reference scenario a new scenario starts from (data/planner/scenarios/)
REFERENCE_SCENARIO = "harbin_2019_2021.yaml"


def copy_base(session: Session, actor: Actor, settings: Settings, base_ref: str) -> tuple[str, str]:
    """(YAML, name of the original) a new scenario starts from: ``reference`` (the reference scenario, with its
    targets, limits and build rates) or ``copy:<id>`` (a saved scenario); the copy gets a free name."""
    require_write(actor)
    if base_ref.startswith("copy:") and base_ref[5:].isdigit():
        text = get_scenario(session, actor, int(base_ref[5:])).yaml_text
    elif base_ref == "reference":
        text = (engine.planner_dir(settings.data_dir) / "scenarios" / REFERENCE_SCENARIO).read_text(encoding="utf-8")
    else:
        raise InputError("unknown base", [InputIssue("base_ref must be reference or copy:<id>", field="base_ref")])
    doc = yaml.safe_load(text) or {}
    original = str(doc.get("name") or "")
    taken = set(session.scalars(select(PlannerScenario.name)))
    name, n = f"{original}（副本）", 2
    while name in taken:
        name, n = f"{original}（副本 {n}）", n + 1
    lines = text.splitlines(keepends=True)
    for i, line in enumerate(lines):
        if line.startswith("name:"):
            lines[i] = f"name: {json.dumps(name, ensure_ascii=False)}\n"
            break
    else:
        lines.insert(0, f"name: {json.dumps(name, ensure_ascii=False)}\n")
    return "".join(lines), original


def evaluated_years(session: Session) -> set[int]:
    """Years the programme has already evaluated: every administrative unit's year-end (Q4) report of the year
    has been accepted."""
    from cleanheat.programme.tables import AdminUnit, Report

    units = set(session.scalars(select(AdminUnit.code)))
    if not units:
        return set()
    done: dict[int, set[str]] = {}
    for y, u in session.execute(select(Report.year, Report.admin_unit_code).where(
            Report.quarter == 4, Report.status == "accepted").distinct()):
        done.setdefault(int(y), set()).add(u)
    return {y for y, got in done.items() if units <= got}


def get_scenario(session: Session, actor: Actor, scenario_id: int) -> PlannerScenario:
    require_read(actor)
    row = session.get(PlannerScenario, scenario_id)
    if row is None:
        raise NotFoundError(f"scenario {scenario_id} not found")
    return row


def delete_scenario(session: Session, actor: Actor, scenario_id: int) -> None:
    require_write(actor)
    row = get_scenario(session, actor, scenario_id)
    audit(session, actor, "delete", "planner_scenario", row.id, {"name": row.name}, summary=f"删除情景 {row.name}")
    session.delete(row)
    session.flush()


# --- solving --------------------------------------------------------------------------------------------

#: the planner's job kinds (``cleanheat.jobs``) and their titles
JOB_TITLES = {"planner.solve": ("规划求解", "Planner solve"),
              "planner.sensitivity": ("敏感性分析", "Sensitivity analysis")}


def submit_run(session: Session, actor: Actor, scenario_id: int, kind: str = "planner.solve"):
    """Queue a solve (``planner.solve``) or a sensitivity run (``planner.sensitivity``) of a saved scenario."""
    from cleanheat.jobs import queue

    require_write(actor)
    row = get_scenario(session, actor, scenario_id)
    zh, en = JOB_TITLES[kind]
    return queue.submit(session, actor, kind, {"scenario_id": row.id}, title=f"{zh} · {row.name}",
                        title_en=f"{en} · {row.name}")


def solve_scenario(session: Session, actor: Actor, settings: Settings, scenario_id: int) -> PlannerResult:
    """Solve a saved scenario and store the result (an infeasible scenario is stored with its explanation)."""
    require_write(actor)
    row = get_scenario(session, actor, scenario_id)
    inp = inputs(settings)
    sc = engine.parse(row.yaml_text, f"scenario #{row.id}", inp)
    areas = _areas_for(session, settings, sc)
    _, res = engine.run(sc, inp, areas)
    summary = engine.result_summary(res, areas, inp)
    result = PlannerResult(scenario_id=row.id, kind="pathway", status=res.status, total_cost_yuan=res.total_cost_yuan,
                           yaml_text=row.yaml_text, summary=summary, areas=engine.result_areas(res, areas),
                           created_by=actor.actor)
    session.add(result)
    session.flush()
    audit(session, actor, "solve", "planner_result", result.id,
          {"scenario": row.name, "status": res.status, "total_cost_yuan": str(res.total_cost_yuan)},
          summary=f"求解情景 {row.name}: {res.status}")
    return result


def run_sensitivity(session: Session, actor: Actor, settings: Settings, scenario_id: int) -> PlannerResult:
    """Solve the scenario under each sensitivity case and store the comparison."""
    require_write(actor)
    row = get_scenario(session, actor, scenario_id)
    inp = inputs(settings)
    sc = engine.parse(row.yaml_text, f"scenario #{row.id}", inp)
    areas = _areas_for(session, settings, sc)
    out = engine.run_sensitivity(sc, inp, areas)
    result = PlannerResult(scenario_id=row.id, kind="sensitivity", status=out["base"]["status"],
                           total_cost_yuan=money(out["base"]["total_cost_yuan"]), yaml_text=row.yaml_text,
                           summary=out, areas=[], created_by=actor.actor)
    session.add(result)
    session.flush()
    audit(session, actor, "sensitivity", "planner_result", result.id, {"scenario": row.name,
                                                                       "cases": len(out["cases"])},
          summary=f"敏感性分析 {row.name}")
    return result


@dataclass(frozen=True)
class ResultView:
    row: PlannerResult
    summary: dict
    areas: list[dict]
    area_scope: str  # all | unit | none
    can_write: bool


def _area_scope(actor: Actor) -> tuple[str, str | None]:
    if can_write(actor):
        return "all", None
    if actor.role == Role.REPORTING_UNIT and actor.admin_unit_code:
        return "unit", actor.admin_unit_code
    return "none", None


def get_result_row(session: Session, actor: Actor, result_id: int) -> PlannerResult:
    require_read(actor)
    row = session.get(PlannerResult, result_id)
    if row is None:
        raise NotFoundError(f"result {result_id} not found")
    return row


def get_result(session: Session, actor: Actor, result_id: int) -> ResultView:
    """A result as the actor may see it (per-area rows scoped to the actor's administrative unit)."""
    row = get_result_row(session, actor, result_id)
    scope, unit = _area_scope(actor)
    if scope == "all":
        areas = row.areas
    elif scope == "unit":
        areas = [a for a in row.areas if a.get("unit_code") == unit]
    else:
        areas = []
    return ResultView(row, row.summary, areas, scope, can_write(actor))


def list_results(session: Session, actor: Actor, scenario_id: int | None = None) -> list[PlannerResult]:
    require_read(actor)
    q = select(PlannerResult).order_by(PlannerResult.id.desc())
    if scenario_id is not None:
        q = q.where(PlannerResult.scenario_id == scenario_id)
    return list(session.scalars(q))


def compare_results(session: Session, actor: Actor, result_ids: list[int]) -> list[dict[str, Any]]:
    """Pathway results side by side: cost, final-year rates, emissions, mix, investment, binding limits."""
    require_read(actor)
    out = []
    for rid in result_ids:
        row = get_result_row(session, actor, rid)
        if row.kind != "pathway":
            raise InputError("only pathway results can be compared",
                             [InputIssue(f"结果 {rid} 是敏感性分析", field="ids")])
        s = row.summary
        last = str(s["years"][-1])
        out.append({
            "id": row.id, "scenario": s["scenario"], "status": row.status, "created_at": row.created_at,
            "total_cost_yuan": s["total_cost_yuan"], "cost_change_yuan": s["cost_change_yuan"],
            "rates": {k: v.get(last) for k, v in s["rates"].items()},
            "targets": {k: v.get(last) for k, v in s["rate_targets"].items()},
            "emissions": s["emissions"].get(last, {}),
            "mix_m2": {k: v.get(last, 0.0) for k, v in s["option_mix_m2"].items()},
            "investment_yuan": sum(y["investment_yuan"] for y in s["by_year"]),
            "subsidy_yuan": sum(y["subsidy_yuan"] for y in s["by_year"]),
            "binding": len(s["binding"]), "last_year": int(last),
        })
    return out


def area_appraisal(session: Session, actor: Actor, settings: Settings, scenario_id: int, area_code: str) -> dict:
    """Every option in one area under a saved scenario's assumptions (LCOH, household cost, drivers, Pareto)."""
    row = get_scenario(session, actor, scenario_id)
    inp = inputs(settings)
    sc = engine.parse(row.yaml_text, f"scenario #{row.id}", inp)
    areas = _areas_for(session, settings, sc)
    try:
        a = areas.index(area_code)
    except KeyError:
        raise NotFoundError(f"area {area_code!r} not found in {areas.name}") from None
    scope, unit = _area_scope(actor)
    if scope == "none" or (scope == "unit" and areas.unit_codes[a] != unit):
        raise PermissionDeniedError("this area belongs to another administrative unit")
    ap = engine.appraisal_for(sc, inp, areas)
    return {"code": area_code, "name": areas.names[a], "unit_code": areas.unit_codes[a],
            "area_type": str(areas.area_types[a]), "heated_area_m2": float(areas.heated_area_m2[a]),
            "households": float(areas.households[a]), "heat_gj": float(ap.heat_gj[a]),
            "design_kw": float(ap.design_kw[a]), "network_distance_km": float(areas.network_distance_km[a]),
            "gas_available": bool(areas.gas_available[a]), "resources": sorted(areas.resources[a]),
            "current": {areas.option_codes[o]: float(areas.current_mix[a, o])
                        for o in range(len(areas.option_codes)) if areas.current_mix[a, o] > 0},
            "synthetic": areas.synthetic, "options": area_view(ap, a), "scenario": row}


# --- proposals ------------------------------------------------------------------------------------------

def propose(session: Session, actor: Actor, result_id: int, *, title: str, note: str = "") -> PlannerProposal:
    """Propose a solved pathway to the programme: rate targets per area type and year (the rates the pathway
    reaches, rounded down to 0.1 %), technology heated-area levels per group and year, and build quantities."""
    require_write(actor)
    res = get_result_row(session, actor, result_id)
    if res.kind != "pathway":
        raise InputError("not a pathway", [InputIssue("只能提出求解得到的路径", field="result_id")])
    if res.status != "optimal":
        raise InputError("the pathway is infeasible", [InputIssue("不可行的情景不能作为建议目标", field="result_id",
                                                                   message_en="an infeasible pathway cannot be "
                                                                              "proposed")])
    if not title.strip():
        raise InputError("a title is needed", [InputIssue("请填写标题", field="title")])
    s = res.summary
    done = evaluated_years(session)
    years = [y for y in s["years"] if y not in done]
    if not years:
        raise InputError("every year has been evaluated", [InputIssue(
            f"{s['years'][0]}–{s['years'][-1]} 年已完成年度考核，不能再为这些年份提出目标；请为以后的年份建立情景",
            field="result_id", message_en=f"{s['years'][0]}–{s['years'][-1]} have already been evaluated: no "
                                          "target can be proposed for them; plan a scenario for later years")])
    rates = []
    for at in ("urban", "county_fringe", "rural"):
        for y in years:
            v = s["rates"].get(at, {}).get(str(y))
            if v is None:
                continue
            rates.append({"area_type": at, "year": y, "min_rate": math.floor(v * 1000 + 1e-9) / 1000,
                          "scenario_target": s["rate_targets"].get(at, {}).get(str(y))})
    inp_groups = {g for g in s["technology_area_m2"]}
    techs = []
    for g in sorted(inp_groups):
        if g not in GROUP_CLAUSES:
            continue
        for y in years:
            techs.append({"group": g, "year": y,
                          "area_m2": math.floor(s["technology_area_m2"][g][str(y)] / 1e4) * 1e4})
    builds = []
    for at, opts in s["built_m2_by_area_type"].items():
        for opt, by_year in opts.items():
            for y, m2 in by_year.items():
                if int(y) in years:
                    builds.append({"option": opt, "area_type": at, "year": int(y), "area_m2": round(m2)})
    row = PlannerProposal(result_id=res.id, title=title.strip(), note=note, scenario_name=s["scenario"],
                          years=years, rate_targets=rates, technology_targets=techs, builds=builds,
                          total_cost_yuan=res.total_cost_yuan, created_by=actor.actor)
    session.add(row)
    session.flush()
    audit(session, actor, "propose", "planner_proposal", row.id, {"result": res.id, "title": row.title},
          summary=f"提出规划建议 {row.title}")
    return row


def list_proposals(session: Session, actor: Actor) -> list[PlannerProposal]:
    """Proposals, newest first (readable by every planner reader; the programme pages show them)."""
    require_read(actor)
    return list(session.scalars(select(PlannerProposal).order_by(PlannerProposal.id.desc())))


def get_proposal(session: Session, actor: Actor, proposal_id: int) -> PlannerProposal:
    require_read(actor)
    row = session.get(PlannerProposal, proposal_id)
    if row is None:
        raise NotFoundError(f"proposal {proposal_id} not found")
    return row


def export_proposal_yaml(session: Session, actor: Actor, proposal_id: int, *, kind: str = "targets",
                         settings: Settings | None = None) -> str:
    """The proposal as YAML in the shape of ``data/<city>/targets.yaml`` (``kind="targets"``) or of
    ``tasks.yaml`` (``kind="tasks"``: cumulative build area per option, clause of its technology group)."""
    p = get_proposal(session, actor, proposal_id)
    clause = f"规划器建议 #{p.id}"
    head = (f"# 规划器建议 #{p.id}: {p.title}\n# Planner proposal #{p.id} from scenario {p.scenario_name!r} "
            f"(result #{p.result_id}); created by {p.created_by} at {p.created_at:%Y-%m-%d %H:%M} UTC.\n"
            "# Generated by cleanheat planner; review before adopting it as the programme's data.\n")
    if kind == "targets":
        doc = {
            "rate_targets": [{"area_type": r["area_type"], "year": r["year"], "min_rate": r["min_rate"],
                              "clause": clause} for r in p.rate_targets],
            "city_rate_rule": "area_weighted",
            "technology_targets": [{"group": t["group"], "year": t["year"], "area_m2": float(t["area_m2"]),
                                    "basis": "level", "comparator": ">=",
                                    "text": f"{t['group']} 取暖面积达到 {t['area_m2'] / 1e4:,.0f} 万m²（规划器建议）",
                                    "clause": clause} for t in p.technology_targets],
        }
    elif kind == "tasks":
        groups = {}
        if settings is not None:
            cat = inputs(settings).catalogue
            groups = {o.code: (o.group, o.name_zh, o.name_en) for o in cat.options}
        by_opt: dict[str, dict] = {}
        for b in p.builds:
            e = by_opt.setdefault(b["option"], {"types": set(), "years": {}})
            e["types"].add(b["area_type"])
            e["years"][b["year"]] = e["years"].get(b["year"], 0) + b["area_m2"]
        tasks = []
        for opt, e in sorted(by_opt.items()):
            group, zh, en = groups.get(opt, ("", opt, opt))
            cum, targets = 0.0, []
            for y in p.years:
                cum += e["years"].get(y, 0)
                targets.append({"year": y, "value": float(round(cum)), "basis": "cumulative",
                                "text": f"累计改造 {cum / 1e4:,.1f} 万m²（规划器建议）"})
            tasks.append({"code": f"planner_{opt}", "name_zh": f"{zh}改造面积（规划器建议）",
                          "name_en": f"Area converted to {en} (planner proposal)", "measure": "area_m2",
                          "unit_zh": "万m²", "area_scope": sorted(e["types"]),
                          "clause": GROUP_CLAUSES.get(group, clause), "targets": targets})
        doc = {"tasks": tasks}
    else:
        raise InputError("unknown export kind",
                         [InputIssue(f"未知导出类型 {kind!r}（targets 或 tasks）", field="kind")])
    return head + yaml.safe_dump(doc, allow_unicode=True, sort_keys=False, width=120)


def proposal_labels(p: PlannerProposal) -> list[dict]:
    """Rate targets of a proposal with area-type labels (for pages)."""
    return [r | {"label_zh": AREA_TYPE_LABELS[r["area_type"]][0], "label_en": AREA_TYPE_LABELS[r["area_type"]][1]}
            for r in p.rate_targets]


# --- reports --------------------------------------------------------------------------------------------

def result_report(session: Session, actor: Actor, settings: Settings, result_id: int, fmt: str,
                  lang: str = "zh") -> tuple[bytes, str, str]:
    """(content, media type, file name) of a result's XLSX or PDF report (programme office only)."""
    require_write(actor)
    view = get_result(session, actor, result_id)
    if view.row.kind != "pathway":
        raise InputError("reports are made for pathway results", [InputIssue("敏感性结果没有报告", field="id")])
    from cleanheat.planner import report

    cat = inputs(settings).catalogue
    name = f"planner-result-{result_id}"
    if fmt == "xlsx":
        return (report.write_xlsx(view.summary, view.areas, cat, lang),
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", f"{name}.xlsx")
    if fmt == "pdf":
        return report.write_pdf(view.summary, cat, lang, result_id=result_id), "application/pdf", f"{name}.pdf"
    raise NotFoundError(f"no report format {fmt!r}")
