"""Reproducible synthetic quarterly reports and heat-source registry for the demo city (pure, seeded).

Everything here is SYNTHETIC (labelled so in the database and on every page that shows it). It is built to be
consistent with the plan's 2018 baseline (heated and clean area per area type sum to the plan's figures in
2018) and plausible against the targets: most units follow the yearly targets, a few lag (seeded).
"""

from __future__ import annotations

import random
from collections import defaultdict
from dataclasses import dataclass
from datetime import date

from cleanheat.assets.heat_sources import SourceInput
from cleanheat.programme.model import AREA_TYPES, Period, PlanData
from cleanheat.programme.reports_io import ParsedReport

SEED = 2019
WAN = 10_000

# Share of each area type's heated area per unit (synthetic weights; normalised over units having the type).
_WEIGHTS = {
    "urban": {"daoli": 0.20, "nangang": 0.23, "daowai": 0.15, "pingfang": 0.06, "songbei": 0.11, "xiangfang": 0.25},
    "county_fringe": {"daoli": 0.04, "nangang": 0.03, "daowai": 0.04, "pingfang": 0.02, "songbei": 0.05,
                      "xiangfang": 0.04, "hulan": 0.09, "acheng": 0.08, "shuangcheng": 0.09, "yilan": 0.05,
                      "fangzheng": 0.04, "binxian": 0.06, "bayan": 0.05, "mulan": 0.03, "tonghe": 0.03,
                      "yanshou": 0.03, "shangzhi": 0.07, "wuchang": 0.07},
    "rural": {"daoli": 0.02, "nangang": 0.01, "daowai": 0.02, "pingfang": 0.01, "songbei": 0.03, "xiangfang": 0.02,
              "hulan": 0.09, "acheng": 0.07, "shuangcheng": 0.11, "yilan": 0.06, "fangzheng": 0.04, "binxian": 0.08,
              "bayan": 0.08, "mulan": 0.04, "tonghe": 0.04, "yanshou": 0.05, "shangzhi": 0.11, "wuchang": 0.12},
}

# How the clean and non-clean area of each type splits over technologies (synthetic, shaped by the plan's
# 2018 energy mix §一(一)3 and the heating sources it describes §一(一)2).
_CLEAN_MIX_2018 = {
    "urban": {"coal_chp_ultralow": 0.80, "coal_boiler_ultralow": 0.114, "gas": 0.015, "electric": 0.01,
              "waste_heat": 0.022, "geothermal": 0.005, "biomass": 0.034},
    "county_fringe": {"coal_boiler_ultralow": 0.42, "coal_chp_ultralow": 0.17, "biomass": 0.33, "gas": 0.04,
                      "electric": 0.04},
    "rural": {"biomass": 0.78, "electric": 0.12, "solar": 0.08, "geothermal": 0.02},
}
_DIRTY_MIX_2018 = {
    "urban": {"coal_boiler": 0.95, "loose_coal": 0.05},
    "county_fringe": {"coal_boiler": 0.70, "loose_coal": 0.30},
    "rural": {"loose_coal": 0.93, "coal_briquette": 0.07},
}
# Where newly clean area comes from (shares of the yearly gain).
_GAIN_MIX = {
    "urban": {"coal_chp_ultralow": 0.55, "coal_boiler_ultralow": 0.365, "gas": 0.02, "electric": 0.002,
              "waste_heat": 0.05, "geothermal": 0.003, "biomass": 0.01},
    "county_fringe": {"coal_boiler_ultralow": 0.52, "coal_chp_ultralow": 0.20, "biomass": 0.20, "gas": 0.05,
                      "electric": 0.03},
    "rural": {"biomass": 0.82, "electric": 0.10, "geothermal": 0.02, "solar": 0.06},
}
# Units that lag behind the targets in the demo (performance factor on the yearly gain).
_LAGGARDS = {"daowai": 0.80, "tonghe": 0.70, "yanshou": 0.75, "bayan": 0.85}
_AHEAD = {"songbei": 1.08, "pingfang": 1.05, "shuangcheng": 1.06}
# Heated area grows by new construction (synthetic, per year).
_GROWTH_PER_YEAR = {"urban": 0.015, "county_fringe": 0.01, "rural": 0.0}
# Within a year, share of the year's clean gain reached by the end of Q1..Q4 (works happen before the season).
_QUARTER_PROGRESS = {1: 0.05, 2: 0.20, 3: 0.65, 4: 1.0}


