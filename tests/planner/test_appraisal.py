"""Hand-computed levelised cost of heat and household cost for every option (round-number catalogue).

The area: 10 000 m² at a design heat index of 50 W/m², 100 households, 2 km from the network. With 0.01 GJ per
season per W/m² it needs 10 000 × 50 × 0.01 = 5 000 GJ a season. The air-source heat pump's seasonal COP over the
two test hours (−20 °C full load at COP 2, 0 °C half load at COP 4) is 1.5 / (1/2 + 0.5/4) = 2.4.
CRF(5 %, 20 a) = 0.0802426, CRF(5 %, 10 a) = 0.1295046.
Example, chp_network: capex 40 × 10 000 + 100 000 × 2 km = 600 000 元 → 48 145.55 元/a; O&M 2 × 10 000 = 20 000;
energy 5 000 / 0.9 × 30 = 166 666.67; LCOH = 234 812.22 / 5 000 = 46.9624 元/GJ. Household: (600 000 − subsidy
100 000) × CRF + 20 000 + 166 666.67 = 226 787.96 → 2 267.88 元/户·季.
"""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pytest

from cleanheat.planner.appraisal import appraise, area_view, crf, money, pareto_mask
from tests.planner.conftest import make_areas

# option: (LCOH 元/GJ, household 元/户·季), computed by hand from hand_catalogue.yaml (arithmetic in comments)
EXPECTED = {
    "chp_network": (46.9624, 2267.8796),  # fuel 5555.6 GJ × 30; capex 600 000 incl. 2 km × 100 000; subsidy 100 000
    "gas_boiler_house": (92.1493, 4446.9778),  # fuel 6250 GJ × 62.5 = 390 625; capex 500 000; O&M 30 000
    "gas_wall_hung": (84.3949, 4090.2405),  # fuel 5555.6 GJ × 62.5; capex 100 × 5 000; CRF(10); subsidy 100 000
    "electric_storage_boiler": (70.0485, 3101.2129),  # 5 000 GJ × 50 (valley); capex 1 000 000; subsidy 500 000
    "electric_film": (114.8388, 5741.9407),  # 5 000 GJ × 100; capex 800 000; O&M 10 000; no subsidy
    "ashp": (77.7637, 3406.7296),  # 5 000 / 2.4 = 2 083.3 GJ × 100; capex 2 000 000; subsidy 600 000
    "gshp": (65.0970, 2853.6388),  # 1 250 GJ × 100; capex 2 000 000; O&M 40 000
    "biomass_pellet_stove": (72.2703, 3484.0091),  # 6 250 GJ × 50; capex 100 × 3 000; CRF(10)
    "biomass_boiler_house": (86.2958, 4154.3037),  # 6 666.7 GJ × 50; capex 600 000; O&M 50 000
    "biomass_chp": (56.4687, 2743.1926),  # 5 555.6 GJ × 40; capex 500 000
    "geothermal": (52.0728, 2202.4259),  # 1 000 GJ × 100; capex 1 500 000
    "sewage_waste_heat": (49.0485, 2291.9407),  # 1 250 GJ × 100; capex 1 000 000
    "coal_briquette": (53.5901, 2614.7523),  # 10 000 GJ × 25; capex 100 000; CRF(10); subsidy 50 000
    "loose_coal": (62.9000, 3145.0000),  # status quo: 12 500 GJ × 25 + O&M 2 000, no capital
    "coal_boiler_legacy": (45.7143, 2285.7143),  # status quo: 7 142.9 GJ × 25 + O&M 50 000
}


@pytest.fixture(scope="module")
def ap(hand_cat, hand_climate):
    return appraise(make_areas(hand_cat, {}), hand_cat, hand_climate)


def test_crf_by_hand():
    assert crf(0.05, 20) == pytest.approx(0.0802426, abs=1e-7)
    assert crf(0.05, 10) == pytest.approx(0.1295046, abs=1e-7)
    assert crf(0.0, 20) == pytest.approx(0.05)


def test_heat_demand_and_seasonal_cop_by_hand(ap):
    assert ap.heat_gj[0] == pytest.approx(5000.0)
    assert ap.design_kw[0] == pytest.approx(500.0)
    assert ap.opts.seasonal_eff[ap.catalogue.index("ashp")] == pytest.approx(2.4)
    assert ap.opts.design_eff[ap.catalogue.index("ashp")] == pytest.approx(2.0)


@pytest.mark.parametrize("code", sorted(EXPECTED))
def test_lcoh_and_household_cost_for_each_option(ap, code):
    lcoh, household = EXPECTED[code]
    rows = {r.code: r for r in area_view(ap, 0)}
    assert float(ap.lcoh_yuan_gj[0, ap.catalogue.index(code)]) == pytest.approx(lcoh, abs=1e-4)
    assert float(ap.household_cost_yuan[0, ap.catalogue.index(code)]) == pytest.approx(household, abs=1e-4)
    # the displayed values are Decimals rounded once to the fen
    assert rows[code].lcoh_yuan_gj == Decimal(f"{lcoh:.2f}")
    assert rows[code].household_cost_yuan == Decimal(f"{household:.2f}")


