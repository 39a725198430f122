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
from cleanheat.units import M2_PER_WAN

SEED = 2019
WAN = M2_PER_WAN

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
    "rural": {"loose_coal": 0.88, "coal_briquette": 0.07, "coal_boiler": 0.05},
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
#
# The registry agrees with the reports: at the reference period (the last quarter of the programme) the served
# area of the registered sources in service, per unit x area type x technology, equals what the unit reports for
# that technology (REGISTERED_TECHS; the other technologies — loose coal, briquettes, solar, geothermal, waste
# heat — are household appliances or projects, not registered boilers). A CHP unit's served area follows from its
# heat output: capacity_mw is the heat it supplies and served_area_m2 = capacity_mw / CHP_DESIGN_LOAD_W_M2.

REGISTERED_TECHS = ("coal_chp_ultralow", "coal_boiler_ultralow", "coal_boiler", "gas", "electric", "biomass")
REFERENCE_PERIOD = Period(2021, 4)
#: design heat load of the buildings a CHP unit serves [W/m²] (synthetic; Harbin 40-60 W/m², DOMAIN.md §5.5)
CHP_DESIGN_LOAD_W_M2 = 45.0
#: served area of a boiler already removed at the reference period, per t/h: 0.7 MW at ~50 W/m² (synthetic)
_RETIRED_AREA_PER_T_H = 0.7e6 / 50.0
_LARGE_OWNERS_URBAN = ("veolia", "huaneng", "htjt", "jieneng")
_LARGE_OWNERS_COUNTY = ("suibao", "shengrui", "hongda")
_LARGE_CAPS = (35, 58, 75, 116, 130, 220, 410, 420)
_NOTE = "合成演示数据 synthetic demo"
_FUEL_OF_EVENT = {"converted_gas": "gas", "converted_electric": "electric", "converted_biomass": "biomass"}
_RETIRING = ("demolished", "connected_network")


@dataclass
class _Proto:
    """A source before it is placed in a unit: what decides its technology at the reference period."""

    code: str
    name: str
    owner: str
    area_type: str
    kind: str
    fuel: str
    cap_t_h: float
    events: list[tuple[str, date]]
    unit: str | None = None
    vintage: str = "existing"
    year: int | None = None
    heat_mw: float | None = None
    area_m2: float = 0.0
    cls: str = "ordinary"

    def tech_at(self, day: date) -> str | None:
        """The report technology this source's area counts under on ``day`` (None: not in service)."""
        done = [e for e, d in self.events if d <= day]
        if any(e in _RETIRING for e in done) or ("commissioned" in [e for e, _ in self.events]
                                                 and "commissioned" not in done):
            return None
        for e in reversed(done):
            if e in _FUEL_OF_EVENT:
                return _FUEL_OF_EVENT[e]
        if self.fuel != "coal":
            return {"gas": "gas", "biomass": "biomass", "electricity": "electric"}[self.fuel]
        if self.kind == "chp":
            return "coal_chp_ultralow"
        return "coal_boiler_ultralow" if "ultra_low_retrofitted" in done or self.cls == "ultra_low" else "coal_boiler"


def _quarter_date(rng: random.Random, year: int, quarter: int) -> date:
    month = (quarter - 1) * 3 + rng.randint(1, 3)
    return date(year, month, rng.randint(1, 28))


