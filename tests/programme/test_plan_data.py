"""The transcribed plan against the plan text (《哈尔滨市冬季清洁取暖实施方案（2019-2021年）》), one test per family.

Expected values are typed here from the plan text, independently of data/harbin/*.yaml.
"""

import pytest

from cleanheat.programme.plan_data import read_plan

YI = 1e8  # 亿m²
WAN = 1e4  # 万m²


def test_units_are_harbins_9_districts_and_9_counties(plan):
    names = [u.name_zh for u in plan.units]
    assert names[:9] == ["道里区", "南岗区", "道外区", "平房区", "松北区", "香坊区", "呼兰区", "阿城区", "双城区"]
    assert sorted(names[9:]) == sorted(["依兰县", "方正县", "宾县", "巴彦县", "木兰县", "通河县", "延寿县",
                                       "尚志市", "五常市"])
    assert sum(1 for u in plan.units if u.kind == "district") == 9
    # Every area type is contained in at least one unit; only the six central districts hold urban area.
    assert {at for u in plan.units for at in u.area_types} == {"urban", "county_fringe", "rural"}
    assert sum(1 for u in plan.units if "urban" in u.area_types) == 6


def test_baseline_2018_areas(plan):  # §一(一)1
    expect = {"city": (4.17, 0.95, 0.23), "urban": (2.84, 0.76, 0.27), "county_fringe": (0.66, 0.13, 0.19),
              "rural": (0.67, 0.055, 0.08)}
    for at, (heated, clean, rate) in expect.items():
        b = plan.baseline(at)
        assert b.heated_area_m2 == pytest.approx(heated * YI)
        assert b.clean_area_m2 == pytest.approx(clean * YI)
        assert b.stated_rate == rate
        assert b.clause == "§一(一)1"
    assert plan.baseline("urban").central_heating_share == 0.98
    assert plan.baseline("county_fringe").central_heating_share == 0.87
    # The three area types add up to the city total stated by the plan.
    assert sum(plan.baseline(t).heated_area_m2 for t in ("urban", "county_fringe", "rural")) == pytest.approx(4.17 * YI)


def test_baseline_energy_mix_and_network(plan):  # §一(一)3, §一(一)4
    mix = {f.key: f.value for f in plan.baseline_facts if f.family == "energy_mix"}
    assert mix == pytest.approx({"coal": 0.958, "gas": 0.004, "electric": 0.004, "renewable": 0.029,
                                 "waste_heat_ground_source": 0.005})
    net = {f.key: f.value for f in plan.baseline_facts if f.family == "network"}
    assert net == {"total_km": 4685, "primary_km": 1320, "secondary_km": 3365, "urban_km": 3300, "county_km": 1385}
    assert net["primary_km"] + net["secondary_km"] == net["total_km"]


def test_rate_targets_2019_2021(plan):  # §二(三)
    expect = {2019: (0.60, 0.50, 0.20), 2020: (0.70, 0.60, 0.30), 2021: (0.80, 0.70, 0.40)}
    for year, (urban, county, rural) in expect.items():
        assert plan.rate_target("urban", year) == urban
        assert plan.rate_target("county_fringe", year) == county
        assert plan.rate_target("rural", year) == rural
    assert all(t.clause == "§二(三)" for t in plan.rate_targets)
    assert {(r.year, r.min_rate) for r in plan.reference_city_targets} == {(2019, 0.60), (2020, 0.70)}


def test_technology_area_targets_2021(plan):  # §三(一)1-6
    t = {x.group: x for x in plan.technology_targets}
    assert t["clean_coal"].area_m2 == pytest.approx(2.5 * YI) and t["clean_coal"].basis == "increase"
    assert t["gas"].area_m2 == pytest.approx(600 * WAN) and t["gas"].clause == "§三(一)2"
    assert t["electric"].area_m2 == pytest.approx(200 * WAN) and t["electric"].clause == "§三(一)3"
    assert t["biomass"].area_m2 == pytest.approx(1600 * WAN) and t["biomass"].clause == "§三(一)4"
    assert t["geothermal"].area_m2 == pytest.approx(80 * WAN) and t["geothermal"].clause == "§三(一)5"
    assert t["waste_heat"].area_m2 == pytest.approx(1000 * WAN) and t["waste_heat"].clause == "§三(一)6"
    assert all(x.year == 2021 for x in plan.technology_targets)


