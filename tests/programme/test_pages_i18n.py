"""Programme pages in English carry no Chinese fall-backs or raw codes; in Chinese no raw English codes."""

from __future__ import annotations

import re

import pytest

from tests.helpers import login, token
from tests.programme.conftest import fill_template, reporter_for_unit


def strip(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def main_text(html: str) -> str:
    main = html.split("<main>", 1)[1].split("</main>", 1)[0]
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", re.sub(r"<script.*?</script>", "", main, flags=re.S)))


@pytest.fixture
def accepted_report(client, plan):
    data = fill_template(plan, reporter_for_unit(plan, "daoli"), "2020Q2",
                         areas={("urban", "gas"): 10, ("urban", "coal_boiler"): 30, ("rural", "loose_coal"): 5,
                                ("county_fringe", "loose_coal"): 5})
    rid = client.post("/api/programme/reports", headers=token(client, "daoli"),
                      files={"file": ("d.xlsx", data, "application/octet-stream")}).json()["id"]
    client.post(f"/api/programme/reports/{rid}/review", json={"decision": "accept"}, headers=token(client, "office"))
    return rid


def test_report_heading_translated(client, accepted_report):
    login(client, "office")
    client.get("/lang/en")
    html = client.get(f"/programme/reports/{accepted_report}").text
    h1 = strip(html.split("<h1>", 1)[1].split("</h1>", 1)[0])
    assert "version 1" in h1 and "版" not in h1 and "Accepted" in h1, h1
    assert ">accepted<" not in html
    client.get("/lang/zh")
    html = client.get(f"/programme/reports/{accepted_report}").text
    h1 = strip(html.split("<h1>", 1)[1].split("</h1>", 1)[0])
    assert "第1版" in h1 and "已接受" in h1 and "accepted" not in h1, h1
    for path in ("/programme/reports", "/programme/units/daoli"):
        assert ">accepted<" not in client.get(path).text, path


def test_units_of_measure_and_baseline_facts_in_english(client, accepted_report):
    login(client, "office")
    client.get("/lang/en")
    cjk = re.compile(r"[台蒸吨个公里万元]")
    plan = main_text(client.get("/programme/plan").text)
    baseline = plan.split("Energy mix / network", 1)[1].split("Clean-heating-rate targets", 1)[0]
    assert "Primary network length" in baseline and "Coal" in baseline and not cjk.search(baseline), baseline
    tasks = main_text(client.get("/programme/tasks").text)
    assert "t/h" in tasks and "km" in tasks and not re.search(r"\d [台蒸个公]", tasks)
    client.get("/lang/zh")
    tasks = main_text(client.get("/programme/tasks").text)
    assert "蒸吨" in tasks and "公里" in tasks


def test_about_targets_are_marked_on_the_task_board(client, accepted_report):
    login(client, "office")
    html = client.get("/programme/tasks?year=2021&quarter=4").text
    row = next(r for r in html.split("<tr") if "smart_heating_area" in r or "智慧供热面积" in r)
    assert "≈" in row and "95%" in row
    assert sum("≈" in r for r in html.split("<tr")) == 1  # only the plan's one "about" target