def _large_boilers(rng: random.Random) -> list[_Proto]:
    """Ultra-low retrofits of coal boilers >= 35 t/h: 212 urban + 66 county; 72 (10185 t/h) in 2019; nine urban
    boilers still pending at the end of 2021 (behind the target)."""
    large = []
    for i in range(212):
        cap = rng.choice(_LARGE_CAPS)
        large.append(_Proto(f"SYN-UL-U{i + 1:03d}", "", _LARGE_OWNERS_URBAN[i % 4], "urban", "coal_boiler", "coal",
                            cap, []))
    for i in range(66):
        owner, cap = _LARGE_OWNERS_COUNTY[i % 3], rng.choice((35, 40, 58, 75, 116))
        large.append(_Proto(f"SYN-UL-C{i + 1:03d}", "", owner, "county_fringe", "coal_boiler", "coal", cap, []))
    order = list(large)
    rng.shuffle(order)
    first = sorted(order[:72], key=lambda x: x.code)
    total = sum(x.cap_t_h for x in first)
    for x in first:  # the 2019 boilers total the plan's 10185 t/h
        x.cap_t_h = max(35.0, round(x.cap_t_h * 10185 / total))
    first[0].cap_t_h += 10185 - sum(x.cap_t_h for x in first)
    rest = order[72:]
    pending = set(sorted(x.code for x in rest if x.area_type == "urban" and x.kind == "coal_boiler")[:9])
    for x in first:
        x.events.append(("ultra_low_retrofitted", _quarter_date(rng, 2019, rng.choice((2, 3)))))
    for x in rest:
        if x.code not in pending:
            year = rng.choice((2020, 2020, 2021))
            x.events.append(("ultra_low_retrofitted", _quarter_date(rng, year, rng.choice((2, 3)))))
    for x in large:
        x.name = f"{'热电机组' if x.kind == 'chp' else '燃煤锅炉'}{x.code[-4:]}"
        x.year = rng.randint(1995, 2013)
    return large


#: The coal CHP units of the plan's named heat-source companies (§三(一)1): owner, area type, units, t/h each.
#: Their area counts as clean coal in the plan's 2018 baseline, so they are registered ultra-low before the
#: programme (the national ultra-low retrofit of coal power units, 2015-2018); the 212 + 66 boilers >= 35 t/h
#: the plan retrofits in 2019-2021 are the companies' heating boilers.
_CHP_UNITS = (("veolia", "urban", 4, 420.0), ("huaneng", "urban", 4, 670.0), ("htjt", "urban", 4, 410.0),
              ("jieneng", "urban", 3, 220.0), ("suibao", "county_fringe", 2, 220.0),
              ("hongda", "county_fringe", 2, 130.0))


def _chp_units(rng: random.Random) -> list[_Proto]:
    out = []
    for owner, area_type, n, cap in _CHP_UNITS:
        for k in range(n):
            code = f"SYN-CHP-{owner.upper()}-{k + 1}"
            out.append(_Proto(code, f"热电机组 {owner} #{k + 1}", owner, area_type, "chp", "coal", cap,
                              [("ultra_low_retrofitted", _quarter_date(rng, rng.choice((2017, 2018)), 3))],
                              year=rng.randint(1990, 2012)))
    return out


def _capacities(rng: random.Random, n: int, total_t_h: float, spread: float, digits: int) -> list[float]:
    """``n`` capacities [t/h] around the mean, rounded to ``digits``, summing exactly to ``total_t_h``."""
    raw = [rng.uniform(1 - spread, 1 + spread) for _ in range(n)]
    k = total_t_h / sum(raw)
    caps = [round(r * k, digits) for r in raw]
    caps[-1] = round(caps[-1] + total_t_h - sum(caps), digits)
    return caps


def _small_boilers(rng: random.Random, prefix: str, n: int, total_t_h: float, area_types: tuple[str, ...],
                   done_share: float, years: tuple[int, ...], removals: tuple[tuple[str, float], ...]) -> list[_Proto]:
    """Coal boilers below 35 t/h to remove: demolished or connected to the network (并网)."""
    out = []
    for i, cap in enumerate(_capacities(rng, n, total_t_h, 0.15 if total_t_h / n > 20 else 0.5, 1)):
        code = f"{prefix}{i + 1:03d}"
        p = _Proto(code, f"小型燃煤锅炉{code[-4:]}", "", rng.choice(area_types), "coal_boiler", "coal", cap, [],
                   year=rng.randint(1995, 2013))
        if rng.random() < done_share:
            event = rng.choices([e for e, _ in removals], weights=[w for _, w in removals])[0]
            p.events.append((event, _quarter_date(rng, rng.choice(years), rng.choice((2, 3)))))
        out.append(p)
    return out


#: 2019 conversions (§三(一)2-4): prefix, boilers, t/h, event, share done
CONVERSIONS = (("SYN-CG-", 17, 58, "converted_gas", 1.0), ("SYN-CE-", 405, 388, "converted_electric", 0.97),
               ("SYN-CB-", 111, 170, "converted_biomass", 0.93))


