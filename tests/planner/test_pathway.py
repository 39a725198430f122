"""Small LPs whose optimum is known by hand (round-number catalogue, see test_appraisal.py for the per-area
annual costs). Status quo: loose coal, running cost 314 500 元/a per 10 000 m² area. Annual cost of converting a
whole area (capital annuity + O&M + energy), Δ = that − 314 500:
chp_network 234 812.22 (Δ −79 687.78) · gshp 325 485.17 (Δ +10 985.17) · electric_film 574 194.07 (Δ +259 694.07) ·
biomass_pellet_stove 361 351.37 (Δ +46 851.37) · gas_wall_hung at 1 元/m³: 213 641.18 (Δ −100 858.82).
"""

from __future__ import annotations

import numpy as np
import pytest
import yaml

from cleanheat.planner.appraisal import appraise
from cleanheat.planner.pathway import build_model, optimise
from cleanheat.planner.scenario import parse_scenario
from tests.planner.conftest import make_areas

D_CHP, D_GSHP, D_FILM, D_PELLET = -79_687.78, 10_985.17, 259_694.07, 46_851.37
LOOSE = 314_500.0


def run(hand_cat, hand_climate, plan, areas, **scenario):
    doc = {"name": "t", "start_year": 2019, "end_year": 2019, "targets": {"from_plan": False}} | scenario
    sc = parse_scenario(yaml.safe_dump(doc, allow_unicode=True), "t.yaml", hand_cat, plan)
    cat = sc.catalogue(hand_cat)
    ap = appraise(areas, cat, hand_climate, discount_rate=sc.discount_rate, excluded=sc.exclude)
    return ap, optimise(ap, sc)


def share(res, area: int, code: str, year_index: int = -1) -> float:
    return float(res.shares[area, res.option_codes.index(code), year_index])


def binding(res, kind: str) -> list[dict]:
    return [b for b in res.binding if b["kind"] == kind]


def test_known_optimum_rate_target_binds(hand_cat, hand_climate, plan):
    # a1 can connect to the network (2 km), a2 cannot (9 km); no gas, no local resources. Target 75 %:
    # a1 → CHP in full (it is cheaper than coal anyway), then the cheapest clean option in a2 (gshp) for half.
    areas = make_areas(hand_cat, {"resources": "", "gas_available": "no"},
                       {"network_distance_km": 9, "resources": "", "gas_available": "no"})
    _, res = run(hand_cat, hand_climate, plan, areas, targets={"from_plan": False, "rates": {"urban": {2019: 0.75}}})
    assert res.status == "optimal"
    assert share(res, 0, "chp_network") == pytest.approx(1.0, abs=1e-6)
    assert share(res, 1, "gshp") == pytest.approx(0.5, abs=1e-6)
    assert share(res, 1, "loose_coal") == pytest.approx(0.5, abs=1e-6)
    expected_change = D_CHP + 0.5 * D_GSHP  # −74 195.19 元
    assert float(res.cost_change_yuan) == pytest.approx(expected_change, abs=0.05)
    assert float(res.total_cost_yuan) == pytest.approx(2 * LOOSE + expected_change, abs=0.05)
    assert res.rates["urban"][2019] == pytest.approx(0.75)
    (b,) = binding(res, "rate_target")
    assert b["key"] == ["urban", 2019]
    assert b["shadow_price"] == pytest.approx(D_GSHP / 10_000, rel=1e-5)  # 1.0985 元 per m² of clean area
    np.testing.assert_allclose(res.shares.sum(axis=1), 1.0, atol=1e-9)  # every area fully heated every year


def test_without_target_only_profitable_conversions_happen(hand_cat, hand_climate, plan):
    areas = make_areas(hand_cat, {"resources": "", "gas_available": "no"},
                       {"network_distance_km": 9, "resources": "", "gas_available": "no"})
    _, res = run(hand_cat, hand_climate, plan, areas)
    assert share(res, 0, "chp_network") == pytest.approx(1.0, abs=1e-6)  # cheaper than loose coal
    assert share(res, 1, "loose_coal") == pytest.approx(1.0, abs=1e-6)
    assert res.binding == ()


def test_gas_supply_binds_with_its_shadow_price(hand_cat, hand_climate, plan):
    # one area, gas at 1 元/m³ makes the wall-hung boiler the cheapest option (Δ −100 858.82 per area); it needs
    # 5 555.56 GJ / 0.04 GJ/m³ = 13.8889 10⁴ m³ for the whole area. 5 × 10⁴ m³ of gas → share 0.36; the rest of
    # the 100 % target goes to gshp. One more 10⁴ m³ lets 1/13.8889 of the area move from gshp to gas.
    areas = make_areas(hand_cat, {"network_distance_km": 9, "resources": ""})
    _, res = run(hand_cat, hand_climate, plan, areas,
                 targets={"from_plan": False, "rates": {"urban": {2019: 1.0}}},
                 fuels={"overrides": {"gas": {"price_yuan_per_unit": 1.0}}},
                 gas={"supply_1e4_m3": {2019: 5}})
    assert share(res, 0, "gas_wall_hung") == pytest.approx(5 / 13.888889, rel=1e-6)
    assert share(res, 0, "gshp") == pytest.approx(1 - 5 / 13.888889, rel=1e-6)
    (b,) = binding(res, "gas")
    d_wall = 0.1295046 * 500_000 + 10_000 + 5_555.5556 * 25 - LOOSE
    assert d_wall == pytest.approx(-100_858.82, abs=0.05)
    assert b["shadow_price"] == pytest.approx((D_GSHP - d_wall) / 13.888889, rel=1e-5)  # ≈ 8 052.8 元/10⁴ m³
    assert res.shadow_prices["gas"][2019] == pytest.approx(b["shadow_price"])


