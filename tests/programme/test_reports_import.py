"""Parsing quarterly report files: good templates and every bad-input case, each located (sheet/row/column)."""

import pytest

from cleanheat.programme.errors import ReportImportError
from cleanheat.programme.model import Period
from cleanheat.programme.reports_io import Reporter, parse_report, write_template
from tests.programme.conftest import DAOLI_AREAS, fill_template, reporter_for_unit


@pytest.fixture
def reporters(plan):
    out = {}
    for u in plan.units:
        r = reporter_for_unit(plan, u.code)
        out[r.org_code] = out[r.name_zh] = out[u.name_zh] = out[u.code] = r
    out["htjt"] = Reporter("htjt", "哈投集团供热公司", None, ())
    return out


def issues_of(exc_info):
    return exc_info.value.issues


def test_parse_filled_template(plan, reporters, daoli_file):
    p = parse_report(daoli_file, "daoli.xlsx", plan, reporters)
    assert p.org_code == "gov-daoli" and p.admin_unit_code == "daoli" and p.period == Period(2020, 4)
    assert p.areas[("urban", "coal_chp_ultralow")] == pytest.approx(3000e4)  # 万m² -> m²
    assert p.areas[("rural", "loose_coal")] == pytest.approx(80e4)
    assert p.stated_total_m2["urban"] == pytest.approx(4600e4)
    assert p.stated_clean_m2["urban"] == pytest.approx(3100e4)
    assert p.tasks["existing_building_retrofit_area"] == pytest.approx(12.5e4)
    assert p.tasks["public_building_metered_share"] == pytest.approx(0.8)  # % -> fraction
    assert len(p.sha256) == 64


def test_template_of_a_county_has_no_urban_column_and_company_template_no_area_sheet(plan):
    from io import BytesIO

    from openpyxl import load_workbook

    wb = load_workbook(BytesIO(write_template(plan, reporter_for_unit(plan, "binxian"), Period(2020, 4))))
    header = [c.value for c in wb["取暖面积"][3]]
    assert "城市城区" not in header and "县城和城乡结合部" in header and "农村" in header
    wb = load_workbook(BytesIO(write_template(plan, Reporter("htjt", "哈投集团供热公司", None), Period(2020, 4))))
    assert wb.sheetnames == ["封面", "任务进展"]


def test_unknown_unit(plan, reporters, daoli_file):
    bad = fill_template(plan, reporter_for_unit(plan, "daoli"), "2020Q4", areas=DAOLI_AREAS,
                        cover={"填报单位": "不存在区", "单位编码": "nowhere"})
    with pytest.raises(ReportImportError) as exc:
        parse_report(bad, "x.xlsx", plan, reporters)
    i = issues_of(exc)[0]
    assert i.sheet == "封面" and i.row == 4 and i.column == "B" and "未知的填报单位" in i.message


@pytest.mark.parametrize("period", ["2018Q4", "2022Q1", "2020Q5", "2020-4"])
def test_period_outside_programme_or_malformed(plan, reporters, period):
    bad = fill_template(plan, reporter_for_unit(plan, "daoli"), "2020Q4", areas=DAOLI_AREAS, cover={"报告期": period})
    with pytest.raises(ReportImportError) as exc:
        parse_report(bad, "x.xlsx", plan, reporters)
    i = issues_of(exc)[0]
    assert (i.sheet, i.row, i.column, i.field) == ("封面", 5, "B", "period")


def test_non_numeric_and_negative_values_located(plan, reporters):
    areas = dict(DAOLI_AREAS)
    areas[("urban", "gas")] = "一百"
    areas[("rural", "biomass")] = -5
    bad = fill_template(plan, reporter_for_unit(plan, "daoli"), "2020Q4", areas=areas,
                        tasks={"existing_building_retrofit_area": "n/a"}, totals={"urban": 4600, "rural": 100},
                        clean={"urban": 3100, "rural": 20})
    with pytest.raises(ReportImportError) as exc:
        parse_report(bad, "x.xlsx", plan, reporters)
    by_msg = {(i.sheet, i.column): i for i in issues_of(exc)}
    gas = next(i for i in issues_of(exc) if "不是数字" in i.message and i.sheet == "取暖面积")
    assert gas.column == "D" and gas.row == 6  # row of 天然气 (third technology), column 城市城区
    neg = next(i for i in issues_of(exc) if "负数" in i.message)
    assert neg.sheet == "取暖面积" and neg.column == "F"
    task = next(i for i in issues_of(exc) if i.sheet == "任务进展")
    assert task.column == "E" and "不是数字" in task.message
    assert by_msg  # every issue carries a sheet and column


def test_clean_area_above_total_area(plan, reporters):
    bad = fill_template(plan, reporter_for_unit(plan, "daoli"), "2020Q4", areas=DAOLI_AREAS,
                        totals={"urban": 4600}, clean={"urban": 4700})
    with pytest.raises(ReportImportError) as exc:
        parse_report(bad, "x.xlsx", plan, reporters)
    i = next(i for i in issues_of(exc) if "clean area above total area" in i.message)
    assert i.sheet == "取暖面积" and i.column == "D" and i.row is not None


def test_area_typed_in_m2_instead_of_wan_m2(plan, reporters):
    areas = dict(DAOLI_AREAS)
    areas[("urban", "coal_chp_ultralow")] = 30_000_000  # 3000万m² typed as m²
    bad = fill_template(plan, reporter_for_unit(plan, "daoli"), "2020Q4", areas=areas)
    with pytest.raises(ReportImportError) as exc:
        parse_report(bad, "x.xlsx", plan, reporters)
    i = next(i for i in issues_of(exc) if "万m²" in i.message and "平方米" in i.message)
    assert (i.sheet, i.row, i.column) == ("取暖面积", 4, "D")


