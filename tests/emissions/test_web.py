"""API and pages of the emissions area in-process (SQLite and PostgreSQL): who sees what, forms with CSRF,
reports (XLSX / PDF), audit."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

import pytest
from openpyxl import load_workbook
from sqlalchemy import select

from cleanheat.auth.tables import AuditLog
from cleanheat.config import REPO_ROOT
from cleanheat.emissions.hj212.codec import CHINA_TZ
from cleanheat.emissions.ingest import BulkWriter
from cleanheat.emissions.rollup import maintenance_rules, run_maintenance
from cleanheat.emissions.tables import Exceedance, MonitoringPoint
from tests.emissions.test_pipeline import minutes
from tests.helpers import login, make_client, token

DATA = REPO_ROOT / "data"

T0 = datetime(2020, 12, 1, 0, tzinfo=UTC)
H = timedelta(hours=1)


@pytest.fixture
def client(world, engine):
    recs = []
    for i in range(3):  # an exceedance on T-CHP1 (veolia) and on T-BLR1 (htjt)
        recs += minutes(world.points["T-CHP1"], T0 + i * H, 60, nox=70.0 if i == 1 else 30.0, o2=6.0)
        recs += minutes(world.points["T-BLR1"], T0 + i * H, 60, nox=70.0 if i == 2 else 30.0, o2=9.0)
    BulkWriter(engine).write(recs)
    with world.session() as s:
        run_maintenance(s, now=T0 + 3 * H, **maintenance_rules(DATA, DATA / "harbin"))
    with make_client(world.settings) as c:
        yield c


def test_api_scopes_points_by_organisation(client):
    all_ = client.get("/api/emissions/points", headers=token(client, "eeb"))
    assert all_.status_code == 200 and {p["source_code"] for p in all_.json()} == {"T-CHP1", "T-BLR1", "T-BIO1",
                                                                                   "T-GAS1"}
    assert len(client.get("/api/emissions/points", headers=token(client, "office")).json()) == 4
    own = client.get("/api/emissions/points", headers=token(client, "htjt")).json()
    assert {p["source_code"] for p in own} == {"T-BLR1", "T-BIO1"}
    blr = next(p for p in own if p["source_code"] == "T-BLR1")
    assert blr["latest"]["a21002"]["exceeded"] and blr["state"] == "exceeding"
    assert client.get("/api/emissions/points", headers=token(client, "daoli")).status_code == 403
    assert client.get("/api/emissions/points").status_code == 401


def test_api_hours_exceedances_and_ack(client, world):
    chp, blr = world.points["T-CHP1"], world.points["T-BLR1"]
    eeb, htjt = token(client, "eeb"), token(client, "htjt")
    r = client.get(f"/api/emissions/points/{chp}/hours", params={"from": "2020-12-01T08:00:00",
                                                                "to": "2020-12-01T11:00:00"}, headers=eeb)
    assert r.status_code == 200
    nox = [h for h in r.json() if h["pollutant"] == "a21002"]
    assert [h["exceeded"] for h in nox] == [False, True, False] and nox[1]["conc_zs_mg_m3"] == pytest.approx(70.0)
    assert client.get(f"/api/emissions/points/{chp}/hours", params={"from": "2020-12-01T08:00:00",
                                                                   "to": "2020-12-01T11:00:00"},
                      headers=htjt).status_code == 403
    evs = client.get("/api/emissions/exceedances", headers=htjt).json()
    assert [e["point_id"] for e in evs] == [blr]
    ev_chp = client.get("/api/emissions/exceedances", headers=eeb, params={"point_id": chp}).json()[0]
    assert client.post(f"/api/emissions/exceedances/{ev_chp['id']}/ack", json={"note": "x"},
                       headers=htjt).status_code == 403
    r = client.post(f"/api/emissions/exceedances/{ev_chp['id']}/ack", json={"note": "脱硝系统故障已修复"}, headers=eeb)
    assert r.status_code == 200 and r.json()["acknowledged_by"] == "eeb"
    assert client.post(f"/api/emissions/exceedances/{ev_chp['id']}/ack", json={}, headers=eeb).status_code == 409


def test_api_register_point(client, world):
    body = {"mn": "NEWMN0001", "password": "abcdef", "source_code": "T-BLR2"}
    assert client.post("/api/emissions/points", json=body, headers=token(client, "htjt")).status_code == 403
    r = client.post("/api/emissions/points", json=body, headers=token(client, "eeb"))
    assert r.status_code == 201 and r.json()["source_code"] == "T-BLR2"
    assert client.post("/api/emissions/points", json=body, headers=token(client, "eeb")).status_code == 409
    bad = client.post("/api/emissions/points", json=body | {"mn": "x y", "source_code": "NOPE"},
                      headers=token(client, "eeb"))
    assert bad.status_code == 422 and {i["field"] for i in bad.json()["issues"]} == {"mn", "source_code"}
    with world.session() as s:
        assert s.scalar(select(AuditLog).where(AuditLog.entity == "emissions_point", AuditLog.actor == "eeb"))


def test_pages_for_the_bureau_and_a_company(client, world):
    login(client, "eeb")
    page = client.get("/emissions")
    assert page.status_code == 200 and "热源排放在线监测" in page.text and "测试热源T-GAS1" in page.text
    assert client.get(f"/emissions/points/{world.points['T-CHP1']}?end=2020-12-01&days=1").status_code == 200
    assert "氮氧化物" in client.get("/emissions/events?days=3650").text
    assert client.get("/emissions/packets").status_code == 200
    client.cookies.clear()
    login(client, "htjt")
    page = client.get("/emissions")
    assert "测试热源T-BLR1" in page.text and "测试热源T-CHP1" not in page.text
    assert client.get(f"/emissions/points/{world.points['T-CHP1']}").status_code == 403
    assert client.get("/emissions/packets").status_code == 403
    client.cookies.clear()
    login(client, "daoli")
    assert client.get("/emissions").status_code == 403
    client.cookies.clear()
    assert client.get("/emissions", follow_redirects=False).status_code == 303  # to the login page


def test_register_point_form_needs_csrf(client, world):
    csrf = login(client, "eeb")
    form = {"mn": "FORMMN01", "password": "pw1234", "source_code": "T-BLR2", "crc_variant": "modbus"}
    assert client.post("/emissions/points", data=form, follow_redirects=False).status_code == 403
    r = client.post("/emissions/points", data=form | {"csrf_token": csrf}, follow_redirects=False)
    assert r.status_code == 303
    with world.session() as s:
        p = s.scalar(select(MonitoringPoint).where(MonitoringPoint.mn == "FORMMN01"))
        assert p is not None and p.crc_variant == "modbus"
    r = client.post(f"/emissions/points/{p.id}", data={"active": "0", "crc_variant": "hj212", "csrf_token": csrf},
                    follow_redirects=False)
    assert r.status_code == 303
    with world.session() as s:
        assert not s.get(MonitoringPoint, p.id).active


def test_ack_form(client, world):
    csrf = login(client, "eeb")
    with world.session() as s:
        ev = s.scalar(select(Exceedance).where(Exceedance.point_id == world.points["T-BLR1"]))
    r = client.post(f"/emissions/events/{ev.id}/ack", data={"note": "已约谈", "csrf_token": csrf},
                    follow_redirects=False)
    assert r.status_code == 303
    with world.session() as s:
        assert s.get(Exceedance, ev.id).note == "已约谈"


def test_monthly_report_downloads(client, world):
    login(client, "eeb")
    page = client.get("/emissions/report?month=2020-12")
    assert page.status_code == 200 and "2020-12" in page.text
    x = client.get("/emissions/report.xlsx?month=2020-12")
    assert x.status_code == 200 and x.headers["content-type"].startswith("application/vnd.openxmlformats")
    wb = load_workbook(io.BytesIO(x.content))
    ws = wb.worksheets[0]
    rows = [r for r in ws.iter_rows(min_row=6, values_only=True) if r[0]]
    totals = [r for r in rows if r[6] == "合计 all"]
    assert len(totals) == 4
    chp_total = next(r for r in totals if r[3] == "T-CHP1")
    assert chp_total[8] == 3 and chp_total[11] == 1  # 3 valid hours (all three pollutants), 1 NOx hour over
    pdf = client.get("/emissions/report.pdf?month=2020-12")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    assert client.get("/emissions/report?month=2020-13").status_code == 422
    client.cookies.clear()
    login(client, "htjt")
    wb = load_workbook(io.BytesIO(client.get("/emissions/report.xlsx?month=2020-12").content))
    codes = {r[3] for r in wb.worksheets[0].iter_rows(min_row=6, values_only=True) if r[0]}
    assert codes == {"T-BLR1", "T-BIO1"}


def test_monthly_reports_name_pollutants_not_hj212_codes(client, world, tmp_path):
    import re
    import shutil
    import subprocess

    code = re.compile(r"\b[a-z]\d{5}\b")  # HJ 212 factor codes: a34013, a21026, a21002
    login(client, "eeb")
    wb = load_workbook(io.BytesIO(client.get("/emissions/report.xlsx?month=2020-12").content))
    cells = [str(v) for ws in wb.worksheets for r in ws.iter_rows(values_only=True) for v in r if v is not None]
    assert not [c for c in cells if code.search(c)]
    pollutants = {r[6] for r in wb.worksheets[0].iter_rows(min_row=6, values_only=True) if r[0]}
    assert {"颗粒物 PM", "二氧化硫 SO2", "氮氧化物 NOx"} <= pollutants
    pdf = client.get("/emissions/report.pdf?month=2020-12").content
    if shutil.which("pdftotext") is None:
        pytest.fail("poppler-utils (pdftotext) not installed (make system-deps)")
    (tmp_path / "r.pdf").write_bytes(pdf)
    text = subprocess.run(["pdftotext", str(tmp_path / "r.pdf"), "-"], capture_output=True, text=True,
                          check=True).stdout
    assert "氮氧化物" in text and "NOx" in text and not code.search(text)
    # every point is in the PDF once: in the table with its figures, or in the compact list of points without a
    # valid hour in the month (a month of 400 points is then 10 pages, not 48)
    from tests.emissions.conftest import POINTS

    flat = text.replace("\n", "")
    assert all(flat.count(mn) == 1 for mn, _src, _pw in POINTS), [(mn, flat.count(mn)) for mn, _s, _p in POINTS]
    totals = [r for r in wb.worksheets[0].iter_rows(min_row=6, values_only=True) if r[0] and r[6] == "合计 all"]
    assert any(r[8] == 0 for r in totals)  # T-GAS1 has no hour in 2020-12: listed apart
    assert "无有效小时的监测点" in text


def test_verdicts_api(client):
    r = client.get("/api/emissions/verdicts", params={"period": "2020Q4"}, headers=token(client, "office"))
    assert r.status_code == 200
    v = {x["source_code"]: x for x in r.json()}
    assert v["T-CHP1"]["technology"] == "coal_chp_ultralow"
    assert client.get("/api/emissions/verdicts", params={"period": "2020Q4"},
                      headers=token(client, "htjt")).status_code == 403
    assert client.get("/api/emissions/verdicts", params={"period": "2020-4"},
                      headers=token(client, "office")).status_code == 422


def test_local_times_on_pages(client, world):
    login(client, "eeb")
    text = client.get(f"/emissions/points/{world.points['T-CHP1']}?end=2020-12-01&days=1").text
    assert (T0 + H).astimezone(CHINA_TZ).strftime("%Y-%m-%d %H:%M") in text  # Beijing time on the page


def test_cookie_api_writes_need_csrf_bearer_ones_do_not(client, world):
    """A cookie-authenticated POST to the API without the session's CSRF token is refused (a cross-site page
    could make the browser send it); with the token, or with a bearer token instead of the cookie, it works."""
    csrf = login(client, "eeb")
    body = {"mn": "CSRFMN01", "password": "abcdef", "source_code": "T-BLR2"}
    assert client.post("/api/emissions/points", json=body).status_code == 403
    with world.session() as s:
        assert s.scalar(select(MonitoringPoint).where(MonitoringPoint.mn == "CSRFMN01")) is None
        ev = s.scalar(select(Exceedance).where(Exceedance.point_id == world.points["T-BLR1"]))
    assert client.post(f"/api/emissions/exceedances/{ev.id}/ack", json={"note": "x"}).status_code == 403
    with world.session() as s:
        assert s.get(Exceedance, ev.id).acknowledged_by is None
    r = client.post("/api/emissions/points", json=body, headers={"X-CSRF-Token": csrf})
    assert r.status_code == 201
    bearer = token(client, "eeb")
    client.cookies.clear()
    assert client.post("/api/emissions/points", json=body | {"mn": "CSRFMN02"}, headers=bearer).status_code == 201
    r = client.post(f"/api/emissions/exceedances/{ev.id}/ack", json={"note": "bearer"}, headers=bearer)
    assert r.status_code == 200 and r.json()["note"] == "bearer"


@pytest.mark.parametrize("query", ["end=9999-12-31", "end=0001-01-01", "end=2020-12-01&days=93&x=1",
                                   "end=1900-01-01"])
def test_point_page_rejects_dates_out_of_range(client, world, query):
    login(client, "eeb")
    r = client.get(f"/emissions/points/{world.points['T-CHP1']}?{query}")
    if "2020-12-01" in query:
        assert r.status_code == 200
    else:
        assert r.status_code == 422 and "out of range" in r.text and "end" in r.text


def test_api_hours_rejects_dates_out_of_range(client, world):
    r = client.get(f"/api/emissions/points/{world.points['T-CHP1']}/hours",
                   params={"from": "0001-01-01T00:00:00", "to": "9999-12-31T23:00:00"}, headers=token(client, "eeb"))
    assert r.status_code == 422 and {i["field"] for i in r.json()["issues"]} == {"from", "to"}