@dataclass(frozen=True)
class SyntheticReport:
    org_code: str
    org_name: str
    admin_unit_code: str | None
    period: Period
    areas: dict[tuple[str, str], float]
    tasks: dict[str, float]

    def as_parsed(self) -> ParsedReport:
        totals = defaultdict(float)
        for (at, _), a in self.areas.items():
            totals[at] += a
        return ParsedReport(self.org_code, self.org_name, self.admin_unit_code, self.period,
                            filename="synthetic-demo", sha256="", areas=dict(self.areas), tasks=dict(self.tasks),
                            stated_total_m2=dict(totals))


def _baseline_by_unit(plan: PlanData, rng: random.Random) -> dict[tuple[str, str], tuple[float, float]]:
    """(unit, area_type) -> (heated m², clean m²) in 2018, summing exactly to the plan's baseline."""
    out = {}
    for at in AREA_TYPES:
        base = plan.baseline(at)
        units = [u for u in plan.units if at in u.area_types]
        w = {u.code: _WEIGHTS[at].get(u.code, 0.02) for u in units}
        tot_w = sum(w.values())
        heated = {c: base.heated_area_m2 * v / tot_w for c, v in w.items()}
        raw_rate = {c: max(0.01, base.rate * rng.uniform(0.7, 1.3)) for c in heated}
        raw_clean = {c: heated[c] * raw_rate[c] for c in heated}
        scale = base.clean_area_m2 / sum(raw_clean.values())
        for c in heated:
            out[(c, at)] = (heated[c], min(heated[c], raw_clean[c] * scale))
    return out


def _target_rate(plan: PlanData, at: str, year: int, baseline_rate: float) -> float:
    t = plan.rate_target(at, year)
    return baseline_rate if t is None else t


def synthesise_reports(plan: PlanData, org_names: dict[str, str], seed: int = SEED) -> list[SyntheticReport]:
    """Quarterly reports for every unit (areas + unit tasks) and for the heat companies (network tasks)."""
    rng = random.Random(seed)
    base = _baseline_by_unit(plan, rng)
    reports: list[SyntheticReport] = []
    perf = {u.code: _LAGGARDS.get(u.code, _AHEAD.get(u.code, rng.uniform(1.02, 1.10))) for u in plan.units}
    for u in plan.units:
        org = f"gov-{u.code}"
        for period in plan.periods():
            areas: dict[tuple[str, str], float] = {}
            for at in u.area_types:
                heated0, clean0 = base[(u.code, at)]
                r0 = clean0 / heated0
                years_since = period.year - plan.baseline_year - 1 + _QUARTER_PROGRESS[period.quarter]
                heated = heated0 * (1 + _GROWTH_PER_YEAR[at]) ** max(0.0, years_since)
                prev_goal = _target_rate(plan, at, period.year - 1, r0) if period.year > plan.start_year else r0
                goal = _target_rate(plan, at, period.year, r0)
                # Units start from their own baseline and close the distance to the area-type target.
                prev_rate = r0 + (max(prev_goal, r0) - r0) * (perf[u.code] if period.year > plan.start_year else 0)
                year_goal = r0 + (max(goal, r0) - r0) * perf[u.code]
                rate = prev_rate + (year_goal - prev_rate) * _QUARTER_PROGRESS[period.quarter]
                rate = min(rate, 0.985)
                clean = heated * rate
                gain = max(0.0, clean - clean0 * heated / heated0)
                for tech, share in _CLEAN_MIX_2018[at].items():
                    areas[(at, tech)] = areas.get((at, tech), 0.0) + clean0 * heated / heated0 * share
                for tech, share in _GAIN_MIX[at].items():
                    areas[(at, tech)] = areas.get((at, tech), 0.0) + gain * share
                dirty = heated - clean
                for tech, share in _DIRTY_MIX_2018[at].items():
                    areas[(at, tech)] = areas.get((at, tech), 0.0) + dirty * share
            areas = {k: round(v / WAN, 2) * WAN for k, v in areas.items() if v > 0}
            tasks = _unit_tasks(plan, u.code, u.area_types, period, perf[u.code], rng)
            reports.append(SyntheticReport(org, org_names.get(org, org), u.code, period, areas, tasks))
    reports.extend(_company_reports(plan, org_names, rng))
    return reports


def _progress(plan: PlanData, period: Period, deadline: int) -> float:
    """Straight-line share of a multi-year task done by ``period`` (works done before each season)."""
    total_q = (deadline - plan.start_year + 1) * 4
    done = (period.year - plan.start_year) * 4 + period.quarter
    return min(1.0, done / total_q)


