"""Stored script injection and the Content-Security-Policy in the real browser (issue #10, defect 1).

A heat company uploads a network whose ids are HTML; a programme office imports planner areas whose names are
HTML. The pages and their chart tooltips show that text as text and run nothing. Each demo role's main pages run
with the policy without a single violation (their own scripts are not blocked) and draw their charts."""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

import pytest

from cleanheat.config import Settings
from cleanheat.demo_accounts import DEMO_ACCOUNTS, demo_password
from tests.e2e.conftest import ARTIFACTS, serve, shot

# one xdist worker runs the whole module, so its demo database is built once (module fixtures are rebuilt
# whenever a worker switches modules)
pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("xss_csp")]

ROOT = Path(__file__).resolve().parents[2]
P_IMG = '<img src=x onerror="window.__xss=1">'
P_SVG = '"><svg/onload="window.__xss=2">'
P_SCRIPT = "<script>window.__xss=3</script>"
P_ATTR = "' onmouseover='window.__xss=4"

INJECTED = "document.querySelectorAll('img[src=\"x\"], svg[onload], main script:not([src]):not([type])').length"


def _csp_watch(page) -> list[str]:
    """Console messages about the policy and uncaught page errors, collected while the page lives."""
    seen: list[str] = []
    page.on("console", lambda m: seen.append(m.text) if "Content Security Policy" in m.text else None)
    page.on("pageerror", lambda e: seen.append(f"pageerror: {e}"))
    return seen


def _login(page, url: str, username: str, password: str) -> None:
    page.goto(f"{url}/login")
    page.fill("#username", username)
    page.fill("#password", password)
    with page.expect_navigation():
        page.click("button[type=submit]")
    page.wait_for_load_state("load")
    assert "/login" not in page.url, f"login as {username} failed"


def _tooltip(page, chart_id: str) -> dict:
    """The chart's HTML tooltip once it shows: its text, and whether it holds any element that could run script."""
    page.wait_for_function("""(id) => { const el = document.getElementById(id), t = el.lastElementChild;
        return el.children.length > 1 && t.style.display !== 'none' &&
            t.style.opacity !== '0' && t.innerText.trim(); }""",
                           arg=chart_id, timeout=15000)
    return page.evaluate("""(id) => { const t = document.getElementById(id).lastElementChild;
        return {text: t.innerText, elements: t.querySelectorAll('img, svg, script, iframe').length}; }""", chart_id)


def _wait_tip(page, chart_id: str, text: str) -> None:
    """Wait until the chart's tooltip contains ``text`` (functions only: under the policy the page cannot eval)."""
    page.wait_for_function("""([id, text]) => { const t = document.getElementById(id).lastElementChild;
        return !!t && t.innerText.includes(text); }""", arg=[chart_id, text], timeout=15000)


def _hover_point(page, chart_id: str, series: int, data_index: int) -> None:
    """Move the real mouse over one data point of a scatter series."""
    page.evaluate("(id) => document.getElementById(id).scrollIntoView({block: 'center'})", chart_id)
    xy = page.evaluate("""([id, s, i]) => { const c = echarts.getInstanceByDom(document.getElementById(id));
        const d = c.getOption().series[s].data[i]; const p = c.convertToPixel({seriesIndex: s}, [d[0], d[1]]);
        const r = document.getElementById(id).getBoundingClientRect(); return [r.left + p[0], r.top + p[1]]; }""",
                       [chart_id, series, data_index])
    page.mouse.move(xy[0] - 30, xy[1] - 30)
    page.mouse.move(xy[0], xy[1], steps=4)


def _assert_nothing_ran(page, seen: list[str]) -> None:
    assert page.evaluate("window.__xss") is None
    assert page.evaluate(INJECTED) == 0
    assert seen == [], seen
    # htmx evaluates nothing either (hx-on, js: values, trigger filters, scripts in swapped content)
    assert page.evaluate("() => [htmx.config.allowEval, htmx.config.allowScriptTags]") == [False, False]


# ------------------------------------------------------------------------------------------ network ids
def _payload_network() -> dict:
    nodes = [("s1-" + P_SVG, 0, 0, "supply"), ("s2", 400, 0, "supply"), ("r1", 0, 40, "return"),
             ("r2-" + P_ATTR, 400, 40, "return")]
    return {"format": "cleanheat-network/1", "name": "payload",
            "nodes": [{"id": i, "x_m": x, "y_m": y, "side": s} for i, x, y, s in nodes],
            "pipes": [{"id": "pipe-" + P_IMG, "from": nodes[0][0], "to": "s2", "length_m": 400, "dn": 100,
                       "side": "supply"},
                      {"id": "ret-" + P_SCRIPT, "from": nodes[3][0], "to": "r1", "length_m": 400, "dn": 100,
                       "side": "return"}],
            "consumers": [{"id": "cons-" + P_SVG, "supply_node": "s2", "return_node": nodes[3][0], "heat_w": 2e5,
                           "return_temperature_c": 50}],
            "sources": [{"id": "src-" + P_IMG, "supply_node": nodes[0][0], "return_node": "r1",
                         "supply_temperature_c": 90, "supply_pressure_bar": 6, "lift_bar": 3}]}


