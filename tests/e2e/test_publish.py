"""Real browser (issue 12 item 8, issue 13 item 2): the publications page has PDF and Excel made by a background
job, shows its progress and saves the file; the web (HTML) version opens in the browser, not as a download."""

from pathlib import Path

from sqlalchemy import select

from cleanheat.auth.service import Actor
from cleanheat.auth.tables import User
from cleanheat.programme import service
from cleanheat.programme.plan_store import load_plan
from cleanheat.programme.reports_io import parse_report
from cleanheat.store.engine import make_engine, make_sessionmaker, session_scope
from tests.programme.conftest import DAOLI_AREAS, fill_template, reporter_for_unit

SHOTS = Path("/tmp/shots-daily2")


def _seed(settings) -> None:
    eng = make_engine(settings.database_url)
    with session_scope(make_sessionmaker(eng)) as s:
        plan = load_plan(s)
        office = Actor.for_user(s.scalar(select(User).where(User.username == "office")))
        data = fill_template(plan, reporter_for_unit(plan, "daoli"), "2020Q4", areas=DAOLI_AREAS)
        r = service.submit_report(s, office, plan, parse_report(data, "r.xlsx", plan, service.reporters(s, plan)))
        service.review_report(s, office, r.id, "accept")
    eng.dispose()


def test_publications_progress_download_and_web_version(live_app, page, login_as):
    _seed(live_app.settings)
    SHOTS.mkdir(exist_ok=True)
    login_as(live_app.url, "office")
    page.set_viewport_size({"width": 1366, "height": 900})
    page.goto(f"{live_app.url}/programme/publish")
    progress = page.locator("#generate-progress")
    assert progress.is_hidden()

    # PDF: the progress box shows while the report is made, then the file is saved
    with page.expect_download(timeout=120_000) as dl:
        page.click("#annual-reports button[data-period='2020'][data-format='pdf']")
        progress.wait_for(state="visible")
        assert "正在生成报告" in progress.inner_text() or "已生成" in progress.inner_text()
        page.locator("#generate-job").wait_for(state="visible")  # the job's own page is linked
        page.screenshot(path=str(SHOTS / "publish-progress-1366.png"))
    assert dl.value.suggested_filename.endswith("-2020.pdf")
    assert Path(dl.value.path()).read_bytes().startswith(b"%PDF")
    page.wait_for_function("() => document.getElementById('generate-progress').dataset.state === 'done'",
                           timeout=30_000)
    assert "已生成" in progress.inner_text()

    # the web version opens in a new tab and shows the report (inline, no download)
    with page.context.expect_page() as new:
        page.click("#annual-reports a[href$='period=2020&format=html']")
    report = new.value
    report.wait_for_load_state()
    assert "年度评价报告" in report.title() and report.locator("h2").count() >= 6
    report.screenshot(path=str(SHOTS / "publish-html-1366.png"))
    report.close()

    # the quarterly form: Excel through the same progress; HTML in a new tab
    page.select_option("#q", "2020Q4")
    page.select_option("#f", "xlsx")
    with page.expect_download(timeout=120_000) as dl:
        page.click("#quarterly-form button[type=submit]")
    assert dl.value.suggested_filename.endswith("-2020Q4.xlsx")
    page.select_option("#f", "html")
    with page.context.expect_page() as new:
        page.click("#quarterly-form button[type=submit]")
    new.value.wait_for_load_state()
    assert "季度评价报告" in new.value.title()
