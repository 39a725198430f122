"""Orchestration shared by the CLI, the services and the benchmark: load the inputs, run a scenario, render JSON.

Inputs come from ``settings.data_dir``: ``planner/catalogue.yaml``, ``planner/buildings.yaml``, the city's plan
(``<city>/*.yaml``), its climate (``<city>/climate.yaml``) and hourly weather (``weather/*.epw``). They are read
once per process and cached by file modification time.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from cleanheat.planner.appraisal import Appraisal, appraise
from cleanheat.planner.areas import AreaSet, read_areas
from cleanheat.planner.catalogue import Catalogue, read_catalogue
from cleanheat.planner.demand import ClimateProfile, climate_profile, read_climate_yaml
from cleanheat.planner.errors import ScenarioError
from cleanheat.planner.pathway import PathwayResult, optimise
from cleanheat.planner.scenario import Scenario, SensitivityCase, parse_scenario
from cleanheat.programme.model import PlanData
from cleanheat.programme.plan_data import read_plan
from cleanheat.weather.epw import harbin_epw_path, read_epw

SYNTHETIC_FILE = "harbin_areas_synthetic.csv"


@dataclass(frozen=True)
class Inputs:
    plan: PlanData
    catalogue: Catalogue
    climate: ClimateProfile
    planner_dir: Path


def planner_dir(data_dir: Path) -> Path:
    return Path(data_dir) / "planner"


def _mtimes(*paths: Path) -> tuple:
    return tuple(p.stat().st_mtime_ns if p.exists() else 0 for p in paths)


@functools.lru_cache(maxsize=4)
def _load(data_dir: str, city: str, _stamp: tuple) -> Inputs:
    d = Path(data_dir)
    plan = read_plan(d / city)
    cat = read_catalogue(planner_dir(d), {t.code: t for t in plan.technologies})
    clim_cfg = read_climate_yaml(d / city / "climate.yaml")
    weather = read_epw(harbin_epw_path(d))
    climate = climate_profile(weather, **clim_cfg)
    return Inputs(plan, cat, climate, planner_dir(d))


def load_inputs(data_dir: Path, city: str = "harbin") -> Inputs:
    """The plan, option catalogue and climate profile (cached while the files are unchanged)."""
    d = Path(data_dir)
    pd = planner_dir(d)
    stamp = _mtimes(pd / "catalogue.yaml", pd / "buildings.yaml", d / city / "targets.yaml",
                    d / city / "climate.yaml", d / city / "technologies.yaml")
    return _load(str(d.resolve()), city, stamp)


_SYNTHETIC_CACHE: dict[tuple, tuple[Catalogue, AreaSet]] = {}


def synthetic_areas(inputs: Inputs) -> AreaSet:
    """The shipped synthetic Harbin area set (``data/planner/harbin_areas_synthetic.csv``), cached per catalogue."""
    p = inputs.planner_dir / SYNTHETIC_FILE
    key = (str(p), _mtimes(p), id(inputs.catalogue))
    hit = _SYNTHETIC_CACHE.get(key)
    if hit is None or hit[0] is not inputs.catalogue:
        if len(_SYNTHETIC_CACHE) > 8:
            _SYNTHETIC_CACHE.clear()
        hit = (inputs.catalogue, read_areas(p, inputs.catalogue, name="harbin-synthetic"))
        _SYNTHETIC_CACHE[key] = hit
    return hit[1]


def resolve_file_areas(sc: Scenario, inputs: Inputs, *, areas_path: Path | None = None,
                       base_dir: Path | None = None) -> AreaSet:
    """The areas of a file-based scenario: ``--areas`` first, then the scenario's ``areas`` (``synthetic`` or a
    path relative to the scenario file)."""
    if areas_path is not None:
        return read_areas(areas_path, inputs.catalogue)
    if sc.areas == "synthetic":
        return synthetic_areas(inputs)
    p = Path(sc.areas)
    if not p.is_absolute() and base_dir is not None:
        p = base_dir / p
    if not p.exists():
        from cleanheat.planner.yamlloc import parse_yaml

        doc = parse_yaml(sc.text, sc.source_file, ScenarioError) if sc.text else None
        issue = (doc.issue(f"找不到区域文件 {p}", ("areas",), f"area file not found: {p}") if doc else None)
        raise ScenarioError(f"area file not found: {p}", [issue] if issue else [])
    return read_areas(p, inputs.catalogue)


def parse(text: str, file: str, inputs: Inputs) -> Scenario:
    return parse_scenario(text, file, inputs.catalogue, inputs.plan)


def appraisal_for(sc: Scenario, inputs: Inputs, areas: AreaSet, case: SensitivityCase | None = None) -> Appraisal:
    """The appraisal under the scenario's overrides (and a sensitivity case's, applied on top)."""
    cat = sc.catalogue(inputs.catalogue)
    rate = sc.discount_rate
    if case is not None:
        from cleanheat.planner.catalogue import with_overrides

        cat = with_overrides(cat, options=case.options, fuels=case.fuels)
        rate = case.discount_rate if case.discount_rate is not None else rate
    return appraise(areas, cat, inputs.climate, discount_rate=rate, household_rate=sc.household_discount_rate,
                    emission_prices=sc.emission_prices, excluded=sc.exclude)


def run(sc: Scenario, inputs: Inputs, areas: AreaSet) -> tuple[Appraisal, PathwayResult]:
    ap = appraisal_for(sc, inputs, areas)
    return ap, optimise(ap, sc)


def run_sensitivity(sc: Scenario, inputs: Inputs, areas: AreaSet,
                    base: PathwayResult | None = None) -> dict[str, Any]:
    """Solve the scenario once per sensitivity case (the scenario's own, or defaults on prices and COP)."""
    cases = sc.sensitivity or default_cases(inputs.catalogue)
    if base is None:
        _, base = run(sc, inputs, areas)
    H = areas.heated_area_m2
    out = {"base": _case_summary("基准 (base)", base, H, None), "cases": []}
    for case in cases:
        ap = appraisal_for(sc, inputs, areas, case)
        res = optimise(ap, sc)
        out["cases"].append(_case_summary(case.name, res, H, base))
    return out


def default_cases(cat: Catalogue) -> tuple[SensitivityCase, ...]:
    """Prices at the low and high ends of their stated ranges, heat-pump COPs low and high."""
    gas = [k for k, f in cat.fuels.items() if f.carrier == "gas"]
    ele = [k for k, f in cat.fuels.items() if f.carrier == "electricity"]
    hp = {o.code: ({"cop_scale": "low"} if o.cop_curve is not None else {"cop": "low"}) for o in cat.options
          if o.is_heat_pump}
    hp_hi = {k: {next(iter(v)): "high"} for k, v in hp.items()}
    return (
        SensitivityCase("气价下限 gas price low", {}, {k: {"price_yuan_per_unit": "low"} for k in gas}),
        SensitivityCase("气价上限 gas price high", {}, {k: {"price_yuan_per_unit": "high"} for k in gas}),
        SensitivityCase("电价下限 electricity price low", {}, {k: {"price_yuan_per_unit": "low"} for k in ele}),
        SensitivityCase("电价上限 electricity price high", {}, {k: {"price_yuan_per_unit": "high"} for k in ele}),
        SensitivityCase("热泵COP下限 heat-pump COP low", hp, {}),
        SensitivityCase("热泵COP上限 heat-pump COP high", hp_hi, {}),
    )


def _case_summary(name: str, res: PathwayResult, H: np.ndarray, base: PathwayResult | None) -> dict:
    last = res.years[-1]
    mix = res.option_mix_m2(H)[:, -1]
    d = {"name": name, "status": res.status, "total_cost_yuan": float(res.total_cost_yuan),
         "rates": {k: v[last] for k, v in res.rates.items()},
         "mix_m2": {c: float(m) for c, m in zip(res.option_codes, mix, strict=True) if m > 0.5},
         "emissions": res.by_year[-1]["emissions"],
         "investment_yuan": float(sum(y["investment_yuan"] for y in res.by_year))}
    if base is not None:
        d["cost_delta_yuan"] = float(res.total_cost_yuan - base.total_cost_yuan)
        bmix = base.option_mix_m2(H)[:, -1]
        d["mix_delta_m2"] = {c: float(m - b) for c, m, b in zip(res.option_codes, mix, bmix, strict=True)
                             if abs(m - b) > 0.5}
    return d


# --- JSON ---------------------------------------------------------------------------------------------------

def _ykeys(d: dict) -> dict:
    return {str(k): v for k, v in d.items()}


def result_summary(res: PathwayResult, areas: AreaSet, inputs: Inputs | None = None) -> dict[str, Any]:
    """Everything of a result except the per-area detail, as plain JSON types."""
    H = areas.heated_area_m2
    mix = res.option_mix_m2(H)
    types = areas.area_types
    built_by_type = {}
    for at in sorted(set(types.tolist())):
        m = types == at
        b = res.built_m2[m].sum(axis=0)  # (O, Y)
        built_by_type[at] = {c: {str(y): float(b[o, yi]) for yi, y in enumerate(res.years) if b[o, yi] > 0.5}
                             for o, c in enumerate(res.option_codes) if b[o].sum() > 0.5}
    built_by_unit: dict[str, dict] = {}
    units = np.array(areas.unit_codes)
    for u in sorted(set(areas.unit_codes) - {""}):
        b = res.built_m2[units == u].sum(axis=(0, 1))
        built_by_unit[u] = {str(y): float(b[yi]) for yi, y in enumerate(res.years)}
    out = {
        "status": res.status,
        "scenario": res.scenario,
        "years": list(res.years),
        "total_cost_yuan": float(res.total_cost_yuan),
        "cost_change_yuan": float(res.cost_change_yuan),
        "rates": {k: _ykeys(v) for k, v in res.rates.items()},
        "rate_targets": {k: _ykeys(v) for k, v in res.rate_targets.items()},
        "emissions": {str(d["year"]): d["emissions"] for d in res.by_year},
        "baseline": res.baseline,
        "by_year": [{k: (float(v) if hasattr(v, "quantize") else v) for k, v in d.items()} for d in res.by_year],
        "option_mix_m2": {c: {str(y): float(mix[o, yi]) for yi, y in enumerate(res.years)}
                          for o, c in enumerate(res.option_codes) if mix[o].sum() > 0.5},
        "built_m2_by_area_type": built_by_type,
        "built_m2_by_unit": built_by_unit,
        "technology_area_m2": {g: _ykeys(v) for g, v in res.technology_area_m2.items()},
        "shadow_prices": _shadow_json(res.shadow_prices),
        "binding": list(res.binding),
        "infeasibility": res.infeasibility,
        "solver": res.solver,
        "area_set": {"name": areas.name, "source": areas.source, "synthetic": areas.synthetic, "areas": len(areas),
                     "heated_area_m2": float(H.sum())},
    }
    if inputs is not None:
        out["inputs"] = {"catalogue_version": inputs.catalogue.version,
                         "climate": {"season_hours": inputs.climate.season_hours,
                                     "mean_temp_c": round(inputs.climate.mean_temp_c, 2),
                                     "heat_gj_per_w_m2": round(inputs.climate.heat_gj_per_w_m2, 5)}}
    return out


def _shadow_json(sp: dict) -> dict:
    out = {}
    for k, v in sp.items():
        if isinstance(v, dict):
            out[k] = {str(kk): (_ykeys(vv) if isinstance(vv, dict) else vv) for kk, vv in v.items()}
        else:
            out[k] = v
    return out


def result_areas(res: PathwayResult, areas: AreaSet, *, min_share: float = 1e-6) -> list[dict[str, Any]]:
    """Per area and year: every option with its share of the heated area, and what was built that year."""
    H = areas.heated_area_m2
    out = []
    for a, code in enumerate(areas.codes):
        years = {}
        for yi, y in enumerate(res.years):
            s = res.shares[a, :, yi]
            b = res.built_m2[a, :, yi] / H[a]
            years[str(y)] = [{"option": res.option_codes[o], "share": round(float(s[o]), 6),
                              **({"built_share": round(float(b[o]), 6)} if b[o] > min_share else {})}
                             for o in np.nonzero(s > min_share)[0]]
        out.append({"code": code, "name": areas.names[a], "unit_code": areas.unit_codes[a],
                    "area_type": str(areas.area_types[a]), "heated_area_m2": float(H[a]),
                    "lon": None if np.isnan(areas.lon[a]) else float(areas.lon[a]),
                    "lat": None if np.isnan(areas.lat[a]) else float(areas.lat[a]), "years": years})
    return out


def result_json(res: PathwayResult, areas: AreaSet, inputs: Inputs | None = None) -> dict[str, Any]:
    """The CLI's RESULT.json: the summary plus ``areas`` (per area and year, options with shares)."""
    return result_summary(res, areas, inputs) | {"areas": result_areas(res, areas)}