def _check_network_page(page, url: str, net_path: str, seen: list[str], who: str) -> None:
    page.goto(url + net_path)
    page.wait_for_selector("#network-map[data-ready='1']")
    # the ids are text in the tables
    worst = page.locator("#worst-pipes tbody")
    assert "pipe-" + P_IMG in worst.inner_text()
    # the pipe tooltip (hovering the table row shows it), then the consumer's and the source's (real mouse)
    worst.locator("tr").first.hover()
    tip = _tooltip(page, "network-map")
    assert "pipe-" + P_IMG in tip["text"] and tip["elements"] == 0
    page.mouse.move(5, 5)
    _hover_point(page, "network-map", 1, 0)
    _wait_tip(page, "network-map", "cons-")
    tip = _tooltip(page, "network-map")
    assert "cons-" + P_SVG in tip["text"] and tip["elements"] == 0, tip
    _hover_point(page, "network-map", 2, 0)
    _wait_tip(page, "network-map", "src-")
    tip = _tooltip(page, "network-map")
    assert "src-" + P_IMG in tip["text"] and tip["elements"] == 0, tip
    page.locator("#network-map").screenshot(path=str(ARTIFACTS / f"xss-network-tooltip-{who}.png"))
    # every pipe side: the return pipe's id as well
    page.select_option("#side", "all")
    page.wait_for_selector("#network-map[data-lines='2']")
    page.evaluate("""() => { const c = echarts.getInstanceByDom(document.getElementById('network-map'));
        c.dispatchAction({type: 'showTip', seriesIndex: 0, dataIndex: 1}); }""")
    _wait_tip(page, "network-map", "ret-")
    tip = _tooltip(page, "network-map")
    assert "ret-" + P_SCRIPT in tip["text"] and tip["elements"] == 0, tip
    shot(page, f"xss-network-{who}")
    _assert_nothing_ran(page, seen)


def test_uploaded_network_ids_are_shown_as_text_and_run_nothing(live_app, page, browser, tmp_path):
    seen = _csp_watch(page)
    upload = tmp_path / "payload.json"
    upload.write_text(json.dumps(_payload_network()), encoding="utf-8")
    _login(page, live_app.url, "htjt", "test-password-1")
    page.goto(f"{live_app.url}/network")
    page.set_input_files("#file", str(upload))
    page.fill("#name", "管网 " + P_IMG)
    page.fill("#description", P_SCRIPT)
    page.click("#upload-form button[type=submit]")
    page.wait_for_url(re.compile(r".*/network/\d+$"))
    assert P_IMG in page.locator("h1").inner_text() and P_SCRIPT in page.inner_text("main")
    net_path = "/network/" + page.url.rsplit("/", 1)[1]
    _check_network_page(page, live_app.url, net_path, seen, "company")

    # the programme office, whose session the heat company would attack, opens the same page
    office = browser.new_context(viewport={"width": 1360, "height": 900}, locale="zh-CN")
    try:
        op = office.new_page()
        office_seen = _csp_watch(op)
        _login(op, live_app.url, "office", "test-password-1")
        op.goto(f"{live_app.url}/network")
        assert P_IMG in op.inner_text("#networks-table")
        _check_network_page(op, live_app.url, net_path, office_seen, "office")
    finally:
        office.close()


