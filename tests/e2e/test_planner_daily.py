"""Planner usability in the real browser: a new scenario starts as a copy of the reference scenario (build rates
included), an infeasible result shows its reasons and no costs, a proposal names options and technology groups
(never codes) and holds no target for a year the programme has already evaluated."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from cleanheat.auth.tables import Organisation
from cleanheat.planner import demo
from cleanheat.planner.tables import PlannerScenario
from cleanheat.programme.tables import AdminUnit, Plan, Report
from cleanheat.store.engine import make_engine, make_sessionmaker, session_scope
from tests.e2e.conftest import assert_no_sideways_scroll, serve

pytestmark = pytest.mark.e2e
SHOTS = Path("/tmp/shots-daily3")


@pytest.fixture
def planner_app(e2e_settings):
    engine = make_engine(e2e_settings.database_url)
    with session_scope(make_sessionmaker(engine)) as s:
        demo.load_demo(s, e2e_settings)
    server, thread, url = serve(e2e_settings)
    yield url, engine
    server.should_exit = True
    thread.join(timeout=10)
    engine.dispose()


def _accept_year_end(engine, year: int) -> None:
    """Every unit's year-end report of ``year`` accepted: the programme has evaluated the year."""
    with session_scope(make_sessionmaker(engine)) as s:
        plan = s.scalar(select(Plan))
        org = s.scalar(select(Organisation).where(Organisation.code == "gov-daoli"))
        for i, unit in enumerate(s.scalars(select(AdminUnit.code)).all(), start=1):
            s.add(Report(plan_id=plan.id, org_id=org.id, admin_unit_code=unit, period=f"{year}Q4", year=year,
                         quarter=4, version=i, status="accepted", submitted_by="test"))


def test_new_scenario_infeasible_result_and_proposal(planner_app, page, login_as):
    url, engine = planner_app
    SHOTS.mkdir(exist_ok=True)
    login_as(url, "office")
    page.goto(f"{url}/planner")
    # the infeasible demo scenario shows no cost in the list, and its result page gives reasons, not costs
    row = page.locator("#scenarios tr", has_text="示范：不可行")
    assert "不计成本" in row.inner_text()
    row.locator("a[href^='/planner/results/']").click()
    page.wait_for_selector("#infeasibility")
    assert page.locator("#no-cost").count() == 1 and "折现总成本" not in page.inner_text(".cards")
    assert page.locator("#chart-cost").count() == 0 and page.locator("#binding").count() == 0
    page.screenshot(path=str(SHOTS / "planner-infeasible-1366.png"), full_page=True)
    page.set_viewport_size({"width": 375, "height": 800})
    page.screenshot(path=str(SHOTS / "planner-infeasible-375.png"), full_page=True)
    assert_no_sideways_scroll(page)  # wide tables scroll by themselves
    page.goto(f"{url}/planner")
    assert_no_sideways_scroll(page)
    page.set_viewport_size({"width": 1366, "height": 900})

    # "new scenario" starts as a copy of the reference scenario, build rates included, and keeps them on save
    page.goto(f"{url}/planner")
    page.click("#new-scenario")
    page.wait_for_selector("#copied-from")
    assert "基准情景" in page.inner_text("#copied-from")
    assert page.input_value("#name") == "基准情景 2019–2021（合成示范）（副本）"
    assert page.input_value("#build_ashp") and page.input_value("#build_total") and page.input_value("#gas_2021")
    page.screenshot(path=str(SHOTS / "planner-new-copy-1366.png"), full_page=True)
    page.fill("#gas_2021", "9500")
    page.click("#save")
    page.wait_for_url("**/planner/scenarios/*")
    with session_scope(make_sessionmaker(engine)) as s:
        saved = s.scalar(select(PlannerScenario).where(PlannerScenario.name.like("%（副本）")))
        text = saved.yaml_text
    assert "build_rate" in text and "chp_network" in text and "sensitivity" in text and "9500" in text
    assert page.locator("#copy-scenario").count() == 1

    # proposals: 2019 evaluated (its year-end report accepted) -> only 2020-2021, with names, never codes
    _accept_year_end(engine, 2019)
    page.goto(f"{url}/planner")
    page.locator("#scenarios tr", has_text="基准情景 2019–2021（合成示范）").first.locator(
        "a[href^='/planner/results/']").click()
    page.wait_for_selector("#propose-years")
    assert "2020, 2021" in page.inner_text("#propose-years") and "2019" in page.inner_text("#propose-years")
    page.click("#propose")
    page.wait_for_url("**/planner/proposals/*")
    years = page.locator("#rates tbody tr td:nth-child(2)").all_inner_texts()
    assert years and "2019" not in years
    body = page.inner_text("main")
    for code in ("chp_network", "clean_coal", "waste_heat", "ashp", "gas_boiler_house"):
        assert code not in body, code
    page.screenshot(path=str(SHOTS / "planner-proposal-1366.png"), full_page=True)
    # every year evaluated: the page says so and offers no proposal
    _accept_year_end(engine, 2020)
    _accept_year_end(engine, 2021)
    page.go_back()
    page.reload()
    assert page.locator("#propose").count() == 0 and "均已完成年度考核" in page.inner_text("#propose-years")
