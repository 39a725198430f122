"""The overview shows the clean-coal target as the plan states it (an increase since 2018, next to the increase
reached), and the task board lists the registry-counted share tasks."""

import re

from tests.helpers import login, token
from tests.programme.conftest import fill_template, reporter_for_unit


def test_clean_coal_increase_is_shown_next_to_its_target(client, plan):
    # Daoli reports 1亿 m² of ultra-low coal CHP: the increase over the plan's 2018 clean-coal area (0.775亿) is
    # 0.225亿 m² = 2,250 万m², against the target of 新增 2.5亿 m² = 25,000 万m².
    data = fill_template(plan, reporter_for_unit(plan, "daoli"), "2021Q4",
                         areas={("urban", "coal_chp_ultralow"): 10000, ("urban", "coal_boiler"): 100,
                                ("rural", "loose_coal"): 5, ("county_fringe", "loose_coal"): 5})
    rid = client.post("/api/programme/reports", headers=token(client, "daoli"),
                      files={"file": ("d.xlsx", data, "application/octet-stream")}).json()["id"]
    client.post(f"/api/programme/reports/{rid}/review", json={"decision": "accept"}, headers=token(client, "office"))
    login(client, "office")
    html = client.get("/programme/overview?year=2021&quarter=4").text
    cell = re.search(r'data-increase="clean_coal">(.*?)</span>', html, re.S)
    assert cell is not None
    assert re.sub(r"[^0-9]", "", cell.group(1)) == "2250"


def test_task_board_lists_the_band_and_100_percent_tasks(client):
    login(client, "office")
    html = client.get("/programme/tasks?year=2021&quarter=4").text
    for code in ("coal_rectify_urban_10_35", "coal_rectify_county_rural_below_10", "coal_phaseout_new_area_below_25",
                 "coal_boilers_all_clean_2021"):
        assert f'data-task="{code}"' in html
