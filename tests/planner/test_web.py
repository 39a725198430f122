"""Planner pages and API in-process: editor, results, downloads, permissions, located errors."""

from __future__ import annotations

import io
import subprocess

import pytest

from cleanheat.config import REPO_ROOT
from tests.helpers import accepted_job, bootstrap, finish_jobs, login, make_client, token

BASE = (REPO_ROOT / "data" / "planner" / "scenarios" / "harbin_2019_2021.yaml").read_text(encoding="utf-8")


@pytest.fixture
def client(settings):
    bootstrap(settings)
    with make_client(settings) as c:
        yield c


@pytest.fixture
def solved(client):
    """A saved and solved base scenario; returns (scenario id, result id)."""
    office = token(client, "office")
    r = client.post("/api/planner/scenarios", json={"yaml": BASE}, headers=office)
    assert r.status_code == 201, r.text
    sid = r.json()["id"]
    # a solve is a job: 202 with its status URL, then the job's JSON links the result
    url = accepted_job(client.post(f"/api/planner/scenarios/{sid}/solve", headers=office))
    job = finish_jobs(client, url, headers=office)
    # the job and its result link are the submitter's: another organisation's user is told there is none
    assert client.get(url, headers=token(client, "daoli")).status_code == 404
    assert job["state"] == "done" and job["result"]["status"] == "optimal", job
    rid = job["result"]["result_id"]
    assert job["result_url"] == f"/api/planner/results/{rid}"
    assert client.get(job["result_url"], headers=office).json()["status"] == "optimal"
    return sid, rid


def test_api_scenario_errors_come_back_located(client):
    office = token(client, "office")
    bad = BASE.replace("max_m2_per_year: {chp_network:", "max_m2_per_year: {chp_netwrk:")
    r = client.post("/api/planner/scenarios", json={"yaml": bad}, headers=office)
    assert r.status_code == 422
    (issue,) = r.json()["issues"]
    line = 1 + next(i for i, t in enumerate(bad.splitlines()) if "chp_netwrk" in t)
    assert issue["field"] == "build_rate.max_m2_per_year.chp_netwrk" and issue["row"] == line
    assert f"第 {line} 行" in issue["where"]


def test_api_result_and_catalogue(client, solved):
    sid, rid = solved
    office, daoli = token(client, "office"), token(client, "daoli")
    full = client.get(f"/api/planner/results/{rid}", headers=office).json()
    assert full["area_scope"] == "all" and len(full["areas"]) == 414
    assert set(full["shadow_prices"]) >= {"gas", "grid", "budget"}
    own = client.get(f"/api/planner/results/{rid}", headers=daoli).json()
    assert own["area_scope"] == "unit" and {a["unit_code"] for a in own["areas"]} == {"daoli"}
    cat = client.get("/api/planner/catalogue", headers=daoli).json()
    ashp = next(o for o in cat["options"] if o["code"] == "ashp")
    assert 1.8 < ashp["seasonal_efficiency"] < 2.4 and ashp["quantities"]["capex_yuan_m2"]["source"]
    appr = client.get(f"/api/planner/scenarios/{sid}/areas/daoli-U01/appraisal", headers=daoli).json()
    assert len(appr["options"]) == 15 and appr["options"][0]["lcoh_yuan_gj"]
    assert client.get(f"/api/planner/scenarios/{sid}/areas/nangang-U01/appraisal", headers=daoli).status_code == 403
    assert client.post(f"/api/planner/scenarios/{sid}/solve", headers=daoli).status_code == 403


def test_pages_render_for_the_programme_office(client, solved):
    sid, rid = solved
    login(client, "office")
    for path in ("/planner", "/planner/scenarios/new", f"/planner/scenarios/{sid}", f"/planner/results/{rid}",
                 f"/planner/results/{rid}?unit=daoli&area_type=urban&page=1",
                 f"/planner/scenarios/{sid}/areas/daoli-U01", f"/planner/compare?ids={rid}", "/planner/compare"):
        r = client.get(path)
        assert r.status_code == 200, (path, r.text[:500])
    page = client.get(f"/planner/results/{rid}").text
    assert "起约束作用的限制与影子价格" in page and "chart-map" in page and "合成数据" in page


def test_pages_render_in_english(client, solved):
    sid, rid = solved
    login(client, "office")
    client.cookies.set("lang", "en")
    for path, text in (("/planner", "Clean-heating planner"), (f"/planner/scenarios/{sid}", "Scenario editor"),
                       (f"/planner/results/{rid}", "Binding constraints and shadow prices"),
                       (f"/planner/scenarios/{sid}/areas/daoli-U01", "Levelised cost of heat by part")):
        r = client.get(path)
        assert r.status_code == 200 and text in r.text, path


