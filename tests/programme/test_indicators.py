"""Evaluation on hand-computed cases (a two-unit plan built here)."""

import pytest

from cleanheat.programme.indicators import UnitFigures, city_target, evaluate, status_for
from cleanheat.programme.model import (
    AdminUnitSpec,
    BaselineAreaSpec,
    Period,
    PlanData,
    RateTargetSpec,
    SourceVerdict,
    TaskSpec,
    TaskTargetSpec,
    TechnologySpec,
    TechnologyTargetSpec,
)

TECHS = (
    TechnologySpec("coal_chp_ultralow", "燃煤热电联产（超低排放）", "", "clean_coal", "clean_if_ultra_low", "coal"),
    TechnologySpec("coal_boiler", "燃煤锅炉", "", "coal", "not_clean", "coal"),
    TechnologySpec("gas", "天然气", "", "gas", "clean", "gas"),
    TechnologySpec("biomass", "生物质", "", "biomass", "clean_if_compliant", "biomass"),
    TechnologySpec("loose_coal", "散煤", "", "coal", "not_clean", "coal"),
)


def small_plan() -> PlanData:
    return PlanData(
        code="t", city="T", title_zh="t", title_en="t", baseline_year=2018, start_year=2019, end_year=2021,
        units=(AdminUnitSpec("a", "甲区", "A", "district", ("urban", "rural")),
               AdminUnitSpec("b", "乙县", "B", "county", ("county_fringe", "rural"))),
        technologies=TECHS,
        technology_groups=(("clean_coal", "清洁燃煤", ""), ("gas", "天然气", ""), ("biomass", "生物质", ""),
                           ("coal", "非清洁燃煤", "")),
        baseline_areas=(BaselineAreaSpec("urban", 100.0, 20.0, "x"),),
        baseline_facts=(),
        rate_targets=tuple(RateTargetSpec(at, y, r, "§二(三)") for y, vals in
                           {2019: (0.6, 0.5, 0.2), 2020: (0.7, 0.6, 0.3), 2021: (0.8, 0.7, 0.4)}.items()
                           for at, r in zip(("urban", "county_fringe", "rural"), vals, strict=True)),
        reference_city_targets=(),
        technology_targets=(TechnologyTargetSpec("gas", 2021, 30.0, "level", ">=", "§三(一)2"),
                            TechnologyTargetSpec("clean_coal", 2021, 50.0, "increase", ">=", "§三(一)1",
                                                 baseline_area_m2=40.0)),
        tasks=(
            TaskSpec("km", "管网改造", "", "length_km", "公里", ("urban",), "§三(二)1", ("市住建局",),
                     (TaskTargetSpec(2019, 100, "cumulative"), TaskTargetSpec(2020, 212, "cumulative"),
                      TaskTargetSpec(2021, 312, "cumulative"))),
            TaskSpec("boilers", "超低排放改造", "", "count", "台", ("urban",), "§三(一)1", ("市发改委",),
                     (TaskTargetSpec(2021, 200, "cumulative"),), registry_rule={"event": "ultra_low_retrofitted"}),
            TaskSpec("share", "计量收费比例", "", "share", "%", ("urban",), "§三(三)2", ("市发改委",),
                     (TaskTargetSpec(2021, 1.0, "level"),)),
            TaskSpec("smart", "智慧供热面积", "", "area_m2", "万m²", ("urban",), "§三(二)2", ("市住建局",),
                     (TaskTargetSpec(2021, 100.0, "level", comparator="~"),)),
        ),
        projects=(),
    )


A = UnitFigures("gov-a", "a", Period(2020, 4), 1, areas={
    ("urban", "coal_chp_ultralow"): 60.0, ("urban", "coal_boiler"): 30.0, ("urban", "gas"): 10.0,
    ("rural", "biomass"): 5.0, ("rural", "loose_coal"): 15.0}, tasks={"km": 120.0, "share": 0.9, "smart": 50.0})
B = UnitFigures("gov-b", "b", Period(2020, 3), 2, areas={
    ("county_fringe", "coal_chp_ultralow"): 30.0, ("county_fringe", "coal_boiler"): 20.0,
    ("rural", "biomass"): 6.0, ("rural", "loose_coal"): 24.0}, tasks={"km": 80.0, "share": 0.5, "smart": 46.0})


