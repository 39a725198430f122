"""City pathway optimisation: which option, in which area, in which year (linear programme solved by HiGHS).

Three stages (house rule 5): :func:`build_model` turns the appraisal and the scenario into sparse arrays
(:class:`PathwayModel`), :func:`solve_model` runs HiGHS, :func:`interpret` returns an immutable
:class:`PathwayResult`. :func:`optimise` does all three and explains an infeasible scenario.

Model. For every area ``a`` the *convertible pool* ``d_a`` is today's non-clean share (loose coal, old coal
boilers, briquettes). Variables ``b[k, t] ≥ 0`` are the share of area ``a(k)`` converted to option ``o(k)`` in year
``t``; the option then runs in every later year of the horizon. So the state in year ``y`` is
``x[k, y] = Σ_{t≤y} b[k, t]`` and no "monotone" rows are needed; converted shares replace the pool pro rata.

* minimise  Σ_k Σ_t b[k,t] · Δcost_k · Σ_{y≥t} (1+i)^−(y−y0)         (discounted; Δcost = annual cost of the option
  incl. capital annuity − running cost of the replaced status quo)
* pool      Σ_{k∈a} Σ_t b[k,t] ≤ d_a
* targets   Σ_{k∈T, clean} x[k,y] · H_a ≥ rate_T,y · H_T − C_T        (clean-heating rate by area type and year)
* gas       Σ_{k gas} x[k,y] · Δgas_k ≤ new gas supply_y                  (以气定改)
* area gas  Σ_{k∈a gas} x[k,Y] · Δgas_k ≤ mains capacity_a − gas used today
* grid      Σ_{k∈z electric} x[k,y] · Δgrid_k ≤ spare_z + reinforcement_y  (per grid supply area)
* budget    Σ_k b[k,t] · subsidy_k ≤ budget_t                             (public subsidy paid when built)
* build     Σ_{k∈o} b[k,t] · H_a ≤ max_o ;  Σ_k b[k,t] · H_a ≤ max_total    (installers, supply chains)
* caps      E0_p + Σ_k x[k,y] · Δe_k,p ≤ cap_p,y                           (CO2, PM, SO2, NOx)

Rows are scaled (万m², 10⁴ m³, MW, 万元, t) so coefficients stay within a few orders of magnitude.
Shadow prices are HiGHS row duals (∂ objective / ∂ right-hand side), reported as the value of one more unit of a
limit in 元 of discounted cost over the horizon.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any

import numpy as np
import scipy.sparse as sp

from cleanheat.planner.appraisal import Appraisal, money
from cleanheat.planner.catalogue import AREA_TYPES
from cleanheat.planner.errors import PathwaySolveError
from cleanheat.planner.scenario import Scenario
from cleanheat.programme.model import AREA_TYPE_LABELS
from cleanheat.units import M2_PER_WAN

WAN = float(M2_PER_WAN)
#: Row kinds that express what the city wants (made elastic to explain an infeasible scenario).
REQUIREMENTS = ("rate_target", "tech_target", "cap")
ROW_UNITS = {  # row unit, how one row unit converts to the reported unit, reported unit
    "convertible": ("share", 1.0, "share"),
    "rate_target": ("万m²", WAN, "m²"),
    "tech_target": ("万m²", WAN, "m²"),
    "gas": ("10⁴ m³", 1.0, "10⁴ m³"),
    "area_gas": ("10⁴ m³", 1.0, "10⁴ m³"),
    "grid": ("MW", 1.0, "MW"),
    "budget": ("万元", 1.0, "万元"),
    "build_option": ("万m²", WAN, "m²"),
    "build_total": ("万m²", WAN, "m²"),
    "cap": ("t", 1.0, "t"),
}
KIND_LABELS = {
    "convertible": ("可改造面积", "convertible area"),
    "rate_target": ("清洁取暖率目标", "clean-heating-rate target"),
    "tech_target": ("技术取暖面积目标", "technology area target"),
    "gas": ("新增天然气供应", "new gas supply"),
    "area_gas": ("区域燃气管网能力", "area gas mains capacity"),
    "grid": ("电网富余容量", "spare grid capacity"),
    "budget": ("财政补贴预算", "subsidy budget"),
    "build_option": ("年度建设能力（分方式）", "yearly build rate (per option)"),
    "build_total": ("年度建设能力（合计）", "yearly build rate (total)"),
    "cap": ("污染物排放上限", "pollutant cap"),
}
#: Shadow-price units: (row kind) -> (factor from 万元/row-unit, label)
SHADOW_UNITS = {
    "gas": (WAN, "元/10⁴m³"),
    "area_gas": (WAN, "元/10⁴m³"),
    "grid": (WAN, "元/MW"),
    "budget": (WAN, "元/万元"),
    "rate_target": (1.0, "元/m²"),  # 万元 per 万m² = 元/m²
    "tech_target": (1.0, "元/m²"),
    "build_option": (1.0, "元/m²"),
    "build_total": (1.0, "元/m²"),
    "cap": (WAN, "元/t"),
    "convertible": (WAN, "元/share"),
}
CAP_SCALE = {"co2_t": 1.0, "pm_kg": 1e-3, "so2_kg": 1e-3, "nox_kg": 1e-3}  # row unit t


@dataclass(frozen=True)
class RowInfo:
    kind: str
    key: tuple
    sense: str  # ">=" or "<="
    rhs: float  # in row units

    @property
    def requirement(self) -> bool:
        return self.kind in REQUIREMENTS


@dataclass(frozen=True)
class PathwayModel:
    """The LP as arrays (stage 2). Columns ``k·Y + t``."""

    years: tuple[int, ...]
    pair_area: np.ndarray  # (K,)
    pair_option: np.ndarray  # (K,)
    cost: np.ndarray  # (K·Y,) 万元
    col_upper: np.ndarray
    matrix: sp.csc_matrix
    row_lower: np.ndarray
    row_upper: np.ndarray
    rows: tuple[RowInfo, ...]
    discount: np.ndarray  # (Y,) discount factor of each year
    const_wan: float  # Σ_y df_y × running cost of today's heating [万元]
    dirty: np.ndarray  # (A,)
    pool_weights: np.ndarray  # (A, O) share of each pool option within the pool
    build_s: float = 0.0

    @property
    def n_col(self) -> int:
        return int(self.cost.shape[0])

    @property
    def n_row(self) -> int:
        return int(self.row_lower.shape[0])


@dataclass(frozen=True)
class RawSolution:
    status: str
    col_value: np.ndarray
    row_value: np.ndarray
    row_dual: np.ndarray
    objective: float
    iterations: int
    run_time_s: float


@dataclass(frozen=True)
class PathwayResult:
    """The chosen pathway (stage 3). ``shares[a, o, y]`` is the share of area ``a`` heated by option ``o`` in
    year ``y`` (today's clean options, conversions, and what is left of the status quo). Immutable."""

    status: str  # optimal | infeasible
    scenario: str
    years: tuple[int, ...]
    area_codes: tuple[str, ...]
    option_codes: tuple[str, ...]
    shares: np.ndarray  # (A, O, Y)
    built_m2: np.ndarray  # (A, O, Y) area converted in each year
    total_cost_yuan: Decimal  # discounted cost of heating every area over the horizon
    cost_change_yuan: Decimal  # against keeping today's heating
    by_year: tuple[dict, ...]  # year, cost, investment, subsidy, gas, emissions, built, rates
    rates: dict[str, dict[int, float]]  # area type (and "city") -> year -> achieved rate
    rate_targets: dict[str, dict[int, float]]
    baseline: dict[str, Any]  # rates and emissions today
    technology_area_m2: dict[str, dict[int, float]]
    shadow_prices: dict[str, Any]
    binding: tuple[dict, ...]
    infeasibility: dict | None
    solver: dict
    area_summary: dict = field(default_factory=dict)

    def option_mix_m2(self, heated_m2: np.ndarray) -> np.ndarray:
        """Heated area by option and year [m²] (O, Y)."""
        return np.einsum("aoy,a->oy", self.shares, heated_m2)


# --- stage 1 → 2: build ----------------------------------------------------------------------------------

class _Rows:
    def __init__(self, Y: int) -> None:
        self.Y = Y
        self.r: list[np.ndarray] = []
        self.c: list[np.ndarray] = []
        self.v: list[np.ndarray] = []
        self.lower: list[float] = []
        self.upper: list[float] = []
        self.info: list[RowInfo] = []

    def add(self, info: RowInfo) -> int:
        self.info.append(info)
        if info.sense == ">=":
            self.lower.append(info.rhs)
            self.upper.append(math.inf)
        else:
            self.lower.append(-math.inf)
            self.upper.append(info.rhs)
        return len(self.info) - 1

    def add_many(self, infos: list[RowInfo]) -> np.ndarray:
        start = len(self.info)
        for i in infos:
            self.add(i)
        return np.arange(start, start + len(infos))

    def entries(self, rows: np.ndarray, k: np.ndarray, coef: np.ndarray, t: int) -> None:
        m = coef != 0
        if m.any():
            self.r.append(np.asarray(rows)[m] if np.ndim(rows) else np.full(int(m.sum()), rows))
            self.c.append(k[m] * self.Y + t)
            self.v.append(coef[m])

    def cumulative(self, rows: np.ndarray | int, k: np.ndarray, coef: np.ndarray, y: int) -> None:
        """State rows of year index ``y``: every build year t ≤ y contributes."""
        for t in range(y + 1):
            self.entries(rows, k, coef, t)


def _discount(years: tuple[int, ...], rate: float) -> np.ndarray:
    return np.array([(1.0 + rate) ** -(y - years[0]) for y in years])


def build_model(ap: Appraisal, sc: Scenario) -> PathwayModel:
    """The LP of scenario ``sc`` over the appraised areas (pure; vectorised, no loop over nonzeros)."""
    t0 = time.perf_counter()
    areas = ap.areas
    years = sc.years
    Y = len(years)
    A, _O = ap.available.shape
    clean = ap.opts.clean
    mix = areas.current_mix
    H = areas.heated_area_m2
    pool_mask = ~clean[None, :] & (mix > 0)
    dirty = np.where(pool_mask, mix, 0.0).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        w = np.where(pool_mask, mix / np.where(dirty > 0, dirty, 1.0)[:, None], 0.0)

    def pool_value(arr: np.ndarray) -> np.ndarray:  # (A,) value of the pool mix per area (whole area)
        return (w * arr).sum(axis=1)

    candidate = ap.available & ~ap.opts.status_quo[None, :] & (dirty[:, None] > 1e-9)
    pa, po = np.nonzero(candidate)
    K = len(pa)
    kk = np.arange(K)
    df = _discount(years, sc.discount_rate)
    tail = np.cumsum(df[::-1])[::-1]
    d_cost = ap.social_annual_cost_yuan[pa, po] - pool_value(ap.running_cost_yuan)[pa]
    cost = np.empty(K * Y)
    for t in range(Y):
        cost[kk * Y + t] = d_cost * tail[t] / WAN
    col_upper = np.repeat(dirty[pa], Y)
    R = _Rows(Y)

    # pool rows, one per area with candidates
    cand_areas = np.unique(pa)
    pool_rows = np.full(A, -1)
    pool_rows[cand_areas] = R.add_many([RowInfo("convertible", (areas.codes[a],), "<=", float(dirty[a]))
                                        for a in cand_areas])
    for t in range(Y):
        R.entries(pool_rows[pa], kk, np.ones(K), t)

    area_wan = H[pa] / WAN
    types = areas.area_types
    current_clean = (mix * clean[None, :]).sum(axis=1) * H
    for at in AREA_TYPES:
        m_t = types == at
        H_T = float(H[m_t].sum())
        if H_T <= 0:
            continue
        C_T = float(current_clean[m_t].sum())
        sel = (types[pa] == at) & clean[po]
        for yi, y in enumerate(years):
            target = sc.rate_targets.get((at, y))
            if target is None:
                continue
            r = R.add(RowInfo("rate_target", (at, y), ">=", (target * H_T - C_T) / WAN))
            R.cumulative(r, kk, np.where(sel, area_wan, 0.0), yi)
    groups = np.array(ap.opts.group)
    for (g, y), min_m2 in sorted(sc.technology_min_m2.items()):
        existing = float((mix[:, groups == g].sum(axis=1) * H).sum())
        r = R.add(RowInfo("tech_target", (g, y), ">=", (min_m2 - existing) / WAN))
        R.cumulative(r, kk, np.where(groups[po] == g, area_wan, 0.0), years.index(y))

    d_gas = ap.gas_1e4_m3[pa, po] - pool_value(ap.gas_1e4_m3)[pa]
    gas = sc.carried(sc.gas_supply_1e4_m3)
    if gas is not None and np.any(d_gas != 0):
        for yi, y in enumerate(years):
            if y in gas:
                r = R.add(RowInfo("gas", (y,), "<=", float(gas[y])))
                R.cumulative(r, kk, d_gas, yi)
    caps_a = areas.gas_capacity_1e4_m3
    gas_today = (mix * ap.gas_1e4_m3).sum(axis=1)
    lim_areas = [a for a in cand_areas if not math.isnan(caps_a[a]) and np.any(d_gas[pa == a] != 0)]
    if lim_areas:
        rows_a = np.full(A, -1)
        rows_a[lim_areas] = R.add_many([RowInfo("area_gas", (areas.codes[a],), "<=",
                                                float(max(0.0, caps_a[a] - gas_today[a]))) for a in lim_areas])
        sel = rows_a[pa] >= 0
        R.cumulative(np.where(sel, rows_a[pa], 0), kk, np.where(sel, d_gas, 0.0), Y - 1)

    d_grid = ap.grid_mw[pa, po] - pool_value(ap.grid_mw)[pa]
    zones = np.array(areas.grid_zones)
    zone_codes, zone_of_area = np.unique(zones, return_inverse=True)
    spare_z = np.bincount(zone_of_area, weights=areas.grid_spare_mw, minlength=len(zone_codes))
    used_z = np.unique(zone_of_area[pa[d_grid > 0]])
    if len(used_z):
        reinf = sc.carried(sc.grid_reinforcement_mw) or {}
        for yi, y in enumerate(years):
            caps = []
            for z in used_z:
                over = sc.carried(sc.grid_zone_capacity_mw.get(str(zone_codes[z])) or None)
                cap = over[y] if over and y in over else spare_z[z] + reinf.get(y, 0.0)
                caps.append(RowInfo("grid", (str(zone_codes[z]), y), "<=", float(cap)))
            rows_z = np.full(len(zone_codes), -1)
            rows_z[used_z] = R.add_many(caps)
            rz = rows_z[zone_of_area[pa]]
            sel = (rz >= 0) & (d_grid != 0)
            R.cumulative(np.where(sel, rz, 0), kk, np.where(sel, d_grid, 0.0), yi)

    budget = sc.carried(sc.budget_wan_yuan)
    subsidy = ap.subsidy_yuan[pa, po] / WAN
    if budget is not None:
        for yi, y in enumerate(years):
            if y in budget:
                r = R.add(RowInfo("budget", (y,), "<=", float(budget[y])))
                R.entries(r, kk, subsidy, yi)
    codes = np.array(ap.opts.codes)
    for o_code, max_m2 in sorted(sc.build_max_m2.items()):
        sel = codes[po] == o_code
        for yi, y in enumerate(years):
            r = R.add(RowInfo("build_option", (o_code, y), "<=", max_m2 / WAN))
            R.entries(r, kk, np.where(sel, area_wan, 0.0), yi)
    if sc.build_total_max_m2 is not None:
        for yi, y in enumerate(years):
            r = R.add(RowInfo("build_total", (y,), "<=", sc.build_total_max_m2 / WAN))
            R.entries(r, kk, area_wan, yi)
    for (p, y), cap in sorted(sc.caps.items()):
        e = ap.emissions[p]
        e0 = float((mix * e).sum())
        s = CAP_SCALE[p]
        r = R.add(RowInfo("cap", (p, y), "<=", (cap - e0) * s))
        R.cumulative(r, kk, (e[pa, po] - pool_value(e)[pa]) * s, years.index(y))

    n_row = len(R.info)
    if R.r:
        rr, cc, vv = np.concatenate(R.r), np.concatenate(R.c), np.concatenate(R.v)
    else:
        rr = cc = np.zeros(0, dtype=np.int64)
        vv = np.zeros(0)
    matrix = sp.csc_matrix((vv, (rr, cc)), shape=(n_row, K * Y))
    const = float(df.sum() * (mix * ap.running_cost_yuan).sum() / WAN)
    return PathwayModel(years=years, pair_area=pa, pair_option=po, cost=cost, col_upper=col_upper, matrix=matrix,
                        row_lower=np.array(R.lower, dtype=float), row_upper=np.array(R.upper, dtype=float),
                        rows=tuple(R.info), discount=df, const_wan=const, dirty=dirty, pool_weights=w,
                        build_s=time.perf_counter() - t0)


# --- stage 2: solve ----------------------------------------------------------------------------------------

_BANNER_SHOWN = False


def _new_highs(highspy):
    """A Highs instance; the first one prints a banner on stdout even with output off (PITFALLS.md), so the
    process's stdout is pointed at /dev/null while it is created (the CLI may write JSON to stdout)."""
    global _BANNER_SHOWN
    if _BANNER_SHOWN:
        return highspy.Highs()
    import os
    import sys

    sys.stdout.flush()
    saved = os.dup(1)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 1)
        h = highspy.Highs()
    finally:
        os.dup2(saved, 1)
        os.close(saved)
        os.close(devnull)
        _BANNER_SHOWN = True
    return h


