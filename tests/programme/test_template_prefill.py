"""The quarterly template helps: it is pre-filled with the unit's last accepted figures, has only the unit's
area types, computes its totals by formula, and the total check tolerates rounding (±0.01 万m²) only."""

import io

import pytest
from openpyxl import load_workbook

from cleanheat.programme.errors import ReportImportError
from cleanheat.programme.model import AREA_TYPE_LABELS, Period
from cleanheat.programme.reports_io import AREAS, COVER, TASKS, parse_report, write_template
from tests.helpers import token
from tests.programme.conftest import DAOLI_AREAS, fill_template, reporter_for_unit
from tests.programme.test_workflow import XLSX, upload


@pytest.fixture
def reporters(plan):
    r = reporter_for_unit(plan, "daoli")
    return {r.org_code: r}


def _issues(exc):
    return exc.value.issues


def test_totals_within_rounding_are_accepted(plan, reporters):
    # 4600.00 stated, the rows sum to 4600.01: rounding
    data = fill_template(plan, reporter_for_unit(plan, "daoli"), "2020Q4", areas=DAOLI_AREAS,
                         totals={"urban": 4599.99}, clean={"urban": 3100.01})
    parsed = parse_report(data, "r.xlsx", plan, reporters)
    assert parsed.stated_total_m2["urban"] == pytest.approx(4599.99e4)


def test_totals_beyond_rounding_are_refused_naming_both_numbers(plan, reporters):
    # 0.02 万m² off (within the former 0.5 % tolerance, 23 万m², but not rounding)
    data = fill_template(plan, reporter_for_unit(plan, "daoli"), "2020Q4", areas=DAOLI_AREAS,
                         totals={"urban": 4599.98}, clean={"urban": 3100.05})
    with pytest.raises(ReportImportError) as exc:
        parse_report(data, "r.xlsx", plan, reporters)
    msgs = [i.message for i in _issues(exc)]
    total = next(m for m in msgs if "不等于取暖总面积" in m)
    assert "4600.00" in total and "4599.98" in total and "±0.01" in total
    clean = next(m for m in msgs if "不等于所填清洁取暖面积" in m)
    assert "3100.00" in clean and "3100.05" in clean
    i = next(i for i in _issues(exc) if "不等于取暖总面积" in i.message)
    assert (i.sheet, i.column, i.row) == (AREAS, "D", 15)


def test_template_totals_are_formulas_computed_on_import(plan, reporters):
    # the areas typed, the total and clean rows left as the template's formulas
    data = fill_template(plan, reporter_for_unit(plan, "daoli"), "2020Q4", areas=DAOLI_AREAS, auto_totals=False)
    ws = load_workbook(io.BytesIO(data))[AREAS]
    assert ws["D15"].value == "=SUM(D4:D14)" and ws["D16"].value.startswith("=SUM(D4,")
    parsed = parse_report(data, "r.xlsx", plan, reporters)
    assert parsed.stated_total_m2["urban"] == pytest.approx(4600e4)
    assert parsed.stated_clean_m2["urban"] == pytest.approx(3100e4)


def test_template_has_only_the_units_area_types(plan):
    r = reporter_for_unit(plan, "daoli")
    ws = load_workbook(io.BytesIO(write_template(plan, r, Period(2020, 4))))[AREAS]
    header = [c.value for c in ws[3]][3:]
    assert len(header) == len(r.area_types) == 3
    county = next(u for u in plan.units if len(u.area_types) < 3)
    rc = reporter_for_unit(plan, county.code)
    ws = load_workbook(io.BytesIO(write_template(plan, rc, Period(2020, 4))))[AREAS]
    assert [c.value for c in ws[3]][3:] == [AREA_TYPE_LABELS[t][0] for t in rc.area_types]


def test_downloaded_template_is_prefilled_with_the_last_accepted_report(client, plan):
    daoli, office = token(client, "daoli"), token(client, "office")
    data = fill_template(plan, reporter_for_unit(plan, "daoli"), "2020Q3", areas=DAOLI_AREAS,
                         tasks={"existing_building_retrofit_area": 12.5, "public_building_metered_share": 80})
    rid = upload(client, daoli, data).json()["id"]
    assert client.post(f"/api/programme/reports/{rid}/review", json={"decision": "accept"},
                       headers=office).status_code == 200

    r = client.get("/api/programme/template", params={"unit": "daoli", "period": "2020Q4"}, headers=daoli)
    assert r.status_code == 200 and r.headers["content-type"] == XLSX
    wb = load_workbook(io.BytesIO(r.content))
    ws = wb[AREAS]
    rows = {ws.cell(i, 2).value: i for i in range(4, ws.max_row + 1)}
    assert ws.cell(rows["coal_chp_ultralow"], 4).value == 3000
    assert ws.cell(rows["loose_coal"], 6).value == 80
    assert ws.cell(rows["solar"], 4).value is None
    assert str(ws.cell(rows["total"], 4).value).startswith("=SUM(")
    ts = wb[TASKS]
    task_rows = {ts.cell(i, 1).value: i for i in range(4, ts.max_row + 1)}
    assert ts.cell(task_rows["existing_building_retrofit_area"], 5).value == 12.5
    assert ts.cell(task_rows["public_building_metered_share"], 5).value == 80
    assert "2020Q3" in str(wb[COVER]["B8"].value)

    # uploaded unchanged for 2020Q4, it carries the same figures
    r = upload(client, daoli, r.content, name="q4.xlsx")
    assert r.status_code == 201, r.text
    assert r.json()["period"] == "2020Q4"
    assert r.json()["areas_m2"]["urban"]["coal_chp_ultralow"] == pytest.approx(3000e4)
    assert r.json()["tasks"]["public_building_metered_share"] == pytest.approx(0.8)

    # another unit's template is not available to daoli; without accepted reports nothing is pre-filled
    assert client.get("/api/programme/template", params={"unit": "binxian", "period": "2020Q4"},
                      headers=daoli).status_code == 404
    r = client.get("/api/programme/template", params={"unit": "binxian", "period": "2020Q4"}, headers=office)
    ws = load_workbook(io.BytesIO(r.content))[AREAS]
    assert all(ws.cell(i, j).value is None for i in range(4, 15) for j in range(4, ws.max_column + 1))
