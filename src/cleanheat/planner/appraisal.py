"""Per-area appraisal of every option: levelised cost of heat, household cost, upfront cost, emissions.

Pure and vectorised: one call evaluates all areas × options as numpy arrays (floats, 元). Money is turned into
``Decimal`` rounded to the fen once, where a result leaves the core (:func:`area_view`, the pathway result).

Formulas (DOMAIN §6.4, every input from the catalogue):

* heat [GJ/yr]            = Σ_class area_m2 × q_design × heat_gj_per_w_m2   (hourly weather, ``demand.py``)
* fuel [GJ/yr]            = heat / η  (η = seasonal efficiency, constant COP, or load-weighted hourly ASHP COP)
* capex [元]              = capex_yuan_m2 × area + capex_yuan_household × households
                            + network_extension_yuan_km × distance to the network
* annual capital [元/yr]  = capex × CRF(i, n),  CRF = i(1+i)^n / ((1+i)^n − 1)   (0 for the status quo: sunk)
* O&M [元/yr]             = om_yuan_m2 × area + om_yuan_household × households
* energy [元/yr]          = fuel × price_per_unit / gj_per_unit
* LCOH [元/GJ]            = (annual capital + O&M + energy) / heat
* household [元/户·季]    = ((capex − subsidy) × CRF(i_household, n) + O&M + energy) / households
* emissions               = fuel × (fuel factor + on-site factor);  CO2 in t, PM/SO2/NOx in kg
* gas [10⁴ m³/yr]         = fuel / gj_per_unit / 10⁴ for gas;   grid [MW] = design load × grid_load_factor / COP_design
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

import numpy as np

from cleanheat.planner.areas import AreaSet
from cleanheat.planner.catalogue import Catalogue
from cleanheat.planner.demand import ClimateProfile

FEN = Decimal("0.01")
EMISSIONS = ("co2_t", "pm_kg", "so2_kg", "nox_kg")
EMISSION_LABELS = {"co2_t": ("二氧化碳", "CO2", "t"), "pm_kg": ("颗粒物", "PM", "kg"),
                   "so2_kg": ("二氧化硫", "SO2", "kg"), "nox_kg": ("氮氧化物", "NOx", "kg")}
#: Why an option is not available in an area.
REASONS = {
    0: ("可用", "available"),
    1: ("情景中排除", "excluded by the scenario"),
    2: ("不适用于该区域类型", "not used in this area type"),
    3: ("无天然气管网", "no gas main"),
    4: ("距热网过远", "too far from the heating network"),
    5: ("缺少所需的本地资源", "the local resource it needs is missing"),
    6: ("现状方式（仅保留现有）", "status quo (only kept where it exists)"),
}


def money(x: float) -> Decimal:
    """A float amount [元] as Decimal rounded to the fen (the one rounding step of the planner)."""
    return Decimal(repr(float(x))).quantize(FEN, rounding=ROUND_HALF_UP)


def crf(rate: float, years: np.ndarray | float) -> np.ndarray:
    """Capital recovery factor i(1+i)^n / ((1+i)^n − 1); 1/n when i = 0."""
    n = np.asarray(years, dtype=float)
    if rate == 0:
        return 1.0 / n
    g = (1.0 + rate) ** n
    return rate * g / (g - 1.0)


@dataclass(frozen=True)
class OptionArrays:
    """Per-option vectors (index ``o``), from the catalogue and the climate."""

    codes: tuple[str, ...]
    clean: np.ndarray
    status_quo: np.ndarray
    group: tuple[str, ...]
    carrier: tuple[str, ...]
    seasonal_eff: np.ndarray  # η, or seasonal COP
    design_eff: np.ndarray  # η, or COP at the design temperature
    price_yuan_gj: np.ndarray  # per GJ of fuel
    co2_kg_gj: np.ndarray
    local_g_gj: np.ndarray  # (O, 3) PM/SO2/NOx per GJ fuel, fuel + on-site
    onsite_g_gj: np.ndarray  # (O, 3) on-site part
    gas_1e4_m3_gj: np.ndarray
    grid_factor: np.ndarray
    crf: np.ndarray
    crf_household: np.ndarray


@dataclass(frozen=True)
class Appraisal:
    """All areas × options (arrays shaped (A, O) unless stated)."""

    areas: AreaSet
    catalogue: Catalogue
    opts: OptionArrays
    discount_rate: float
    heat_gj: np.ndarray  # (A,)
    design_kw: np.ndarray  # (A,)
    available: np.ndarray  # bool
    reason: np.ndarray  # int, see REASONS
    fuel_gj: np.ndarray
    capex_yuan: np.ndarray  # excluding network extension
    network_yuan: np.ndarray  # network extension
    subsidy_yuan: np.ndarray
    annual_capital_yuan: np.ndarray
    annual_network_yuan: np.ndarray
    om_yuan: np.ndarray
    energy_yuan: np.ndarray
    emission_charge_yuan: np.ndarray
    household_cost_yuan: np.ndarray  # per household per season
    emissions: dict[str, np.ndarray]  # co2_t, pm_kg, so2_kg, nox_kg
    gas_1e4_m3: np.ndarray
    grid_mw: np.ndarray
    emission_prices: dict[str, float] = field(default_factory=dict)

    @property
    def upfront_yuan(self) -> np.ndarray:
        return self.capex_yuan + self.network_yuan

    @property
    def annual_cost_yuan(self) -> np.ndarray:
        """Financial annual cost [元/yr]: capital (incl. network) + O&M + energy."""
        return self.annual_capital_yuan + self.annual_network_yuan + self.om_yuan + self.energy_yuan

    @property
    def social_annual_cost_yuan(self) -> np.ndarray:
        """Annual cost used by the pathway optimiser: financial cost + emission charges (if priced)."""
        return self.annual_cost_yuan + self.emission_charge_yuan

    @property
    def running_cost_yuan(self) -> np.ndarray:
        """Annual cost of keeping an existing installation (capital sunk) [元/yr]."""
        return self.om_yuan + self.energy_yuan + self.emission_charge_yuan

    @property
    def lcoh_yuan_gj(self) -> np.ndarray:
        return self.annual_cost_yuan / self.heat_gj[:, None]


def option_arrays(catalogue: Catalogue, climate: ClimateProfile, discount_rate: float,
                  household_rate: float) -> OptionArrays:
    O = len(catalogue.options)
    se, de = np.zeros(O), np.zeros(O)
    price, co2, gas, grid, life = (np.zeros(O) for _ in range(5))
    local, onsite = np.zeros((O, 3)), np.zeros((O, 3))
    for i, o in enumerate(catalogue.options):
        f = catalogue.fuel_of(o)
        if o.cop_curve is not None:
            se[i], de[i] = climate.seasonal_cop(o.cop_curve), climate.design_cop(o.cop_curve)
        elif o.cop is not None:
            se[i] = de[i] = o.cop.value
        else:
            se[i] = de[i] = o.efficiency.value
        price[i] = f.price_yuan_per_gj
        co2[i] = f.co2_kg_per_gj.value
        onsite[i] = [o.pm_g_per_gj.value, o.so2_g_per_gj.value, o.nox_g_per_gj.value]
        local[i] = onsite[i] + [f.pm_g_per_gj.value, f.so2_g_per_gj.value, f.nox_g_per_gj.value]
        if f.carrier == "gas":
            gas[i] = 1.0 / (f.gj_per_unit.value * 1e4)
        if f.carrier == "electricity":
            grid[i] = o.grid_load_factor.value or 1.0
        life[i] = o.lifetime_years.value
    return OptionArrays(
        codes=catalogue.codes, clean=np.array([o.clean for o in catalogue.options]),
        status_quo=np.array([o.is_status_quo for o in catalogue.options]),
        group=tuple(o.group for o in catalogue.options),
        carrier=tuple(catalogue.fuel_of(o).carrier for o in catalogue.options), seasonal_eff=se, design_eff=de,
        price_yuan_gj=price, co2_kg_gj=co2, local_g_gj=local, onsite_g_gj=onsite, gas_1e4_m3_gj=gas,
        grid_factor=grid, crf=crf(discount_rate, life), crf_household=crf(household_rate, life),
    )


def availability(areas: AreaSet, catalogue: Catalogue, excluded: frozenset[str] = frozenset()) -> np.ndarray:
    """Reason code per area × option (0 = available; see REASONS)."""
    A, O = len(areas), len(catalogue.options)
    reason = np.zeros((A, O), dtype=np.int8)
    for o, opt in enumerate(catalogue.options):
        col = np.zeros(A, dtype=np.int8)
        av = opt.availability
        if opt.is_status_quo:
            col[areas.current_mix[:, o] <= 0] = 6
        else:  # the first reason that applies, most fundamental first
            if opt.code in excluded:
                col[:] = 1
            col[(col == 0) & ~np.isin(areas.area_types, list(av.area_types))] = 2
            if av.requires_gas:
                col[(col == 0) & ~areas.gas_available] = 3
            if av.max_network_distance_km is not None:
                col[(col == 0) & (areas.network_distance_km > av.max_network_distance_km)] = 4
            if av.requires_resource:
                has = np.array([av.requires_resource in r for r in areas.resources])
                col[(col == 0) & ~has] = 5
        reason[:, o] = col
    return reason


def appraise(areas: AreaSet, catalogue: Catalogue, climate: ClimateProfile, *, discount_rate: float | None = None,
             household_rate: float | None = None, emission_prices: dict[str, float] | None = None,
             excluded: frozenset[str] = frozenset()) -> Appraisal:
    """Appraise every option in every area (see the module docstring for the formulas)."""
    if areas.option_codes != catalogue.codes:
        raise ValueError("the area set was read with a different option catalogue")
    i = catalogue.finance["discount_rate"].value if discount_rate is None else discount_rate
    ih = catalogue.finance["household_discount_rate"].value if household_rate is None else household_rate
    opts = option_arrays(catalogue, climate, i, ih)
    q = np.array([b.q_design_w_m2.value for b in catalogue.buildings])
    cls_index = [catalogue.building_codes.index(c) for c in areas.class_codes]
    q_area = q[cls_index]
    heat = areas.area_by_class_m2 @ q_area * climate.heat_gj_per_w_m2
    design_kw = areas.area_by_class_m2 @ q_area / 1000.0
    H = areas.heated_area_m2[:, None]
    hh = areas.households[:, None]

    def vec(name: str) -> np.ndarray:
        return np.array([getattr(o, name).value for o in catalogue.options])[None, :]

    sq = opts.status_quo[None, :]
    capex = np.where(sq, 0.0, vec("capex_yuan_m2") * H + vec("capex_yuan_household") * hh)
    network = np.where(sq, 0.0, vec("network_extension_yuan_km") * areas.network_distance_km[:, None])
    subsidy = np.minimum(capex + network, vec("subsidy_yuan_m2") * H + vec("subsidy_yuan_household") * hh)
    fuel = heat[:, None] / opts.seasonal_eff[None, :]
    om = vec("om_yuan_m2") * H + vec("om_yuan_household") * hh
    energy = fuel * opts.price_yuan_gj[None, :]
    em = {
        "co2_t": fuel * opts.co2_kg_gj[None, :] / 1000.0,
        "pm_kg": fuel * opts.local_g_gj[None, :, 0] / 1000.0,
        "so2_kg": fuel * opts.local_g_gj[None, :, 1] / 1000.0,
        "nox_kg": fuel * opts.local_g_gj[None, :, 2] / 1000.0,
    }
    prices = {k: float(v) for k, v in (emission_prices or {}).items() if v}
    charge = np.zeros_like(fuel)
    for k, p in prices.items():
        unit = {"co2_yuan_t": "co2_t", "pm_yuan_kg": "pm_kg", "so2_yuan_kg": "so2_kg", "nox_yuan_kg": "nox_kg"}[k]
        charge = charge + em[unit] * p
    annual_capital = capex * opts.crf[None, :]
    annual_network = network * opts.crf[None, :]
    household = ((capex + network - subsidy) * opts.crf_household[None, :] + om + energy) / hh
    reason = availability(areas, catalogue, excluded)
    return Appraisal(
        areas=areas, catalogue=catalogue, opts=opts, discount_rate=i, heat_gj=heat, design_kw=design_kw,
        available=reason == 0, reason=reason, fuel_gj=fuel, capex_yuan=capex, network_yuan=network,
        subsidy_yuan=subsidy, annual_capital_yuan=annual_capital, annual_network_yuan=annual_network, om_yuan=om,
        energy_yuan=energy, emission_charge_yuan=charge, household_cost_yuan=household, emissions=em,
        gas_1e4_m3=fuel * opts.gas_1e4_m3_gj[None, :],
        grid_mw=design_kw[:, None] * opts.grid_factor[None, :] / opts.design_eff[None, :] / 1000.0,
        emission_prices=prices,
    )


def pareto_mask(cost: np.ndarray, pollution: np.ndarray) -> np.ndarray:
    """Non-dominated points: no other point is at most as costly and as polluting on every pollutant and
    strictly better on one. ``cost`` (n,), ``pollution`` (n, k)."""
    pts = np.column_stack([cost, pollution])
    n = len(pts)
    keep = np.ones(n, dtype=bool)
    for j in range(n):
        others = np.delete(pts, j, axis=0)
        dominated = np.any(np.all(others <= pts[j], axis=1) & np.any(others < pts[j], axis=1))
        keep[j] = not dominated
    return keep


@dataclass(frozen=True)
class OptionAppraisal:
    """One option in one area, ready to show (money as Decimal, fen)."""

    code: str
    name_zh: str
    name_en: str
    clean: bool
    status_quo: bool
    available: bool
    reason_zh: str
    reason_en: str
    lcoh_yuan_gj: Decimal
    household_cost_yuan: Decimal
    upfront_yuan: Decimal
    upfront_per_household_yuan: Decimal
    subsidy_yuan: Decimal
    annual_cost_yuan: Decimal
    cost_parts_yuan: dict[str, Decimal]
    cost_driver: str
    cost_driver_share: float
    emissions: dict[str, float]
    emission_driver: str
    efficiency: float
    gas_1e4_m3: float
    grid_mw: float
    rank: int | None = None  # among available clean options, by LCOH
    pareto: bool = False


def area_view(ap: Appraisal, a: int) -> list[OptionAppraisal]:
    """Every option in area ``a`` with the driver of its cost and of its pollution, ranks and the Pareto front."""
    cat = ap.catalogue
    rows = []
    parts_all = {"capital": ap.annual_capital_yuan[a], "network": ap.annual_network_yuan[a], "om": ap.om_yuan[a],
                 "energy": ap.energy_yuan[a]}
    hh = float(ap.areas.households[a])
    for o, opt in enumerate(cat.options):
        parts = {k: float(v[o]) for k, v in parts_all.items()}
        total = sum(parts.values())
        driver = max(parts, key=parts.get)
        onsite_pm = ap.opts.onsite_g_gj[o, 0]
        total_pm = ap.opts.local_g_gj[o, 0]
        if total_pm <= 0:
            e_driver = "none"
        elif onsite_pm >= total_pm / 2:
            e_driver = "onsite"
        else:
            e_driver = "upstream_power" if ap.opts.carrier[o] == "electricity" else "upstream_plant"
        zh, en = REASONS[int(ap.reason[a, o])]
        rows.append(OptionAppraisal(
            code=opt.code, name_zh=opt.name_zh, name_en=opt.name_en, clean=opt.clean, status_quo=opt.is_status_quo,
            available=bool(ap.available[a, o]), reason_zh=zh, reason_en=en,
            lcoh_yuan_gj=money(total / ap.heat_gj[a]), household_cost_yuan=money(ap.household_cost_yuan[a, o]),
            upfront_yuan=money(ap.upfront_yuan[a, o]), upfront_per_household_yuan=money(ap.upfront_yuan[a, o] / hh),
            subsidy_yuan=money(ap.subsidy_yuan[a, o]), annual_cost_yuan=money(total),
            cost_parts_yuan={k: money(v) for k, v in parts.items()}, cost_driver=driver,
            cost_driver_share=parts[driver] / total if total > 0 else 0.0,
            emissions={k: float(v[a, o]) for k, v in ap.emissions.items()}, emission_driver=e_driver,
            efficiency=float(ap.opts.seasonal_eff[o]), gas_1e4_m3=float(ap.gas_1e4_m3[a, o]),
            grid_mw=float(ap.grid_mw[a, o]),
        ))
    cand = [i for i, r in enumerate(rows) if r.available and (not r.status_quo)]
    sq_here = [i for i, r in enumerate(rows) if r.status_quo and r.available]
    pool = cand + sq_here
    if pool:
        cost = np.array([float(rows[i].lcoh_yuan_gj) for i in pool])
        pol = np.array([[rows[i].emissions[k] for k in EMISSIONS] for i in pool])
        mask = pareto_mask(cost, pol)
        from dataclasses import replace

        for j, i in enumerate(pool):
            rows[i] = replace(rows[i], pareto=bool(mask[j]))
        clean_sorted = sorted((i for i in cand if rows[i].clean), key=lambda i: rows[i].lcoh_yuan_gj)
        for r_, i in enumerate(clean_sorted, start=1):
            rows[i] = replace(rows[i], rank=r_)
    return rows
