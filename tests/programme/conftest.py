"""Fixtures for programme tests: the Harbin plan, filled templates, a bootstrapped database."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from openpyxl import load_workbook

from cleanheat.config import Settings
from cleanheat.programme.model import AREA_TYPE_LABELS, Period, PlanData
from cleanheat.programme.plan_data import read_plan
from cleanheat.programme.reports_io import AREAS, COVER, TASKS, Reporter, write_template
from tests.helpers import bootstrap, make_client


@pytest.fixture(scope="session")
def plan() -> PlanData:
    return read_plan(Settings().city_dir)


def reporter_for_unit(plan: PlanData, code: str) -> Reporter:
    u = plan.unit(code)
    return Reporter(f"gov-{code}", f"{u.name_zh}人民政府", code, u.area_types)


def fill_template(plan: PlanData, reporter: Reporter, period: Period | str, *,
                  areas: dict[tuple[str, str], object] | None = None, tasks: dict[str, object] | None = None,
                  totals: dict[str, object] | None = None, clean: dict[str, object] | None = None,
                  cover: dict[str, object] | None = None, auto_totals: bool = True) -> bytes:
    """A template filled like an office would: areas in 万m² by (area_type, technology code)."""
    period = Period.parse(str(period)) if not isinstance(period, Period) else period
    wb = load_workbook(io.BytesIO(write_template(plan, reporter, period)))
    if cover:
        ws = wb[COVER]
        for row in ws.iter_rows():
            if row[0].value in cover:
                row[1].value = cover[row[0].value]
    if reporter.admin_unit_code:
        ws = wb[AREAS]
        header = {c.value: c.column for c in ws[3]}
        rows = {ws.cell(r, 2).value: r for r in range(4, ws.max_row + 1)}
        sums: dict[str, float] = {}
        clean_sums: dict[str, float] = {}
        for (at, tech), value in (areas or {}).items():
            ws.cell(rows[tech], header[AREA_TYPE_LABELS[at][0]], value)
            if isinstance(value, int | float):
                sums[at] = sums.get(at, 0) + value
                if plan.technology(tech).counts_as_clean:
                    clean_sums[at] = clean_sums.get(at, 0) + value
        tot = dict(sums) if auto_totals else {}
        tot.update(totals or {})
        cl = dict(clean_sums) if auto_totals else {}
        cl.update(clean or {})
        for at, v in tot.items():
            ws.cell(rows["total"], header[AREA_TYPE_LABELS[at][0]], v)
        for at, v in cl.items():
            ws.cell(rows["clean"], header[AREA_TYPE_LABELS[at][0]], v)
    if tasks:
        ws = wb[TASKS]
        rows = {ws.cell(r, 1).value: r for r in range(4, ws.max_row + 1)}
        for code, value in tasks.items():
            ws.cell(rows[code], 5, value)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


DAOLI_AREAS = {  # 万m²
    ("urban", "coal_chp_ultralow"): 3000, ("urban", "coal_boiler"): 1500, ("urban", "gas"): 100,
    ("county_fringe", "coal_boiler_ultralow"): 100, ("county_fringe", "loose_coal"): 100,
    ("rural", "biomass"): 20, ("rural", "loose_coal"): 80,
}


@pytest.fixture
def daoli_file(plan) -> bytes:
    return fill_template(plan, reporter_for_unit(plan, "daoli"), "2020Q4", areas=DAOLI_AREAS,
                         tasks={"existing_building_retrofit_area": 12.5, "public_building_metered_share": 80})


@pytest.fixture
def data_dir() -> Path:
    return Path(__file__).parent / "data"


@pytest.fixture
def client(settings):
    """A test client of the web app on a bootstrapped database (the programme loaded, no demo data)."""
    bootstrap(settings)
    with make_client(settings) as c:
        yield c