_STATUS = {"Optimal": "optimal", "Infeasible": "infeasible", "Primal infeasible or unbounded": "infeasible"}


def solve_model(model: PathwayModel, *, method: str = "ipm", time_limit_s: float = 300.0, crossover: bool = True,
                cost: np.ndarray | None = None, extra: tuple | None = None) -> RawSolution:
    """Run HiGHS. ``extra`` = (matrix columns, cost, upper) appends columns (elastic slacks)."""
    import highspy

    matrix, c, upper = model.matrix, model.cost if cost is None else cost, model.col_upper
    lower_r, upper_r = model.row_lower, model.row_upper
    if extra is not None:
        ex_m, ex_c, ex_u = extra
        matrix = sp.hstack([matrix, ex_m], format="csc")
        c = np.concatenate([c, ex_c])
        upper = np.concatenate([upper, ex_u])
    h = _new_highs(highspy)
    h.setOptionValue("output_flag", False)
    h.setOptionValue("solver", method)
    h.setOptionValue("time_limit", float(time_limit_s))
    if method == "ipm":
        h.setOptionValue("run_crossover", "on" if crossover else "off")
    lp = highspy.HighsLp()
    lp.num_col_ = matrix.shape[1]
    lp.num_row_ = matrix.shape[0]
    lp.col_cost_ = np.asarray(c, dtype=float)
    lp.col_lower_ = np.zeros(matrix.shape[1])
    lp.col_upper_ = np.asarray(upper, dtype=float)
    lp.row_lower_ = lower_r
    lp.row_upper_ = upper_r
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_ = matrix.indptr.astype(np.int32)
    lp.a_matrix_.index_ = matrix.indices.astype(np.int32)
    lp.a_matrix_.value_ = matrix.data.astype(float)
    h.passModel(lp)
    t0 = time.perf_counter()
    h.run()
    run = time.perf_counter() - t0
    status_text = h.modelStatusToString(h.getModelStatus())
    info = h.getInfo()
    iters = int(max(info.ipm_iteration_count, 0) + max(info.simplex_iteration_count, 0)
                + max(getattr(info, "crossover_iteration_count", 0), 0)
                + max(getattr(info, "pdlp_iteration_count", 0), 0))
    status = _STATUS.get(status_text)
    if status is None:
        raise PathwaySolveError(status_text, iterations=iters,
                                primal_residual=float(info.max_primal_infeasibility),
                                dual_residual=float(info.max_dual_infeasibility), run_time_s=run)
    sol = h.getSolution()
    if status == "infeasible":
        return RawSolution(status, np.zeros(0), np.zeros(0), np.zeros(0), math.nan, iters, run)
    return RawSolution(status, np.asarray(sol.col_value), np.asarray(sol.row_value), np.asarray(sol.row_dual),
                       float(h.getObjectiveValue()), iters, run)


