"""Each role starts where its work is (issue 12.6): a district or county on its own unit page (first in its menu),
a heat company on live operations; the overview shows a district its own unit and the city's figures, never
another unit's."""

import re

import pytest

from tests.helpers import login, token
from tests.programme.conftest import DAOLI_AREAS, fill_template, reporter_for_unit

#: where each test user lands after logging in
START = {"admin": "/programme", "office": "/programme", "daoli": "/programme/units/daoli",
         "binxian": "/programme/units/binxian", "htjt": "/telemetry", "eeb": "/emissions"}


def _accept(client, plan, unit: str, areas: dict) -> None:
    data = fill_template(plan, reporter_for_unit(plan, unit), "2020Q4", areas=areas)
    r = client.post("/api/programme/reports", headers=token(client, unit),
                    files={"file": ("r.xlsx", data, "application/octet-stream")})
    assert r.status_code in (200, 201), r.text
    r = client.post(f"/api/programme/reports/{r.json()['id']}/review", json={"decision": "accept"},
                    headers=token(client, "office"))
    assert r.status_code == 200, r.text


@pytest.mark.parametrize("user", sorted(START))
def test_each_role_lands_on_its_start_page(client, user):
    login(client, user)
    r = client.get("/", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == START[user]
    page = client.get(START[user])
    assert page.status_code == 200, page.text
    if user in ("daoli", "binxian"):  # the unit page is in the district's menu, first and highlighted
        links = re.findall(r'<a href="([^"]+)"[^>]*? data-nav-i="(\d+)"', page.text)
        assert links[0] == (START[user], "0"), links
        assert f'<a href="{START[user]}" class="active" aria-current="page" data-nav-i="0">' in page.text


def test_overview_shows_a_district_only_its_own_unit(client, plan):
    _accept(client, plan, "daoli", DAOLI_AREAS)
    _accept(client, plan, "nangang", {**DAOLI_AREAS, ("urban", "gas"): 777})
    login(client, "office")
    office = client.get("/programme/overview?year=2020&quarter=4").text
    assert "/programme/units/nangang" in office and "南岗区" in office and "/programme/units/daoli" in office
    client.cookies.clear()
    login(client, "daoli")
    mine = client.get("/programme/overview?year=2020&quarter=4").text
    assert "/programme/units/daoli" in mine
    assert "/programme/units/nangang" not in mine and "南岗区" not in mine  # no other unit's name or figures
    assert "按清洁取暖率超出目标的幅度排序" not in mine  # no ranking of a single row
    assert 'id="units"' in mine and "本区县" in mine
    client.cookies.clear()
    login(client, "htjt")
    company = client.get("/programme/overview?year=2020&quarter=4").text
    assert "/programme/units/" not in company and 'id="units"' not in company
