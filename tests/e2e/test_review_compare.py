"""Real browser (issue 12 item 4): the office reviews a quarterly report beside the unit's previous version and
previous quarter, sees the rates it implies and the changes highlighted, tasks in plan order; returning it needs
a comment, said in the page's language."""

from pathlib import Path

from sqlalchemy import select

from cleanheat.auth.service import Actor
from cleanheat.auth.tables import User
from cleanheat.programme import service
from cleanheat.programme.plan_store import load_plan
from cleanheat.programme.reports_io import parse_report
from cleanheat.store.engine import make_engine, make_sessionmaker, session_scope
from tests.programme.conftest import DAOLI_AREAS, fill_template, reporter_for_unit

SHOTS = Path("/tmp/shots-daily2")


def _seed(settings) -> int:
    """Daoli: 2020Q3 accepted; 2020Q4 version 1 returned; 2020Q4 version 2 (gas changed) awaiting review."""
    eng = make_engine(settings.database_url)
    with session_scope(make_sessionmaker(eng)) as s:
        plan = load_plan(s)
        office = Actor.for_user(s.scalar(select(User).where(User.username == "office")))
        daoli = Actor.for_user(s.scalar(select(User).where(User.username == "daoli")))
        rep = reporter_for_unit(plan, "daoli")

        def submit(period, areas, tasks):
            data = fill_template(plan, rep, period, areas=areas, tasks=tasks)
            return service.submit_report(s, daoli, plan, parse_report(data, "r.xlsx", plan, service.reporters(s, plan)))

        q3 = dict(DAOLI_AREAS)
        q3[("urban", "gas")] = 50
        r = submit("2020Q3", q3, {"existing_building_retrofit_area": 10, "public_building_metered_share": 70})
        service.review_report(s, office, r.id, "accept")
        r = submit("2020Q4", DAOLI_AREAS, {"existing_building_retrofit_area": 12, "public_building_metered_share": 70})
        service.review_report(s, office, r.id, "return", "天然气面积有误")
        v2 = dict(DAOLI_AREAS)
        v2[("urban", "gas")] = 300  # changed from version 1 (100) and from Q3 (50)
        r = submit("2020Q4", v2, {"existing_building_retrofit_area": 12.5, "public_building_metered_share": 70})
        rid = r.id
    eng.dispose()
    return rid


def test_review_compares_and_return_needs_a_comment(live_app, page, login_as, browser):
    rid = _seed(live_app.settings)
    SHOTS.mkdir(exist_ok=True)
    login_as(live_app.url, "office")
    page.set_viewport_size({"width": 1366, "height": 900})
    page.goto(f"{live_app.url}/programme/reports/{rid}")

    # beside the previous version (2, returned) and the previous quarter's accepted report
    head = page.locator("#comparison p").first.inner_text()
    assert "第1版" in head and "2020Q3" in head
    gas = page.locator("#compare-urban tr[data-key=gas] td")
    assert [gas.nth(i).inner_text().split()[0] for i in range(1, 4)] == ["300.00", "100.00", "50.00"]
    assert "changed" in gas.nth(1).get_attribute("class")
    assert "+200.00" in gas.nth(2).inner_text() and "+250.00" in gas.nth(3).inner_text()
    chp = page.locator("#compare-urban tr[data-key=coal_chp_ultralow] td")
    assert "changed" not in (chp.nth(1).get_attribute("class") or "")  # unchanged: not highlighted
    # the rates the figures imply: urban (3000 + 300) / 4800 = 68.8 %, version 1: 3100/4600 = 67.4 %
    rates = page.locator("#compare-rates tr[data-area=urban] td")
    assert rates.nth(1).inner_text().startswith("68.8%") and rates.nth(2).inner_text().startswith("67.4%")
    assert "70.0%" in rates.nth(4).inner_text()  # the plan's 2020 urban target
    # tasks in the plan's order
    plan_order = page.evaluate("() => [...document.querySelectorAll('#compare-tasks tr[data-task]')]"
                               ".map(r => r.dataset.task)")
    eng = make_engine(live_app.settings.database_url)
    with session_scope(make_sessionmaker(eng)) as s:
        codes = [t.code for t in load_plan(s).tasks]
    eng.dispose()
    assert plan_order == [c for c in codes if c in plan_order] and len(plan_order) == 2
    page.screenshot(path=str(SHOTS / "review-1366.png"), full_page=True)

    # returning without a comment: stopped in the page with a message in the page's language
    page.click("#review-form button[value=return]")
    message = page.eval_on_selector("#comment", "e => e.validationMessage")
    assert message == "退回报告须填写审核意见，说明需要修改的内容"
    assert page.url.endswith(f"/programme/reports/{rid}")

    # narrow screen
    page.set_viewport_size({"width": 375, "height": 800})
    page.goto(f"{live_app.url}/programme/reports/{rid}")
    assert page.evaluate("() => document.documentElement.scrollWidth") <= 375 + 1  # tables scroll in their box
    page.screenshot(path=str(SHOTS / "review-375.png"), full_page=True)

    # in English, the message is English; a comment lets it through
    page.set_viewport_size({"width": 1366, "height": 900})
    page.goto(f"{live_app.url}/lang/en?next=/programme/reports/{rid}")
    page.click("#review-form button[value=return]")
    assert page.eval_on_selector("#comment", "e => e.validationMessage") == \
        "Returning a report needs a comment saying what to change"
    page.fill("#comment", "Gas area doubled: please attach the connection list")
    with page.expect_navigation():
        page.click("#review-form button[value=return]")
    page.wait_for_load_state("networkidle")
    assert "returned" in page.locator(".flash").inner_text()