def test_every_catalogue_option_is_covered(inputs):
    assert set(inputs.catalogue.codes) == set(EXPECTED)


def test_emissions_by_hand(ap):
    a = ap.catalogue.index
    # ASHP: 2 083.33 GJ electricity × 150 kg/GJ = 312.5 t CO2; PM 5 g/GJ at the power plant = 10.42 kg
    assert ap.emissions["co2_t"][0, a("ashp")] == pytest.approx(312.5)
    assert ap.emissions["pm_kg"][0, a("ashp")] == pytest.approx(2083.3333 * 5 / 1000, rel=1e-6)
    # loose coal: 12 500 GJ × 100 kg/GJ = 1 250 t CO2; PM 400 g/GJ → 5 000 kg; SO2 5 000 kg; NOx 875 kg
    assert ap.emissions["co2_t"][0, a("loose_coal")] == pytest.approx(1250.0)
    assert ap.emissions["pm_kg"][0, a("loose_coal")] == pytest.approx(5000.0)
    assert ap.emissions["nox_kg"][0, a("loose_coal")] == pytest.approx(875.0)
    # CHP heat: 5 555.6 GJ × (4 g upstream) = 22.2 kg PM
    assert ap.emissions["pm_kg"][0, a("chp_network")] == pytest.approx(5555.5556 * 4 / 1000, rel=1e-6)
    # gas: 6 250 GJ / 0.04 GJ/m³ = 156 250 m³ = 15.625 10⁴ m³
    assert ap.gas_1e4_m3[0, a("gas_boiler_house")] == pytest.approx(15.625)
    # grid: 500 kW design load; storage boiler ×3 / η 1 = 1.5 MW; ASHP / COP(−20 °C) 2 = 0.25 MW
    assert ap.grid_mw[0, a("electric_storage_boiler")] == pytest.approx(1.5)
    assert ap.grid_mw[0, a("ashp")] == pytest.approx(0.25)
    assert ap.grid_mw[0, a("gas_boiler_house")] == 0


def test_upfront_and_subsidy(ap):
    a = ap.catalogue.index
    assert ap.upfront_yuan[0, a("chp_network")] == pytest.approx(600_000)
    assert ap.subsidy_yuan[0, a("chp_network")] == pytest.approx(100_000)
    assert ap.upfront_yuan[0, a("gas_wall_hung")] == pytest.approx(500_000)
    assert ap.upfront_yuan[0, a("loose_coal")] == 0  # status quo: sunk


def test_drivers_rank_and_pareto(ap):
    rows = {r.code: r for r in area_view(ap, 0)}
    assert rows["electric_film"].cost_driver == "energy"
    assert rows["gshp"].cost_driver == "capital"  # 160 485 of 325 485 元/a
    assert rows["loose_coal"].emission_driver == "onsite"
    assert rows["ashp"].emission_driver == "upstream_power"
    # rank: available clean options by LCOH; chp (46.96) is first, sewage (49.05) second
    assert rows["chp_network"].rank == 1 and rows["sewage_waste_heat"].rank == 2
    assert rows["coal_briquette"].rank is None  # not clean
    # the cheapest option is always on the Pareto front; electric film (dearest, not cleanest) is not
    assert rows["chp_network"].pareto and not rows["electric_film"].pareto


def test_pareto_mask_by_hand():
    cost = np.array([1.0, 2.0, 3.0, 2.5])
    pol = np.array([[3.0], [2.0], [1.0], [2.5]])
    assert pareto_mask(cost, pol).tolist() == [True, True, True, False]  # (2.5, 2.5) is dominated by (2, 2)


def test_availability_reasons(hand_cat, hand_climate):
    areas = make_areas(hand_cat, {"area_type": "rural", "gas_available": "no", "network_distance_km": "9",
                                  "resources": ""})
    ap = appraise(areas, hand_cat, hand_climate, excluded=frozenset({"ashp"}))
    rows = {r.code: r for r in area_view(ap, 0)}
    assert not rows["chp_network"].available and rows["chp_network"].reason_en == "not used in this area type"
    assert rows["gas_boiler_house"].reason_en == "no gas main"
    assert rows["geothermal"].reason_en == "the local resource it needs is missing"
    assert rows["ashp"].reason_en == "excluded by the scenario"
    assert rows["biomass_pellet_stove"].available
    assert rows["coal_boiler_legacy"].reason_en.startswith("status quo")  # not present here


def test_money_rounds_half_up_to_the_fen():
    assert money(2.675) == Decimal("2.68") or money(2.675) == Decimal("2.67")  # float 2.675 is 2.67499...
    assert money(1.005000001) == Decimal("1.01")
    assert money(10) == Decimal("10.00")
