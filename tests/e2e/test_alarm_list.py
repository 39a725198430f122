"""The alarm list in a real browser (issue 12 item 2): 63 alarms page 50 at a time, the page stays short, the
filters (severity, state) and the search narrow the list, and the pager keeps the filters."""

from __future__ import annotations

from tests.e2e.conftest import shot
from tests.test_list_paging import _alarms


def _sessions(settings):
    from cleanheat.store.engine import make_engine, make_sessionmaker

    engine = make_engine(settings.database_url)
    return engine, make_sessionmaker(engine)


def test_alarm_list_pages_filters_and_searches(live_app, page, login_as):
    engine, sessions = _sessions(live_app.settings)
    try:
        _alarms(sessions)  # htjt: 60 (20 critical, 15 cleared), veolia: 3
    finally:
        engine.dispose()
    url = live_app.url
    login_as(url, "htjt")
    page.goto(f"{url}/telemetry/alarms")
    rows = page.locator("#alarm-table tbody tr[data-alarm]")
    assert rows.count() == 50
    assert page.locator("#alarm-count").inner_text().startswith("共 60 条")
    height = page.evaluate("document.documentElement.scrollHeight")
    assert height < 12_000, height
    shot(page, "alarms-list-1366")

    page.click("#alarm-pager a[rel=next]")
    page.wait_for_url("**/telemetry/alarms?page=2")
    assert rows.count() == 10 and "RS-0059" in page.locator("#alarm-table").inner_text()

    page.select_option("#alarm-filter select[name=severity]", "critical")
    page.select_option("#alarm-filter select[name=state]", "open")
    page.click("#alarm-filter button[type=submit]")
    page.wait_for_url("**severity=critical**")
    assert page.locator("#alarm-count").inner_text().startswith("共 15 条")  # 20 critical, 5 of them cleared
    assert rows.count() == 15 and page.locator("#alarm-pager").count() == 0
    assert page.locator("#alarm-filter select[name=severity]").input_value() == "critical"  # kept in the form

    page.click("#alarm-filter-clear")
    page.wait_for_url("**/telemetry/alarms")
    page.fill("#alarm-filter input[name=q]", "RS-0042")
    page.click("#alarm-filter button[type=submit]")
    page.wait_for_url("**q=RS-0042**")
    assert rows.count() == 1 and "RS-0042" in rows.first.inner_text()

    page.set_viewport_size({"width": 375, "height": 800})
    page.goto(f"{url}/telemetry/alarms")
    assert rows.count() == 50
    shot(page, "alarms-list-375")
