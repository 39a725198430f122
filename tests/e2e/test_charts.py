"""Category charts label every category (ECharts silently hides labels that do not fit) in both languages."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import shot

pytestmark = pytest.mark.e2e

VIEW_LABELS = """(id) => { const c = echarts.getInstanceByDom(document.getElementById(id));
  const axis = c.getModel().getComponent('xAxis', 0).axis;
  return {shown: axis.getViewLabels().length, categories: axis.scale.count()}; }"""


@pytest.mark.parametrize("lang", ["en", "zh"])
@pytest.mark.parametrize(("path", "chart"), [("/programme/overview", "chart-rates")])
def test_every_category_labelled(live_app, page, login_as, lang, path, chart):
    page.set_viewport_size({"width": 1400, "height": 1000})
    page.goto(f"{live_app.url}/lang/{lang}")
    login_as(live_app.url, "office")
    page.goto(live_app.url + path)
    page.wait_for_load_state("networkidle")
    labels = page.evaluate(VIEW_LABELS, chart)
    shot(page, f"chart-{chart}-{lang}")
    assert labels["categories"] >= 4 and labels["shown"] == labels["categories"], labels
