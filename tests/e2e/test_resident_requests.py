"""Real browser (Debian chromium): a resident's "too cold" request with the temperature wanted and a note, a second
identical request refused with a message, the company seeing address, name and phone and replying as it closes,
the resident reading the reply; the resident page on a 375 px phone screen, with the 18 °C line labelled."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from sqlalchemy import select

from cleanheat.assets.tables import Building, Household
from cleanheat.auth import service as auth_service
from cleanheat.auth.roles import OrgKind
from cleanheat.auth.service import Actor
from cleanheat.store.engine import make_engine, make_sessionmaker, session_scope
from cleanheat.telemetry.jobs import Jobs
from cleanheat.telemetry.pipeline import IngestPipeline
from cleanheat.telemetry.tables import ResidentRequest
from cleanheat.twin.city import CityConfig, ensure_city, make_city
from cleanheat.twin.run import run_city
from cleanheat.twin.sim import CitySim, Fault
from cleanheat.twin.sinks import InProcessSink
from cleanheat.weather.epw import harbin_epw_path, read_epw
from tests.e2e.conftest import serve
from tests.helpers import PASSWORD

pytestmark = pytest.mark.e2e
H = 3_600_000
SHOTS = Path("/tmp/shots-daily3")


@pytest.fixture
def home_app(e2e_settings):
    engine = make_engine(e2e_settings.database_url)
    spec = make_city(CityConfig(prefix="R", stations=1, buildings_per_station=1, households_per_building=2))
    with session_scope(make_sessionmaker(engine)) as s:
        ensure_city(s, Actor.system(), spec, "htjt")
        auth_service.upsert_org(s, Actor.system(), code="htjt-residents", name_zh="居民", kind=OrgKind.RESIDENTS)
        user = auth_service.create_user(s, Actor.system(), username="resident", password=PASSWORD, role="resident",
                                        org_code="htjt-residents", display_name="王秀兰")
        hh = s.scalar(select(Household).where(Household.code == "R-S01-B01-H01"))
        hh.resident_user_id = user.id
        s.get(Building, hh.building_id).address = "道里区安静街12号"
    now = int(time.time() * 1000) // 60_000 * 60_000
    start = now - 8 * H
    sim = CitySim(spec, read_epw(harbin_epw_path(e2e_settings.data_dir)), anchor_ms=start, weather_start="01-30",
                  faults=[Fault("underheat", "R-S01-B01", start, None)])
    jobs = Jobs(engine, city_dir=e2e_settings.city_dir)  # hourly rollups: the resident's 24-hour chart
    run_city(sim, InProcessSink(IngestPipeline(engine, worker="e2e", source="twin")), start, now, step_ms=10 * 60_000,
             on_step=lambda t: jobs.run(t) if (t - start) % H == 0 or t == now else None)
    server, thread, url = serve(e2e_settings)
    yield url, engine
    server.should_exit = True
    thread.join(timeout=10)
    engine.dispose()


def _login(browser, url, username, width):
    ctx = browser.new_context(viewport={"width": width, "height": 900}, locale="zh-CN")
    pg = ctx.new_page()
    pg.goto(f"{url}/login")
    pg.fill("#username", username)
    pg.fill("#password", PASSWORD)
    with pg.expect_navigation():
        pg.click("button[type=submit]")
    pg.wait_for_load_state("networkidle")
    return ctx, pg


def test_too_cold_request_reply_round_trip(home_app, browser):
    url, engine = home_app
    SHOTS.mkdir(exist_ok=True)
    ctx, res = _login(browser, url, "resident", 375)
    assert res.url.endswith("/me")
    t = res.locator("#desired_temp_c")
    assert (t.get_attribute("min"), t.get_attribute("max")) == ("18.0", "24.0")  # the company's band
    # the page fits a phone: nothing wider than the screen
    assert res.evaluate("document.documentElement.scrollWidth") <= 375
    res.wait_for_selector("#room-chart canvas")
    res.wait_for_timeout(300)
    # the 18 °C line is labelled inside the plot, not cut off at its right edge
    label = res.evaluate("""() => {
      const c = echarts.getInstanceByDom(document.getElementById('room-chart'));
      const o = c.getOption().series[0];
      return [o.data.length, o.markLine.label.position, c.getModel().getSeriesByIndex(0).getData().count()];
    }""")
    assert label[0] > 0 and label[1] == "insideEndTop"
    res.screenshot(path=str(SHOTS / "resident-me-375.png"), full_page=True)
    # outside the band: refused by the browser's own check, then by the server (bypassing it)
    t.fill("30")
    res.click("#ask-warmer")
    assert res.evaluate("document.getElementById('desired_temp_c').validity.rangeOverflow")
    res.evaluate("document.getElementById('temp-request').noValidate = true")
    with res.expect_navigation():
        res.click("#ask-warmer")
    res.wait_for_load_state("networkidle")
    assert "18–24" in res.inner_text(".flash") and "未提交" in res.inner_text(".flash")
    res.fill("#desired_temp_c", "21.5")
    res.fill("#temp-note", "卧室比客厅冷，晚上更明显")
    res.fill("#temp-phone", "138 0451 2345")
    with res.expect_navigation():
        res.click("#ask-warmer")
    res.wait_for_load_state("networkidle")
    assert "已提交调高温度申请" in res.inner_text(".flash")
    item = res.locator("#my-requests li").first
    assert "21.5" in item.inner_text() and "卧室比客厅冷" in item.inner_text()
    # the same request again, while the first is open: refused, with a message
    res.fill("#desired_temp_c", "21.5")
    with res.expect_navigation():
        res.click("#ask-warmer")
    res.wait_for_load_state("networkidle")
    assert "相同的待处理诉求" in res.inner_text(".flash")
    with session_scope(make_sessionmaker(engine)) as s:
        assert len(s.scalars(select(ResidentRequest)).all()) == 1
    # the company: address, name and phone; a reply is required to close
    cctx, co = _login(browser, url, "htjt", 1366)
    co.goto(f"{url}/telemetry/requests")
    row = co.locator("#requests tbody tr[data-status=open]").first
    text = row.inner_text()
    assert "道里区安静街12号" in text and "王秀兰" in text and "138 0451 2345" in text and "21.5" in text
    co.screenshot(path=str(SHOTS / "company-requests-1366.png"), full_page=True)
    row.locator("textarea[name=reply]").fill("已调大贵楼二次网流量，请明早再看室温")
    with co.expect_navigation():
        row.locator("button").click()
    co.wait_for_load_state("networkidle")
    assert "已办结" in co.inner_text(".flash")
    assert co.locator("#requests tbody tr[data-status=closed]").count() == 1
    co.screenshot(path=str(SHOTS / "company-requests-closed-1366.png"), full_page=True)
    cctx.close()
    # the programme office sees the requests, not the resident's name and phone
    octx, off = _login(browser, url, "office", 1366)
    off.goto(f"{url}/telemetry/requests")
    text = off.inner_text("#requests")
    assert "道里区安静街12号" in text and "王秀兰" not in text and "138 0451 2345" not in text
    octx.close()
    # the resident sees the reply
    res.goto(f"{url}/me")
    item = res.locator("#my-requests li").first
    assert "已调大贵楼二次网流量" in item.inner_text() and item.get_attribute("data-status") == "closed"
    assert res.evaluate("document.documentElement.scrollWidth") <= 375
    res.screenshot(path=str(SHOTS / "resident-me-reply-375.png"), full_page=True)
    res.set_viewport_size({"width": 1366, "height": 900})
    res.reload()
    res.wait_for_selector("#room-chart canvas")
    res.wait_for_timeout(300)
    res.screenshot(path=str(SHOTS / "resident-me-1366.png"), full_page=True)
    ctx.close()
