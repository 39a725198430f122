"""Read the programme from ``data/<city>/*.yaml`` into :class:`PlanData` (validated, all-or-nothing)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from cleanheat.assets.registry_tasks import RULE_KEYS as REGISTRY_RULE_KEYS
from cleanheat.errors import InputIssue
from cleanheat.programme.errors import PlanDataError
from cleanheat.programme.model import (
    AREA_TYPES,
    CLEAN_RULES,
    MEASURES,
    AdminUnitSpec,
    BaselineAreaSpec,
    BaselineFactSpec,
    PlanData,
    ProjectSpec,
    RateTargetSpec,
    TaskSpec,
    TaskTargetSpec,
    TechnologySpec,
    TechnologyTargetSpec,
)

FILES = ("programme", "units", "baseline", "targets", "technologies", "tasks", "projects")


def _load(directory: Path, name: str) -> dict[str, Any]:
    path = directory / f"{name}.yaml"
    if not path.exists():
        raise PlanDataError(f"plan file missing: {path}", [InputIssue("file missing", file=str(path))])
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise PlanDataError(f"{path}: not valid YAML", [InputIssue(str(exc), file=str(path))]) from exc


def read_plan(directory: Path) -> PlanData:
    """Read and check the plan in ``directory``; every inconsistency is listed in one PlanDataError."""
    docs = {name: _load(directory, name) for name in FILES}
    issues: list[InputIssue] = []

    def need(cond: bool, file: str, message: str, field: str | None = None) -> None:
        if not cond:
            issues.append(InputIssue(message, file=f"{file}.yaml", field=field))

    prog = docs["programme"]
    units = tuple(
        AdminUnitSpec(u["code"], u["name_zh"], u.get("name_en", ""), u["kind"], tuple(u["area_types"]))
        for u in docs["units"]["units"]
    )
    for u in units:
        for at in u.area_types:
            need(at in AREA_TYPES, "units", f"unknown area type {at!r}", f"units.{u.code}.area_types")
    need(len({u.code for u in units}) == len(units), "units", "duplicate unit codes", "units")

    tech_doc = docs["technologies"]
    tech_keys = {"code", "name_zh", "name_en", "group", "clean_rule", "fuel"}
    for t in tech_doc["technologies"]:
        extra = set(t) - tech_keys
        need(not extra, "technologies", f"unknown keys {sorted(map(str, extra))} (an unquoted comma in a value?)",
             f"technologies.{t.get('code')}")
    techs = tuple(
        TechnologySpec(t["code"], t["name_zh"], t.get("name_en", ""), t["group"], t["clean_rule"], t.get("fuel", ""))
        for t in tech_doc["technologies"]
    )
    groups = tuple((g["code"], g["name_zh"], g.get("name_en", "")) for g in tech_doc["groups"])
    group_codes = {g[0] for g in groups}
    for t in techs:
        need(t.clean_rule in CLEAN_RULES, "technologies", f"unknown clean_rule {t.clean_rule!r}", f"{t.code}.clean_rule")
        need(t.group in group_codes, "technologies", f"unknown group {t.group!r}", f"{t.code}.group")

    base = docs["baseline"]
    baseline_areas = tuple(
        BaselineAreaSpec(a["area_type"], float(a["heated_area_m2"]), float(a["clean_area_m2"]), a["clause"],
                         a.get("stated_rate"), a.get("central_heating_share"))
        for a in base["areas"]
    )
    for a in baseline_areas:
        need(a.clean_area_m2 <= a.heated_area_m2, "baseline", "clean area above heated area", a.area_type)
        if a.stated_rate is not None:
            # The plan states whole percent, sometimes truncated (0.13/0.66 = 19.7% is stated as 19%).
            need(abs(a.rate - a.stated_rate) < 0.01, "baseline",
                 f"stated rate {a.stated_rate} does not match {a.rate:.3f}", a.area_type)
    facts = tuple(
        BaselineFactSpec("energy_mix", f["key"], f["name_zh"], float(f["share"]), "share", f["clause"])
        for f in base.get("energy_mix", [])
    ) + tuple(
        BaselineFactSpec("network", f["key"], f["name_zh"], float(f["value"]), f["unit"], f["clause"])
        for f in base.get("network", [])
    )

    tg = docs["targets"]
    rate_targets = tuple(
        RateTargetSpec(t["area_type"], int(t["year"]), float(t["min_rate"]), t["clause"]) for t in tg["rate_targets"]
    )
    ref_city = tuple(
        RateTargetSpec("city", int(t["year"]), float(t["min_rate"]), "", t.get("confidence", "S"), t.get("source", ""))
        for t in tg.get("reference_city_targets", [])
    )
    tech_targets = tuple(
        TechnologyTargetSpec(t["group"], int(t["year"]), float(t["area_m2"]), t["basis"], t.get("comparator", ">="),
                             t["clause"], t.get("text", ""),
                             None if t.get("baseline_area_m2") is None else float(t["baseline_area_m2"]))
        for t in tg["technology_targets"]
    )
    for t in tech_targets:
        need(t.group in group_codes, "targets", f"unknown technology group {t.group!r}", "technology_targets")
        need(t.basis in ("level", "increase"), "targets", f"unknown basis {t.basis!r}", "technology_targets")
        need(t.basis != "increase" or t.baseline_area_m2 is not None, "targets",
             "an 'increase' target needs baseline_area_m2", f"technology_targets.{t.group}")

    td = docs["tasks"]
    resp = td.get("responsibilities", {})
    tasks = []
    for t in td["tasks"]:
        scope = tuple(AREA_TYPES) if t.get("area_scope") == "all" else tuple(t.get("area_scope", ()))
        targets = tuple(
            TaskTargetSpec(int(x["year"]), float(x["value"]), x["basis"], x.get("comparator", ">="),
                           x.get("text", ""), x.get("note", ""))
            for x in t["targets"]
        )
        spec = TaskSpec(t["code"], t["name_zh"], t.get("name_en", ""), t["measure"], t["unit_zh"], scope,
                        t["clause"], tuple(resp.get(t["clause"], ())), targets, t.get("registry"), t.get("note", ""))
        need(spec.measure in MEASURES, "tasks", f"unknown measure {spec.measure!r}", f"{spec.code}.measure")
        if spec.registry_rule is not None:
            unknown = set(spec.registry_rule) - REGISTRY_RULE_KEYS
            need(not unknown, "tasks", f"unknown registry rule keys {sorted(unknown)}", f"{spec.code}.registry")
            need(spec.registry_rule.get("measure", spec.measure) == spec.measure, "tasks",
                 "the registry rule's measure differs from the task's", f"{spec.code}.registry")
        need(bool(spec.responsible), "tasks", f"no responsible units for clause {spec.clause}", spec.code)
        for x in targets:
            need(x.basis in ("cumulative", "level"), "tasks", f"unknown basis {x.basis!r}", spec.code)
        cum = [x.value for x in targets if x.basis == "cumulative"]
        need(cum == sorted(cum), "tasks", "cumulative targets must not decrease over the years", spec.code)
        tasks.append(spec)
    need(len({t.code for t in tasks}) == len(tasks), "tasks", "duplicate task codes")

    def opt_float(v):  # YAML 1.1 reads 2.15e6 (no sign in the exponent) as text
        return None if v is None else float(v)

    projects = tuple(
        ProjectSpec(p["code"], p["name_zh"], p["clause"], p.get("technology"), p.get("spec", ""),
                    opt_float(p.get("capacity_mw")), opt_float(p.get("area_m2")), p.get("target_year"),
                    p.get("text", ""))
        for p in docs["projects"]["projects"]
    )

    years = range(int(prog["start_year"]), int(prog["end_year"]) + 1)
    for y in years:
        for at in AREA_TYPES:
            need(any(r.area_type == at and r.year == y for r in rate_targets), "targets",
                 f"no rate target for {at} in {y}", "rate_targets")

    if issues:
        raise PlanDataError(f"the plan data in {directory} is inconsistent", issues)
    return PlanData(
        code=prog["code"], city=prog["city"], title_zh=prog["title_zh"], title_en=prog.get("title_en", ""),
        baseline_year=int(prog["baseline_year"]), start_year=int(prog["start_year"]),
        end_year=int(prog["end_year"]), units=units, technologies=techs, technology_groups=groups,
        baseline_areas=baseline_areas, baseline_facts=facts, rate_targets=rate_targets,
        reference_city_targets=ref_city, technology_targets=tech_targets, tasks=tuple(tasks), projects=projects,
        meta={k: v for k, v in prog.items() if k not in ("code",)},
    )


def read_organisations(directory: Path) -> dict[str, Any]:
    return _load(directory, "organisations")
