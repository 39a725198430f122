"""Real browser: a district logs in onto its own unit page (first and highlighted in its menu), a heat company
onto live operations (issue 12.6); the district's overview lists only its own unit."""

import pytest

from tests.e2e.conftest import shot


@pytest.mark.parametrize("width", [1366, 375])
def test_district_and_company_start_pages(live_app, page, login_as, width):
    page.set_viewport_size({"width": width, "height": 900})
    login_as(live_app.url, "daoli")
    assert page.url.endswith("/programme/units/daoli")
    first = page.locator("nav.main a[data-nav-i='0']")
    assert first.text_content().strip() == "本区县" and "active" in (first.get_attribute("class") or "")
    shot(page, f"start-district-{width}")
    page.goto(f"{live_app.url}/programme/overview")
    page.wait_for_load_state("networkidle")
    assert page.locator("#units tbody a").all_text_contents() == ["道里区"]
    assert page.locator("#units th", has_text="#").count() == 0
    shot(page, f"overview-district-{width}")
    page.click("text=退出")
    login_as(live_app.url, "htjt")
    assert page.url.endswith("/telemetry")
    assert page.locator("nav.main a.active").first.text_content().strip() == "监测运行"
    shot(page, f"start-company-{width}")