def _unit_tasks(plan: PlanData, unit: str, area_types: tuple[str, ...], period: Period, perf: float,
                rng: random.Random) -> dict[str, float]:
    """Unit-reported tasks (stoves, biomass projects, building retrofits, metering shares): a unit's share."""
    n_rural = sum(1 for u in plan.units if "rural" in u.area_types)
    n_all = len(plan.units)
    out = {}
    if "rural" in area_types:
        later = max(0.0, period.year - plan.start_year - 1 + period.quarter / 4) if period.year > plan.start_year else 0
        out["biomass_household_stoves"] = round(20000 / n_rural * min(perf, 1.05) * _progress(plan, period, 2019)
                                                + 3000 / n_rural * later)
    share = 1 / n_all
    for code, total, deadline in (("biomass_chp_projects", 18, 2020), ("straw_biogas_chp_projects", 9, 2020)):
        if "rural" in area_types and unit not in ("daoli", "nangang", "pingfang"):
            out[code] = float(int(total * share * 1.25 * _progress(plan, period, deadline) * perf + 0.5))
    out["existing_building_retrofit_area"] = round(6.1e6 * share * _progress(plan, period, 2021) * perf / WAN, 1) * WAN
    out["public_building_metered_share"] = round(min(1.0, 0.55 + 0.45 * _progress(plan, period, 2021) * perf), 3)
    if "urban" in area_types:
        out["new_residential_75_share"] = round(min(1.0, 0.4 + 0.6 * _progress(plan, period, 2020) * perf), 3)
    return out


_COMPANY_SHARES = {"htjt": 0.34, "taiping": 0.16, "hasan": 0.14, "veolia": 0.10, "huaneng": 0.08, "jieneng": 0.06,
                   "suibao": 0.05, "shengrui": 0.04, "hongda": 0.03}
_COMPANY_PERF = {"hasan": 0.82, "jieneng": 0.9}


def _company_reports(plan: PlanData, org_names: dict[str, str], rng: random.Random) -> list[SyntheticReport]:
    out = []
    targets = {t.code: t for t in plan.tasks}
    for org, share in _COMPANY_SHARES.items():
        perf = _COMPANY_PERF.get(org, 1.03)
        for period in plan.periods():
            tasks = {}
            for code in ("network_renovation_km", "stations_renovated"):
                spec = targets[code]
                # Cumulative path through the yearly milestones.
                prev, value = 0.0, 0.0
                for t in spec.targets:
                    if t.year < period.year:
                        prev = t.value
                    elif t.year == period.year:
                        value = prev + (t.value - prev) * _QUARTER_PROGRESS[period.quarter]
                tasks[code] = round(value * share * perf, 1 if code.endswith("km") else 0)
            smart = 1.0e7 * share * _progress(plan, period, 2021) * perf
            tasks["smart_heating_area"] = round(smart / WAN, 1) * WAN
            out.append(SyntheticReport(org, org_names.get(org, org), None, period, {}, tasks))
    return out


# --- registry -------------------------------------------------------------------------------------------------

_LARGE_OWNERS_URBAN = ("veolia", "huaneng", "htjt", "jieneng")
_LARGE_OWNERS_COUNTY = ("suibao", "shengrui", "hongda")
_LARGE_CAPS = (35, 58, 75, 116, 130, 220, 410, 420)


def _quarter_date(rng: random.Random, year: int, quarter: int) -> date:
    month = (quarter - 1) * 3 + rng.randint(1, 3)
    return date(year, month, rng.randint(1, 28))


