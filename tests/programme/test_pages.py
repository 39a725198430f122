"""Programme pages render for the roles that use them, with the data they should show."""

from decimal import Decimal

from cleanheat.planner.tables import PlannerProposal
from cleanheat.store.engine import session_scope
from tests.helpers import login, token
from tests.programme.conftest import fill_template, reporter_for_unit

PAGES = ["/programme/overview", "/programme/overview?year=2020&quarter=2", "/programme/area/rural",
         "/programme/tasks", "/programme/reports", "/programme/plan", "/programme/publish"]


def test_pages_render_for_office_and_unit(client, plan, session_factory):
    data = fill_template(plan, reporter_for_unit(plan, "daoli"), "2020Q2",
                         areas={("urban", "gas"): 10, ("urban", "coal_boiler"): 30, ("rural", "loose_coal"): 5,
                                ("county_fringe", "loose_coal"): 5})
    rid = client.post("/api/programme/reports", headers=token(client, "daoli"),
                      files={"file": ("d.xlsx", data, "application/octet-stream")}).json()["id"]
    client.post(f"/api/programme/reports/{rid}/review", json={"decision": "accept"}, headers=token(client, "office"))
    with session_scope(session_factory) as s:
        s.add(PlannerProposal(title="测试建议", scenario_name="基准情景", years=[2021],
                              rate_targets=[{"area_type": "rural", "year": 2021, "min_rate": 0.45}],
                              technology_targets=[], builds=[], total_cost_yuan=Decimal("123456789.00"),
                              created_by="office"))
    login(client, "office")
    for path in PAGES + ["/programme/units/daoli", f"/programme/reports/{rid}"]:
        r = client.get(path)
        assert r.status_code == 200, path
    overview = client.get("/programme/overview?year=2020&quarter=2").text
    assert "25.0%" in overview  # Daoli urban 10 / 40
    plan_page = client.get("/programme/plan").text
    assert "测试建议" in plan_page and "45% / 40%" in plan_page
    assert "§二(三)" in plan_page and "哈尔滨新区绿色建筑研发大厦" in plan_page
    client.cookies.clear()
    login(client, "daoli")
    for path in PAGES + ["/programme/units/daoli"]:
        assert client.get(path).status_code == 200, path
    assert client.get("/programme/units/nangang").status_code == 404
    assert client.get("/programme/area/nowhere").status_code == 404