def test_editor_form_save_solve_and_located_error(client):
    csrf = login(client, "office")
    form = {"csrf_token": csrf, "mode": "form", "options_submitted": "1", "name": "表单情景", "description": "",
            "start_year": "2019", "end_year": "2021", "areas": "synthetic",
            "gas_2019": "3000", "gas_2020": "6000", "gas_2021": "9000",
            "budget_2019": "250000", "budget_2020": "150000", "budget_2021": "150000",
            "build_chp_network": "1.2e8", "price_natural_gas_commercial": "-3"}
    for at, rates in {"urban": (60, 70, 80), "county_fringe": (50, 60, 70), "rural": (20, 30, 40)}.items():
        for y, v in zip((2019, 2020, 2021), rates, strict=True):
            form[f"rate_{at}_{y}"] = str(v)
    for code in ("chp_network", "gas_boiler_house", "gas_wall_hung", "electric_storage_boiler", "electric_film",
                 "ashp", "gshp", "biomass_pellet_stove", "biomass_boiler_house", "biomass_chp", "geothermal",
                 "sewage_waste_heat", "coal_briquette"):
        form[f"include_{code}"] = "on"
    r = client.post("/planner/scenarios", data=form)
    assert r.status_code == 422
    assert "fuels.overrides.natural_gas_commercial.price_yuan_per_unit" in r.text and "价格不能为负数" in r.text
    form["price_natural_gas_commercial"] = ""
    form["then"] = "solve"
    r = client.post("/planner/scenarios", data=form, follow_redirects=False)
    # solved by a background job: the answer is the job's page, which moves on to the result
    assert r.status_code == 303 and r.headers["location"].startswith("/jobs/")
    assert "规划求解" in client.get(r.headers["location"]).text
    job = finish_jobs(client, r.headers["location"])
    assert job["state"] == "done", job
    assert job["result"]["url"].startswith("/planner/results/")
    page = client.get(job["result"]["url"]).text
    assert "最优" in page


def test_downloads_xlsx_and_pdf(client, solved, recwarn):
    import matplotlib
    from openpyxl import load_workbook

    matplotlib.rcdefaults()  # as in a fresh server process: no earlier chart has chosen the CJK font

    _, rid = solved
    login(client, "office")
    r = client.get(f"/planner/results/{rid}/report.xlsx")
    assert r.status_code == 200 and "spreadsheetml" in r.headers["content-type"]
    wb = load_workbook(io.BytesIO(r.content), read_only=True)
    assert {"概要", "清洁取暖率", "区域", "方式目录"} <= set(wb.sheetnames)
    r = client.get(f"/planner/results/{rid}/report.pdf")
    assert r.status_code == 200 and r.content.startswith(b"%PDF")
    text = subprocess.run(["pdftotext", "-", "-"], input=r.content, capture_output=True, check=True).stdout.decode()
    assert "清洁取暖路径规划报告" in text and "合成数据" in text
    # the charts draw their Chinese labels with the CJK font (installed by `make system-deps`), not as empty boxes
    assert not [str(w.message) for w in recwarn if "missing from font" in str(w.message)]


def test_readers_cannot_write_or_download(client, solved):
    sid, rid = solved
    csrf = login(client, "daoli")
    assert client.get("/planner").status_code == 200
    assert client.get(f"/planner/results/{rid}").status_code == 200
    assert client.get(f"/planner/results/{rid}/report.xlsx").status_code == 403
    assert client.post(f"/planner/scenarios/{sid}/solve", data={"csrf_token": csrf}).status_code == 403
    assert client.get("/planner/scenarios/new").status_code == 403


def test_proposal_pages_and_export(client, solved):
    _, rid = solved
    csrf = login(client, "office")
    r = client.post(f"/planner/results/{rid}/propose", data={"csrf_token": csrf, "title": "建议一"},
                    follow_redirects=False)
    assert r.status_code == 303
    pid = int(r.headers["location"].rsplit("/", 1)[1])
    assert "建议一" in client.get(f"/planner/proposals/{pid}").text
    y = client.get(f"/planner/proposals/{pid}/export.yaml?kind=targets")
    assert y.status_code == 200 and "rate_targets:" in y.text and "technology_targets:" in y.text
    headers = token(client, "htjt")
    assert client.get("/api/planner/proposals", headers=headers).json()[0]["id"] == pid
