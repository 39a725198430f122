"""The planner's scenario editor, result page and area appraisal in the real browser (Debian chromium)."""

from __future__ import annotations

import pytest

from cleanheat.planner import demo
from cleanheat.store.engine import make_engine, make_sessionmaker, session_scope
from tests.e2e.conftest import serve, shot

pytestmark = pytest.mark.e2e


@pytest.fixture
def planner_app(e2e_settings):
    engine = make_engine(e2e_settings.database_url)
    with session_scope(make_sessionmaker(engine)) as s:
        demo.load_demo(s, e2e_settings)
    engine.dispose()
    server, thread, url = serve(e2e_settings)
    yield url
    server.should_exit = True
    thread.join(timeout=10)


def test_scenario_editor_solve_and_results(planner_app, page, login_as):
    url = planner_app
    login_as(url, "office")
    page.goto(f"{url}/planner")
    assert "清洁取暖方式规划" in page.locator("h1").inner_text()
    page.click("#scenarios >> text=基准情景 2019–2021（合成示范）")
    page.wait_for_selector("#gas_2021")
    shot(page, "planner-editor")
    page.fill("#gas_2021", "12000")
    page.fill("#budget_2019", "260000")
    page.click("#save-solve")
    page.wait_for_url("**/planner/results/*")
    page.wait_for_selector("#chart-rates[data-ready='1'] canvas")
    page.wait_for_selector("#chart-map[data-ready='1'] canvas")
    assert "最优" in page.locator("#status").inner_text()
    assert page.locator("#binding tbody tr").count() >= 1
    assert page.locator("#areas tbody tr").count() == 50
    shot(page, "planner-result")
    # every series is named in a plain (not paged) legend that fits inside its chart
    for cid in ("chart-rates", "chart-mix", "chart-map"):
        legend = page.evaluate("""(id) => { const c = echarts.getInstanceByDom(document.getElementById(id));
            const lg = c.getModel().getComponent('legend', 0), v = c.getViewOfComponentModel(lg);
            const r = v.group.getBoundingRect(), m = v.group.transform || [1, 0, 0, 1, 0, 0];
            return {type: lg.get('type') || lg.mainType, scroll: lg.subType, n: lg.getData().length,
                    series: c.getOption().series.length, right: m[4] + r.x + r.width, bottom: m[5] + r.y + r.height,
                    w: c.getWidth(), h: c.getHeight()}; }""", cid)
        assert legend["scroll"] != "scroll" and legend["n"] == legend["series"], (cid, legend)
        assert legend["right"] <= legend["w"] and legend["bottom"] <= legend["h"], (cid, legend)
    # the saved scenario kept the edit
    page.go_back()
    page.reload()
    assert page.input_value("#gas_2021") == "12000"
    # per-area appraisal with its Pareto chart
    page.goto(page.url.replace("/planner/scenarios/", "/planner/scenarios/") + "/areas/daoli-U01")
    page.wait_for_selector("#chart-pareto[data-ready='1'] canvas")
    assert page.locator("#options tbody tr").count() == 15
    shot(page, "planner-area")


def test_yaml_error_is_shown_with_its_line(planner_app, page, login_as):
    url = planner_app
    login_as(url, "office")
    page.goto(f"{url}/planner/scenarios/new")
    page.click("#tab-yaml")
    page.fill("#yaml_text", "name: 错误示例\noptions:\n  exclude: [heat_pipe]\n")
    page.click("#save")
    page.wait_for_selector("#errors")
    text = page.locator("#errors").inner_text()
    assert "3" in text and "options.exclude.0" in text and "heat_pipe" in text
    shot(page, "planner-yaml-error")


def test_infeasible_demo_result_explains_itself(planner_app, page, login_as):
    url = planner_app
    login_as(url, "office")
    page.goto(f"{url}/planner")
    page.locator("#scenarios tr", has_text="示范：不可行").locator("a[href^='/planner/results/']").click()
    page.wait_for_selector("#infeasibility")
    assert "城市城区 2019 年清洁取暖率目标 60% 达不到" in page.locator("#infeasibility").inner_text()
    shot(page, "planner-infeasible")