# --- stage 3: interpret ----------------------------------------------------------------------------------

def _names(ap: Appraisal) -> dict[str, tuple[str, str]]:
    """Display names of the keys that appear in rows (area types, options)."""
    out = {k: v for k, v in AREA_TYPE_LABELS.items()}
    out.update({o.code: (o.name_zh, o.name_en) for o in ap.catalogue.options})
    return out


def _row_label(info: RowInfo, names: dict[str, tuple[str, str]] | None = None) -> tuple[str, str]:
    zh, en = KIND_LABELS[info.kind]
    names = names or {}
    kz = " ".join(names.get(str(k), (str(k), str(k)))[0] for k in info.key)
    ke = " ".join(names.get(str(k), (str(k), str(k)))[1] for k in info.key)
    return f"{zh} {kz}", f"{en} {ke}"


def _binding_rows(model: PathwayModel, raw: RawSolution, kinds: set[str] | None = None,
                  names: dict[str, tuple[str, str]] | None = None) -> list[dict]:
    """Rows at their bound with a non-zero dual (targets, limits and caps; pool rows summarised separately)."""
    out = []
    for r, info in enumerate(model.rows):
        if info.kind == "convertible" or (kinds is not None and info.kind not in kinds):
            continue
        dual = float(raw.row_dual[r])
        if abs(dual) <= 1e-6:  # complementary slackness: a row with a non-zero dual is at its bound
            continue
        factor, unit = SHADOW_UNITS[info.kind]
        _unit_row, to_rep, rep_unit = ROW_UNITS[info.kind]
        zh, en = _row_label(info, names)
        value = -dual if info.sense == "<=" else dual
        out.append({"kind": info.kind, "key": list(info.key), "label_zh": zh, "label_en": en,
                    "activity": float(raw.row_value[r]) * to_rep, "limit": info.rhs * to_rep, "unit": rep_unit,
                    "shadow_price": value * factor, "shadow_unit": unit})
    out.sort(key=lambda d: (REQUIREMENTS.count(d["kind"]) == 0, d["kind"], str(d["key"])))
    return out


