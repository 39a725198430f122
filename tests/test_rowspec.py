"""The generic row validator (cleanheat.rowspec): types, bounds, required, aliases, several issues in one row,
and where each issue is."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from cleanheat.rowspec import CellError, Column, Msg, RowSpec, boolean, decimal, iso_date, number, text
from cleanheat.tabular import Cell

SPEC = RowSpec((
    Column("code", ("编码", "code"), required=True),
    Column("households", ("户数", "households"), parse=number, required=True, minimum=0, exclusive_minimum=True,
           messages={"type": Msg("不是数字: {raw!r}", "not a number: {raw!r}"),
                     "minimum": Msg("须为正数: {raw}", "must be positive: {raw}")}),
    Column("capacity_t_h", ("额定容量(蒸吨)", "capacity_t_h"), parse=decimal, unit="t/h", minimum=0, maximum=5000,
           messages={"maximum": Msg("额定容量 {value} 蒸吨不合理", "implausible, > {max} {unit}")}),
    Column("gas", ("有燃气", "gas"), parse=boolean(frozenset({"yes", "是"}), frozenset({"no", "否"})), default=False),
    Column("kind", ("类型", "kind"), choices={"燃煤锅炉": "coal_boiler", "coal_boiler": "coal_boiler"},
           choices_shown="燃煤锅炉", default="coal_boiler"),
    Column("since", ("日期", "date"), parse=iso_date, maximum=date(2021, 12, 31)),
))
HEADER = ["编码", "户数", "额定容量 (蒸吨)", "有燃气", "类型", "日期"]


def check(row: dict, **where):
    return SPEC.validate(row, file="f.csv", sheet="s", row_no=7, **where)


def test_a_good_row_becomes_typed_values():
    r = check({"code": " A1 ", "households": "1200", "capacity_t_h": "58", "gas": "是", "kind": "燃煤锅炉",
               "since": "2020-10-01"})
    assert r.ok and r.values == {"code": "A1", "households": 1200.0, "capacity_t_h": Decimal("58"), "gas": True,
                                 "kind": "coal_boiler", "since": date(2020, 10, 1)}


def test_empty_optional_cells_take_the_default_and_required_ones_are_reported():
    r = check({"households": "3"})
    assert r.values["gas"] is False and r.values["kind"] == "coal_boiler" and r.values["capacity_t_h"] is None
    (i,) = r.issues
    assert (i.field, i.message, i.message_en, r.missing) == ("code", "必填项为空", "required", ["code"])


def test_every_problem_of_a_row_is_reported_with_its_location():
    r = check({"code": "A1", "households": "many", "capacity_t_h": "6000", "gas": "maybe", "kind": "kettle",
               "since": "2030-01-01"}, columns={"households": "B", "kind": "E"})
    by_field = {i.field: i for i in r.issues}
    assert set(by_field) == {"households", "capacity_t_h", "gas", "kind", "since"} and not r.ok
    assert all((i.file, i.sheet, i.row) == ("f.csv", "s", 7) for i in r.issues)
    assert by_field["households"].column == "B" and by_field["kind"].column == "E"
    assert by_field["households"].message == "不是数字: 'many'"
    assert by_field["households"].message_en == "not a number: 'many'"
    assert by_field["capacity_t_h"].message == "额定容量 6000 蒸吨不合理"
    assert by_field["capacity_t_h"].message_en == "implausible, > 5000 t/h"
    assert "燃煤锅炉" in by_field["kind"].message and r.values["kind"] is None
    assert "f.csv / 工作表 s / 第 7 行 / 列 B / 字段 households" in str(by_field["households"])


@pytest.mark.parametrize(("raw", "ok"), [("1", True), ("0", False), ("-1", False), ("inf", False), ("nan", False)])
def test_bounds_exclusive_minimum_and_non_finite(raw, ok):
    r = check({"code": "A", "households": raw})
    assert r.ok is ok
    if not ok:
        assert r.issues[0].message == f"须为正数: {raw}"


def test_cells_place_their_own_row_and_column_and_inline_english():
    spec = RowSpec(SPEC.columns, inline_en=True)
    r = spec.validate({"code": Cell("A", 4, "A"), "households": Cell("x", 4, "B"),
                       "capacity_t_h": Cell(-2, 4, "C")}, file="r.xlsx", sheet="热源")
    where = {(i.row, i.column, i.field) for i in r.issues}
    assert where == {(4, "B", "households"), (4, "C", "capacity_t_h")}
    msgs = {i.field: i.message for i in r.issues}
    assert msgs["households"] == "不是数字: 'x' (not a number: 'x')"
    assert msgs["capacity_t_h"] == "数值 -2 不能小于 0 (must be >= 0)"
    assert all(i.message_en is None for i in r.issues)


def test_decimal_keeps_the_text_of_the_tabular_message():
    r = check({"code": "A", "households": "1", "capacity_t_h": "abc"})
    assert r.issues[0].message == "“abc”不是数字 (not a number)"


def test_header_aliases_map_a_sequence_or_a_mapping_to_fields():
    assert SPEC.locate(HEADER) == {"code": 0, "households": 1, "capacity_t_h": 2, "gas": 3, "kind": 4, "since": 5}
    english = ["households", "code", "kind"]
    row = SPEC.fields_of(english, ["5", "B2", "coal_boiler"])
    assert row == {"households": "5", "code": "B2", "kind": "coal_boiler"}
    assert check(row).ok
    assert SPEC.fields_of([], {"户数": "5", "code": "B3"}) == {"code": "B3", "households": "5"}
    assert SPEC.aliases()["capacity_t_h"] == ("额定容量(蒸吨)", "capacity_t_h")


def test_a_parser_may_report_several_problems_of_one_cell():
    def items(raw):
        bad = [x for x in text(raw).split(";") if x not in ("a", "b")]
        if bad:
            raise CellError(*(Msg(f"未知 {x}", f"unknown {x}") for x in bad))
        return frozenset(text(raw).split(";"))

    spec = RowSpec((Column("items", parse=items),))
    r = spec.validate({"items": "a;x;y"}, row_no=2, columns={"items": "items"})
    assert [(i.message, i.message_en, i.column) for i in r.issues] == [("未知 x", "unknown x", "items"),
                                                                      ("未知 y", "unknown y", "items")]
    assert spec.validate({"items": "a;b"}).values == {"items": frozenset({"a", "b"})}


def test_duplicate_field_names_are_refused():
    with pytest.raises(ValueError, match="duplicate"):
        RowSpec((Column("a"), Column("a")))


def test_user_text_in_a_message_is_not_a_template():
    spec = RowSpec((Column("n", parse=decimal), Column("k", choices={"a": 1},
                                                        messages={"choice": Msg("未知 {raw}", "unknown {raw!r}")})))
    r = spec.validate({"n": "{0}{x}", "k": "{y}"}, row_no=1)
    assert [i.message for i in r.issues] == ["“{0}{x}”不是数字 (not a number)", "未知 {y}"]
