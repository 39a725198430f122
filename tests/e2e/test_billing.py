"""Real browser: the heat company bills the next season (the run is a job, its page follows it to the run) and
approves it; the resident reads the statement with the month chart; the programme office sees the metering task.
Each page also at 375 px without sideways scroll. Screenshots in test-artifacts/billing-*.png."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from cleanheat.demo_accounts import demo_password
from cleanheat.jobs.worker import Worker
from cleanheat.store.engine import make_engine, make_sessionmaker, session_scope
from tests.e2e.conftest import LiveApp, assert_no_sideways_scroll, serve, shot


@pytest.fixture
def billing_app(e2e_settings) -> Iterator[LiveApp]:
    from cleanheat.billing import demo as billing_demo
    from cleanheat.twin import demo as twin_demo

    engine = make_engine(e2e_settings.database_url)
    sessions = make_sessionmaker(engine)
    with session_scope(sessions) as s:
        twin_demo.load_demo(s, e2e_settings)
    with session_scope(sessions) as s:
        billing_demo.load_demo(s, e2e_settings)
    engine.dispose()
    server, thread, url = serve(e2e_settings)
    yield LiveApp(e2e_settings, url)
    server.should_exit = True
    thread.join(timeout=10)


def _run_jobs(settings) -> None:
    engine = make_engine(settings.database_url)
    try:
        Worker(settings, engine, services=False, periodic=False).run_pending()
    finally:
        engine.dispose()


def _login_demo(page, url: str, username: str) -> None:
    page.goto(f"{url}/login")
    page.fill("#username", username)
    page.fill("#password", demo_password())
    with page.expect_navigation():
        page.click("button[type=submit]")
    page.wait_for_load_state("networkidle")


def test_company_runs_and_approves(billing_app, page, login_as):
    login_as(billing_app.url, "htjt")
    page.goto(f"{billing_app.url}/billing")
    assert page.locator("#runs-table tr[data-run]").count() == 2
    shot(page, "billing-company-home")
    page.select_option("#season", "2021-2022")
    page.select_option("#kind", "prepayment")
    with page.expect_navigation():
        page.click("#run-submit")
    assert "/jobs/" in page.url
    _run_jobs(billing_app.settings)
    page.wait_for_url(re.compile(r".*/billing/runs/\d+$"), timeout=60_000)
    page.wait_for_load_state("networkidle")
    assert page.locator("#run-state").inner_text().strip() == "草稿"
    assert page.locator("#exceptions-table tr[data-kind=no_tariff]").count() == 3
    shot(page, "billing-run-draft")
    page.on("dialog", lambda d: d.accept())  # the approve form asks first
    with page.expect_navigation():
        page.click("#approve")
    page.wait_for_load_state("networkidle")
    assert page.locator("#run-state").inner_text().strip() == "已批准"
    assert page.locator("#statements-table a", has_text="htjt-2021P-").count() > 0
    assert page.locator("#rec-state .status.met").count() == 1
    # the settlement run of the billed season: exceptions filtered by kind, then a statement
    page.goto(f"{billing_app.url}/billing")
    with page.expect_navigation():
        page.click("#runs-table tr[data-run='2'] a")  # the billed season's settlement
    with page.expect_navigation():
        page.click("#exception-kinds a[data-kind=stuck]")
    assert page.locator("#exceptions-table tr[data-kind]").count() == 1
    assert page.locator("#exceptions-table tr[data-kind=stuck]").count() == 1
    shot(page, "billing-run-settlement")
    with page.expect_navigation():
        page.click("#statements-table a >> nth=0")
    assert page.locator("#note-form").count() == 1
    shot(page, "billing-statement")
    page.set_viewport_size({"width": 375, "height": 800})
    page.reload()
    assert_no_sideways_scroll(page)
    page.goto(f"{billing_app.url}/billing/runs/2")
    page.wait_for_load_state("networkidle")
    assert_no_sideways_scroll(page)
    shot(page, "billing-run-phone")


def test_resident_reads_the_statement(billing_app, page):
    _login_demo(page, billing_app.url, "resident")
    page.goto(f"{billing_app.url}/me")
    with page.expect_navigation():
        page.click("#my-bill-link")
    page.wait_for_load_state("networkidle")
    assert page.locator(".statement[data-kind=settlement]").count() == 1
    assert page.locator(".statement[data-kind=prepayment]").count() == 1
    assert page.locator("#month-chart canvas").count() == 1
    assert "GJ/m²" in page.locator("#building-gj-m2").inner_text()
    assert page.locator(".statement .uncertain").count() >= 1
    shot(page, "billing-resident")
    page.set_viewport_size({"width": 375, "height": 800})
    page.reload()
    page.wait_for_load_state("networkidle")
    assert_no_sideways_scroll(page)
    shot(page, "billing-resident-phone")


def test_office_sees_the_metering_task(billing_app, page, login_as):
    login_as(billing_app.url, "office")
    page.goto(f"{billing_app.url}/billing/metering")
    page.wait_for_load_state("networkidle")
    assert page.locator("#task-table tr[data-unit]").count() == 2
    assert page.locator("#metering-chart canvas").count() == 1
    assert page.locator("#task-table tr[data-unit=daoli] td.computed").inner_text().strip() == "0.0 %"
    shot(page, "billing-office")
    page.set_viewport_size({"width": 375, "height": 800})
    page.reload()
    page.wait_for_load_state("networkidle")
    assert_no_sideways_scroll(page)
    shot(page, "billing-office-phone")
