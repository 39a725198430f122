"""Tariffs and billing rules as dated data: the shipped Harbin files, selection by date, refusal of bad files."""

from __future__ import annotations

import shutil
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
import yaml

from cleanheat.billing.tariffs import (
    TariffFileError,
    TariffNotFoundError,
    read_billing_rules,
    read_tariffs,
)
from cleanheat.config import Settings

HARBIN = Path(__file__).resolve().parents[2] / "data" / "harbin"


def test_harbin_2011_two_part_tariff_as_in_domain_4_2() -> None:
    table = read_tariffs(HARBIN)
    saving = table.select("energy_saving_dwelling", date(2020, 11, 1))
    ordinary = table.select("ordinary_dwelling", date(2020, 11, 1))
    assert (saving.base_yuan_m2.value, saving.metered_yuan_gj.value) == (Decimal("16.54"), Decimal("44.41"))
    assert (ordinary.base_yuan_m2.value, ordinary.metered_yuan_gj.value) == (Decimal("19.37"), Decimal("39.14"))
    assert saving.area_basis == ordinary.area_basis == "usable"
    # the area price is unconfirmed: tagged K, and the tariff says it is uncertain
    assert saving.area_yuan_m2.value == Decimal("41.5") and saving.area_yuan_m2.confidence == "K"
    assert saving.uncertain and all(isinstance(t.area_yuan_m2.value, Decimal) for t in table.tariffs)


def test_no_tariff_before_validity_or_for_unpriced_classes() -> None:
    table = read_tariffs(HARBIN)
    with pytest.raises(TariffNotFoundError, match="2010-11-01"):
        table.select("ordinary_dwelling", date(2010, 11, 1))
    with pytest.raises(TariffNotFoundError, match="公共建筑"):
        table.select("public_building", date(2020, 11, 1))  # non-residential prices were not found


def test_billing_rules_of_harbin() -> None:
    rules = read_billing_rules(HARBIN, date(2020, 10, 20))
    assert rules.stop_heating_fee_share == Decimal("0.30")
    assert (rules.stop_heating_window_opens, rules.stop_heating_window_closes) == ((9, 20), (9, 30))
    assert rules.shortfall_min_room_temp_c == 18 and rules.shortfall_fix_within_h == 48
    assert rules.uncertain("prorate_by_days", "stop_heating_fee_share") == ["prorate_by_days"]


def _copy(tmp_path) -> Path:
    city = tmp_path / "harbin"
    city.mkdir()
    for name in ("tariffs.yaml", "billing_rules.yaml"):
        shutil.copy(HARBIN / name, city / name)
    return city


def _edit(path: Path, change) -> None:
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    change(doc)
    path.write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False), encoding="utf-8")


def test_a_new_tariff_takes_over_on_its_date(tmp_path) -> None:
    city = _copy(tmp_path)

    def newer(doc):
        row = dict(doc["tariffs"][1], id="harbin-2021-ordinary", valid_from=date(2021, 10, 1))
        row["metered_yuan_gj"] = dict(row["metered_yuan_gj"], value="42.00")
        doc["tariffs"][1]["valid_to"] = date(2021, 10, 1)
        doc["tariffs"].append(row)

    _edit(city / "tariffs.yaml", newer)
    table = read_tariffs(city)
    assert table.select("ordinary_dwelling", date(2021, 9, 30)).metered_yuan_gj.value == Decimal("39.14")
    assert table.select("ordinary_dwelling", date(2021, 10, 1)).metered_yuan_gj.value == Decimal("42.00")


def test_bad_tariff_file_names_every_problem(tmp_path) -> None:
    city = _copy(tmp_path)

    def spoil(doc):
        doc["tariffs"][0]["metered_yuan_gj"]["value"] = "-1"
        doc["tariffs"][0]["customer_class"] = "villa"
        del doc["tariffs"][1]["base_yuan_m2"]["source"]
        doc["tariffs"].append(dict(doc["tariffs"][1], id="dup"))  # overlaps harbin-2011-ordinary

    _edit(city / "tariffs.yaml", spoil)
    with pytest.raises(TariffFileError) as exc:
        read_tariffs(city)
    where = {(i.row, i.field) for i in exc.value.issues}
    assert {(1, "metered_yuan_gj"), (1, "customer_class"), (2, "base_yuan_m2"), (None, None)} <= where


def test_bad_rules_file_names_the_rule(tmp_path) -> None:
    city = _copy(tmp_path)
    _edit(city / "billing_rules.yaml",
          lambda d: d["rule_sets"][0]["rules"]["stop_heating_fee_share"].update(value="1.3"))
    with pytest.raises(TariffFileError) as exc:
        read_billing_rules(city, date(2020, 10, 20))
    assert [(i.row, i.field) for i in exc.value.issues] == [(1, "rules.stop_heating_fee_share")]


def test_readers_follow_the_data_dir(tmp_path) -> None:
    city = _copy(tmp_path)
    _edit(city / "billing_rules.yaml",
          lambda d: d["rule_sets"][0]["rules"]["stop_heating_fee_share"].update(value="0.25"))
    settings = Settings(data_dir=tmp_path)
    assert read_billing_rules(settings.city_dir, date(2020, 10, 20)).stop_heating_fee_share == Decimal("0.25")