def _shadow_prices(model: PathwayModel, raw: RawSolution) -> dict[str, Any]:
    """Value of one more unit of each limit (元 of discounted horizon cost), and marginal cost of targets."""
    out: dict[str, Any] = {"gas": {}, "budget": {}, "grid": {}, "rate_targets": {}, "caps": {}, "build": {},
                           "units": {"gas": "元/10⁴m³", "budget": "元/万元", "grid": "元/MW", "rate_targets": "元/m²",
                                     "caps": "元/t", "build": "元/m²"}}
    for r, info in enumerate(model.rows):
        dual = float(raw.row_dual[r])
        factor, _ = SHADOW_UNITS[info.kind]
        value = (-dual if info.sense == "<=" else dual) * factor
        value = 0.0 if abs(value) < 1e-6 else value
        if info.kind == "gas":
            out["gas"][info.key[0]] = value
        elif info.kind == "budget":
            out["budget"][info.key[0]] = value
        elif info.kind == "grid":
            if value:
                out["grid"].setdefault(info.key[0], {})[info.key[1]] = value
        elif info.kind == "rate_target":
            out["rate_targets"].setdefault(info.key[0], {})[info.key[1]] = value
        elif info.kind == "cap":
            out["caps"].setdefault(info.key[0], {})[info.key[1]] = value
        elif info.kind in ("build_option", "build_total"):
            out["build"].setdefault(str(info.key[0]) if info.kind == "build_option" else "total", {})[
                info.key[-1]] = value
    grid_rows = [r for r, i in enumerate(model.rows) if i.kind == "grid"]
    if grid_rows:
        vals = [-float(raw.row_dual[r]) * WAN for r in grid_rows]
        out["grid_summary"] = {"zones_binding": sum(1 for v in vals if v > 1e-6), "zones": len(grid_rows) //
                               max(1, len(model.years)), "max": max(vals), "mean_binding":
                               float(np.mean([v for v in vals if v > 1e-6])) if any(v > 1e-6 for v in vals) else 0.0}
    return out


