"""A registry CSV holds heat sources or status events, told apart by its header (parse_registry is pure)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import pytest

from cleanheat.assets.heat_source_import import parse_registry
from cleanheat.errors import InputError


@dataclass(frozen=True)
class Unit:
    code: str
    name_zh: str
    area_types: tuple[str, ...]


UNITS = [Unit("daoli", "道里区", ("urban",))]
ORGS = {"htjt": "htjt"}
SOURCES = ("编码,名称,所属单位,行政区,区域类型,类型,燃料,额定容量(蒸吨),额定功率(MW)\n"
           "A1,锅炉1,htjt,道里区,城市城区,燃煤锅炉,燃煤,58,\n"
           "A2,锅炉2,htjt,daoli,urban,coal_boiler,coal,,29\n")
EVENTS = "编码,事件,日期,备注\nA1,超低排放改造,2019-09-30,改造\n"


def test_a_sources_csv_is_read_as_sources():
    parsed = parse_registry(SOURCES.encode(), "sources.csv", UNITS, ORGS)
    assert [(s.code, s.capacity_t_h, s.capacity_mw) for s in parsed.sources] == [("A1", 58.0, None),
                                                                               ("A2", None, 29.0)]
    assert parsed.events == []


def test_an_events_csv_is_read_as_events():
    parsed = parse_registry(EVENTS.encode(), "events.csv", UNITS, ORGS, today=date(2021, 1, 1))
    assert parsed.sources == [] and parsed.events == [("A1", "ultra_low_retrofitted", date(2019, 9, 30), "改造")]


def test_a_bad_csv_row_names_its_cell():
    with pytest.raises(InputError) as exc:
        parse_registry(SOURCES.replace(",58,", ",6000,").encode(), "sources.csv", UNITS, ORGS)
    (issue,) = exc.value.issues
    assert (issue.sheet, issue.row, issue.column, issue.field) == ("csv", 2, "H", "capacity_t_h")
    assert "6000" in issue.message and "implausible" in issue.message
