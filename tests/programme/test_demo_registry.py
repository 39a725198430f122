"""The demo city agrees with itself: the registry's served area per unit x area type x technology equals what the
synthetic reports give (reference period, within rounding); CHP served area follows from heat output; HIG's 2020
gas peak boilers are new boilers (GB 13271-2014 table 2); the 2018 baseline is the plan's exactly."""

from __future__ import annotations

import random
from collections import defaultdict
from datetime import date

import pytest

from cleanheat.config import REPO_ROOT, Settings
from cleanheat.emissions.limits import SourceFacts, limits_path, profile_for, read_limit_table
from cleanheat.programme import synthetic as sy
from cleanheat.programme.model import AREA_TYPES
from cleanheat.programme.plan_data import read_plan

DATA = REPO_ROOT / "data"

FUEL_TECH = {"gas": "gas", "electricity": "electric", "biomass": "biomass"}
CONVERSIONS = {"converted_gas": "gas", "converted_electric": "electricity", "converted_biomass": "biomass"}


@pytest.fixture(scope="module")
def plan():
    return read_plan(Settings().city_dir)


@pytest.fixture(scope="module")
def registry(plan):
    return sy.synthesise_registry(plan)


def technology_on(src, events: list[tuple[str, date]], day: date) -> str | None:
    """The report technology of a registered source on ``day``, from its registration and dated events."""
    done = [e for e, d in events if d <= day]
    if any(e in ("demolished", "connected_network") for e in done):
        return None
    if any(e == "commissioned" for e, _ in events) and "commissioned" not in done:
        return None
    fuel = src.fuel
    for e in done:
        fuel = CONVERSIONS.get(e, fuel)
    if fuel != "coal":
        return FUEL_TECH[fuel]
    if src.kind == "chp":
        return "coal_chp_ultralow"
    ultra_low = src.emission_class == "ultra_low" or "ultra_low_retrofitted" in done
    return "coal_boiler_ultralow" if ultra_low else "coal_boiler"


def test_registered_served_area_equals_the_reported_area_per_unit_area_type_and_technology(plan, registry):
    sources, events = registry
    by_code = defaultdict(list)
    for code, ev, d, _ in events:
        by_code[code].append((ev, d))
    day = sy.REFERENCE_PERIOD.end_date()
    registered = defaultdict(float)
    for s in sources:
        tech = technology_on(s, by_code[s.code], day)
        if tech is not None:
            registered[(s.admin_unit_code, s.area_type, tech)] += s.served_area_m2
    reported = {}
    for r in sy.synthesise_reports(plan, {}):
        if r.admin_unit_code and r.period == sy.REFERENCE_PERIOD:
            for (at, tech), a in r.areas.items():
                if tech in sy.REGISTERED_TECHS:
                    reported[(r.admin_unit_code, at, tech)] = a
    assert set(reported) == set(registered)
    for cell, area in reported.items():
        # within rounding: CHP heat output is kept to 1 kW, i.e. ~22 m² at 45 W/m² per unit
        assert registered[cell] == pytest.approx(area, abs=100), cell
    # The registry no longer claims more ultra-low coal area than the city heats (the old demo had 6.54亿 m²).
    clean_coal = sum(v for (_, _, t), v in registered.items() if t in ("coal_chp_ultralow", "coal_boiler_ultralow"))
    heated_urban_county = sum(v for r in sy.synthesise_reports(plan, {}) if r.period == sy.REFERENCE_PERIOD
                              for (at, _), v in r.areas.items() if at in ("urban", "county_fringe"))
    assert clean_coal < heated_urban_county


def test_chp_served_area_follows_from_heat_output(registry):
    chp = [s for s in registry[0] if s.kind == "chp"]
    assert len(chp) > 20
    for s in chp:
        assert s.capacity_mw is not None
        assert s.served_area_m2 == pytest.approx(s.capacity_mw * 1e6 / sy.CHP_DESIGN_LOAD_W_M2, abs=1.0)
    # heat output is not the steam rating converted at 0.7 MW per t/h
    assert sum(1 for s in chp if s.capacity_mw == pytest.approx(s.capacity_t_h * 0.7)) < len(chp) / 10


def test_gas_peak_boilers_are_new_boilers_judged_by_table_2(registry):
    sources, events = registry
    peak = [s for s in sources if s.code.startswith("SYN-GP-")]
    assert len(peak) == 19 and sum(s.capacity_t_h for s in peak) == pytest.approx(610, abs=0.5)
    commissioned = sorted(d for c, e, d, _ in events if c.startswith("SYN-GP-") and e == "commissioned")
    assert sum(1 for d in commissioned if d.year == 2020) == 18
    table = read_limit_table(limits_path(DATA))
    for s in peak:
        assert s.vintage == "new" and s.owner_org_code == "htjt" and s.area_type == "urban"
        facts = SourceFacts(kind=s.kind, fuel=s.fuel, current_fuel=s.fuel, vintage=s.vintage,
                            capacity_t_h=s.capacity_t_h)
        assert table.select(profile_for(facts, date(2021, 1, 15)), date(2021, 1, 15)).id == "gb13271-2014-t2-gas"


def test_the_2018_baseline_is_the_plans_exactly(plan):
    base = sy._baseline_by_unit(plan, random.Random(sy.SEED))
    for at in AREA_TYPES:
        heated = sum(h for (_, t), (h, _) in base.items() if t == at)
        clean = sum(c for (_, t), (_, c) in base.items() if t == at)
        assert heated == pytest.approx(plan.baseline(at).heated_area_m2, rel=1e-12)
        assert clean == pytest.approx(plan.baseline(at).clean_area_m2, rel=1e-12)