def test_grid_capacity_binds_with_its_shadow_price(hand_cat, hand_climate, plan):
    # county area without network, gas or resources: gshp (0.125 MW for the whole area) is cheapest, the pellet
    # stove next. 0.05 MW spare → gshp share 0.4, pellets 0.6. One more MW = 8 shares of gshp instead of pellets.
    areas = make_areas(hand_cat, {"area_type": "county_fringe", "network_distance_km": 9, "resources": "",
                                  "gas_available": "no", "grid_spare_mw": 0.05})
    _, res = run(hand_cat, hand_climate, plan, areas,
                 targets={"from_plan": False, "rates": {"county_fringe": {2019: 1.0}}})
    assert share(res, 0, "gshp") == pytest.approx(0.4, abs=1e-6)
    assert share(res, 0, "biomass_pellet_stove") == pytest.approx(0.6, abs=1e-6)
    (b,) = binding(res, "grid")
    assert b["key"] == ["a1", 2019] and b["limit"] == pytest.approx(0.05)
    assert b["shadow_price"] == pytest.approx((D_PELLET - D_GSHP) / 0.125, rel=1e-5)  # ≈ 286 929.6 元/MW


def test_grid_reinforcement_relaxes_the_limit(hand_cat, hand_climate, plan):
    areas = make_areas(hand_cat, {"area_type": "county_fringe", "network_distance_km": 9, "resources": "",
                                  "gas_available": "no", "grid_spare_mw": 0.05})
    _, res = run(hand_cat, hand_climate, plan, areas, grid={"reinforcement_mw": {2019: 0.025}},
                 targets={"from_plan": False, "rates": {"county_fringe": {2019: 1.0}}})
    assert share(res, 0, "gshp") == pytest.approx(0.6, abs=1e-6)


def test_budget_binds_with_its_shadow_price(hand_cat, hand_climate, plan):
    # CHP needs a subsidy of 100 000 元 per area; with 5 万元 only half can connect, the rest of the 100 % target
    # goes to unsubsidised electric film. One more 万元 moves 0.1 of the area from film to CHP.
    areas = make_areas(hand_cat, {"resources": "", "gas_available": "no"})
    keep = {"chp_network", "electric_film"}
    exclude = [o.code for o in hand_cat.options if not o.is_status_quo and o.code not in keep]
    _, res = run(hand_cat, hand_climate, plan, areas, options={"exclude": exclude},
                 targets={"from_plan": False, "rates": {"urban": {2019: 1.0}}},
                 budget={"subsidy_wan_yuan": {2019: 5}})
    assert share(res, 0, "chp_network") == pytest.approx(0.5, abs=1e-6)
    assert share(res, 0, "electric_film") == pytest.approx(0.5, abs=1e-6)
    (b,) = binding(res, "budget")
    assert b["shadow_price"] == pytest.approx((D_FILM - D_CHP) / 10, rel=1e-5)  # ≈ 33 938.2 元 per 万元
    assert res.by_year[0]["subsidy_yuan"] == pytest.approx(50_000, abs=0.01)


def test_pollutant_cap_binds(hand_cat, hand_climate, plan):
    # an old coal boiler house (SO2 7 142.86 GJ × 170 g = 1 214.29 kg/a) must halve SO2 without any rate target.
    # gshp removes 1 214.29 − 25 = 1 189.29 kg per area at Δ 325 485.17 − 228 571.43 = 96 913.74 元: the cheapest
    # per kg, so share = 607.14 / 1 189.29 and the cap's shadow price is 96 913.74 / 1 189.29 元/kg.
    areas = make_areas(hand_cat, {"current_heating": "coal_boiler_legacy", "network_distance_km": 9,
                                  "resources": "", "gas_available": "no"})
    base_so2 = 5000 / 0.7 * 170 / 1000
    _, res = run(hand_cat, hand_climate, plan, areas, caps={"so2_kg": {2019: base_so2 / 2}})
    removed = base_so2 - 25.0
    assert share(res, 0, "gshp") == pytest.approx(base_so2 / 2 / removed, rel=1e-6)
    assert res.by_year[0]["emissions"]["so2_kg"] == pytest.approx(base_so2 / 2, rel=1e-6)
    (b,) = binding(res, "cap")
    d_cost = 0.0802426 * 2_000_000 + 40_000 + 125_000 - (5000 / 0.7 * 25 + 50_000)
    assert b["shadow_price"] == pytest.approx(d_cost / removed * 1000, rel=1e-5)  # 元 per t


