"""Read the programme from ``data/<city>/*.yaml`` into :class:`PlanData` (validated, all-or-nothing)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from cleanheat import rowspec as rs
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
from cleanheat.rowspec import Column, Msg, RowSpec

FILES = ("programme", "units", "baseline", "targets", "technologies", "tasks", "projects")


def _load(directory: Path, name: str) -> dict[str, Any]:
    path = directory / f"{name}.yaml"
    if not path.exists():
        raise PlanDataError(f"plan file missing: {path}", [InputIssue("file missing", file=str(path))])
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise PlanDataError(f"{path}: not valid YAML", [InputIssue(str(exc), file=str(path))]) from exc


def _req(name: str, parse=rs.text, **kw) -> Column:
    return Column(name, parse=parse, required=True, **kw)


def _opt(name: str, default: Any = None, parse=None, **kw) -> Column:
    return Column(name, parse=parse, default=default, **kw)


def _one_of(name: str, allowed: Iterable[str], what: tuple[str, str], **kw) -> Column:
    """A required column whose value is one of ``allowed`` (``what``: the thing named, Chinese and English)."""
    return _req(name, choices={a: a for a in allowed},
                messages={"choice": Msg(f"未知的{what[0]} {{raw!r}}", f"unknown {what[1]} {{raw!r}}")}, **kw)


def _text_list(raw: Any) -> tuple[str, ...]:
    if not isinstance(raw, list | tuple):
        raise rs.CellError(Msg("须为列表", "must be a list"))
    return tuple(str(x) for x in raw)


def _area_types(raw: Any) -> tuple[str, ...]:
    """A list of area types (``all``: every one); each unknown one is reported."""
    found = AREA_TYPES if raw == "all" else _text_list(raw)
    bad = [Msg(f"未知的区域类型 {at!r}", f"unknown area type {at!r}") for at in found if at not in AREA_TYPES]
    if bad:
        raise rs.CellError(*bad)
    return tuple(found)


def _list(raw: Any) -> list:
    if not isinstance(raw, list):
        raise rs.CellError(Msg("须为列表", "must be a list"))
    return raw


def _mapping(raw: Any) -> dict:
    if not isinstance(raw, dict):
        raise rs.CellError(Msg("须为映射（键: 值）", "must be a mapping"))
    return raw


NUM, INT = rs.number, rs.integer
PROGRAMME = RowSpec((_req("code"), _req("city"), _req("title_zh"), _opt("title_en", ""), _req("baseline_year", INT),
                     _req("start_year", INT), _req("end_year", INT)))
UNIT = RowSpec((_req("code"), _req("name_zh"), _opt("name_en", ""), _req("kind"), _req("area_types", _area_types)))
GROUP = RowSpec((_req("code"), _req("name_zh"), _opt("name_en", "")))
BASELINE_AREA = RowSpec((_req("area_type"), _req("heated_area_m2", NUM), _req("clean_area_m2", NUM), _req("clause"),
                         _opt("stated_rate", parse=NUM), _opt("central_heating_share", parse=NUM)))
ENERGY_MIX = RowSpec((_req("key"), _req("name_zh"), _req("share", NUM), _req("clause")))
NETWORK = RowSpec((_req("key"), _req("name_zh"), _req("value", NUM), _req("unit"), _req("clause")))
RATE_TARGET = RowSpec((_req("area_type"), _req("year", INT), _req("min_rate", NUM), _req("clause")))
REFERENCE_TARGET = RowSpec((_req("year", INT), _req("min_rate", NUM), _opt("confidence", "S"),
                            _opt("source", "")))
TASK_TARGET = RowSpec((_req("year", INT), _req("value", NUM),
                       _one_of("basis", ("cumulative", "level"), ("口径", "basis")),
                       _opt("comparator", ">="), _opt("text", ""), _opt("note", "")))
PROJECT = RowSpec((_req("code"), _req("name_zh"), _req("clause"), _opt("technology"), _opt("spec", ""),
                   _opt("capacity_mw", parse=NUM), _opt("area_m2", parse=NUM), _opt("target_year", parse=INT),
                   _opt("text", "")))


def _technology(groups: Iterable[str]) -> RowSpec:
    return RowSpec((_req("code"), _req("name_zh"), _opt("name_en", ""), _one_of("group", groups, ("技术类别", "group")),
                    _one_of("clean_rule", CLEAN_RULES, ("清洁规则", "clean_rule")), _opt("fuel", "")))


def _technology_target(groups: Iterable[str]) -> RowSpec:
    return RowSpec((_one_of("group", groups, ("技术类别", "technology group")), _req("year", INT), _req("area_m2", NUM),
                    _one_of("basis", ("level", "increase"), ("口径", "basis")), _opt("comparator", ">="),
                    _req("clause"), _opt("text", ""), _opt("baseline_area_m2", parse=NUM)))


TASK = RowSpec((_req("code"), _req("name_zh"), _opt("name_en", ""), _one_of("measure", MEASURES, ("计量", "measure")),
                _req("unit_zh"), _opt("area_scope", (), _area_types), _req("clause"), _req("targets", _list),
                _opt("registry", parse=_mapping), _opt("note", "")))


@dataclass
class _Reader:
    """The plan files' documents and the issues found in them (every file, every row, all at once)."""

    docs: dict[str, Any]
    issues: list[InputIssue] = field(default_factory=list)

    def need(self, cond: bool, file: str, zh: str, en: str, field: str | None = None) -> None:
        if not cond:
            self.issues.append(InputIssue(zh, file=f"{file}.yaml", field=field, message_en=en))

    def one(self, file: str, spec: RowSpec) -> dict[str, Any]:
        r = spec.validate(self.docs[file], file=f"{file}.yaml")
        self.issues += r.issues
        return r.values

    def rows(self, file: str, section: str, spec: RowSpec, *, items: Any = None, key: str | None = "code",
             optional: bool = False) -> list[dict[str, Any]]:
        """The checked items of the list ``section`` of ``file`` (fields ``section.<key or index>.<field>``)."""
        items = self.docs[file].get(section) if items is None else items
        if items is None and optional:
            return []
        if not isinstance(items, list):
            self.need(False, file, f"{section} 须为列表", f"{section} must be a list", section)
            return []
        out = []
        for i, item in enumerate(items):
            name = item.get(key, i) if key and isinstance(item, dict) else i
            if not isinstance(item, dict):
                self.need(False, file, "须为映射（键: 值）", "must be a mapping", f"{section}.{name}")
                continue
            r = spec.validate(item, file=f"{file}.yaml", field_prefix=f"{section}.{name}.")
            self.issues += r.issues
            if r.ok:
                out.append(r.values)
        return out