def test_status_rules():
    assert status_for(0.8, 0.8, final=True) == "met"
    assert status_for(0.79, 0.8, final=False) == "lagging"
    assert status_for(0.79, 0.8, final=True) == "missed"
    assert status_for(96, 100, final=True, comparator="~") == "met"  # "about" (左右): within 5 %
    assert status_for(94, 100, final=True, comparator="~") == "missed"
    assert status_for(None, 0.8, final=True) == "no_data"
    assert status_for(0.5, None, final=True) is None


def test_rates_by_area_type_unit_and_city_hand_computed():
    ev = evaluate(small_plan(), Period(2020, 4), [A, B])
    # urban: clean 60 + 10 of 100 -> 0.70 against 0.70: met; gap 0.7*100 - 70 = 0
    assert ev.rates["urban"].actual == pytest.approx(0.70)
    assert ev.rates["urban"].status == "met"
    assert ev.rates["urban"].gap_m2 == pytest.approx(0.0)
    # county_fringe: 30/50 = 0.6 vs 0.6 met
    assert ev.rates["county_fringe"].actual == pytest.approx(0.6)
    # rural: (5 + 6) / (20 + 30) = 0.22 vs 0.30 -> missed at year end; gap 0.3*50 - 11 = 4
    assert ev.rates["rural"].actual == pytest.approx(0.22)
    assert ev.rates["rural"].status == "missed"
    assert ev.rates["rural"].gap_m2 == pytest.approx(4.0)
    # city: (70 + 30 + 11) / (100 + 50 + 50) = 0.555; derived target (0.7*100 + 0.6*50 + 0.3*50)/200 = 0.575
    assert ev.rates["city"].actual == pytest.approx(111 / 200)
    assert ev.rates["city"].target == pytest.approx(0.575)
    assert ev.rates["city"].status == "missed"
    # Unit A overall: (70 + 5) / 120 = 0.625; target (0.7*100 + 0.3*20)/120 = 0.6333
    a = next(u for u in ev.units if u.code == "a")
    assert a.rates["all"].actual == pytest.approx(75 / 120)
    assert a.rates["all"].target == pytest.approx(76 / 120)
    assert a.rates["rural"].actual == pytest.approx(0.25)
    b = next(u for u in ev.units if u.code == "b")
    assert b.stale  # its newest accepted report is 2020Q3
    assert ev.units_reporting == 2


def test_mid_year_shortfall_is_lagging_not_missed():
    ev = evaluate(small_plan(), Period(2020, 2), [A, B])
    assert ev.rates["rural"].status == "lagging"
    assert ev.rates["city"].status == "lagging"


def test_city_target_is_area_weighted():
    assert city_target(small_plan(), 2019, {"urban": 300, "county_fringe": 100, "rural": 100}) == pytest.approx(
        (0.6 * 300 + 0.5 * 100 + 0.2 * 100) / 500)


def test_tasks_cumulative_registry_share_and_about():
    ev = evaluate(small_plan(), Period(2020, 4), [A, B], registry_counts={"boilers": 150})
    t = {x.code: x for x in ev.tasks}
    # 120 + 80 = 200 km against the 2020 milestone 212: missed at year end.
    assert t["km"].actual == 200 and t["km"].target == 212 and t["km"].status == "missed"
    assert t["km"].expected == pytest.approx(212)  # the milestone is due at the end of 2020
    # The 2021 boiler target governs 2020: 150 of 200 is behind, the deadline not reached -> lagging.
    assert t["boilers"].source == "registry" and t["boilers"].actual == 150
    assert t["boilers"].status == "lagging"
    assert t["boilers"].expected == pytest.approx(200 * 8 / 12)
    # Shares are averaged over reporters, not summed: (0.9 + 0.5) / 2.
    assert t["share"].actual == pytest.approx(0.7)
    # "about 100" (左右) with 96 reached counts as met; 90 in mid-2021 is behind, and missed at the end of 2021.
    assert t["smart"].actual == 96 and t["smart"].status == "met"
    low = [UnitFigures("gov-a", "a", Period(2021, 2), 1, tasks={"smart": 90.0})]
    assert {x.code: x for x in evaluate(small_plan(), Period(2021, 2), low).tasks}["smart"].status == "lagging"
    assert {x.code: x for x in evaluate(small_plan(), Period(2021, 4), low).tasks}["smart"].status == "missed"


def test_technology_targets_level_and_increase():
    ev = evaluate(small_plan(), Period(2021, 4), [A, B])
    t = {x.group: x for x in ev.technologies}
    assert t["gas"].area_m2 == 10 and t["gas"].status == "missed" and t["gas"].gap_m2 == pytest.approx(20)
    # Clean coal 90 - baseline 40 = increase 50: met.
    assert t["clean_coal"].actual_for_target_m2 == pytest.approx(50)
    assert t["clean_coal"].status == "met"