def _conversions(rng: random.Random) -> list[_Proto]:
    """2019: 17 coal->gas (58 t/h), 405 coal->electric (388 t/h), 111 coal->biomass (170 t/h). They are part of the
    664 county/fringe and rural boilers below 35 t/h the plan removes (the urban ones are 10-35 t/h)."""
    out = []
    for prefix, n, total, event, share in CONVERSIONS:
        for i, cap in enumerate(_capacities(rng, n, total, 0.5, 2)):
            code = f"{prefix}{i + 1:03d}"
            ats = ("county_fringe",) if event == "converted_gas" else ("county_fringe", "rural")  # no rural gas
            p = _Proto(code, f"燃煤锅炉{code[-4:]}", "", rng.choice(ats), "coal_boiler",
                       "coal", cap, [], year=rng.randint(1995, 2013))
            if rng.random() < share:
                p.events.append((event, _quarter_date(rng, 2019, rng.choice((2, 3)))))
            out.append(p)
    return out


def _new_sources(rng: random.Random) -> list[_Proto]:
    """HIG's 19 gas peak-load boilers (610 t/h), new boilers (GB 13271-2014 table 2): 18 in 2020, one in 2021;
    and one new coal boiler commissioned in 2020 that is not ultra-low (a registry warning)."""
    out = []
    for i, cap in enumerate(_capacities(rng, 19, 610, 0.2, 1)):
        year = 2020 if i < 18 else 2021
        out.append(_Proto(f"SYN-GP-{i + 1:03d}", f"燃气调峰锅炉{i + 1}#", "htjt", "urban", "gas_boiler", "gas",
                          cap, [("commissioned", _quarter_date(rng, year, rng.choice((2, 3))))],
                          vintage="new", year=year))
    out.append(_Proto("SYN-NW-001", "新建燃煤锅炉（未达超低排放）", "", "county_fringe", "coal_boiler", "coal", 20.0,
                      [("commissioned", date(2020, 10, 8))], unit="shuangcheng", vintage="new", year=2020))
    return out


#: a source added where a unit reports a technology no generated source has: kind, fuel, t/h, class, name
_ADDED = {"coal_chp_ultralow": ("chp", "coal", 220.0, "ultra_low", "热电机组"),
          "coal_boiler_ultralow": ("coal_boiler", "coal", 58.0, "ultra_low", "燃煤锅炉（超低）"),
          "coal_boiler": ("coal_boiler", "coal", 14.0, "ordinary", "燃煤锅炉"),
          "gas": ("gas_boiler", "gas", 10.0, "ordinary", "燃气锅炉"),
          "electric": ("electric_boiler", "electricity", 5.0, "ordinary", "电锅炉"),
          "biomass": ("biomass_boiler", "biomass", 10.0, "ordinary", "生物质锅炉")}


def reference_areas(plan: PlanData, seed: int = SEED) -> dict[tuple[str, str, str], float]:
    """(unit, area type, technology) -> area [m²] the synthetic reports give at the reference period, for the
    technologies the registry covers."""
    out = {}
    for r in synthesise_reports(plan, {}, seed):
        if r.admin_unit_code and r.period == REFERENCE_PERIOD:
            for (at, tech), a in r.areas.items():
                if tech in REGISTERED_TECHS and a > 0:
                    out[(r.admin_unit_code, at, tech)] = a
    return out


def _assign_units(protos: list[_Proto], cells: dict[tuple[str, str, str], float], plan: PlanData,
                  rng: random.Random, day: date) -> dict[tuple[str, str, str], list[_Proto]]:
    """Place every source in a unit; each reported cell gets at least one source (added when none is left)."""
    groups: dict[tuple[str, str], list[_Proto]] = defaultdict(list)
    placed: dict[tuple[str, str, str], list[_Proto]] = defaultdict(list)
    for p in protos:
        tech = p.tech_at(day)
        if tech is None:
            p.unit = p.unit or rng.choice([u.code for u in plan.units if p.area_type in u.area_types])
            p.area_m2 = round(p.cap_t_h * _RETIRED_AREA_PER_T_H)
        elif p.unit is not None:
            placed[(p.unit, p.area_type, tech)].append(p)
        else:
            groups[(tech, p.area_type)].append(p)
    added = 0
    for tech in REGISTERED_TECHS:
        for at in AREA_TYPES:
            todo = sorted((c for c in cells if c[2] == tech and c[1] == at and not placed.get(c)),
                          key=lambda c: (-cells[c], c))
            pool = groups.pop((tech, at), [])
            rng.shuffle(pool)
            for cell in todo:
                if not pool:
                    added += 1
                    kind, fuel, cap, cls, name = _ADDED[tech]
                    pool.append(_Proto(f"SYN-AD-{added:03d}", f"{name}AD{added:03d}", "", at, kind, fuel, cap, [],
                                       cls=cls, year=rng.randint(1995, 2013)))
                placed[cell].append(pool.pop())
            mine = [c for c in cells if c[2] == tech and c[1] == at]
            for p in pool:  # the rest where the area is
                if mine:
                    placed[rng.choices(mine, weights=[cells[c] for c in mine])[0]].append(p)
                else:  # no unit reports this technology in this area type: a source serving nothing yet
                    p.unit = rng.choice([u.code for u in plan.units if at in u.area_types])
    for (unit, _at, _tech), ps in placed.items():
        for p in ps:
            p.unit = unit
    return placed