def _targets(plan, code):
    return {t.year: (t.value, t.basis) for t in plan.task(code).targets}


def test_boiler_task_targets(plan):  # §三(一)1-4
    assert _targets(plan, "coal_ultralow_count") == {2019: (72, "cumulative")}
    assert _targets(plan, "coal_ultralow_capacity") == {2019: (10185, "cumulative")}
    assert _targets(plan, "coal_ultralow_urban_35") == {2021: (212, "cumulative")}
    assert _targets(plan, "coal_ultralow_county_35") == {2021: (66, "cumulative")}
    assert _targets(plan, "coal_demolish_urban_count")[2021][0] == 84
    assert _targets(plan, "coal_demolish_urban_capacity")[2021][0] == 2400
    assert _targets(plan, "coal_demolish_county_rural_count")[2021][0] == 664
    assert _targets(plan, "coal_demolish_county_rural_capacity")[2021][0] == 1200
    assert _targets(plan, "coal_to_gas_count") == {2019: (17, "cumulative")}
    assert _targets(plan, "coal_to_gas_capacity") == {2019: (58, "cumulative")}
    assert _targets(plan, "gas_peaking_boilers_count") == {2020: (19, "cumulative")}
    assert _targets(plan, "gas_peaking_boilers_capacity") == {2020: (610, "cumulative")}
    assert _targets(plan, "coal_to_electric_count") == {2019: (405, "cumulative")}
    assert _targets(plan, "coal_to_electric_capacity") == {2019: (388, "cumulative")}
    assert _targets(plan, "coal_to_biomass_count") == {2019: (111, "cumulative")}
    assert _targets(plan, "coal_to_biomass_capacity") == {2019: (170, "cumulative")}
    # Boiler tasks are counted from the registry by rule.
    assert plan.task("coal_ultralow_urban_35").registry_rule == {
        "event": "ultra_low_retrofitted", "fuel": "coal", "min_capacity_t_h": 35, "area_types": ["urban"]}
    assert plan.task("coal_demolish_urban_count").registry_rule["below_capacity_t_h"] == 35


def test_network_and_station_targets_are_cumulative(plan):  # §三(二)1: 100 -> 212 -> 312 km, 38 -> 59 -> 87
    assert _targets(plan, "network_renovation_km") == {2019: (100, "cumulative"), 2020: (212, "cumulative"),
                                                       2021: (312, "cumulative")}
    assert _targets(plan, "stations_renovated") == {2019: (38, "cumulative"), 2020: (59, "cumulative"),
                                                    2021: (87, "cumulative")}
    assert plan.task("network_renovation_km").measure == "length_km"
    assert plan.task("network_renovation_km").unit_zh == "公里"
    assert plan.task("stations_renovated").unit_zh == "个"


def test_biomass_smart_building_metering_targets(plan):  # §三(一)4, §三(二)2, §三(三)
    assert _targets(plan, "biomass_household_stoves") == {2019: (20000, "cumulative")}
    assert _targets(plan, "biomass_chp_projects") == {2020: (18, "cumulative")}
    assert _targets(plan, "straw_biogas_chp_projects") == {2020: (9, "cumulative")}
    assert _targets(plan, "smart_heating_area") == {2021: (1000 * WAN, "level")}
    assert plan.task("smart_heating_area").target_for(2021).comparator == "~"  # 1000万平方米左右
    assert _targets(plan, "existing_building_retrofit_area") == {2021: (610 * WAN, "cumulative")}
    assert _targets(plan, "new_residential_75_share") == {2020: (1.0, "level")}
    assert _targets(plan, "public_building_metered_share") == {2021: (1.0, "level")}


def test_every_task_cites_its_clause_and_responsible_units(plan):
    for task in plan.tasks:
        assert task.clause.startswith("§三"), task.code
        assert task.responsible, task.code
        for t in task.targets:
            assert t.text, f"{task.code} {t.year}: the plan's words are kept"
    assert "各供热主体" in plan.task("network_renovation_km").responsible
    assert "市农业农村局" in plan.task("biomass_household_stoves").responsible
    assert "国网哈尔滨供电公司" in plan.task("coal_to_electric_count").responsible


