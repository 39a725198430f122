"""Scenario files: structure and meaning are checked, every problem is reported with its file, line and field."""

from __future__ import annotations

import pytest

from cleanheat.config import REPO_ROOT
from cleanheat.planner.errors import ScenarioError
from cleanheat.planner.scenario import parse_scenario


def parse(text, inputs):
    return parse_scenario(text, "s.yaml", inputs.catalogue, inputs.plan)


def issues_of(text, inputs):
    with pytest.raises(ScenarioError) as e:
        parse(text, inputs)
    return e.value.issues


def test_shipped_scenarios_parse(inputs):
    for path in sorted((REPO_ROOT / "data" / "planner" / "scenarios").glob("*.yaml")):
        sc = parse_scenario(path.read_text(encoding="utf-8"), str(path), inputs.catalogue, inputs.plan)
        assert sc.years == (2019, 2020, 2021)
        assert sc.rate_targets[("urban", 2021)] == 0.80  # from the plan, §二(三)


def test_unknown_option_is_located(inputs):
    text = "name: x\noptions:\n  overrides:\n    ashpp:\n      capex_yuan_m2: 100\n"
    (i,) = issues_of(text, inputs)
    assert i.file == "s.yaml" and i.row == 4 and i.field == "options.overrides.ashpp"
    assert "未知方式 'ashpp'" in i.message and i.message_en == "unknown option 'ashpp'"


def test_unknown_option_in_exclude_and_build_rate(inputs):
    text = "name: x\noptions:\n  exclude: [ashp, heat_pipe]\nbuild_rate:\n  max_m2_per_year: {gas_boiler: 10}\n"
    found = {(i.row, i.field) for i in issues_of(text, inputs)}
    assert (3, "options.exclude.1") in found
    assert (5, "build_rate.max_m2_per_year.gas_boiler") in found


def test_negative_price_is_located(inputs):
    text = ("name: x\nfuels:\n  overrides:\n    natural_gas_commercial:\n"
            "      price_yuan_per_unit: -3.2\n")
    (i,) = issues_of(text, inputs)
    assert i.row == 5 and i.field == "fuels.overrides.natural_gas_commercial.price_yuan_per_unit"
    assert "价格不能为负数" in i.message and "must not be negative" in i.message_en
    assert "s.yaml / 第 5 行 / 字段 fuels.overrides.natural_gas_commercial.price_yuan_per_unit" in str(i)


def test_several_problems_are_all_reported(inputs):
    text = ("name: x\nstart_year: 2019\nend_year: 2021\n"
            "gas: {supply_1e4_m3: {2018: 100}}\n"
            "caps: {pm_t: {2021: 5}}\n"
            "targets: {rates: {suburb: {2020: 0.5}, rural: {2021: 1.5}}}\n"
            "budget: {subsidy_wan_yuan: {2020: -1}}\n")
    found = {i.field: i for i in issues_of(text, inputs)}
    assert "gas.supply_1e4_m3.2018" in found and found["gas.supply_1e4_m3.2018"].row == 4
    assert "caps.pm_t" in found
    assert "targets.rates.suburb" in found
    assert "targets.rates.rural.2021" in found
    assert "budget.subsidy_wan_yuan.2020" in found and found["budget.subsidy_wan_yuan.2020"].row == 7


def test_unknown_key_and_wrong_type_are_located(inputs):
    text = "name: x\ngass: {}\nsolver:\n  method: magic\ndiscount_rate: lots\n"
    found = {i.field: i for i in issues_of(text, inputs)}
    assert found["gass"].row == 2 and "未知字段" in found["gass"].message
    assert found["solver.method"].row == 4
    assert found["discount_rate"].row == 5


def test_missing_name_and_yaml_syntax(inputs):
    (i,) = issues_of("description: no name\n", inputs)
    assert i.field == "name" and "缺少字段" in i.message
    (i,) = issues_of("name: x\ngas: {supply: [1, 2\n", inputs)
    assert i.row is not None and "YAML" in i.message


def test_override_fields_are_checked(inputs):
    text = ("name: x\noptions:\n  overrides:\n    loose_coal: {cop_scale: 2}\n    gshp: {colour: 1}\n"
            "    ashp: {capex_yuan_m2: low, cop_scale: 0.9}\n")
    found = {i.field: i for i in issues_of(text, inputs)}
    assert "options.overrides.loose_coal.cop_scale" in found
    assert "options.overrides.gshp.colour" in found
    assert "options.overrides.ashp.capex_yuan_m2" not in found  # "low" = the catalogue's lower bound
    (i,) = issues_of("name: x\noptions:\n  overrides:\n    gshp: {cop: red}\n", inputs)
    assert i.field == "options.overrides.gshp.cop" and i.row == 4


def test_overrides_apply_and_low_high_use_the_stated_range(inputs):
    text = ("name: x\nfuels:\n  overrides:\n    natural_gas_commercial: {price_yuan_per_unit: high}\n"
            "    electricity_residential: {price_scale: 1.5}\noptions:\n  overrides:\n"
            "    ashp: {capex_yuan_m2: 150, cop_scale: 0.5}\n")
    sc = parse(text, inputs)
    cat = sc.catalogue(inputs.catalogue)
    base = inputs.catalogue
    assert cat.fuels["natural_gas_commercial"].price_yuan_per_unit.value == \
        base.fuels["natural_gas_commercial"].price_yuan_per_unit.high
    assert cat.fuels["electricity_residential"].price_yuan_per_unit.value == pytest.approx(
        1.5 * base.fuels["electricity_residential"].price_yuan_per_unit.value)
    assert cat.option("ashp").capex_yuan_m2.value == 150
    assert cat.option("ashp").cop_curve.scale.value == pytest.approx(0.5)
    assert base.option("ashp").capex_yuan_m2.value == 180  # the base catalogue is untouched


def test_year_maps_carry_forward(inputs):
    sc = parse("name: x\nbudget: {subsidy_wan_yuan: {2019: 10, 2021: 30}}\n", inputs)
    assert sc.carried(sc.budget_wan_yuan) == {2019: 10, 2020: 10, 2021: 30}