def _split_areas(placed: dict[tuple[str, str, str], list[_Proto]], cells: dict[tuple[str, str, str], float]) -> None:
    """Share each cell's reported area over its sources by capacity; a CHP unit's area from its heat output."""
    for cell, ps in placed.items():
        area = cells.get(cell, 0.0)
        weights = [p.cap_t_h for p in ps]
        total = sum(weights) or 1.0
        left = area
        for i, p in enumerate(ps):
            share = left if i == len(ps) - 1 else round(area * weights[i] / total)
            if p.kind == "chp":
                p.heat_mw = round(share * CHP_DESIGN_LOAD_W_M2 / 1e6, 3)
                share = round(p.heat_mw * 1e6 / CHP_DESIGN_LOAD_W_M2)
            p.area_m2 = share
            left -= share


def synthesise_registry(plan: PlanData, seed: int = SEED) -> tuple[list[SourceInput], list[tuple[str, str, date, str]]]:
    """Heat sources and events so that the boiler tasks can be counted from the registry (some behind) and the
    registered served area agrees with the reports at :data:`REFERENCE_PERIOD` (see above)."""
    rng = random.Random(seed + 1)
    protos = _large_boilers(rng)
    protos += _chp_units(random.Random(seed + 2))  # own stream: the other draws stay as they were
    protos += _small_boilers(rng, "SYN-DM-U", 84, 2400, ("urban",), 0.96, (2019, 2019, 2020),
                             (("demolished", 0.55), ("connected_network", 0.45)))
    # the 664 county/fringe and rural boilers (1200 t/h): the 533 of the 2019 conversions and 131 others
    n_conv, t_conv = sum(c[1] for c in CONVERSIONS), sum(c[2] for c in CONVERSIONS)
    protos += _small_boilers(rng, "SYN-DM-C", 664 - n_conv, 1200 - t_conv, ("county_fringe", "rural"), 0.9,
                             (2019, 2020, 2021), (("demolished", 0.6), ("connected_network", 0.4)))
    protos += _conversions(rng)
    protos += _new_sources(rng)
    cells = reference_areas(plan, seed)
    placed = _assign_units(protos, cells, plan, rng, REFERENCE_PERIOD.end_date())
    _split_areas(placed, cells)
    protos += [p for ps in placed.values() for p in ps if p.code.startswith("SYN-AD-")]
    sources, events = [], []
    urban_owner = 0
    for p in protos:
        owner = p.owner
        if not owner and p.kind == "chp":
            owner = _LARGE_OWNERS_URBAN[urban_owner % 4] if p.area_type == "urban" else "suibao"
            urban_owner += 1
        sources.append(SourceInput(
            code=p.code, name_zh=p.name, owner_org_code=owner or f"gov-{p.unit}", admin_unit_code=p.unit,
            area_type=p.area_type, kind=p.kind, fuel=p.fuel, capacity_t_h=p.cap_t_h, capacity_mw=p.heat_mw,
            emission_class=p.cls, vintage=p.vintage, commissioned_year=p.year, served_area_m2=float(p.area_m2),
            note=_NOTE + ("; 供热面积按供热出力 / area from heat output" if p.heat_mw else "")))
        events += [(p.code, e, d, "合成演示数据") for e, d in p.events]
    return sources, events