def test_named_key_projects(plan):
    p = {x.code: x for x in plan.projects}
    assert p["huaer_chp"].spec == "3×80MW+3×420t/h" and p["huaer_chp"].area_m2 == pytest.approx(215 * WAN)
    assert p["wenchang_sewage_hp"].capacity_mw == 294 and p["wenchang_sewage_hp"].area_m2 == pytest.approx(500 * WAN)
    assert p["longtang_sewage_hp"].capacity_mw == 80 and p["longtang_sewage_hp"].area_m2 == pytest.approx(120 * WAN)
    assert p["agang_industrial_waste_heat"].capacity_mw == 91
    assert p["xinhaidu_gas_chp"].capacity_mw == 12 and p["airport_gas_chp"].capacity_mw == 2.4
    assert p["newarea_gshp_building"].area_m2 == pytest.approx(2 * WAN)
    assert len(p) >= 20


def test_clean_technologies_and_coal_only_ultra_low(plan):  # DOMAIN §6.2
    rules = {t.code: t.clean_rule for t in plan.technologies}
    assert rules["coal_chp_ultralow"] == rules["coal_boiler_ultralow"] == "clean_if_ultra_low"
    assert rules["coal_boiler"] == rules["loose_coal"] == rules["coal_briquette"] == "not_clean"
    for clean in ("gas", "electric", "geothermal", "waste_heat", "solar"):
        assert rules[clean] == "clean"
    assert rules["biomass"] == "clean_if_compliant"


def test_inconsistent_plan_data_is_refused_with_locations(tmp_path, plan):
    import shutil

    from cleanheat.config import Settings
    from cleanheat.programme.errors import PlanDataError

    src = Settings().city_dir
    shutil.copytree(src, tmp_path / "x")
    tasks = (tmp_path / "x" / "tasks.yaml").read_text(encoding="utf-8")
    tasks = tasks.replace("{year: 2020, value: 212, basis: cumulative", "{year: 2020, value: 90, basis: cumulative")
    (tmp_path / "x" / "tasks.yaml").write_text(tasks, encoding="utf-8")
    with pytest.raises(PlanDataError) as exc:
        read_plan(tmp_path / "x")
    assert any(i.file == "tasks.yaml" and i.field == "network_renovation_km" for i in exc.value.issues)


def test_a_misspelt_registry_rule_key_is_refused(tmp_path):
    """A typo in a registry rule would silently drop a filter (and count every boiler): it is an error."""
    import shutil

    from cleanheat.config import Settings
    from cleanheat.programme.errors import PlanDataError

    shutil.copytree(Settings().city_dir, tmp_path / "x")
    path = tmp_path / "x" / "tasks.yaml"
    tasks = path.read_text(encoding="utf-8").replace("owners: [htjt]", "owner: [htjt]", 1)
    path.write_text(tasks, encoding="utf-8")
    with pytest.raises(PlanDataError) as exc:
        read_plan(tmp_path / "x")
    assert any(i.field == "gas_peaking_boilers_count.registry" and "owner" in i.message for i in exc.value.issues)


def test_a_missing_key_is_reported_with_its_place_not_a_key_error(tmp_path):
    """Every list of the plan files is checked by its column spec: a row without a required key is a located issue."""
    import shutil

    from cleanheat.config import Settings
    from cleanheat.programme.errors import PlanDataError

    shutil.copytree(Settings().city_dir, tmp_path / "x")
    path = tmp_path / "x" / "technologies.yaml"
    text = path.read_text(encoding="utf-8")
    assert "name_zh: 燃煤锅炉（超低排放）," in text
    path.write_text(text.replace("name_zh: 燃煤锅炉（超低排放）,", "", 1), encoding="utf-8")
    with pytest.raises(PlanDataError) as exc:
        read_plan(tmp_path / "x")
    (issue,) = exc.value.issues
    assert (issue.file, issue.field) == ("technologies.yaml", "technologies.coal_boiler_ultralow.name_zh")
    assert issue.message == "必填项为空" and issue.message_en == "required"
