"""The option catalogue: every value has a source and a stated range; bad files are reported with locations."""

from __future__ import annotations

import pytest

from cleanheat.config import REPO_ROOT
from cleanheat.planner.catalogue import parse_catalogue
from cleanheat.planner.errors import CatalogueError

CAT = REPO_ROOT / "data" / "planner" / "catalogue.yaml"
BLD = REPO_ROOT / "data" / "planner" / "buildings.yaml"


def test_catalogue_lists_the_issue_options_with_sources(inputs):
    cat = inputs.catalogue
    assert len(cat.options) == 15
    assert sum(not o.is_status_quo for o in cat.options) == 13
    for o in cat.options:
        for name, q in o.quantities().items():
            assert q.source.strip(), f"{o.code}.{name} has no source"
            assert q.confidence in "CSKD"
            assert q.low <= q.value <= q.high
    for f in cat.fuels.values():
        assert f.price_yuan_per_unit.source and f.co2_kg_per_gj.source


def test_clean_flags_follow_the_plans_technology_rules(inputs):
    cat = inputs.catalogue
    clean = {o.code for o in cat.options if o.clean}
    assert "loose_coal" not in clean and "coal_briquette" not in clean and "coal_boiler_legacy" not in clean
    assert {"chp_network", "gas_wall_hung", "ashp", "biomass_pellet_stove", "geothermal"} <= clean
    assert cat.option("chp_network").group == "clean_coal"
    assert cat.option("gshp").group == "geothermal"


def test_clean_flag_disagreeing_with_the_plan_is_refused(inputs):
    text = CAT.read_text(encoding="utf-8").replace(
        "    programme_technology: loose_coal\n    clean: false",
        "    programme_technology: loose_coal\n    clean: true")
    techs = {t.code: t for t in inputs.plan.technologies}
    with pytest.raises(CatalogueError) as e:
        parse_catalogue(text, "catalogue.yaml", BLD.read_text(encoding="utf-8"), "buildings.yaml", techs)
    (i,) = e.value.issues
    assert i.field == "options.13.clean" and i.row is not None and "clean_rule=not_clean" in i.message


def test_negative_value_and_missing_source_are_located():
    text = CAT.read_text(encoding="utf-8")
    text = text.replace("price_yuan_per_unit: {value: 750,", "price_yuan_per_unit: {value: -750,", 1)
    text = text.replace('om_yuan_m2: {value: 3.0, low: 2.0, high: 5.0, confidence: K, source: "station and network '
                        'upkeep, assumption"}', "om_yuan_m2: {value: 3.0, low: 2.0, high: 5.0, confidence: K}")
    with pytest.raises(CatalogueError) as e:
        parse_catalogue(text, "catalogue.yaml", BLD.read_text(encoding="utf-8"), "buildings.yaml")
    found = {i.field: i for i in e.value.issues}
    assert "fuels.coal_household.price_yuan_per_unit.value" in found
    assert "不能为负数" in found["fuels.coal_household.price_yuan_per_unit.value"].message
    assert "options.0.om_yuan_m2.source" in found