def test_non_compliant_sources_move_area_out_of_clean():
    verdicts = [
        SourceVerdict("S1", "甲热电", "a", "urban", "coal_chp_ultralow", 25.0, False, 0.80, 4000, "SO2 over limit"),
        SourceVerdict("S2", "甲热电2", "a", "urban", "coal_chp_ultralow", 50.0, False, 0.50, 4000, ""),
        SourceVerdict("S3", "乙锅炉", "b", "county_fringe", "coal_chp_ultralow", 10.0, True, 0.99, 4000, ""),
        SourceVerdict("S4", "甲燃气", "a", "urban", "gas", 5.0, False, 0.1, 100, ""),
    ]
    ev = evaluate(small_plan(), Period(2020, 4), [A, B], verdicts=verdicts)
    # Unit a reported 60 under coal_chp_ultralow; its registered sources serve 25 + 50 = 75, so each source's
    # share is scaled by 60/75 = 0.8: S1 20, S2 40, both non-compliant -> 60 moved out of clean.
    assert ev.rates["urban"].clean_area_m2 == pytest.approx(70 - 60)
    assert ev.rates["urban"].reclassified_m2 == pytest.approx(60)
    assert ev.rates["urban"].reported_clean_area_m2 == pytest.approx(70)
    v = {x.source_code: x for x in ev.verification}
    assert v["S1"].reclassified_m2 == pytest.approx(20) and v["S2"].reclassified_m2 == pytest.approx(40)
    # Gas is a plain clean technology: a non-compliant gas source stays in the reported figure (10) but its
    # 5 m2 are not verified; the 5 m2 of reported gas beyond registered sources need no evidence.
    assert v["S4"].reclassified_m2 == 0 and v["S4"].unverified_m2 == pytest.approx(5)
    assert ev.rates["urban"].verified_clean_area_m2 == pytest.approx(5)
    assert ev.rates["urban"].verified == pytest.approx(5 / 100)
    # Unit b reported 30 under coal_chp_ultralow, S3 (compliant) serves 10: 10 verified, 20 from no
    # registered source are unverified (monitored technology).
    assert v["S3"].reclassified_m2 == 0 and v["S3"].counted_clean_m2 == pytest.approx(10)
    assert ev.rates["county_fringe"].actual == pytest.approx(0.6)
    assert ev.rates["county_fringe"].verified == pytest.approx(10 / 50)
    assert ev.rates["county_fringe"].unverified_m2 == pytest.approx(20)
    # Biomass (clean_if_compliant) reported in rural by a (5) and b (6) with no registered source: unverified.
    assert ev.rates["rural"].actual == pytest.approx(11 / 50) and ev.rates["rural"].verified == 0
    un = {(x.admin_unit_code, x.area_type, x.technology): x.unverified_m2 for x in ev.unattributed}
    assert un == {("a", "rural", "biomass"): 5, ("b", "county_fringe", "coal_chp_ultralow"): 20,
                  ("b", "rural", "biomass"): 6}
    # city: heated 120 + 80 = 200; reported-minus-non-compliant clean 10 + 30 + 11 = 51; verified 5 + 10 + 0
    assert ev.rates["city"].actual == pytest.approx(51 / 200)
    assert ev.rates["city"].verified == pytest.approx(15 / 200)
    assert ev.rates["city"].unverified_m2 == pytest.approx(36)
    tech = {x.group: x for x in ev.technologies}
    assert tech["clean_coal"].area_m2 == pytest.approx(90 - 60)
    assert tech["coal"].area_m2 == pytest.approx(30 + 15 + 20 + 24 + 60)


def test_energy_balance_of_the_evaluation():
    """Clean plus non-clean area equals heated area in every area type, before and after verification."""
    ev = evaluate(small_plan(), Period(2020, 4), [A, B], verdicts=[
        SourceVerdict("S1", "x", "a", "urban", "coal_chp_ultralow", 25.0, False, 0.8, 10, "")])
    total_tech = sum(t.area_m2 for t in ev.technologies)
    assert total_tech == pytest.approx(ev.rates["city"].heated_area_m2)
    clean_groups = sum(t.area_m2 for t in ev.technologies if t.group != "coal")
    assert clean_groups == pytest.approx(ev.rates["city"].clean_area_m2)
