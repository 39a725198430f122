"""Real browser: a district uploads its quarterly report, the office accepts it, the city rates change."""

from sqlalchemy import select

from cleanheat.auth.service import Actor
from cleanheat.auth.tables import User
from cleanheat.programme import service
from cleanheat.programme.plan_store import load_plan
from cleanheat.programme.reports_io import parse_report
from cleanheat.store.engine import make_engine, make_sessionmaker, session_scope
from tests.e2e.conftest import shot
from tests.programme.conftest import DAOLI_AREAS, fill_template, reporter_for_unit


def _seed_q3(settings):
    eng = make_engine(settings.database_url)
    with session_scope(make_sessionmaker(eng)) as s:
        plan = load_plan(s)
        areas = dict(DAOLI_AREAS)
        areas[("urban", "coal_chp_ultralow")], areas[("urban", "coal_boiler")] = 2000, 2500
        data = fill_template(plan, reporter_for_unit(plan, "daoli"), "2020Q3", areas=areas)
        parsed = parse_report(data, "q3.xlsx", plan, service.reporters(s, plan))
        office = Actor.for_user(s.scalar(select(User).where(User.username == "office")))
        r = service.submit_report(s, office, plan, parsed)
        service.review_report(s, office, r.id, "accept")
        plan_obj = plan
    eng.dispose()
    return plan_obj


def test_upload_review_and_rates_change(live_app, page, login_as, browser, tmp_path):
    plan = _seed_q3(live_app.settings)
    q4 = tmp_path / "道里区-2020Q4.xlsx"
    q4.write_bytes(fill_template(plan, reporter_for_unit(plan, "daoli"), "2020Q4", areas=DAOLI_AREAS))
    bad = tmp_path / "bad.xlsx"
    bad_areas = dict(DAOLI_AREAS)
    bad_areas[("urban", "gas")] = 1_000_000  # typed in m²
    bad.write_bytes(fill_template(plan, reporter_for_unit(plan, "daoli"), "2020Q4", areas=bad_areas))

    # The district sees the carried-forward Q3 rate for Q4: 2100/4600.
    login_as(live_app.url, "daoli")
    page.goto(f"{live_app.url}/programme/overview?year=2020&quarter=4")
    before = page.locator('[data-area="urban"] .value').inner_text()
    assert before == "45.7%"

    # A bad file is refused with its location, nothing imported.
    page.goto(f"{live_app.url}/programme/reports")
    page.set_input_files("#file", str(bad))
    with page.expect_navigation():
        page.click("#upload-form button[type=submit]")
    page.wait_for_load_state("networkidle")
    assert "未导入任何数据" in page.content() and "工作表 取暖面积 / 第 6 行 / 列 D" in page.content()
    shot(page, "programme-upload-error")

    page.set_input_files("#file", str(q4))
    with page.expect_navigation():
        page.click("#upload-form button[type=submit]")
    page.wait_for_load_state("networkidle")
    assert "已提交 2020Q4 报告" in page.content()
    shot(page, "programme-report-submitted")
    page.click("text=退出")

    # The office reviews and accepts.
    login_as(live_app.url, "office")
    page.goto(f"{live_app.url}/programme/reports?status=submitted")
    page.click("#reports-table a:has-text('审核')")
    with page.expect_navigation():
        page.click("button[value=accept]")
    page.wait_for_load_state("networkidle")
    assert "已接受" in page.content()

    page.goto(f"{live_app.url}/programme/overview?year=2020&quarter=4")
    after = page.locator('[data-area="urban"] .value').inner_text()
    assert after == "67.4%" and after != before  # (3000 + 100) / 4600
    page.wait_for_timeout(500)  # let the charts draw
    shot(page, "programme-overview")
    page.goto(f"{live_app.url}/programme/tasks?year=2020&quarter=4")
    assert page.locator("#task-board tr[data-task=network_renovation_km]").count() == 1
    shot(page, "programme-tasks")
