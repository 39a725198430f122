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

from dataclasses import dataclass, field, replace
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from cleanheat.errors import InputIssue
from cleanheat.planner.catalogue import AREA_TYPES, FUEL_FIELDS, OPTION_FIELDS, Catalogue, with_overrides
from cleanheat.planner.errors import ScenarioError
from cleanheat.planner.yamlloc import YamlDoc, parse_yaml
from cleanheat.rowspec import Column, Msg, RowResult, RowSpec

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
        loc = tuple(str(x) for x in e["loc"]
                    if not str(x).startswith(("function-", "literal[", "float", "int", "[key]")))
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


def _located(doc: YamlDoc, path: tuple, result: RowResult) -> list[InputIssue]:
    """The issues of a checked YAML entry at ``path`` (its line and field path)."""
    return [doc.issue(i.message, path, i.message_en) for i in result.issues]


_NEGATIVE = Msg("不能为负数: {value}", "must not be negative: {value}")


def _year_value(start: int, end: int, fraction: bool) -> RowSpec:
    """One entry of a year map: a year of the horizon and a non-negative value (a rate: at most 1)."""
    return RowSpec((
        Column("year", parse=int, choices={y: y for y in range(start, end + 1)},
               messages={"choice": Msg(f"年份 {{raw}} 不在情景年份 {start}–{end} 内",
                                       f"year {{raw}} is outside {start}-{end}")}),
        Column("value", parse=float, minimum=0.0, maximum=1.0 if fraction else None,
               messages={"minimum": _NEGATIVE,
                         "maximum": Msg("比例须在 0–1 之间: {value}", "a rate must be between 0 and 1: {value}")}),
    ))


def _year_maps(doc: YamlDoc, s: ScenarioIn, start: int, end: int) -> list[InputIssue]:
    """Every year map of the scenario against the horizon (rates are fractions)."""
    maps: list[tuple[tuple, dict | None, bool]] = [(("targets", "rates", at), m, True)
                                                   for at, m in s.targets.rates.items()]
    maps += [(("targets", "technology_min_m2", g), m, False) for g, m in s.targets.technology_min_m2.items()]
    maps += [(("gas", "supply_1e4_m3"), s.gas.supply_1e4_m3, False),
             (("grid", "reinforcement_mw"), s.grid.reinforcement_mw, False),
             (("budget", "subsidy_wan_yuan"), s.budget.subsidy_wan_yuan, False)]
    maps += [(("grid", "zones", z), m, False) for z, m in s.grid.zones.items()]
    maps += [(("caps", p), m, False) for p, m in s.caps.items()]
    specs = {f: _year_value(start, end, f) for f in (False, True)}
    return [i for path, m, fraction in maps for y, v in (m or {}).items()
            for i in _located(doc, path + (y,), specs[fraction].validate({"year": y, "value": v}))]


def _names(doc: YamlDoc, s: ScenarioIn, catalogue: Catalogue) -> list[InputIssue]:
    """Area types, technology groups, options, pollutants and prices named by the scenario exist."""
    conv = sorted(o.code for o in catalogue.options if not o.is_status_quo)
    groups = sorted({o.group for o in catalogue.options if o.group})
    named = [(("targets", "rates", k), k, AREA_TYPES, ("区域类型", "area type")) for k in s.targets.rates]
    named += [(("targets", "technology_min_m2", k), k, groups, ("技术类别", "technology group"))
              for k in s.targets.technology_min_m2]
    named += [(("build_rate", "max_m2_per_year", k), k, conv, ("方式", "option")) for k in s.build_rate.max_m2_per_year]
    named += [(("caps", k), k, CAP_KEYS, ("污染物", "pollutant")) for k in s.caps]
    named += [(("emission_prices", k), k, PRICE_KEYS, ("排放价格", "emission price")) for k in s.emission_prices]
    named += [(("options", "exclude", i), k, conv, ("方式", "option")) for i, k in enumerate(s.options.exclude)]
    out = []
    for path, key, allowed, (zh, en) in named:
        shown = "" if path[0] == "build_rate" else f"（可选 {', '.join(allowed)}）"
        spec = RowSpec((Column("name", choices={a: a for a in allowed},
                               messages={"choice": Msg(f"未知{zh} {{raw!r}}{shown}", f"unknown {en} {{raw!r}}")}),))
        out += _located(doc, path, spec.validate({"name": key}))
    return out


def _amounts(doc: YamlDoc, s: ScenarioIn) -> list[InputIssue]:
    """Rates in [0, 1); build limits and emission prices not negative."""
    def rate(name: str, zh: str, en: str) -> Column:
        return Column(name, parse=float, minimum=0.0, maximum=1.0, exclusive_maximum=True,
                      messages={k: Msg(zh, en) for k in ("minimum", "maximum")})

    not_negative = Column("value", parse=float, minimum=0.0, messages={"minimum": _NEGATIVE})
    entries: list[tuple[tuple, Any, Column]] = [
        ((name,), v, rate(name, f"{name} 须在 0 与 1 之间（如 0.06）", f"{name} must be a fraction in [0, 1)"))
        for name, v in (("discount_rate", s.discount_rate), ("household_discount_rate", s.household_discount_rate))]
    entries += [(("sensitivity", i, "discount_rate"), c.discount_rate,
                 rate("discount_rate", "须在 0 与 1 之间", "must be a fraction in [0, 1)"))
                for i, c in enumerate(s.sensitivity)]
    entries += [(("build_rate", "max_m2_per_year", o), v, not_negative)
                for o, v in s.build_rate.max_m2_per_year.items()]
    entries += [(("build_rate", "max_total_m2_per_year"), s.build_rate.max_total_m2_per_year,
                 replace(not_negative, messages={"minimum": Msg("不能为负数", "must not be negative")}))]
    entries += [(("emission_prices", k), v, not_negative) for k, v in s.emission_prices.items() if k in PRICE_KEYS]
    return [i for path, v, col in entries if v is not None
            for i in _located(doc, path, RowSpec((col,)).validate({col.field: v}))]


