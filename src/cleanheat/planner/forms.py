"""The scenario editor's form ↔ scenario YAML (pure). The YAML stays the single source: the form edits the
keys it shows and keeps every other key (sensitivity cases, zones, emission prices...) of the saved text."""

from __future__ import annotations

import math
from typing import Any

import yaml

from cleanheat.errors import InputError, InputIssue
from cleanheat.planner.catalogue import AREA_TYPES, Catalogue
from cleanheat.planner.scenario import CAP_KEYS

DEFAULT_YAML = """\
name: 新情景
description: ''
start_year: 2019
end_year: 2021
areas: synthetic
targets:
  from_plan: true
"""


def load_doc(yaml_text: str | None) -> dict:
    try:
        doc = yaml.safe_load(yaml_text or DEFAULT_YAML)
    except yaml.YAMLError:
        doc = None
    return doc if isinstance(doc, dict) else yaml.safe_load(DEFAULT_YAML)


def _years(doc: dict, plan: Any) -> list[int]:
    try:
        start = int(doc.get("start_year") or plan.start_year)
        end = int(doc.get("end_year") or plan.end_year)
    except (TypeError, ValueError):
        start, end = plan.start_year, plan.end_year
    if end < start or end - start > 30:
        end = start
    return list(range(start, end + 1))


def _num_key(m: dict | None, y: int) -> Any:
    if not isinstance(m, dict):
        return None
    return m.get(y, m.get(str(y)))


def form_values(doc: dict, catalogue: Catalogue, plan: Any) -> dict[str, Any]:
    """Values to pre-fill the editor with, from a scenario document."""
    years = _years(doc, plan)
    targets = doc.get("targets") or {}
    rates = targets.get("rates") or {}
    from_plan = targets.get("from_plan", True)
    rate_tab = {}
    for at in AREA_TYPES:
        for y in years:
            v = _num_key(rates.get(at), y)
            if v is None and from_plan:
                v = plan.rate_target(at, y)
            rate_tab[(at, y)] = v
    opts = (doc.get("options") or {})
    over = opts.get("overrides") or {}
    build = (doc.get("build_rate") or {}).get("max_m2_per_year") or {}
    fuels = ((doc.get("fuels") or {}).get("overrides")) or {}
    return {
        "name": doc.get("name", ""), "description": doc.get("description", ""), "years": years,
        "start_year": years[0], "end_year": years[-1], "discount_rate": doc.get("discount_rate"),
        "areas": doc.get("areas", "synthetic"), "rates": rate_tab,
        "gas": {y: _num_key((doc.get("gas") or {}).get("supply_1e4_m3"), y) for y in years},
        "budget": {y: _num_key((doc.get("budget") or {}).get("subsidy_wan_yuan"), y) for y in years},
        "reinforcement": {y: _num_key((doc.get("grid") or {}).get("reinforcement_mw"), y) for y in years},
        "caps": {(p, y): _num_key((doc.get("caps") or {}).get(p), y) for p in CAP_KEYS for y in years},
        "build_total": (doc.get("build_rate") or {}).get("max_total_m2_per_year"),
        "exclude": set(opts.get("exclude") or []),
        "capex": {o.code: (over.get(o.code) or {}).get("capex_yuan_m2") for o in catalogue.options},
        "build": {o.code: build.get(o.code) for o in catalogue.options},
        "fuel_price": {f: (fuels.get(f) or {}).get("price_yuan_per_unit") for f in catalogue.fuels},
    }


def _parse_num(form: dict, key: str, issues: list[InputIssue]) -> float | None:
    raw = str(form.get(key, "") or "").strip().replace(",", "")
    if raw == "":
        return None
    try:
        v = float(raw)
    except ValueError:
        issues.append(InputIssue(f"不是数字: {raw!r}", field=key, message_en=f"not a number: {raw!r}"))
        return None
    if not math.isfinite(v):
        issues.append(InputIssue(f"不是有限数: {raw!r}", field=key, message_en=f"not finite: {raw!r}"))
        return None
    return int(v) if v.is_integer() and abs(v) < 1e15 else v


