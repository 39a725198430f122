"""Real-browser test of the emissions pages (Debian chromium): the bureau's overview, a source's trend charts,
acknowledging an exceedance, registering a monitoring point, the monthly report; a heat company's scoped view."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from cleanheat.config import REPO_ROOT
from cleanheat.emissions.ingest import BulkWriter
from cleanheat.emissions.rollup import maintenance_rules, run_maintenance
from cleanheat.store.engine import make_engine, make_sessionmaker, session_scope
from tests.e2e.conftest import serve, shot
from tests.emissions.conftest import POINTS, make_sources
from tests.emissions.test_pipeline import minutes

DATA = REPO_ROOT / "data"

pytestmark = pytest.mark.e2e


@pytest.fixture
def emissions_app(e2e_settings):
    from cleanheat.auth.service import Actor
    from cleanheat.emissions import service
    from cleanheat.emissions.service import PointInput

    engine = make_engine(e2e_settings.database_url)
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    with session_scope(make_sessionmaker(engine)) as s:
        make_sources(s)
        ids = {src: service.register_point(s, Actor.system("e2e"), PointInput(mn=mn, password=pw, source_code=src,
                                                                                stack_no="1")).id
               for mn, src, pw in POINTS}
    recs = []
    for i in range(12, 0, -1):
        hour = now - timedelta(hours=i)
        recs += minutes(ids["T-CHP1"], hour, 60, nox=75.0 if i in (3, 2) else 30.0, o2=6.0)
        recs += minutes(ids["T-BLR1"], hour, 60, nox=30.0, o2=9.0)
    BulkWriter(engine).write(recs)
    with session_scope(make_sessionmaker(engine)) as s:
        run_maintenance(s, **maintenance_rules(DATA, DATA / "harbin"))
    engine.dispose()
    server, thread, url = serve(e2e_settings)
    yield url, ids
    server.should_exit = True
    thread.join(timeout=10)


def test_bureau_pages(emissions_app, page, login_as):
    url, _ids = emissions_app
    login_as(url, "eeb")
    page.goto(f"{url}/emissions")
    rows = page.locator("#sources tbody tr")
    assert rows.count() == 4
    assert page.locator("#sources tr[data-state=exceeding]").count() == 0  # the episode ended an hour ago
    assert page.locator("#sources tr[data-state=missing]").count() == 2  # T-BIO1 and T-GAS1 never reported
    shot(page, "emissions-overview")
    page.click("text=测试热源T-CHP1")
    page.wait_for_selector("#chart-a21002 canvas")
    page.wait_for_timeout(500)
    assert "超低排放" in page.inner_text("table.info")
    shot(page, "emissions-source-trends")
    page.goto(f"{url}/emissions/events")
    ev = page.locator("#events tbody tr").filter(has_text="测试热源T-CHP1")
    assert ev.count() == 1 and "2" in ev.locator("td").nth(4).inner_text()
    ev.locator("input[name=note]").fill("SCR 喷氨调整后恢复")
    with page.expect_navigation():
        ev.locator("button[type=submit]").click()
    page.wait_for_load_state("networkidle")
    assert "已确认" in page.inner_text(".flash")
    assert "eeb" in page.locator("#events tbody tr").filter(has_text="测试热源T-CHP1").inner_text()
    shot(page, "emissions-events")
    page.goto(f"{url}/emissions/points")
    page.select_option("#source_code", "T-BLR2")
    page.fill("#mn", "E2EMN000000000000000001")
    page.fill("#password", "e2e-pw")
    page.select_option("#crc_variant", "modbus")
    with page.expect_navigation():
        page.click("#register-point button[type=submit]")
    page.wait_for_load_state("networkidle")
    assert "E2EMN000000000000000001" in page.inner_text("#points")
    page.goto(f"{url}/emissions/report")
    assert page.locator("#report tbody tr").count() == 5
    with page.expect_download() as dl:
        page.click("#dl-xlsx")
    assert dl.value.suggested_filename.endswith(".xlsx")
    shot(page, "emissions-report")


def test_company_sees_its_own_sources_in_english(emissions_app, page, login_as):
    url, ids = emissions_app
    login_as(url, "htjt")
    page.goto(f"{url}/lang/en?next=/emissions")
    page.wait_for_load_state("networkidle")
    assert "Online emissions monitoring" in page.inner_text("h1")
    names = page.locator("#sources tbody tr").all_inner_texts()
    assert len(names) == 2 and all("T-CHP1" not in n for n in names)
    page.goto(f"{url}/emissions/points/{ids['T-CHP1']}")
    assert "Forbidden" in page.inner_text("h1")
    shot(page, "emissions-company-en")
