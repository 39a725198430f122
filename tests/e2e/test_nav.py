"""The top bar stays on one line (entries that do not fit go into "更多 / More") and highlights one entry."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import shot

pytestmark = pytest.mark.e2e

BAR = """() => { const h = document.querySelector('header.top'), l = h.querySelector('nav.main .links');
  const tops = [...h.querySelectorAll('.brand, nav.main .links a, details.more:not([hidden]) summary, .who > *')]
      .map(e => Math.round(e.getBoundingClientRect().top));
  return {height: h.offsetHeight, lines: new Set(tops.map(t => Math.round(t / 10))).size,
          overflow: l.scrollWidth > l.clientWidth + 1,
          active: h.querySelectorAll('.links a.active, .menu a.active').length,
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


STATE = """() => { const h = document.querySelector('header.top'), l = h.querySelector('nav.main .links');
  const idx = (sel) => [...h.querySelectorAll(sel)].map(a => Number(a.dataset.navI));
  return {bar: idx('nav.main .links a'), more: idx('details.more .menu a'),
          overflow: l.scrollWidth > l.clientWidth + 1}; }"""


def _admin_menu_labels(settings, lang: str) -> list[str]:
    from cleanheat.auth.roles import Role
    from cleanheat.web.app import create_app

    nav = [n for n in create_app(settings, background=False).state.nav
           if n.visible_to(Role.ADMIN) and n.for_unit(None) is not None]  # an admin has no unit of its own
    return [n.en if lang == "en" else n.zh for n in nav]


def _check_order(page, expected: list[str], state: dict, active: int) -> None:
    """The bar and the menu each list their entries in menu order; what "more" holds is the secondary entries
    plus a run taken from the end of the bar (never the highlighted entry)."""
    bar, more = state["bar"], state["more"]
    assert bar == sorted(bar) and more == sorted(more), state
    assert sorted(bar + more) == list(range(len(expected))), state
    assert active in bar, state
    moved = [i for i in more if i not in PINNED]
    assert all(i > b for i in moved for b in bar if b != active), state  # a run from the end of the bar
    labels = [t.strip() for t in page.locator("nav.main .links a, details.more .menu a").all_text_contents()]
    assert sorted(labels) == sorted(expected)


PINNED: set[int] = set()


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_menu_order_is_stable_when_resizing(live_app, page, login_as, lang):
    expected = _admin_menu_labels(live_app.settings, lang)
    page.goto(f"{live_app.url}/lang/{lang}")
    login_as(live_app.url, "admin")
    for path, active_label in (("/programme/overview", expected[0]), ("/telemetry/alarms", "告警" if lang == "zh"
                                                                       else "Alarms")):
        active = expected.index(active_label)
        fresh = {}
        for width in (1920, 1366, 1024):  # a fresh page at each width
            page.set_viewport_size({"width": width, "height": 900})
            page.goto(f"{live_app.url}{path}")
            page.wait_for_load_state("networkidle")
            fresh[width] = page.evaluate(STATE)
            PINNED.clear()
            PINNED.update(int(i) for i in page.locator("details.more .menu a[data-pinned]").evaluate_all(
                "els => els.map(e => e.dataset.navI)"))
            assert not fresh[width]["overflow"], (width, fresh[width])
            _check_order(page, expected, fresh[width], active)
            shot(page, f"nav-order-{lang}-{width}-{path.strip('/').replace('/', '-')}")
        assert len(fresh[1024]["bar"]) < len(fresh[1920]["bar"])  # something did move at the narrow width
        for width in (1920, 1024, 1366, 1024, 1920, 1366):  # the same page resized down and up again
            page.set_viewport_size({"width": width, "height": 900})
            # the bar laid out for this width (the resize event may come a frame after innerWidth changes)
            page.wait_for_function(
                "(w) => window.innerWidth === w"
                " && document.querySelector('nav.main').dataset.fittedWidth === String(w)",
                arg=width, timeout=10_000)
            state = page.evaluate(STATE)
            _check_order(page, expected, state, active)
            assert state == fresh[width], (width, state, fresh[width])
