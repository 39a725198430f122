"""Scenario files (YAML): what the city wants (targets, caps) and what it has (gas, grid, budget, build rates).

Parsing checks the structure (pydantic, unknown keys rejected) and the meaning (option, fuel, pollutant and
area-type names, years inside the horizon, no negative prices or limits); every problem is reported with the file,
line and field path. Example (all keys but ``name`` optional; see ``data/planner/scenarios/``)::

    name: 基准情景
    start_year: 2019
    end_year: 2021
    discount_rate: 0.06
    areas: synthetic                     # or a CSV/XLSX path relative to this file (``--areas`` overrides)
    targets: {from_plan: true, rates: {rural: {2021: 0.45}}, technology_min_m2: {biomass: {2021: 1.6e7}}}
    gas: {supply_1e4_m3: {2019: 3000, 2020: 6000, 2021: 9000}}   # new gas for converted heating [10⁴ m³/yr]
    grid: {reinforcement_mw: {2020: 2, 2021: 4}, zones: {daoli-U: {2019: 30}}}
    budget: {subsidy_wan_yuan: {2019: 60000, 2020: 60000, 2021: 60000}}
    build_rate: {max_m2_per_year: {ashp: 2.0e6}, max_total_m2_per_year: 6.0e7}
    caps: {pm_kg: {2021: 4.0e7}}
    emission_prices: {co2_yuan_t: 0}
    options: {exclude: [electric_film], overrides: {ashp: {capex_yuan_m2: 200, cop_scale: 0.9}}}
    fuels: {overrides: {natural_gas_commercial: {price_yuan_per_unit: 3.5}}}
    sensitivity: [{name: 气价上限, fuels: {natural_gas_commercial: {price_yuan_per_unit: high}}}]
    solver: {method: ipm, time_limit_s: 300}
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from cleanheat.errors import InputIssue
from cleanheat.planner.catalogue import AREA_TYPES, FUEL_FIELDS, OPTION_FIELDS, Catalogue, with_overrides
from cleanheat.planner.errors import ScenarioError
from cleanheat.planner.yamlloc import YamlDoc, parse_yaml

CAP_KEYS = ("co2_t", "pm_kg", "so2_kg", "nox_kg")
PRICE_KEYS = ("co2_yuan_t", "pm_yuan_kg", "so2_yuan_kg", "nox_yuan_kg")
OPTION_OVERRIDE_FIELDS = OPTION_FIELDS + ("cop_scale", "capex_scale")
FUEL_OVERRIDE_FIELDS = FUEL_FIELDS + ("price_scale",)
Number = float | Literal["low", "high"]
YearMap = dict[int, float]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TargetsIn(_Strict):
    from_plan: bool = True
    rates: dict[str, YearMap] = Field(default_factory=dict)
    technology_min_m2: dict[str, YearMap] = Field(default_factory=dict)


class GasIn(_Strict):
    supply_1e4_m3: YearMap | None = None


class GridIn(_Strict):
    reinforcement_mw: YearMap = Field(default_factory=dict)
    zones: dict[str, YearMap] = Field(default_factory=dict)


class BudgetIn(_Strict):
    subsidy_wan_yuan: YearMap | None = None


class BuildRateIn(_Strict):
    max_m2_per_year: dict[str, float] = Field(default_factory=dict)
    max_total_m2_per_year: float | None = None


class OptionsIn(_Strict):
    exclude: list[str] = Field(default_factory=list)
    overrides: dict[str, dict[str, Number]] = Field(default_factory=dict)


class FuelsIn(_Strict):
    overrides: dict[str, dict[str, Number]] = Field(default_factory=dict)


class SensitivityIn(_Strict):
    name: str
    options: dict[str, dict[str, Number]] = Field(default_factory=dict)
    fuels: dict[str, dict[str, Number]] = Field(default_factory=dict)
    discount_rate: float | None = None


class SolverIn(_Strict):
    method: Literal["ipm", "simplex", "pdlp", "choose"] = "ipm"
    time_limit_s: float = Field(default=300.0, gt=0)
    crossover: bool = True


class ScenarioIn(_Strict):
    name: str = Field(min_length=1)
    description: str = ""
    start_year: int | None = None
    end_year: int | None = None
    discount_rate: float | None = None
    household_discount_rate: float | None = None
    areas: str = "synthetic"
    targets: TargetsIn = Field(default_factory=TargetsIn)
    gas: GasIn = Field(default_factory=GasIn)
    grid: GridIn = Field(default_factory=GridIn)
    budget: BudgetIn = Field(default_factory=BudgetIn)
    build_rate: BuildRateIn = Field(default_factory=BuildRateIn)
    caps: dict[str, YearMap] = Field(default_factory=dict)
    emission_prices: dict[str, float] = Field(default_factory=dict)
    options: OptionsIn = Field(default_factory=OptionsIn)
    fuels: FuelsIn = Field(default_factory=FuelsIn)
    sensitivity: list[SensitivityIn] = Field(default_factory=list)
    solver: SolverIn = Field(default_factory=SolverIn)

    @field_validator("name")
    @classmethod
    def _strip(cls, v: str) -> str:
        return v.strip()


@dataclass(frozen=True)
class SensitivityCase:
    name: str
    options: dict[str, dict[str, Any]]
    fuels: dict[str, dict[str, Any]]
    discount_rate: float | None = None


@dataclass(frozen=True)
class Scenario:
    """A checked scenario. Years are the pathway years; rates and limits are keyed by year."""

    name: str
    description: str
    years: tuple[int, ...]
    discount_rate: float
    household_discount_rate: float
    areas: str
    rate_targets: dict[tuple[str, int], float]
    technology_min_m2: dict[tuple[str, int], float]
    gas_supply_1e4_m3: dict[int, float] | None
    grid_reinforcement_mw: dict[int, float]
    grid_zone_capacity_mw: dict[str, dict[int, float]]
    budget_wan_yuan: dict[int, float] | None
    build_max_m2: dict[str, float]
    build_total_max_m2: float | None
    caps: dict[tuple[str, int], float]
    emission_prices: dict[str, float]
    exclude: frozenset[str]
    option_overrides: dict[str, dict[str, Any]]
    fuel_overrides: dict[str, dict[str, Any]]
    sensitivity: tuple[SensitivityCase, ...]
    solver_method: str = "ipm"
    time_limit_s: float = 300.0
    crossover: bool = True
    source_file: str = ""
    text: str = field(default="", repr=False)

    def catalogue(self, base: Catalogue) -> Catalogue:
        """The catalogue with this scenario's overrides applied."""
        return with_overrides(base, options=self.option_overrides, fuels=self.fuel_overrides)

    def carried(self, values: dict[int, float] | None) -> dict[int, float] | None:
        """A year map filled for every pathway year (a year without a value keeps the previous year's)."""
        if values is None:
            return None
        out, last = {}, None
        for y in self.years:
            last = values.get(y, last)
            if last is not None:
                out[y] = last
        return out