def _change_spec(fields: tuple[str, ...], positive: tuple[str, ...], label: Any) -> RowSpec:
    """Overrides of one option or fuel: known fields, numbers (or ``low``/``high``) not negative, some positive."""
    return RowSpec(tuple(
        Column(k, parse=lambda v: v, minimum=0.0, exclusive_minimum=k in positive,
               messages={"minimum": label(k)}) for k in fields))


def _option_changes(doc: YamlDoc, catalogue: Catalogue, changes: dict, path: tuple) -> list[InputIssue]:
    def label(k: str) -> Msg:
        if k in ("efficiency", "cop", "lifetime_years", "cop_scale"):
            return Msg(f"{k} 须为正数: {{value}}", f"{k} must be positive: {{value}}")
        return _NEGATIVE

    spec = _change_spec(OPTION_OVERRIDE_FIELDS, ("efficiency", "cop", "lifetime_years", "cop_scale"), label)
    out = []
    for o, kv in changes.items():
        if o not in catalogue.codes:
            out.append(doc.issue(f"未知方式 {o!r}（可选 {', '.join(catalogue.codes)}）", path + (o,),
                                 f"unknown option {o!r}"))
            continue
        opt = catalogue.option(o)
        for k in spec.unknown_keys(kv):
            out.append(doc.issue(f"{o} 没有可修改的字段 {k!r}", path + (o, k), f"{o} has no field {k!r} to override"))
        for k, v in kv.items():
            if k == "cop_scale" and not opt.is_heat_pump:
                out.append(doc.issue(f"{o} 不是热泵，不能设置 cop_scale", path + (o, k), f"{o} is not a heat pump"))
            elif k in ("efficiency", "cop") and getattr(opt, k) is None:
                out.append(doc.issue(f"{o} 没有 {k}", path + (o, k), f"{o} has no {k}"))
            elif k in spec.fields and isinstance(v, int | float):
                out += _located(doc, path + (o, k), RowSpec((spec.column(k),)).validate({k: v}))
    return out


def _fuel_changes(doc: YamlDoc, catalogue: Catalogue, changes: dict, path: tuple) -> list[InputIssue]:
    def label(k: str) -> Msg:
        if k == "gj_per_unit":
            return Msg("热值须为正数: {value}", "the heating value must be positive: {value}")
        if "price" in k:
            return Msg("价格不能为负数: {value}", "a price must not be negative: {value}")
        return Msg("不能为负数: {value}", "a value must not be negative: {value}")

    spec = _change_spec(FUEL_OVERRIDE_FIELDS, ("gj_per_unit",), label)
    out = []
    for f, kv in changes.items():
        if f not in catalogue.fuels:
            out.append(doc.issue(f"未知燃料 {f!r}（可选 {', '.join(catalogue.fuels)}）", path + (f,),
                                 f"unknown fuel {f!r}"))
            continue
        for k in spec.unknown_keys(kv):
            out.append(doc.issue(f"{f} 没有可修改的字段 {k!r}", path + (f, k), f"{f} has no field {k!r} to override"))
        for k, v in kv.items():
            if k in spec.fields and isinstance(v, int | float):
                out += _located(doc, path + (f, k), RowSpec((spec.column(k),)).validate({k: v}))
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
    start = s.start_year if s.start_year is not None else plan.start_year
    end = s.end_year if s.end_year is not None else plan.end_year
    if end < start or end - start > 30:
        issues.append(doc.issue(f"年份范围 {start}–{end} 无效", ("end_year",), f"invalid horizon {start}-{end}"))
    years = tuple(range(start, end + 1))
    issues += _names(doc, s, catalogue) + _year_maps(doc, s, start, end) + _amounts(doc, s)
    issues += _option_changes(doc, catalogue, s.options.overrides, ("options", "overrides"))
    issues += _fuel_changes(doc, catalogue, s.fuels.overrides, ("fuels", "overrides"))
    for i, case in enumerate(s.sensitivity):
        issues += _option_changes(doc, catalogue, case.options, ("sensitivity", i, "options"))
        issues += _fuel_changes(doc, catalogue, case.fuels, ("sensitivity", i, "fuels"))
    if issues:
        raise ScenarioError(f"{file}: the scenario has {len(issues)} problem(s)", issues)
    return _scenario(s, years, catalogue, plan, file, text)


def _scenario(s: ScenarioIn, years: tuple[int, ...], catalogue: Catalogue, plan: Any, file: str,
              text: str) -> Scenario:
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