def synthesise_registry(plan: PlanData, seed: int = SEED) -> tuple[list[SourceInput], list[tuple[str, str, date, str]]]:
    """Heat sources and events so that the boiler tasks can be counted from the registry (some behind)."""
    rng = random.Random(seed + 1)
    sources: list[SourceInput] = []
    events: list[tuple[str, str, date, str]] = []
    urban_units = [u.code for u in plan.units if "urban" in u.area_types]
    county_units = [u.code for u in plan.units if "county_fringe" in u.area_types and "urban" not in u.area_types]
    all_units = [u.code for u in plan.units]

    def add(code, name, owner, unit, at, kind, fuel, cap, cls="ordinary", area=0.0):  # noqa: ANN001, ANN202
        sources.append(SourceInput(code=code, name_zh=name, owner_org_code=owner, admin_unit_code=unit, area_type=at,
                                   kind=kind, fuel=fuel, capacity_t_h=float(cap), emission_class=cls,
                                   commissioned_year=rng.randint(1995, 2016), served_area_m2=area,
                                   note="合成演示数据 synthetic demo"))

    # Ultra-low retrofits of large coal boilers: 212 urban + 66 county; 72 (10185 t/h) in 2019.
    large = []
    for i in range(212):
        owner = _LARGE_OWNERS_URBAN[i % 4]
        cap = rng.choice(_LARGE_CAPS)
        large.append((f"SYN-UL-U{i + 1:03d}", owner, rng.choice(urban_units), "urban", cap))
    for i in range(66):
        owner = _LARGE_OWNERS_COUNTY[i % 3]
        cap = rng.choice((35, 40, 58, 75, 116))
        large.append((f"SYN-UL-C{i + 1:03d}", owner, rng.choice(county_units), "county_fringe", cap))
    rng.shuffle(large)
    first = sorted(large[:72], key=lambda x: x[0])
    # Scale the 2019 boilers' capacities so that they total the plan's 10185 t/h.
    s = sum(x[4] for x in first)
    scaled = {x[0]: max(35.0, round(x[4] * 10185 / s)) for x in first}
    diff = 10185 - sum(scaled.values())
    scaled[first[0][0]] += diff
    done_by = {}
    rest = large[72:]
    # 2020-2021: most of the rest, a few urban boilers still pending at the end of 2021 (behind target).
    pending = {x[0] for x in rest if x[3] == "urban"}
    pending = set(sorted(pending)[:9])
    for x in first:
        done_by[x[0]] = _quarter_date(rng, 2019, rng.choice((2, 3)))
    for x in rest:
        if x[0] in pending:
            continue
        year = rng.choice((2020, 2020, 2021))
        done_by[x[0]] = _quarter_date(rng, year, rng.choice((2, 3)))
    for code, owner, unit, at, cap in large:
        cap = scaled.get(code, cap)
        kind = "chp" if cap >= 220 else "coal_boiler"
        add(code, f"{'热电机组' if kind == 'chp' else '燃煤锅炉'}{code[-4:]}", owner, unit, at, kind, "coal", cap,
            area=cap * 0.7 * 1e6 / 50.0)  # ~50 W/m² design load: served area from capacity (synthetic)
        if code in done_by:
            events.append((code, "ultra_low_retrofitted", done_by[code], "合成演示数据"))

    # Demolitions of small coal boilers (< 35 t/h): urban 84 (2400 t/h), county/rural 664 (1200 t/h).
    def smalls(prefix, n, total_cap, ats, units, done_share, years):  # noqa: ANN001, ANN202
        caps = [rng.uniform(0.5, 1.5) for _ in range(n)]
        k = total_cap / sum(caps)
        for i in range(n):
            unit = rng.choice(units)
            at = rng.choice([a for a in ats if a in plan.unit(unit).area_types])
            code = f"{prefix}{i + 1:03d}"
            add(code, f"小型燃煤锅炉{code[-4:]}", f"gov-{unit}", unit, at, "coal_boiler", "coal",
                min(34.0, round(caps[i] * k, 1)))
            if rng.random() < done_share:
                events.append((code, "demolished", _quarter_date(rng, rng.choice(years), rng.choice((2, 3))),
                               "合成演示数据"))

    smalls("SYN-DM-U", 84, 2400, ("urban",), urban_units, 0.96, (2019, 2019, 2020))
    smalls("SYN-DM-C", 664, 1200, ("county_fringe", "rural"), county_units, 0.9, (2019, 2020, 2021))

    # 2019 conversions: 17 coal->gas (58 t/h), 405 coal->electric (388 t/h), 111 coal->biomass (170 t/h).
    for prefix, n, total, event, share in (("SYN-CG-", 17, 58, "converted_gas", 1.0),
                                           ("SYN-CE-", 405, 388, "converted_electric", 0.97),
                                           ("SYN-CB-", 111, 170, "converted_biomass", 0.93)):
        caps = [rng.uniform(0.5, 1.5) for _ in range(n)]
        k = total / sum(caps)
        for i in range(n):
            unit = rng.choice(all_units)
            at = rng.choice(plan.unit(unit).area_types)
            code = f"{prefix}{i + 1:03d}"
            add(code, f"燃煤锅炉{code[-4:]}", f"gov-{unit}", unit, at, "coal_boiler", "coal", round(caps[i] * k, 2))
            if rng.random() < share:
                events.append((code, event, _quarter_date(rng, 2019, rng.choice((2, 3))), "合成演示数据"))

    # 2020: HIG's 19 gas peak-load boilers (610 t/h).
    caps = [rng.uniform(0.8, 1.2) for _ in range(19)]
    k = 610 / sum(caps)
    for i in range(19):
        code = f"SYN-GP-{i + 1:03d}"
        add(code, f"燃气调峰锅炉{i + 1}#", "htjt", rng.choice(urban_units), "urban", "gas_boiler", "gas",
            round(caps[i] * k, 1))
        if i < 18:
            events.append((code, "commissioned", _quarter_date(rng, 2020, rng.choice((2, 3))), "合成演示数据"))
    return sources, events
