"""The programme pages, the supervision list and the published reports show the verified figure beside the
reported one (issue #11 item 2). A constructed case: Daoli reports 30 万m² coal CHP (ultra-low) and 10 万m² coal
boiler area in 2020Q4; the one registered coal CHP unit serving Daoli (100 万m²) has no monitoring point. The
plan requires every coal CHP unit to be monitored, so its share (100 × min(1, 30/100) = 30 万m²) is unevidenced:
urban reported rate 30/40 = 75.0 %, verified 0.0 %."""

from __future__ import annotations

import io

import pytest
from openpyxl import load_workbook

from cleanheat.assets.heat_sources import SourceInput, upsert_sources
from cleanheat.auth.service import Actor
from cleanheat.store.engine import session_scope
from tests.helpers import accepted_job, finish_jobs, login, token
from tests.programme.conftest import fill_template, reporter_for_unit


@pytest.fixture
def case(client, plan, session_factory):
    with session_scope(session_factory) as s:
        upsert_sources(s, Actor.system("test"), [
            SourceInput("S-DAOLI-CHP", "道里测试热电", "veolia", "daoli", "urban", "chp", "coal", 420.0,
                        emission_class="ultra_low", served_area_m2=1_000_000.0)], mw_per_t_h_value=0.7)
    data = fill_template(plan, reporter_for_unit(plan, "daoli"), "2020Q4",
                         areas={("urban", "coal_chp_ultralow"): 30, ("urban", "coal_boiler"): 10,
                                ("rural", "loose_coal"): 5, ("county_fringe", "loose_coal"): 5})
    up = client.post("/api/programme/reports", headers=token(client, "daoli"),
                     files={"file": ("d.xlsx", data, "application/octet-stream")})
    assert up.status_code == 201, up.text
    rid = up.json()["id"]
    r = client.post(f"/api/programme/reports/{rid}/review", json={"decision": "accept"},
                    headers=token(client, "office"))
    assert r.status_code == 200, r.text
    return client


def test_api_gives_reported_and_verified(case):
    ev = case.get("/api/programme/evaluation", params={"year": 2020}, headers=token(case, "office")).json()
    urban = ev["rates"]["urban"]
    assert urban["actual"] == pytest.approx(0.75) and urban["verified"] == pytest.approx(0.0)
    assert urban["unverified_m2"] == pytest.approx(300_000)
    [src] = [s for s in ev["verification"]["sources"] if s["code"] == "S-DAOLI-CHP"]
    assert src["evidence"] == "no_monitoring_point" and src["unverified_m2"] == pytest.approx(300_000)
    assert ev["verification"]["windows"] == [{"start": "2020-01-01", "end": "2020-04-20"},
                                             {"start": "2020-10-20", "end": "2020-12-31"}]


def test_pages_show_both_figures(case):
    login(case, "office")
    overview = case.get("/programme/overview?year=2020&quarter=4").text
    assert "75.0%" in overview and 'data-verified="0.0000"' in overview
    assert 'data-evidence="no_monitoring_point"' in overview and "2020-01-01 – 2020-04-20" in overview
    assert "echarts.init" not in overview and "/static/js/programme-overview.js" in overview  # CSP: no inline code
    unit = case.get("/programme/units/daoli?year=2020&quarter=4").text
    assert "道里测试热电" in unit and 'data-evidence="no_monitoring_point"' in unit
    sup = case.get("/programme/supervision?year=2020&quarter=4")
    assert sup.status_code == 200
    assert 'data-source="S-DAOLI-CHP"' in sup.text and "coal-chp-ultra-low" in sup.text
    assert "方案 四(五)" in sup.text  # the clause of each rule


def test_supervision_list_is_scoped(case):
    login(case, "daoli")
    assert 'data-source="S-DAOLI-CHP"' in case.get("/programme/supervision?year=2020&quarter=4").text
    case.cookies.clear()
    login(case, "nangang")
    r = case.get("/programme/supervision?year=2020&quarter=4")
    assert r.status_code == 200 and "S-DAOLI-CHP" not in r.text  # another unit's source


def test_publication_leads_with_the_setting(case, settings):
    office = token(case, "office")
    html = case.get("/api/programme/publication", params={"period": "2020", "format": "html"}, headers=office).text
    # city: 30 clean of 30 + 10 + 5 + 5 = 50 万m² reported -> 60.0 %; verified 0.0 %
    assert "本报告以<b>核验口径</b>为主" in html and "上报口径 60.0%" in html and "核验口径 0.0%" in html
    assert "无监测点" in html and "2020-10-20 – 2020-12-31" in html
    url = accepted_job(case.post("/api/programme/publication", json={"period": "2020Q4", "format": "xlsx"},
                                 headers=office))
    xlsx = case.get(finish_jobs(case, url, headers=office)["result_url"], headers=office)
    wb = load_workbook(io.BytesIO(xlsx.content))
    ws = wb["摘要"]
    rows = [[c.value for c in r] for r in ws.iter_rows()]
    head = next(r for r in rows if r[0] == "区域类型")
    urban = next(r for r in rows if r[0] == "城市城区")
    assert urban[head.index("上报清洁率(%)")] == 75.0 and urban[head.index("核验清洁率(%)")] == 0.0
    assert urban[head.index("清洁取暖率(%)")] == 0.0  # the lead figure is the verified one by default
    assert any("主口径：核验口径" in str(r[0]) for r in rows)
    ev_sheet = [[c.value for c in r] for r in wb["在线监测核验"].iter_rows()]
    assert any(r[0] == "道里测试热电" and "无监测点" in r for r in ev_sheet)


def test_publication_can_lead_with_reported(case, settings, session_factory):
    from cleanheat.programme import publish
    from cleanheat.programme.model import Period
    from cleanheat.programme.plan_store import load_plan

    reported = settings.model_copy(update={"report_rate_basis": "reported"})
    with session_scope(session_factory) as s:
        html = publish.render(s, Actor.system("t"), load_plan(s), Period(2020, 4), annual=True, fmt="html",
                              settings=reported).decode()
    assert "本报告以<b>上报口径</b>为主" in html
