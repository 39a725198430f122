"""The published evaluation report (issue 12 item 8): unit names, not codes; sections with repeated table headers
and bookmarks; the evidence summarised per unit; the web version opens in the browser."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from cleanheat.assets.heat_sources import SourceInput, upsert_sources
from cleanheat.auth.service import Actor
from cleanheat.store.engine import session_scope
from tests.helpers import finish_jobs, login, token
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
    rid = up.json()["id"]
    assert client.post(f"/api/programme/reports/{rid}/review", json={"decision": "accept"},
                       headers=token(client, "office")).status_code == 200
    return client


def _pdf_text(pdf: bytes, tmp_path) -> str:
    if shutil.which("pdftotext") is None:
        pytest.fail("poppler-utils (pdftotext) not installed (make system-deps)")
    (tmp_path / "r.pdf").write_bytes(pdf)
    return subprocess.run(["pdftotext", "-layout", str(tmp_path / "r.pdf"), "-"], capture_output=True, text=True,
                          check=True).stdout


def _made_by_a_job(client, csrf: str, period: str, fmt: str):
    """The file of the publications page's job (PDF, Excel), and the refusal of the same file in a request."""
    refused = client.get("/programme/publish/download", params={"period": period, "format": fmt})
    assert refused.status_code == 422 and "POST /programme/publish/jobs" in refused.text
    r = client.post("/programme/publish/jobs", data={"csrf_token": csrf, "period": period, "format": fmt},
                    headers={"Accept": "application/json"})
    job = finish_jobs(client, r.json()["page_url"])
    assert job["state"] == "done", job
    return client.get(job["download"])


def test_pdf_names_units_and_keeps_sections(case, tmp_path):
    csrf = login(case, "office")
    r = _made_by_a_job(case, csrf, "2020", "pdf")
    assert r.status_code == 200 and r.headers["content-disposition"].startswith("attachment")
    text = _pdf_text(r.content, tmp_path)
    for heading in ("一、总体情况", "四、各区县（市）排名", "七、热源在线监测核验"):
        assert heading in text
    evidence = text[text.index("七、热源在线监测核验"):]
    assert "道里区" in evidence and "道里测试" in evidence and "合计" in evidence
    assert "daoli" not in text  # the unit code nowhere
    # the sections are PDF bookmarks (under the title)
    from weasyprint import HTML

    html = case.get("/programme/publish/download", params={"period": "2020", "format": "html"}).text
    [(title, _, sections, _)] = HTML(string=html).render().make_bookmark_tree()
    assert "年度评价报告" in title
    assert [b[0] for b in sections][:2] == ["一、总体情况", "二、清洁取暖率与目标（按区域类型）"]
    assert sections[-1][0] == "七、热源在线监测核验"


def test_html_opens_in_the_browser_and_xlsx_names_units(case):
    import io

    from openpyxl import load_workbook

    csrf = login(case, "office")
    r = case.get("/programme/publish/download", params={"period": "2020Q4", "format": "html"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert r.headers["content-disposition"].startswith("inline")
    assert "<thead>" in r.text and 'id="evidence-units"' in r.text and ">daoli<" not in r.text
    x = _made_by_a_job(case, csrf, "2020Q4", "xlsx")
    assert x.headers["content-disposition"].startswith("attachment")
    ws = load_workbook(io.BytesIO(x.content))["在线监测核验"]
    units = {row[1] for row in ws.iter_rows(min_row=3, values_only=True) if row[0]}
    assert "道里区" in units and "daoli" not in units
