"""Lists that page on the server, filter and search (issue 12 item 2): alarms, quarterly reports, the heat-source
registry. Each page shows at most 50 rows with the count of all and a pager; filters and search narrow the count;
a user never sees another organisation's rows."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from cleanheat.auth.service import Actor
from cleanheat.auth.tables import Organisation, User
from cleanheat.programme.tables import Plan, Report
from cleanheat.store.engine import session_scope
from cleanheat.telemetry.tables import Alarm, AlarmRule
from tests.helpers import bootstrap, login, make_client

T0 = datetime(2026, 1, 10, 4, 0, tzinfo=UTC)  # 12:00 in Harbin


@pytest.fixture
def client(settings):
    bootstrap(settings)
    with make_client(settings) as c:
        yield c


def _org(s, code: str) -> int:
    return s.scalar(select(Organisation.id).where(Organisation.code == code))


def _count(html: str) -> int:
    """The N of the list's count line ("共 N 条" / "N entries"; 0 when nothing matches)."""
    m = re.search(r"共 (\d+) 条|(\d+) entries, ", html)
    return int(m.group(1) or m.group(2)) if m else 0


def _get(client, path: str, **params):
    r = client.get(path, params=params)
    assert r.status_code == 200, r.text[:500]
    return r.text


# --- alarms ------------------------------------------------------------------------------------------------

def _alarms(session_factory) -> None:
    """htjt: 60 alarms (RS-0000 .. RS-0059) seen hourly back from T0; every 3rd critical, every 4th cleared.
    veolia: 3 alarms."""
    with session_scope(session_factory) as s:
        rule = AlarmRule(code="t", org_id=None, name_zh="测试", name_en="test", kind="no_data",
                         params={"device_kinds": ["room_sensor"]}, severity="minor", enabled=True, source="")
        s.add(rule)
        s.flush()
        htjt, veolia = _org(s, "htjt"), _org(s, "veolia")
        for i in range(60):
            at = T0 - timedelta(hours=i)
            s.add(Alarm(rule_id=rule.id, org_id=htjt, dedup_key=f"t:d{i}", state="cleared" if i % 4 == 0 else "active",
                        severity="critical" if i % 3 == 0 else "minor", message_zh=f"RS-{i:04d} 无数据",
                        message_en=f"RS-{i:04d}: no valid data", raised_at=at, last_seen_at=at,
                        cleared_at=at if i % 4 == 0 else None))
        for i in range(3):
            s.add(Alarm(rule_id=rule.id, org_id=veolia, dedup_key=f"t:v{i}", state="active", severity="major",
                        message_zh=f"VRS-{i} 无数据", message_en=f"VRS-{i}: no valid data", raised_at=T0,
                        last_seen_at=T0))


def _alarm_ids(html: str) -> list[str]:
    return re.findall(r'data-alarm="(\d+)"', html)


def test_alarm_list_pages_filters_and_searches(client, session_factory):
    _alarms(session_factory)
    login(client, "htjt")
    first = _get(client, "/telemetry/alarms")
    assert len(_alarm_ids(first)) == 50 and _count(first) == 60
    assert 'id="alarm-pager"' in first and "RS-0000" in first and "VRS-" not in first  # newest first, own only
    second = _get(client, "/telemetry/alarms", page=2)
    assert (len(_alarm_ids(second)) == 10 and "RS-0059" in second
            and not set(_alarm_ids(first)) & set(_alarm_ids(second)))
    assert _count(_get(client, "/telemetry/alarms", severity="critical")) == 20       # 0, 3, ..., 57
    assert _count(_get(client, "/telemetry/alarms", state="cleared")) == 15           # 0, 4, ..., 56
    assert _count(_get(client, "/telemetry/alarms", state="open", severity="critical")) == 15  # 20 - (0, 12, .., 48)
    page = _get(client, "/telemetry/alarms", q="rs-0042")                              # case-insensitive search
    assert _count(page) == 1 and "RS-0042" in page
    # last seen on 10 January (local): T0 (12:00) and the 12 hours before it, back to 00:00 (inclusive)
    assert _count(_get(client, "/telemetry/alarms", since="2026-01-10", until="2026-01-10")) == 13
    assert _count(_get(client, "/telemetry/alarms", q="VRS")) == 0
    assert client.get("/telemetry/alarms", params={"since": "10/01/2026"}).status_code == 422
    assert client.get("/telemetry/alarms", params={"page": 0}).status_code == 422