def test_discounting_builds_costly_conversions_late_and_profitable_ones_early(hand_cat, hand_climate, plan):
    areas = make_areas(hand_cat, {"network_distance_km": 9, "resources": "", "gas_available": "no"},
                       {"resources": "", "gas_available": "no"})
    _, res = run(hand_cat, hand_climate, plan, areas, end_year=2021,
                 targets={"from_plan": False, "rates": {"urban": {2021: 1.0}}})
    y = res.years.index
    # a1: gshp only when the target requires it (2021); a2: CHP from the first year
    assert share(res, 0, "gshp", y(2020)) == pytest.approx(0.0, abs=1e-6)
    assert share(res, 0, "gshp", y(2021)) == pytest.approx(1.0, abs=1e-6)
    assert share(res, 1, "chp_network", y(2019)) == pytest.approx(1.0, abs=1e-6)
    df = np.array([1, 1 / 1.05, 1 / 1.05**2])
    expected = D_GSHP * df[2] + D_CHP * df.sum()
    assert float(res.cost_change_yuan) == pytest.approx(expected, abs=0.1)


def test_infeasible_scenario_is_explained(hand_cat, hand_climate, plan):
    # a rural village where only pellet stoves are allowed and at most 5 000 m² can be built a year: the 100 %
    # target cannot be met; the closest pathway reaches 50 % and the build-rate limit is named.
    areas = make_areas(hand_cat, {"area_type": "rural", "network_distance_km": 9, "resources": "",
                                  "gas_available": "no"})
    keep = {"biomass_pellet_stove"}
    exclude = [o.code for o in hand_cat.options if not o.is_status_quo and o.code not in keep]
    _, res = run(hand_cat, hand_climate, plan, areas, options={"exclude": exclude},
                 targets={"from_plan": False, "rates": {"rural": {2019: 1.0}}},
                 build_rate={"max_m2_per_year": {"biomass_pellet_stove": 5000}})
    assert res.status == "infeasible"
    why = res.infeasibility
    (u,) = why["unmet"]
    assert u["kind"] == "rate_target" and u["area_type"] == "rural" and u["year"] == 2019
    assert u["achievable"] == pytest.approx(0.5, abs=1e-6)
    assert "农村 2019 年清洁取暖率目标 100% 达不到" in why["summary_zh"]
    kinds = {(l["kind"], tuple(l["key"])) for l in why["binding_limits"]}
    assert ("build_option", ("biomass_pellet_stove", 2019)) in kinds
    assert share(res, 0, "biomass_pellet_stove") == pytest.approx(0.5, abs=1e-6)  # the closest pathway


def test_infeasible_without_any_clean_option_names_the_areas(hand_cat, hand_climate, plan):
    areas = make_areas(hand_cat, {"area_type": "rural", "network_distance_km": 9, "resources": "",
                                  "gas_available": "no"}, {"area_type": "rural", "resources": ""})
    exclude = [o.code for o in hand_cat.options if not o.is_status_quo and o.clean]
    _, res = run(hand_cat, hand_climate, plan, areas, options={"exclude": exclude},
                 targets={"from_plan": False, "rates": {"rural": {2019: 0.3}}})
    assert res.status == "infeasible"
    assert res.infeasibility["no_clean_option"]["rural"]["areas"] == 2
    assert res.infeasibility["binding_limits"] == []
    assert "没有可用清洁方式的区域" in res.infeasibility["summary_zh"]


def test_lp_is_sparse_and_sized_as_documented(hand_cat, hand_climate, plan):
    areas = make_areas(hand_cat, *[{"resources": "", "grid_zone": "z"} for _ in range(5)])
    sc = parse_scenario(yaml.safe_dump({"name": "s", "start_year": 2019, "end_year": 2021,
                                        "targets": {"from_plan": False, "rates": {"urban": {2021: 0.5}}}}),
                        "s.yaml", hand_cat, plan)
    ap = appraise(areas, hand_cat, hand_climate)
    model = build_model(ap, sc)
    cand = ap.available & ~ap.opts.status_quo[None, :]
    pairs = int(cand.sum())
    clean_pairs = int((cand & ap.opts.clean[None, :]).sum())
    electric_pairs = int((cand & (ap.grid_mw > 0)).sum())
    assert model.n_col == pairs * 3
    # rows: 5 pools, 1 target (2021), 3 grid rows (one zone, each year)
    assert model.n_row == 5 + 1 + 3
    # nonzeros: pools (every pair, 3 build years); target (clean pairs, builds of 2019-2021);
    # grid rows of year y hold the builds of years ≤ y (1 + 2 + 3 per electric pair)
    assert model.matrix.nnz == pairs * 3 + clean_pairs * 3 + electric_pairs * 6
