"""Real browser: a heat company simulates the network registered for its own stations (Chinese design practice:
the network's 130/70 °C, CJJ 34 roughness 0.5 mm, pipes sized for <= 70 Pa/m), with the existing pipes' insulation
chosen in the form; the drawing has a north arrow and a scale bar, the pressure legend spans the pipes' pressures;
the renovation form has the insulation choice."""

from __future__ import annotations

import re
from pathlib import Path

from sqlalchemy import select

from cleanheat.auth.service import Actor
from cleanheat.network.tables import StoredNetwork
from cleanheat.store.engine import make_engine, make_sessionmaker, session_scope
from cleanheat.twin.city import CityConfig, ensure_city, make_city
from tests.e2e.conftest import assert_no_sideways_scroll

SHOTS = Path("/tmp/shots-daily3")


def test_company_simulates_its_registered_network(live_app, page, login_as):
    eng = make_engine(live_app.settings.database_url)
    with session_scope(make_sessionmaker(eng)) as s:
        ensure_city(s, Actor.system(), make_city(CityConfig(prefix="HB", stations=4)), "htjt")
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    login_as(live_app.url, "htjt")
    page.goto(f"{live_app.url}/network")
    assert "docs/" not in page.inner_text("main")  # help speaks to users, not to repository paths
    assert page.locator("#network_code option").all_inner_texts()[0].startswith("HB-N1")
    assert "130/70" in page.locator("#network_code option").first.inner_text()
    SHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SHOTS / "network-list-1366.png"), full_page=True)
    page.select_option("#reg-insulation", "old")
    with page.expect_navigation():
        page.click("#registry-form button[type=submit]")
    page.wait_for_load_state("networkidle")
    assert "已生成并计算" in page.inner_text(".flash")
    with session_scope(make_sessionmaker(eng)) as s:
        stored = s.scalar(select(StoredNetwork).where(StoredNetwork.name.like("HB-N1%")))
        pipes = stored.model["pipes"]
        assert stored.n_consumers == 4 and {p["roughness_mm"] for p in pipes} == {0.5}
        assert {p["insulation"] for p in pipes} == {"old"}
        assert stored.model["sources"][0]["supply_temperature_c"] == 130.0
        assert {c["return_temperature_c"] for c in stored.model["consumers"]} == {70.0}
    eng.dispose()
    m = page.locator("#network-map")
    page.wait_for_selector("#network-map[data-ready='1']")
    assert m.get_attribute("data-north") == "1" and float(m.get_attribute("data-scale-m")) > 0
    assert 20 < int(m.get_attribute("data-scale-px")) <= 110
    # colour by pressure on all lines: the legend spans the lowest and highest pipe-end pressure
    page.select_option("#side", "all")
    page.select_option("#colour-by", "pressure")
    page.wait_for_selector("#network-map[data-colour='pressure']")
    lo, hi = page.evaluate("""() => fetch(JSON.parse(document.getElementById('network-data').textContent).map_url,
        {headers: {Accept: 'application/json'}}).then(r => r.json()).then(d => {
          const v = d.pipes.p_from_pa.concat(d.pipes.p_to_pa);
          return [Math.min(...v) / 1e5, Math.max(...v) / 1e5]; })""")
    assert abs(float(m.get_attribute("data-vmin")) - lo) < 1e-6 and abs(float(m.get_attribute("data-vmax")) - hi) < 1e-6
    assert hi - lo > 1.0  # the circulation lift, several bar
    page.screenshot(path=str(SHOTS / "network-registry-1366.png"), full_page=True)
    # the renovation form offers the insulation choice; a scenario with the worst pipes saves heat
    page.select_option("#existing_insulation", "old")
    page.fill("#renovation-form input[name=worst]", "2")
    page.click("#renovation-form button[type=submit]")  # a background job, whose page moves on when done
    page.wait_for_url(re.compile(r".*/network/\d+#renovation$"), timeout=120_000)
    page.wait_for_load_state("networkidle")
    assert "按老旧保温计" in page.inner_text("#renovation-runs")
    assert float(page.locator("#renovation-runs .saved-gj").first.inner_text().replace(",", "")) > 0
    page.set_viewport_size({"width": 375, "height": 800})
    page.reload()
    page.wait_for_selector("#network-map[data-ready='1']")
    page.screenshot(path=str(SHOTS / "network-registry-375.png"), full_page=True)
    # on a phone the page does not scroll sideways: the worst-pipes table scrolls by itself
    assert_no_sideways_scroll(page)
    assert page.evaluate("(() => { const t = document.querySelector('#worst-pipes');"
                         " return t.scrollWidth > t.clientWidth; })()")
    assert errors == []