def _units_and_technologies(rd: _Reader) -> tuple[tuple, tuple, tuple]:
    units = tuple(AdminUnitSpec(u["code"], u["name_zh"], u["name_en"], u["kind"], u["area_types"])
                  for u in rd.rows("units", "units", UNIT))
    rd.need(len({u.code for u in units}) == len(units), "units", "行政单位编码重复", "duplicate unit codes", "units")
    groups = tuple((g["code"], g["name_zh"], g["name_en"]) for g in rd.rows("technologies", "groups", GROUP))
    spec = _technology(g[0] for g in groups)
    for t in rd.docs["technologies"].get("technologies") or []:
        extra = spec.unknown_keys(t) if isinstance(t, dict) else []
        rd.need(not extra, "technologies", f"未知的键 {extra}（值中有未加引号的逗号？）",
                f"unknown keys {extra} (an unquoted comma in a value?)", f"technologies.{t.get('code')}")
    techs = tuple(TechnologySpec(t["code"], t["name_zh"], t["name_en"], t["group"], t["clean_rule"], t["fuel"])
                  for t in rd.rows("technologies", "technologies", spec))
    return units, techs, groups


def _baseline(rd: _Reader) -> tuple[tuple, tuple]:
    areas = tuple(BaselineAreaSpec(a["area_type"], a["heated_area_m2"], a["clean_area_m2"], a["clause"],
                                   a["stated_rate"], a["central_heating_share"])
                  for a in rd.rows("baseline", "areas", BASELINE_AREA, key="area_type"))
    for a in areas:
        rd.need(a.clean_area_m2 <= a.heated_area_m2, "baseline", "清洁取暖面积大于取暖面积",
                "clean area above heated area", a.area_type)
        if a.stated_rate is not None:
            # The plan states whole percent, sometimes truncated (0.13/0.66 = 19.7% is stated as 19%).
            rd.need(abs(a.rate - a.stated_rate) < 0.01, "baseline", f"所述比例 {a.stated_rate} 与 {a.rate:.3f} 不符",
                    f"stated rate {a.stated_rate} does not match {a.rate:.3f}", a.area_type)
    facts = tuple(BaselineFactSpec("energy_mix", f["key"], f["name_zh"], f["share"], "share", f["clause"])
                  for f in rd.rows("baseline", "energy_mix", ENERGY_MIX, key="key", optional=True)) + tuple(
        BaselineFactSpec("network", f["key"], f["name_zh"], f["value"], f["unit"], f["clause"])
        for f in rd.rows("baseline", "network", NETWORK, key="key", optional=True))
    return areas, facts