def test_alarm_list_of_the_office_filters_by_company(client, session_factory):
    _alarms(session_factory)
    login(client, "office")
    assert _count(_get(client, "/telemetry/alarms")) == 63
    with session_factory() as s:
        veolia = _org(s, "veolia")
    page = _get(client, "/telemetry/alarms", org=veolia)
    assert _count(page) == 3 and len(_alarm_ids(page)) == 3
    assert _count(_get(client, "/telemetry/alarms", org="")) == 63  # "all"


def test_alarm_pager_keeps_the_filters(client, session_factory):
    _alarms(session_factory)
    login(client, "htjt")
    page = _get(client, "/telemetry/alarms", state="open")  # 45 open: one page
    assert _count(page) == 45 and 'id="alarm-pager"' not in page
    page = _get(client, "/telemetry/alarms", q="no valid")
    nav = page.split('id="alarm-pager"')[1]
    assert 'href="/telemetry/alarms?q=no+valid&amp;page=2"' in nav


# --- quarterly reports -------------------------------------------------------------------------------------

def _reports(session_factory) -> None:
    """道里区: 56 reports (14 periods × versions 1-4, the last accepted, the others superseded); 南岗区: 2."""
    with session_scope(session_factory) as s:
        plan = s.scalar(select(Plan.id))
        daoli, nangang = _org(s, "gov-daoli"), _org(s, "gov-nangang")
        periods = [f"{y}Q{q}" for y in range(2019, 2023) for q in range(1, 5)][:14]
        for n, period in enumerate(periods):
            for v in range(1, 5):
                s.add(Report(plan_id=plan, org_id=daoli, period=period, year=int(period[:4]), quarter=int(period[-1]),
                             version=v, status="accepted" if v == 4 else "superseded", submitted_by="daoli",
                             submitted_at=T0 - timedelta(days=n), review_comment="面积复核" if v == 2 else ""))
        for period in ("2020Q1", "2020Q2"):
            s.add(Report(plan_id=plan, org_id=nangang, period=period, year=2020, quarter=int(period[-1]),
                         version=1, status="submitted", submitted_by="nangang", submitted_at=T0))


def test_report_list_pages_filters_and_searches(client, session_factory):
    _reports(session_factory)
    login(client, "office")
    first = _get(client, "/programme/reports")
    assert _count(first) == 58 and first.count('href="/programme/reports/') >= 50 and 'id="reports-pager"' in first
    assert _count(_get(client, "/programme/reports", page=2)) == 58
    assert _count(_get(client, "/programme/reports", status="accepted")) == 14
    assert _count(_get(client, "/programme/reports", period="2020Q1")) == 5
    assert _count(_get(client, "/programme/reports", unit="gov-nangang")) == 2
    assert _count(_get(client, "/programme/reports", q="面积复核")) == 14  # the review comment
    assert _count(_get(client, "/programme/reports", q="南岗")) == 2       # the unit's name
    assert _count(_get(client, "/programme/reports", since="2026-01-10", until="2026-01-10")) == 4 + 2
    login(client, "nangang")
    assert _count(_get(client, "/programme/reports")) == 2  # its own only
    assert _count(_get(client, "/programme/reports", unit="gov-daoli")) == 0


# --- heat-source registry ----------------------------------------------------------------------------------

def test_registry_pages_filters_and_searches(client, session_factory, settings):
    from cleanheat.assets.heat_source_import import import_registry
    from cleanheat.programme.plan_data import read_plan
    from tests.assets.test_heat_sources import row, workbook

    rows = [row(f"Q{i:03d}", fuel="燃煤" if i % 2 else "天然气", kind="燃煤锅炉" if i % 2 else "燃气锅炉")
            for i in range(57)] + [row("V900", owner="veolia", unit="南岗区")]
    with session_scope(session_factory) as s:
        admin = Actor.for_user(s.scalar(select(User).where(User.username == "admin")))
        import_registry(s, admin, workbook(rows), "r.xlsx", read_plan(settings.city_dir).units, 0.7)
    login(client, "office")
    first = _get(client, "/assets/sources")
    assert _count(first) == 58 and first.count('href="/assets/sources/Q') == 50 and 'id="sources-pager"' in first
    second = _get(client, "/assets/sources", page=2)
    assert "V900" in second and second.count('href="/assets/sources/Q') == 7
    assert _count(_get(client, "/assets/sources", fuel="gas")) == 29  # Q000, Q002, ..., Q056
    assert _count(_get(client, "/assets/sources", q="q00")) == 10  # Q000 .. Q009, case-insensitive
    assert _count(_get(client, "/assets/sources", q="锅炉V900")) == 1   # the name
    login(client, "htjt")
    assert _count(_get(client, "/assets/sources")) == 57  # its own
    assert _count(_get(client, "/assets/sources", q="V900")) == 0
