"""The top bar stays on one line (entries that do not fit go into "更多 / More") and highlights one entry."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import shot

pytestmark = pytest.mark.e2e

BAR = """() => { const h = document.querySelector('header.top'), l = h.querySelector('nav.main .links');
  const tops = [...h.querySelectorAll('.brand, nav.main .links a, details.more:not([hidden]) summary, .who > *')]
      .map(e => Math.round(e.getBoundingClientRect().top));
  return {height: h.offsetHeight, lines: new Set(tops.map(t => Math.round(t / 10))).size,
          overflow: l.scrollWidth > l.clientWidth + 1, active: h.querySelectorAll('.links a.active, .menu a.active').length,
          inBar: l.children.length, inMore: h.querySelectorAll('details.more .menu a').length}; }"""


@pytest.mark.parametrize("width", [1400, 1024])
@pytest.mark.parametrize("lang", ["zh", "en"])
def test_admin_bar_fits_one_line(live_app, page, login_as, width, lang):
    page.set_viewport_size({"width": width, "height": 900})
    page.goto(f"{live_app.url}/lang/{lang}")
    login_as(live_app.url, "admin")
    page.goto(f"{live_app.url}/telemetry/alarms")
    page.wait_for_load_state("networkidle")
    bar = page.evaluate(BAR)
    shot(page, f"nav-admin-{lang}-{width}")
    assert bar["height"] < 60, bar
    assert not bar["overflow"], bar
    assert bar["active"] == 1, bar
    assert bar["inBar"] + bar["inMore"] >= 15, bar  # admin sees every entry, in the bar or under "more"
    assert page.locator("nav.main .links a.active").inner_text() in ("告警", "Alarms")  # the current page stays
    page.click("details.more summary")
    page.locator("details.more .menu a").first.wait_for(state="visible")
