"""Real browser: a heat company opens its demo network, switches the colouring of the drawing, reads the worst
pipes and runs a renovation scenario from the page."""

import re

from sqlalchemy import select

from cleanheat.network import demo
from cleanheat.network.tables import StoredNetwork
from cleanheat.store.engine import make_engine, make_sessionmaker, session_scope
from tests.e2e.conftest import ARTIFACTS, shot


def _load_demo(settings) -> int:
    eng = make_engine(settings.database_url)
    with session_scope(make_sessionmaker(eng)) as s:
        demo.load_demo(s, settings)
        net_id = s.scalar(select(StoredNetwork.id).where(StoredNetwork.n_pipes == 260))
    eng.dispose()
    return net_id


def test_network_page_colouring_worst_pipes_and_renovation(live_app, page, login_as):
    net_id = _load_demo(live_app.settings)
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    login_as(live_app.url, "htjt")
    page.goto(f"{live_app.url}/network")
    with page.expect_navigation():
        page.click("#networks-table a:has-text('Bad Muskau')")
    page.wait_for_load_state("networkidle")
    assert page.url.endswith(f"/network/{net_id}")
    # the drawing is ready: supply pipes coloured by temperature, with the legend's range in °C
    page.wait_for_selector("#network-map[data-ready='1']")
    assert page.locator("#network-map").get_attribute("data-colour") == "temperature"
    n_supply = int(page.locator("#network-map").get_attribute("data-lines"))
    assert 0 < n_supply < 260
    assert page.locator("#network-map canvas").count() >= 1
    # totals and the worst-pipes table (heat loss per km, highest first)
    assert "MW" in page.locator("#totals [data-total=source_heat] .value").inner_text()
    rows = page.locator("#worst-pipes tbody tr")
    assert rows.count() == 20
    per_km = [float(rows.nth(i).locator("td").nth(6).inner_text().replace(",", "")) for i in range(20)]
    assert per_km == sorted(per_km, reverse=True) and per_km[0] > 0
    shot(page, "network-page-temperature")

    # switch the colouring to heat loss and then to pressure on all lines
    page.select_option("#colour-by", "loss")
    page.wait_for_selector("#network-map[data-colour='loss']")
    page.locator("#network-map").screenshot(path=str(ARTIFACTS / "network-map-loss.png"))
    page.select_option("#side", "all")
    page.select_option("#colour-by", "pressure")
    page.wait_for_selector("#network-map[data-colour='pressure']")
    assert int(page.locator("#network-map").get_attribute("data-lines")) == 260
    page.locator("#network-map").screenshot(path=str(ARTIFACTS / "network-map-pressure.png"))

    # hovering a pipe in the table shows its tooltip on the drawing
    page.select_option("#side", "supply")
    rows.nth(0).hover()
    first = rows.nth(0).locator("td").nth(1).inner_text()
    page.wait_for_function("() => document.body.innerText.includes('W/m)')")  # a function: the CSP forbids eval
    assert first in page.inner_text("body")

    # renovation: tick the two worst pipes, lower the supply by 5 K, run
    rows.nth(0).locator("input[type=checkbox]").check()
    rows.nth(1).locator("input[type=checkbox]").check()
    page.fill("#renovation-form input[name=supply_offset_k]", "-5")
    # a background job: its page shows the progress, then moves on to the network page's renovation list
    page.click("#renovation-form button[type=submit]")
    page.wait_for_url(re.compile(r".*/network/\d+#renovation$"), timeout=120_000)
    page.wait_for_load_state("networkidle")
    saved = page.locator("#renovation-runs tbody tr[data-run]").first
    assert float(saved.locator(".saved-gj").inner_text().replace(",", "")) > 0
    assert float(saved.locator(".saved-yuan").inner_text().replace(",", "")) > 0
    assert first in saved.inner_text()
    page.wait_for_selector("#network-map[data-ready='1']")
    shot(page, "network-page-renovation")
    assert errors == []
