"""The demo's live HJ 212 feed (CLEANHEAT_DEMO_EMISSIONS_FEED): the web app starts the receiver and the simulator
of the demo's points on free ports, and a point's page shows it online, with its last packet, in a real browser."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from cleanheat.auth.service import Actor
from cleanheat.emissions import service
from cleanheat.emissions.service import PointInput
from cleanheat.store.engine import make_engine, make_sessionmaker, session_scope
from tests.e2e.conftest import serve
from tests.emissions.conftest import make_sources

pytestmark = pytest.mark.e2e
SHOTS = Path("/tmp/shots-daily3")
DEMO_MN = "0100DE000000000000000007"  # a demo point: its HJ 212 password follows the demo rule


def test_demo_feed_brings_a_point_online(e2e_settings, page, login_as):
    settings = e2e_settings.model_copy(update={"demo_emissions_feed": True, "demo_emissions_feed_port": 0})
    engine = make_engine(settings.database_url)
    with session_scope(make_sessionmaker(engine)) as s:
        make_sources(s)
        pid = service.register_point(s, Actor.system("e2e"), PointInput(
            mn=DEMO_MN, password="dm0007", source_code="T-CHP1", stack_no="1")).id
        assert not service.is_online(service.get_point(s, Actor.system("e2e"), pid))  # nothing received yet
    engine.dispose()
    server, thread, url = serve(settings, background=True)
    try:
        login_as(url, "eeb")
        page.goto(f"{url}/emissions/points/{pid}")
        deadline = time.monotonic() + 120  # until the simulator's first packets are committed
        while page.get_attribute("#link-state", "data-online") != "1":
            assert time.monotonic() < deadline, "the demo point did not come online within 120 s"
            page.wait_for_timeout(1000)
            page.reload()
        assert "在线" in page.inner_text("#link-state")
        page.goto(f"{url}/emissions")
        row = page.locator("#sources tbody tr").filter(has_text="测试热源T-CHP1")
        assert row.get_attribute("data-state") != "offline"
        SHOTS.mkdir(exist_ok=True)
        page.screenshot(path=str(SHOTS / "emissions-live-1366.png"), full_page=True)
        page.set_viewport_size({"width": 375, "height": 800})
        page.goto(f"{url}/emissions/points/{pid}")
        page.screenshot(path=str(SHOTS / "emissions-point-live-375.png"), full_page=True)
    finally:
        server.should_exit = True
        thread.join(timeout=30)