def apply_form(base_yaml: str | None, form: dict, catalogue: Catalogue, plan: Any) -> str:
    """The scenario YAML after the editor's fields are applied to ``base_yaml`` (other keys are kept).
    Values are not range-checked here: the scenario parser does that, naming the field."""
    doc = load_doc(base_yaml)
    issues: list[InputIssue] = []
    doc["name"] = str(form.get("name", "")).strip()
    doc["description"] = str(form.get("description", "")).strip()
    for k in ("start_year", "end_year"):
        v = _parse_num(form, k, issues)
        if v is not None:
            doc[k] = int(v)
    dr = _parse_num(form, "discount_rate", issues)
    if dr is None:
        doc.pop("discount_rate", None)
    else:
        doc["discount_rate"] = dr
    doc["areas"] = str(form.get("areas") or "synthetic")
    years = _years(doc, plan)

    rates: dict[str, dict[int, float]] = {}
    for at in AREA_TYPES:
        for y in years:
            v = _parse_num(form, f"rate_{at}_{y}", issues)
            if v is None:
                continue
            v = v / 100.0  # the form shows percent
            if plan.rate_target(at, y) is None or abs(plan.rate_target(at, y) - v) > 1e-9:
                rates.setdefault(at, {})[y] = round(v, 6)
    if not isinstance(doc.get("targets"), dict):
        doc["targets"] = {}
    targets = doc["targets"]
    targets["from_plan"] = True
    if rates:
        targets["rates"] = rates
    else:
        targets.pop("rates", None)

    def year_map(prefix: str) -> dict[int, float] | None:
        m = {y: v for y in years if (v := _parse_num(form, f"{prefix}_{y}", issues)) is not None}
        return m or None

    gas = year_map("gas")
    doc["gas"] = {"supply_1e4_m3": gas} if gas else {}
    budget = year_map("budget")
    doc["budget"] = {"subsidy_wan_yuan": budget} if budget else {}
    grid = doc.get("grid") if isinstance(doc.get("grid"), dict) else {}
    reinf = year_map("reinforcement")
    if reinf:
        grid["reinforcement_mw"] = reinf
    else:
        grid.pop("reinforcement_mw", None)
    doc["grid"] = grid
    caps = {}
    for p in CAP_KEYS:
        m = {y: v for y in years if (v := _parse_num(form, f"cap_{p}_{y}", issues)) is not None}
        if m:
            caps[p] = m
    doc["caps"] = caps
    build: dict[str, float] = {}
    opts = doc.get("options") if isinstance(doc.get("options"), dict) else {}
    overrides = dict(opts.get("overrides") or {})
    exclude = []
    for o in catalogue.options:
        if o.is_status_quo:
            continue
        if form.get(f"include_{o.code}") is None and form.get("options_submitted"):
            exclude.append(o.code)
        v = _parse_num(form, f"build_{o.code}", issues)
        if v is not None:
            build[o.code] = v
        c = _parse_num(form, f"capex_{o.code}", issues)
        ov = dict(overrides.get(o.code) or {})
        if c is not None and c != o.capex_yuan_m2.value:
            ov["capex_yuan_m2"] = c
        else:
            ov.pop("capex_yuan_m2", None)
        if ov:
            overrides[o.code] = ov
        else:
            overrides.pop(o.code, None)
    doc["options"] = {k: v for k, v in (("exclude", exclude), ("overrides", overrides)) if v}
    total = _parse_num(form, "build_total", issues)
    doc["build_rate"] = {k: v for k, v in (("max_m2_per_year", build), ("max_total_m2_per_year", total))
                         if v not in (None, {})}
    fuels = doc.get("fuels") if isinstance(doc.get("fuels"), dict) else {}
    f_over = dict(fuels.get("overrides") or {})
    for code, f in catalogue.fuels.items():
        v = _parse_num(form, f"price_{code}", issues)
        fo = dict(f_over.get(code) or {})
        if v is not None and v != f.price_yuan_per_unit.value:
            fo["price_yuan_per_unit"] = v
        else:
            fo.pop("price_yuan_per_unit", None)
        if fo:
            f_over[code] = fo
        else:
            f_over.pop(code, None)
    doc["fuels"] = {"overrides": f_over} if f_over else {}
    if issues:
        raise InputError("the form has errors", issues)
    for k in ("gas", "budget", "caps", "options", "build_rate", "fuels", "grid"):
        if doc.get(k) == {}:
            doc.pop(k)
    return yaml.safe_dump(doc, allow_unicode=True, sort_keys=False, width=120)