def interpret(model: PathwayModel, ap: Appraisal, sc: Scenario, raw: RawSolution, *,
              infeasibility: dict | None = None, status: str | None = None) -> PathwayResult:
    areas = ap.areas
    years = model.years
    Y = len(years)
    A, O = ap.available.shape
    K = len(model.pair_area)
    b = raw.col_value[: K * Y].reshape(K, Y) if K else np.zeros((0, Y))
    b = np.where(b < 1e-9, 0.0, b)
    x = np.cumsum(b, axis=1)
    built = np.zeros((A, O, Y))
    conv = np.zeros((A, O, Y))
    np.add.at(built, (model.pair_area, model.pair_option), b)
    np.add.at(conv, (model.pair_area, model.pair_option), x)
    converted_total = conv.sum(axis=1)  # (A, Y)
    with np.errstate(invalid="ignore", divide="ignore"):
        remaining = np.where(model.dirty[:, None] > 0,
                             1.0 - converted_total / np.where(model.dirty > 0, model.dirty, 1)[:, None], 0.0)
    remaining = np.clip(remaining, 0.0, 1.0)
    clean = ap.opts.clean
    mix = areas.current_mix
    keep = np.where(clean[None, :], mix, 0.0)
    shares = keep[:, :, None] + conv + (model.pool_weights * model.dirty[:, None])[:, :, None] * remaining[:, None, :]
    H = areas.heated_area_m2
    built_m2 = built * H[:, None, None]
    types = areas.area_types

    rates: dict[str, dict[int, float]] = {}
    clean_area = np.einsum("aoy,a,o->ay", shares, H, clean.astype(float))
    for at in (*AREA_TYPES, "city"):
        m = np.ones(A, dtype=bool) if at == "city" else types == at
        if H[m].sum() > 0:
            rates[at] = {y: float(clean_area[m, yi].sum() / H[m].sum()) for yi, y in enumerate(years)}
    targets: dict[str, dict[int, float]] = {}
    for (at, y), v in sorted(sc.rate_targets.items()):
        targets.setdefault(at, {})[y] = v
    base_rates = {at: float((mix[types == at] @ clean * H[types == at]).sum() / H[types == at].sum())
                  for at in AREA_TYPES if (types == at).any()}
    base_rates["city"] = float((mix @ clean * H).sum() / H.sum())
    base_em = {k: float((mix * v).sum()) for k, v in ap.emissions.items()}
    run_cost = ap.running_cost_yuan
    annual = ap.social_annual_cost_yuan
    by_year = []
    groups = np.array(ap.opts.group)
    tech_area: dict[str, dict[int, float]] = {}
    for yi, y in enumerate(years):
        s_y = shares[:, :, yi]
        new = conv[:, :, yi]
        old = s_y - new
        cost_y = float((old * run_cost).sum() + (new * annual).sum())
        inv = float((built[:, :, yi] * ap.upfront_yuan).sum())
        sub = float((built[:, :, yi] * ap.subsidy_yuan).sum())
        em = {k: float((s_y * v).sum()) for k, v in ap.emissions.items()}
        gas_new = float((new * ap.gas_1e4_m3).sum() - (model.pool_weights * model.dirty[:, None]
                                                        * (1 - remaining[:, [yi]]) * ap.gas_1e4_m3).sum())
        by_year.append({
            "year": y, "annual_cost_yuan": money(cost_y), "discounted_cost_yuan": money(cost_y * model.discount[yi]),
            "investment_yuan": money(inv), "subsidy_yuan": money(sub), "new_gas_1e4_m3": gas_new,
            "emissions": em, "built_m2": float(built_m2[:, :, yi].sum()),
            "electric_peak_mw": float((s_y * ap.grid_mw).sum()),
        })
        for g in sorted({str(x) for x in groups} - {""}):
            tech_area.setdefault(g, {})[y] = float((s_y[:, groups == g].sum(axis=1) * H).sum())
    total = sum(d["discounted_cost_yuan"] for d in by_year)
    base_total = money(model.const_wan * WAN)
    shadow = _shadow_prices(model, raw) if status is None else {}
    binding = tuple(_binding_rows(model, raw, names=_names(ap))) if status is None else ()
    pool_bind = {}
    for r, info in enumerate(model.rows):
        if info.kind == "convertible" and abs(raw.row_value[r] - info.rhs) <= 1e-7 and info.rhs > 0:
            at = str(types[areas.index(info.key[0])])
            pool_bind[at] = pool_bind.get(at, 0) + 1
    solver = {"columns": model.n_col, "rows": model.n_row, "nonzeros": int(model.matrix.nnz), "areas": A,
              "options": O, "candidate_pairs": K, "years": Y, "build_s": round(model.build_s, 3),
              "solve_s": round(raw.run_time_s, 3), "iterations": raw.iterations, "method": sc.solver_method,
              "fully_converted_areas": pool_bind}
    return PathwayResult(
        status=status or raw.status, scenario=sc.name, years=years, area_codes=areas.codes,
        option_codes=ap.opts.codes, shares=shares, built_m2=built_m2, total_cost_yuan=total,
        cost_change_yuan=total - base_total, by_year=tuple(by_year), rates=rates, rate_targets=targets,
        baseline={"rates": base_rates, "emissions": base_em, "heated_area_m2": float(H.sum())},
        technology_area_m2=tech_area, shadow_prices=shadow, binding=binding, infeasibility=infeasibility,
        solver=solver,
    )


