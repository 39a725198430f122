"""The menu highlights one entry: the longest path that is the page or a parent of it."""

from __future__ import annotations

import re

import pytest

from cleanheat.web.deps import active_nav_path, split_nav
from cleanheat.web.nav import NavItem
from tests.helpers import bootstrap, login, make_client

NAV = [NavItem("/assets", "资产台账", "Registry"), NavItem("/assets/sources", "热源登记", "Heat sources"),
       NavItem("/telemetry", "监测运行", "Live network"), NavItem("/telemetry/alarms", "告警", "Alarms"),
       NavItem("/planner", "方式规划", "Planner")]


@pytest.mark.parametrize(("path", "expected"), [
    ("/assets/sources", "/assets/sources"), ("/assets/sources/SYN-1", "/assets/sources"),
    ("/assets", "/assets"), ("/assets/stations/1", "/assets"), ("/telemetry/alarms", "/telemetry/alarms"),
    ("/telemetry/stations/2", "/telemetry"), ("/plannerx", None), ("/", None),
])
def test_active_nav_path_is_longest_match(path, expected):
    assert active_nav_path(NAV, path) == expected


def test_split_nav_puts_secondary_entries_in_more():
    many = [NavItem(f"/p{i}", "x", "x") for i in range(8)] + [NavItem("/admin/users", "用户管理", "Users",
                                                                        secondary=True)]
    shown, more = split_nav(many)
    assert [n.path for n in more] == ["/admin/users"] and len(shown) == 8
    shown, more = split_nav(many[-2:])  # short menus are whole
    assert more == [] and len(shown) == 2


@pytest.fixture
def client(settings):
    bootstrap(settings)
    with make_client(settings) as c:
        yield c


@pytest.mark.parametrize("path", ["/assets/sources", "/telemetry/alarms", "/assets", "/telemetry"])
def test_one_menu_entry_highlighted(client, path):
    login(client, "admin")
    r = client.get(path)
    assert r.status_code == 200, path
    header = r.text.split("</header>")[0]
    active = re.findall(r'<a href="([^"]+)" class="active"', header)
    assert active == [path], (path, active)