def _targets(rd: _Reader, group_codes: set[str]) -> tuple[tuple, tuple, tuple]:
    rate = tuple(RateTargetSpec(t["area_type"], t["year"], t["min_rate"], t["clause"])
                 for t in rd.rows("targets", "rate_targets", RATE_TARGET, key="area_type"))
    ref = tuple(RateTargetSpec("city", t["year"], t["min_rate"], "", t["confidence"], t["source"])
                for t in rd.rows("targets", "reference_city_targets", REFERENCE_TARGET, key="year", optional=True))
    tech = tuple(TechnologyTargetSpec(t["group"], t["year"], t["area_m2"], t["basis"], t["comparator"], t["clause"],
                                      t["text"], t["baseline_area_m2"])
                 for t in rd.rows("targets", "technology_targets", _technology_target(group_codes), key="group"))
    for t in tech:
        rd.need(t.basis != "increase" or t.baseline_area_m2 is not None, "targets",
                "“increase” 目标需要 baseline_area_m2", "an 'increase' target needs baseline_area_m2",
                f"technology_targets.{t.group}")
    return rate, ref, tech


def _tasks(rd: _Reader) -> tuple[TaskSpec, ...]:
    resp = rd.docs["tasks"].get("responsibilities", {})
    tasks = []
    for t in rd.rows("tasks", "tasks", TASK):
        targets = tuple(TaskTargetSpec(x["year"], x["value"], x["basis"], x["comparator"], x["text"], x["note"])
                        for x in rd.rows("tasks", f"{t['code']}.targets", TASK_TARGET, items=t["targets"], key="year"))
        spec = TaskSpec(t["code"], t["name_zh"], t["name_en"], t["measure"], t["unit_zh"], t["area_scope"],
                        t["clause"], tuple(resp.get(t["clause"], ())), targets, t["registry"], t["note"])
        if spec.registry_rule is not None:
            unknown = sorted(set(spec.registry_rule) - REGISTRY_RULE_KEYS)
            rd.need(not unknown, "tasks", f"未知的登记规则键 {unknown}", f"unknown registry rule keys {unknown}",
                    f"{spec.code}.registry")
            rd.need(spec.registry_rule.get("measure", spec.measure) == spec.measure, "tasks",
                    "登记规则的计量与任务的不同", "the registry rule's measure differs from the task's",
                    f"{spec.code}.registry")
        rd.need(bool(spec.responsible), "tasks", f"条款 {spec.clause} 没有责任单位",
                f"no responsible units for clause {spec.clause}", spec.code)
        cum = [x.value for x in targets if x.basis == "cumulative"]
        rd.need(cum == sorted(cum), "tasks", "累计目标不能逐年减少",
                "cumulative targets must not decrease over the years", spec.code)
        tasks.append(spec)
    rd.need(len({t.code for t in tasks}) == len(tasks), "tasks", "任务编码重复", "duplicate task codes")
    return tuple(tasks)


def read_plan(directory: Path) -> PlanData:
    """Read and check the plan in ``directory``; every inconsistency is listed in one PlanDataError."""
    rd = _Reader({name: _load(directory, name) for name in FILES})
    prog = rd.one("programme", PROGRAMME)
    units, techs, groups = _units_and_technologies(rd)
    baseline_areas, facts = _baseline(rd)
    rate_targets, ref_city, tech_targets = _targets(rd, {g[0] for g in groups})
    tasks = _tasks(rd)
    projects = tuple(ProjectSpec(p["code"], p["name_zh"], p["clause"], p["technology"], p["spec"], p["capacity_mw"],
                                 p["area_m2"], p["target_year"], p["text"])
                     for p in rd.rows("projects", "projects", PROJECT))
    if prog["start_year"] is not None and prog["end_year"] is not None:
        for y in range(prog["start_year"], prog["end_year"] + 1):
            for at in AREA_TYPES:
                rd.need(any(r.area_type == at and r.year == y for r in rate_targets), "targets",
                        f"{y} 年缺少 {at} 的清洁取暖率目标", f"no rate target for {at} in {y}", "rate_targets")
    if rd.issues:
        raise PlanDataError(f"the plan data in {directory} is inconsistent", rd.issues)
    raw = rd.docs["programme"]
    return PlanData(
        code=prog["code"], city=prog["city"], title_zh=prog["title_zh"], title_en=prog["title_en"],
        baseline_year=prog["baseline_year"], start_year=prog["start_year"], end_year=prog["end_year"], units=units,
        technologies=techs, technology_groups=groups, baseline_areas=baseline_areas, baseline_facts=facts,
        rate_targets=rate_targets, reference_city_targets=ref_city, technology_targets=tech_targets, tasks=tasks,
        projects=projects, meta={k: v for k, v in raw.items() if k not in ("code",)},
    )


def read_organisations(directory: Path) -> dict[str, Any]:
    return _load(directory, "organisations")