# --- infeasibility ----------------------------------------------------------------------------------------

def _elastic(model: PathwayModel) -> tuple[sp.csc_matrix, np.ndarray, list[int]]:
    """Slack columns for requirement rows, weighted so the objective is the shortfall in percent of each
    requirement (percentage points of the rate for targets)."""
    req = [r for r, i in enumerate(model.rows) if i.requirement]
    n = len(req)
    vals = np.array([1.0 if model.rows[r].sense == ">=" else -1.0 for r in req])
    m = sp.csc_matrix((vals, (np.array(req, dtype=np.int64), np.arange(n))), shape=(model.n_row, n))
    w = np.zeros(n)
    for j, r in enumerate(req):
        info = model.rows[r]
        w[j] = 100.0 / max(abs(info.rhs), 1e-3) if info.kind != "rate_target" else 0.0
    return m, w, req


def explain_infeasibility(model: PathwayModel, ap: Appraisal, sc: Scenario) -> tuple[RawSolution, dict]:
    """Minimise the shortfall against the targets and caps under the hard limits; then, at that shortfall,
    minimise cost. Returns the closest pathway and which requirements cannot be met and which limits bind."""
    m, w, req = _elastic(model)
    H = ap.areas.heated_area_m2
    for j, r in enumerate(req):
        info = model.rows[r]
        if info.kind == "rate_target":
            H_T = float(H[ap.areas.area_types == info.key[0]].sum()) / WAN
            w[j] = 100.0 / H_T  # one 万m² short = 100/H_T percentage points
    n_x = model.n_col
    zero_cost = np.zeros(n_x)
    up = np.full(len(req), np.inf)
    p1 = solve_model(model, method=sc.solver_method, time_limit_s=sc.time_limit_s, crossover=True, cost=zero_cost,
                     extra=(m, w, up))
    if p1.status != "optimal":  # the hard limits alone contradict each other (should not happen: x = 0 is feasible)
        raise PathwaySolveError("infeasible even without targets", iterations=p1.iterations, primal_residual=math.nan,
                                dual_residual=math.nan, run_time_s=p1.run_time_s)
    slack = p1.col_value[n_x:]
    short = float(w @ slack)
    # phase 2: keep the shortfall, minimise cost
    row = sp.csr_matrix(np.concatenate([np.zeros(n_x), w])[None, :])
    full = sp.hstack([model.matrix, m], format="csr")
    stacked = sp.vstack([full, row], format="csc")
    info_rows = model.rows + (RowInfo("shortfall", ("total",), "<=", short * (1 + 1e-6) + 1e-6),)
    m2 = replace(model, matrix=stacked[:, :n_x], row_lower=np.append(model.row_lower, -np.inf),
                 row_upper=np.append(model.row_upper, short * (1 + 1e-6) + 1e-6), rows=info_rows)
    p2 = solve_model(m2, method=sc.solver_method, time_limit_s=sc.time_limit_s, crossover=True,
                     extra=(stacked[:, n_x:], np.zeros(len(req)), up))
    if p2.status != "optimal":
        p2 = p1
    unmet = []
    for j, r in enumerate(req):
        s = float(slack[j])
        if s <= 1e-6:
            continue
        info = model.rows[r]
        unit, to_rep, rep_unit = ROW_UNITS[info.kind]
        if info.kind == "rate_target":
            at, y = info.key
            H_T = float(H[ap.areas.area_types == at].sum())
            target = sc.rate_targets[(at, y)]
            achievable = target - s * WAN / H_T
            zh_t, en_t = AREA_TYPE_LABELS[at]
            unmet.append({"kind": "rate_target", "area_type": at, "year": y, "target": target,
                          "achievable": achievable, "shortfall_m2": s * WAN,
                          "text_zh": f"{zh_t} {y} 年清洁取暖率目标 {target:.0%} 达不到，最多 {achievable:.1%}",
                          "text_en": f"{en_t} {y}: rate target {target:.0%} cannot be met; at most {achievable:.1%}"})
        elif info.kind == "tech_target":
            g, y = info.key
            unmet.append({"kind": "tech_target", "group": g, "year": y, "target_m2": sc.technology_min_m2[(g, y)],
                          "shortfall_m2": s * WAN,
                          "text_zh": f"{g} {y} 年取暖面积目标差 {s:.1f} 万m²",
                          "text_en": f"{g} {y}: area target short by {s * WAN:,.0f} m²"})
        else:
            p, y = info.key
            cap = sc.caps[(p, y)]
            over = s / CAP_SCALE[p]
            unmet.append({"kind": "cap", "pollutant": p, "year": y, "cap": cap, "lowest": cap + over,
                          "text_zh": f"{p} {y} 年排放上限 {cap:,.0f} 达不到，最低 {cap + over:,.0f}",
                          "text_en": f"{p} {y}: cap {cap:,.0f} cannot be met; lowest {cap + over:,.0f}"})
    # which hard limits hold the shortfall up: non-zero duals in phase 1
    names = _names(ap)
    limits = []
    for r, info in enumerate(model.rows):
        if info.requirement or info.kind == "convertible":
            continue
        dual = float(p1.row_dual[r])
        if abs(dual) <= 1e-7:
            continue
        unit, to_rep, rep_unit = ROW_UNITS[info.kind]
        zh, en = _row_label(info, names)
        limits.append({"kind": info.kind, "key": list(info.key), "label_zh": zh, "label_en": en,
                       "limit": info.rhs * to_rep, "unit": rep_unit, "row_unit": unit,
                       # percentage points of total shortfall removed by one more row unit of the limit
                       "shortfall_reduction_per_unit": -dual if info.sense == "<=" else dual})
    limits.sort(key=lambda d: -abs(d["shortfall_reduction_per_unit"]))
    exhausted: dict[str, dict] = {}
    for r, info in enumerate(model.rows):
        if info.kind == "convertible" and abs(float(p1.row_dual[r])) > 1e-7:
            a = ap.areas.index(info.key[0])
            at = str(ap.areas.area_types[a])
            e = exhausted.setdefault(at, {"areas": 0, "area_m2": 0.0})
            e["areas"] += 1
            e["area_m2"] += float(H[a])
    no_option = {}
    cand = ap.available & ~ap.opts.status_quo[None, :] & ap.opts.clean[None, :]
    stuck = (model.dirty > 1e-9) & ~cand.any(axis=1)
    for at in AREA_TYPES:
        m_ = stuck & (ap.areas.area_types == at)
        if m_.any():
            no_option[at] = {"areas": int(m_.sum()), "area_m2": float((H * model.dirty)[m_].sum())}
    parts_zh = [u["text_zh"] for u in unmet]
    if limits:
        parts_zh.append("起约束作用的限制: " + "、".join(x["label_zh"] for x in limits[:8]))
    if exhausted:
        parts_zh.append("已全部改造的区域: " + "、".join(f"{AREA_TYPE_LABELS[k][0]} {v['areas']} 个"
                                                       for k, v in exhausted.items()))
    if no_option:
        parts_zh.append("没有可用清洁方式的区域: " + "、".join(f"{AREA_TYPE_LABELS[k][0]} {v['areas']} 个"
                                                          for k, v in no_option.items()))
    parts_en = [u["text_en"] for u in unmet]
    if limits:
        parts_en.append("binding limits: " + ", ".join(x["label_en"] for x in limits[:8]))
    if exhausted:
        parts_en.append("areas already fully converted: "
                        + ", ".join(f"{k} {v['areas']}" for k, v in exhausted.items()))
    if no_option:
        parts_en.append("areas without any available clean option: "
                        + ", ".join(f"{k} {v['areas']}" for k, v in no_option.items()))
    return p2, {"unmet": unmet, "binding_limits": limits, "fully_converted": exhausted,
                "no_clean_option": no_option, "total_shortfall_pct": short,
                "summary_zh": "；".join(parts_zh), "summary_en": "; ".join(parts_en)}


def optimise(ap: Appraisal, sc: Scenario, on_stage: Callable[[str, PathwayModel | None], None] | None = None
             ) -> PathwayResult:
    """Build, solve and interpret; an infeasible scenario returns the closest pathway with an explanation.
    ``on_stage(name, model)`` is called before each stage (``build``, ``solve``, ``explain``, ``interpret``)."""
    stage = on_stage or (lambda _name, _model: None)
    stage("build", None)
    model = build_model(ap, sc)
    stage("solve", model)
    raw = solve_model(model, method=sc.solver_method, time_limit_s=sc.time_limit_s, crossover=sc.crossover)
    if raw.status == "optimal":
        stage("interpret", model)
        return interpret(model, ap, sc, raw)
    stage("explain", model)
    closest, why = explain_infeasibility(model, ap, sc)
    n = model.n_col
    x = closest.col_value[:n]
    closest = replace(closest, col_value=x, row_value=model.matrix @ x, row_dual=np.zeros(model.n_row))
    stage("interpret", model)
    return interpret(model, ap, sc, closest, infeasibility=why, status="infeasible")