def test_totals_must_match_the_technology_rows(plan, reporters):
    bad = fill_template(plan, reporter_for_unit(plan, "daoli"), "2020Q4", areas=DAOLI_AREAS, totals={"urban": 5000})
    with pytest.raises(ReportImportError) as exc:
        parse_report(bad, "x.xlsx", plan, reporters)
    assert any("不等于取暖总面积" in i.message for i in issues_of(exc))


def test_area_in_an_area_type_the_unit_does_not_have(plan, reporters):
    # Bin county has no urban area: a value under 城市城区 cannot even be entered in its template, so a
    # template of Daoli relabelled as Bin county is used.
    bad = fill_template(plan, reporter_for_unit(plan, "daoli"), "2020Q4", areas=DAOLI_AREAS,
                        cover={"填报单位": "宾县人民政府", "单位编码": "gov-binxian"})
    with pytest.raises(ReportImportError) as exc:
        parse_report(bad, "x.xlsx", plan, reporters)
    assert any("不含区域类型" in i.message and i.column == "D" for i in issues_of(exc))


def test_not_a_workbook_and_unsupported_type(plan, reporters):
    from cleanheat.errors import InputError

    with pytest.raises(InputError):
        parse_report(b"not a zip", "x.xlsx", plan, reporters)
    with pytest.raises(InputError):
        parse_report(b"x", "x.pdf", plan, reporters)


CSV_OK = """单位,报告期,项目,区域类型,编码,数值
道里区,2020Q4,取暖面积,城市城区,coal_chp_ultralow,3000
道里区,2020Q4,取暖面积,城市城区,coal_boiler,1500
道里区,2020Q4,取暖总面积,城市城区,,4500
道里区,2020Q4,清洁取暖面积,城市城区,,3000
道里区,2020Q4,取暖面积,农村,biomass,20
道里区,2020Q4,取暖面积,县城和城乡结合部,loose_coal,100
道里区,2020Q4,任务,,existing_building_retrofit_area,10
"""


def test_csv_import(plan, reporters):
    p = parse_report(CSV_OK.encode("utf-8-sig"), "r.csv", plan, reporters)
    assert p.period == Period(2020, 4) and p.areas[("urban", "coal_boiler")] == pytest.approx(1500e4)
    assert p.tasks["existing_building_retrofit_area"] == pytest.approx(10e4)
    # GBK, as saved by Chinese Excel, works too.
    assert parse_report(CSV_OK.encode("gbk"), "r.csv", plan, reporters).areas == p.areas


@pytest.mark.parametrize("line,col,text", [
    ("道里区,2020Q4,取暖面积,城市城区,gas,abc", "F", "不是数字"),
    ("道里区,2020Q4,取暖面积,城市城区,gas,-1", "F", "负数"),
    ("道里区,2020Q4,取暖面积,城市城区,gas,45000000", "F", "万m²"),
    ("道里区,2023Q1,取暖面积,城市城区,gas,1", "B", "不在方案期"),
    ("某某区,2020Q4,取暖面积,城市城区,gas,1", "A", "未知的填报单位"),
    ("道里区,2020Q4,取暖面积,城市城区,nuclear,1", "E", "未知的取暖方式"),
])
def test_csv_bad_rows_are_located(plan, reporters, line, col, text):
    data = (CSV_OK + line + "\n").encode()
    with pytest.raises(ReportImportError) as exc:
        parse_report(data, "r.csv", plan, reporters)
    i = next(i for i in issues_of(exc) if text in i.message)
    assert (i.sheet, i.row, i.column) == ("csv", 9, col)


def test_csv_clean_above_total(plan, reporters):
    data = CSV_OK.replace("清洁取暖面积,城市城区,,3000", "清洁取暖面积,城市城区,,4600").encode()
    with pytest.raises(ReportImportError) as exc:
        parse_report(data, "r.csv", plan, reporters)
    i = next(i for i in issues_of(exc) if "clean area above total area" in i.message)
    assert (i.row, i.column) == (5, "F")


def test_csv_must_cover_every_area_type_of_the_unit(plan, reporters):
    data = "\n".join(ln for ln in CSV_OK.splitlines() if "县城和城乡结合部" not in ln).encode()
    with pytest.raises(ReportImportError) as exc:
        parse_report(data, "r.csv", plan, reporters)
    assert any("县城和城乡结合部：未填写取暖面积" in i.message for i in issues_of(exc))


def test_an_untouched_template_is_rejected(plan, reporters):
    """A template sent back without figures must not replace a real report (its empty totals are not zeros)."""
    empty = write_template(plan, reporter_for_unit(plan, "yilan"), Period(2021, 4))
    with pytest.raises(ReportImportError) as exc:
        parse_report(empty, "依兰县.xlsx", plan, reporters)
    missing = {(i.sheet, i.column) for i in issues_of(exc) if "未填写取暖面积" in i.message}
    assert missing == {("取暖面积", "D"), ("取暖面积", "E")}  # 县城和城乡结合部, 农村
    # a company's template (tasks only) sent back empty
    empty = write_template(plan, reporters["htjt"], Period(2021, 4))
    with pytest.raises(ReportImportError) as exc:
        parse_report(empty, "htjt.xlsx", plan, reporters)
    (issue,) = issues_of(exc)
    assert issue.sheet == "任务进展" and "未填写任何数据" in issue.message