# ------------------------------------------------------------------------------------- planner area names
def _payload_areas() -> tuple[bytes, dict[str, str]]:
    """The shipped synthetic area file with HTML in the names of its first areas."""
    text = (ROOT / "data" / "planner" / "harbin_areas_synthetic.csv").read_text(encoding="utf-8")
    comments = [ln for ln in text.splitlines() if ln.startswith("#")]
    rows = list(csv.DictReader(ln for ln in text.splitlines() if not ln.startswith("#")))
    names = {}
    for row, payload in zip(rows, (P_IMG, P_SVG, P_SCRIPT, P_ATTR), strict=False):
        row["name"] = f"{row['name']}{payload}"
        names[row["code"]] = row["name"]
    out = io.StringIO()
    out.write("\n".join(comments) + "\n")
    w = csv.DictWriter(out, fieldnames=list(rows[0]), lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    return out.getvalue().encode("utf-8"), names


def test_planner_area_names_are_shown_as_text_and_run_nothing(live_app, page):
    seen = _csp_watch(page)
    data, names = _payload_areas()
    _login(page, live_app.url, "office", "test-password-1")
    page.goto(f"{live_app.url}/planner")
    page.set_input_files("#area-file", files=[{"name": "xss-areas.csv", "mimeType": "text/csv", "buffer": data}])
    page.fill("#area-name", "xss-areas")
    with page.expect_navigation():
        page.click("form[action='/planner/areas/import'] button[type=submit]")
    page.wait_for_load_state("load")
    assert "xss-areas" in page.inner_text(".flash.ok")
    page.goto(f"{live_app.url}/planner/scenarios/new")
    page.fill("#name", "XSS 区域名称")
    page.select_option("#areas", "xss-areas")
    page.click("#save-solve")
    page.wait_for_url("**/planner/results/*", timeout=300_000)
    page.wait_for_selector("#chart-map[data-ready='1'] canvas")
    table = page.inner_text("#areas")
    assert all(n in table for n in names.values())
    # hover each payload area on the map: the tooltip shows its name as text
    for code, name in names.items():
        where = page.evaluate("""(code) => { const c = echarts.getInstanceByDom(document.getElementById('chart-map'));
            const ss = c.getOption().series;
            for (let s = 0; s < ss.length; s++) {
              const i = ss[s].data.findIndex(d => d[5] === code); if (i >= 0) return [s, i]; }
            return null; }""", code)
        assert where is not None, code
        page.mouse.move(5, 5)
        page.evaluate("""([s, i]) => echarts.getInstanceByDom(document.getElementById('chart-map'))
            .dispatchAction({type: 'showTip', seriesIndex: s, dataIndex: i})""", where)
        _wait_tip(page, "chart-map", name)
        tip = _tooltip(page, "chart-map")
        assert name in tip["text"] and tip["elements"] == 0, tip
    first = next(iter(names))
    page.locator("#chart-map").screenshot(path=str(ARTIFACTS / "xss-planner-map-tooltip.png"))
    shot(page, "xss-planner-result")
    _assert_nothing_ran(page, seen)

    # the area's own page
    page.click(f"#areas a[href$='/areas/{first}']")
    page.wait_for_selector("#chart-pareto[data-ready='1'] canvas")
    assert names[first] in page.locator("h1").inner_text()
    page.evaluate("""() => echarts.getInstanceByDom(document.getElementById('chart-pareto'))
        .dispatchAction({type: 'showTip', seriesIndex: 1, dataIndex: 0})""")
    tip = _tooltip(page, "chart-pareto")
    assert "LCOH" in tip["text"] and tip["elements"] == 0
    shot(page, "xss-planner-area")
    _assert_nothing_ran(page, seen)


# ---------------------------------------------------------------------- every demo role's pages, no violation
@pytest.fixture(scope="module")
def demo_app(tmp_path_factory, demo_city):
    base = tmp_path_factory.mktemp("demo")
    url = demo_city.copy("sqlite", base)  # ``cleanheat init --demo``, built once per run (tests/demo_city.py)
    settings = Settings(database_url=url, var_dir=base / "var", secret_key="e2e-demo")
    server, thread, url = serve(settings)
    yield url
    server.should_exit = True
    thread.join(timeout=10)


CHARTS_DRAWN = """() => [...document.querySelectorAll('main .chart, main [id^="chart"], #network-map')]
    .filter(el => el.offsetParent !== null && !el.querySelector('p'))
    .map(el => [el.id || el.className,
                 !!(window.echarts && echarts.getInstanceByDom(el) && el.querySelector('canvas'))])"""


def _main_pages(page, url: str) -> list[str]:
    links = page.evaluate("() => [...document.querySelectorAll('header.top nav.main a')]"
                          ".map(a => a.getAttribute('href'))")
    extra = page.evaluate("""() => [...document.querySelectorAll('main a[href]')].map(a => a.getAttribute('href'))
        .filter(h => /^\\/(network\\/\\d+|planner\\/results\\/\\d+|emissions\\/points\\/\\d+|"""
        """telemetry\\/stations\\/\\d+|programme\\/units\\/)/.test(h))""")
    return list(dict.fromkeys(links + extra[:2]))


@pytest.mark.parametrize("account", DEMO_ACCOUNTS, ids=lambda a: a.username)
def test_demo_pages_run_under_the_policy_and_draw_their_charts(demo_app, browser, account):
    context = browser.new_context(viewport={"width": 1360, "height": 900}, locale="zh-CN")
    try:
        page = context.new_page()
        seen = _csp_watch(page)
        _login(page, demo_app, account.username, demo_password())
        visited, drawn = [], 0
        todo = _main_pages(page, demo_app)
        assert todo, f"{account.username} sees no pages"
        for path in todo:
            page.goto(demo_app + path)
            page.wait_for_load_state("load")
            visited.append(path)
            for href in _main_pages(page, demo_app):
                if href not in todo:
                    todo.append(href)
            if len(todo) > 14:
                del todo[14:]
            # the page's charts are initialised and drawn (a blocked script would leave them empty)
            page.wait_for_function(f"() => ({CHARTS_DRAWN})().every(c => c[1])", timeout=30000)
            drawn += len(page.evaluate(CHARTS_DRAWN))
        shot(page, f"csp-{account.username}")
        assert seen == [], (account.username, visited, seen)
        assert page.evaluate("typeof window.cleanheat.esc") == "function"
        if account.role in ("programme_office", "heat_company", "ecology_bureau", "reporting_unit", "admin"):
            assert drawn > 0, (account.username, visited)
    finally:
        context.close()