def _pyd_issues(doc: YamlDoc, exc: ValidationError) -> list[InputIssue]:
    issues = []
    for e in exc.errors():
        loc = tuple(str(x) for x in e["loc"] if not str(x).startswith(("function-", "literal[", "float", "int", "[key]")))
        msg = e["msg"]
        if e["type"] == "extra_forbidden":
            zh, en = f"未知字段 {loc[-1]}", f"unknown field {loc[-1]}"
        elif e["type"] == "missing":
            zh, en = f"缺少字段 {loc[-1]}", f"missing field {loc[-1]}"
        else:
            zh, en = f"无效的值: {msg}", f"invalid value: {msg}"
        issues.append(doc.issue(zh, loc, en))
    # pydantic reports one error per union branch; keep one per location
    seen, out = set(), []
    for i in issues:
        if (i.row, i.field) not in seen:
            seen.add((i.row, i.field))
            out.append(i)
    return out


def parse_scenario(text: str, file: str, catalogue: Catalogue, plan: Any) -> Scenario:
    """Parse and check a scenario against the catalogue and the plan (``PlanData``)."""
    doc = parse_yaml(text, file, ScenarioError)
    if not isinstance(doc.data, dict):
        raise ScenarioError(f"{file}: a scenario must be a mapping", [doc.issue("情景文件须为映射（键: 值）", (),
                                                                             "a scenario must be a mapping")])
    try:
        s = ScenarioIn.model_validate(doc.data)
    except ValidationError as exc:
        raise ScenarioError(f"{file}: the scenario has errors", _pyd_issues(doc, exc)) from exc
    issues: list[InputIssue] = []

    def bad(path: tuple, zh: str, en: str) -> None:
        issues.append(doc.issue(zh, path, en))

    start = s.start_year if s.start_year is not None else plan.start_year
    end = s.end_year if s.end_year is not None else plan.end_year
    if end < start or end - start > 30:
        bad(("end_year",), f"年份范围 {start}–{end} 无效", f"invalid horizon {start}-{end}")
    years = tuple(range(start, end + 1))
    conv = {o.code for o in catalogue.options if not o.is_status_quo}
    groups = {o.group for o in catalogue.options if o.group}

    def check_years(m: dict[int, float] | None, path: tuple, *, fraction: bool = False) -> None:
        for y, v in (m or {}).items():
            if y not in years:
                bad(path + (y,), f"年份 {y} 不在情景年份 {start}–{end} 内", f"year {y} is outside {start}-{end}")
            if v < 0:
                bad(path + (y,), f"不能为负数: {v}", f"must not be negative: {v}")
            if fraction and v > 1:
                bad(path + (y,), f"比例须在 0–1 之间: {v}", f"a rate must be between 0 and 1: {v}")

    for name, rate in (("discount_rate", s.discount_rate), ("household_discount_rate", s.household_discount_rate)):
        if rate is not None and not 0 <= rate < 1:
            bad((name,), f"{name} 须在 0 与 1 之间（如 0.06）", f"{name} must be a fraction in [0, 1)")
    for at, m in s.targets.rates.items():
        if at not in AREA_TYPES:
            bad(("targets", "rates", at), f"未知区域类型 {at!r}（可选 {', '.join(AREA_TYPES)}）",
                f"unknown area type {at!r}")
        check_years(m, ("targets", "rates", at), fraction=True)
    for g, m in s.targets.technology_min_m2.items():
        if g not in groups:
            bad(("targets", "technology_min_m2", g), f"未知技术类别 {g!r}（可选 {', '.join(sorted(groups))}）",
                f"unknown technology group {g!r}")
        check_years(m, ("targets", "technology_min_m2", g))
    check_years(s.gas.supply_1e4_m3, ("gas", "supply_1e4_m3"))
    check_years(s.grid.reinforcement_mw, ("grid", "reinforcement_mw"))
    for z, m in s.grid.zones.items():
        check_years(m, ("grid", "zones", z))
    check_years(s.budget.subsidy_wan_yuan, ("budget", "subsidy_wan_yuan"))
    for o, v in s.build_rate.max_m2_per_year.items():
        if o not in conv:
            bad(("build_rate", "max_m2_per_year", o), f"未知方式 {o!r}", f"unknown option {o!r}")
        if v < 0:
            bad(("build_rate", "max_m2_per_year", o), f"不能为负数: {v}", f"must not be negative: {v}")
    if s.build_rate.max_total_m2_per_year is not None and s.build_rate.max_total_m2_per_year < 0:
        bad(("build_rate", "max_total_m2_per_year"), "不能为负数", "must not be negative")
    for p, m in s.caps.items():
        if p not in CAP_KEYS:
            bad(("caps", p), f"未知污染物 {p!r}（可选 {', '.join(CAP_KEYS)}）", f"unknown pollutant {p!r}")
        check_years(m, ("caps", p))
    for k, v in s.emission_prices.items():
        if k not in PRICE_KEYS:
            bad(("emission_prices", k), f"未知排放价格 {k!r}（可选 {', '.join(PRICE_KEYS)}）",
                f"unknown emission price {k!r}")
        elif v < 0:
            bad(("emission_prices", k), f"不能为负数: {v}", f"must not be negative: {v}")
    for i, o in enumerate(s.options.exclude):
        if o not in conv:
            bad(("options", "exclude", i), f"未知方式 {o!r}（可选 {', '.join(sorted(conv))}）", f"unknown option {o!r}")

    def check_changes(opt_changes: dict, fuel_changes: dict, opath: tuple, fpath: tuple) -> None:
        for o, changes in opt_changes.items():
            if o not in catalogue.codes:
                bad(opath + (o,), f"未知方式 {o!r}（可选 {', '.join(catalogue.codes)}）", f"unknown option {o!r}")
                continue
            opt = catalogue.option(o)
            for k, v in changes.items():
                if k not in OPTION_OVERRIDE_FIELDS:
                    bad(opath + (o, k), f"{o} 没有可修改的字段 {k!r}", f"{o} has no field {k!r} to override")
                elif k == "cop_scale" and not opt.is_heat_pump:
                    bad(opath + (o, k), f"{o} 不是热泵，不能设置 cop_scale", f"{o} is not a heat pump")
                elif k in ("efficiency", "cop") and getattr(opt, k) is None:
                    bad(opath + (o, k), f"{o} 没有 {k}", f"{o} has no {k}")
                elif isinstance(v, (int, float)) and v < 0:
                    bad(opath + (o, k), f"不能为负数: {v}", f"must not be negative: {v}")
                elif isinstance(v, (int, float)) and v == 0 and k in ("efficiency", "cop", "lifetime_years",
                                                                      "cop_scale"):
                    bad(opath + (o, k), f"{k} 须为正数", f"{k} must be positive")
        for f, changes in fuel_changes.items():
            if f not in catalogue.fuels:
                bad(fpath + (f,), f"未知燃料 {f!r}（可选 {', '.join(catalogue.fuels)}）", f"unknown fuel {f!r}")
                continue
            for k, v in changes.items():
                if k not in FUEL_OVERRIDE_FIELDS:
                    bad(fpath + (f, k), f"{f} 没有可修改的字段 {k!r}", f"{f} has no field {k!r} to override")
                elif isinstance(v, (int, float)) and v < 0:
                    label = "价格不能为负数" if "price" in k else "不能为负数"
                    bad(fpath + (f, k), f"{label}: {v}", f"{'a price' if 'price' in k else 'a value'} must not be "
                                                        f"negative: {v}")
                elif isinstance(v, (int, float)) and v == 0 and k == "gj_per_unit":
                    bad(fpath + (f, k), "热值须为正数", "the heating value must be positive")

    check_changes(s.options.overrides, s.fuels.overrides, ("options", "overrides"), ("fuels", "overrides"))
    for i, case in enumerate(s.sensitivity):
        check_changes(case.options, case.fuels, ("sensitivity", i, "options"), ("sensitivity", i, "fuels"))
        if case.discount_rate is not None and not 0 <= case.discount_rate < 1:
            bad(("sensitivity", i, "discount_rate"), "须在 0 与 1 之间", "must be a fraction in [0, 1)")
    if issues:
        raise ScenarioError(f"{file}: the scenario has {len(issues)} problem(s)", issues)

    rates: dict[tuple[str, int], float] = {}
    if s.targets.from_plan:
        for t in plan.rate_targets:
            if t.year in years:
                rates[(t.area_type, t.year)] = t.min_rate
    for at, m in s.targets.rates.items():
        for y, v in m.items():
            rates[(at, y)] = float(v)
    return Scenario(
        name=s.name, description=s.description, years=years,
        discount_rate=s.discount_rate if s.discount_rate is not None else catalogue.finance["discount_rate"].value,
        household_discount_rate=s.household_discount_rate if s.household_discount_rate is not None
        else catalogue.finance["household_discount_rate"].value,
        areas=s.areas, rate_targets=rates,
        technology_min_m2={(g, y): float(v) for g, m in s.targets.technology_min_m2.items() for y, v in m.items()},
        gas_supply_1e4_m3=dict(s.gas.supply_1e4_m3) if s.gas.supply_1e4_m3 is not None else None,
        grid_reinforcement_mw=dict(s.grid.reinforcement_mw),
        grid_zone_capacity_mw={z: dict(m) for z, m in s.grid.zones.items()},
        budget_wan_yuan=dict(s.budget.subsidy_wan_yuan) if s.budget.subsidy_wan_yuan is not None else None,
        build_max_m2=dict(s.build_rate.max_m2_per_year), build_total_max_m2=s.build_rate.max_total_m2_per_year,
        caps={(p, y): float(v) for p, m in s.caps.items() for y, v in m.items()},
        emission_prices=dict(s.emission_prices), exclude=frozenset(s.options.exclude),
        option_overrides={k: dict(v) for k, v in s.options.overrides.items()},
        fuel_overrides={k: dict(v) for k, v in s.fuels.overrides.items()},
        sensitivity=tuple(SensitivityCase(c.name, c.options, c.fuels, c.discount_rate) for c in s.sensitivity),
        solver_method=s.solver.method, time_limit_s=s.solver.time_limit_s, crossover=s.solver.crossover,
        source_file=file, text=text,
    )
