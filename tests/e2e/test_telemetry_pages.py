"""Real browser (Debian chromium): the station page shows live values as they arrive, and the other pages render.

Screenshots go to test-artifacts/telemetry-*.png.
"""

from __future__ import annotations

import re
import time

import pytest
from sqlalchemy import select

from cleanheat.assets.tables import Household
from cleanheat.auth import service as auth_service
from cleanheat.auth.roles import OrgKind
from cleanheat.auth.service import Actor
from cleanheat.store.engine import make_engine, make_sessionmaker, session_scope
from cleanheat.telemetry.alarms import load_default_rules
from cleanheat.telemetry.jobs import Jobs
from cleanheat.telemetry.payload import ParsedMessage
from cleanheat.telemetry.pipeline import Inbound, IngestPipeline
from cleanheat.twin.city import CityConfig, ensure_city, make_city
from cleanheat.twin.run import run_city
from cleanheat.twin.sim import CitySim, Fault
from cleanheat.twin.sinks import InProcessSink
from cleanheat.weather.epw import harbin_epw_path, read_epw
from tests.e2e.conftest import serve, shot
from tests.helpers import PASSWORD

pytestmark = pytest.mark.e2e
H = 3_600_000


@pytest.fixture
def city_app(e2e_settings):
    engine = make_engine(e2e_settings.database_url)
    sessions = make_sessionmaker(engine)
    spec = make_city(CityConfig(prefix="E", stations=3, buildings_per_station=3, households_per_building=4))
    with session_scope(sessions) as s:
        load_default_rules(s, Actor.system(), e2e_settings.data_dir)
        ensure_city(s, Actor.system(), spec, "htjt")
        auth_service.upsert_org(s, Actor.system(), code="res", name_zh="居民", kind=OrgKind.RESIDENTS)
        user = auth_service.create_user(s, Actor.system(), username="resident", password=PASSWORD, role="resident",
                                        org_code="res")
        s.scalar(select(Household).where(Household.code == "E-S01-B01-H01")).resident_user_id = user.id
    now = int(time.time() * 1000) // 60_000 * 60_000
    start = now - 12 * H
    sim = CitySim(spec, read_epw(harbin_epw_path(e2e_settings.data_dir)), anchor_ms=start, weather_start="01-30",
                  faults=[Fault("underheat", "E-S02-B01", start + 2 * H, None),
                          Fault("stuck", "E-S01-B02-H01-T:room_temp_c", start, None),
                          Fault("leak", "E-S03", now - 40 * 60_000, None)])
    pipe = IngestPipeline(engine, worker="e2e", source="twin")
    jobs = Jobs(engine, city_dir=e2e_settings.city_dir)
    run_city(sim, InProcessSink(pipe), start, now, step_ms=10 * 60_000,
             on_step=lambda t: jobs.run(t) if (t - start) % H == 0 or t == now else None)
    server, thread, url = serve(e2e_settings)
    yield url, pipe, now, jobs
    server.should_exit = True
    thread.join(timeout=10)
    engine.dispose()


def test_station_page_shows_live_values(city_app, page, login_as):
    url, pipe, now, _jobs = city_app
    login_as(url, "htjt")
    page.goto(f"{url}/telemetry")
    assert "热网运行总览" in page.locator("h1").inner_text()
    page.wait_for_selector("#live-dot.on", timeout=60_000)
    with page.expect_navigation():
        page.click("text=1号换热站")
    page.wait_for_load_state("networkidle")
    value = page.locator("#v-E-S01-C\\.s_supply_temp_c")
    before = value.inner_text()
    assert re.fullmatch(r"\d+\.\d\d", before), before
    # the trend charts drew their lines (ECharts renders into a canvas)
    page.wait_for_function("() => document.querySelectorAll('#temp-chart canvas').length > 0")
    page.wait_for_selector("#live-dot.on", timeout=60_000)
    # a new reading arrives (as from a device); the page shows it without a reload
    msg = ParsedMessage(token=None, readings=[("E-S01-C", "s_supply_temp_c", now + 1000, 66.66, "e2e"),
                                             ("E-S01-C", "heat_power_kw", now + 1000, 1234.5, "e2e")])
    pipe.ingest([Inbound(parsed=msg, trusted=True, location="e2e")], now_ms=now + 1000)
    page.wait_for_function("() => document.getElementById('v-E-S01-C.s_supply_temp_c').textContent === '66.66'",
                           timeout=60_000)
    assert page.locator("#v-E-S01-C\\.heat_power_kw").inner_text() == "1234.50"
    assert page.evaluate("performance.getEntriesByType('navigation').length") == 1  # still the same page load
    shot(page, "telemetry-station")
    # in English the tiles name the points (no raw keys); each axis of the flow chart carries its unit
    station_url = page.url
    page.goto(f"{url}/lang/en?next=/")
    page.goto(station_url)
    page.wait_for_load_state("networkidle")
    tiles = page.locator(".v .n").all_inner_texts()
    assert "Secondary flow" in tiles and not [t for t in tiles if "_" in t], tiles
    page.wait_for_function("() => (echarts.getInstanceByDom(document.getElementById('flow-chart')).getOption().yAxis"
                           " || []).length === 3")
    axes = page.evaluate("echarts.getInstanceByDom(document.getElementById('flow-chart')).getOption().yAxis"
                         ".map(a => a.name)")
    assert axes == ["kW", "kg/s", "kPa"], axes


def test_overview_alarms_compliance_quarantine_and_resident(city_app, page, login_as, browser):
    url = city_app[0]
    login_as(url, "htjt")
    page.goto(f"{url}/telemetry")
    page.wait_for_function("() => document.querySelectorAll('#power-chart canvas').length > 0")
    assert page.locator("#c-online").inner_text() == "3 / 3"
    shot(page, "telemetry-overview")
    page.goto(f"{url}/telemetry/alarms")
    rows = page.locator("tr[data-state=active]")
    assert rows.count() >= 2  # the cold building's rooms and the leak
    assert "泄漏" in page.content()
    first = rows.first
    first.locator("button").click()
    page.wait_for_selector("tr[data-state=acknowledged]")
    shot(page, "telemetry-alarms")
    page.goto(f"{url}/telemetry/compliance")
    assert "室温达标率" in page.locator("h1").inner_text()
    rate = page.locator("#total-rate").inner_text()
    assert rate.endswith("%") and float(rate[:-1]) < 100  # the under-heated building is not compliant
    shot(page, "telemetry-compliance")
    page.goto(f"{url}/telemetry/quarantine")
    assert "E-S01-B02-H01-T / room_temp_c" in page.content()  # the stuck sensor, after its 6 hours
    shot(page, "telemetry-quarantine")
    page.goto(f"{url}/assets")
    assert page.locator(".card .value").first.inner_text() == "1"
    shot(page, "assets-index")
    ctx = browser.new_context(viewport={"width": 1100, "height": 900}, locale="zh-CN")
    res = ctx.new_page()
    res.goto(f"{url}/login")
    res.fill("#username", "resident")
    res.fill("#password", PASSWORD)
    with res.expect_navigation():
        res.click("button[type=submit]")
    res.wait_for_load_state("networkidle")
    assert res.url.endswith("/me")
    assert "当前室温" in res.content()
    with res.expect_navigation():
        res.click("#ask-warmer")
    res.wait_for_load_state("networkidle")
    assert "已提交调高温度申请" in res.content()
    shot(res, "telemetry-resident")
    ctx.close()
