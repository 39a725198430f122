"""HTTP API and pages: device-token ingest, authorisation and organisation scoping, resident page."""

from __future__ import annotations

import json
import time

import pytest
from sqlalchemy import select

from cleanheat.assets.tables import Household
from cleanheat.auth import service as auth_service
from cleanheat.auth.roles import OrgKind
from cleanheat.auth.service import Actor
from cleanheat.store.engine import session_scope
from cleanheat.telemetry.alarms import load_default_rules
from cleanheat.telemetry.jobs import Jobs
from cleanheat.telemetry.tables import Alarm
from tests.helpers import PASSWORD, login, make_client, token

NOW = int(time.time() * 1000) // 60000 * 60000


@pytest.fixture(autouse=True)
def _now():
    """Readings are stamped at the time the test runs (not at import): latest values expire when stale."""
    global NOW
    NOW = int(time.time() * 1000) // 60000 * 60000


def _iso(ms: int) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(ms / 1000, UTC).isoformat()


@pytest.fixture
def client(small_city):
    with session_scope(small_city.session_factory) as s:
        auth_service.upsert_org(s, Actor.system(), code="res", name_zh="居民", kind=OrgKind.RESIDENTS)
        auth_service.create_user(s, Actor.system(), username="resident", password=PASSWORD, role="resident",
                                 org_code="res")
        auth_service.create_user(s, Actor.system(), username="resident2", password=PASSWORD, role="resident",
                                 org_code="res")
        s.scalar(select(Household).where(Household.code == "H1")).resident_user_id = s.scalar(
            select(auth_service.User.id).where(auth_service.User.username == "resident"))
        load_default_rules(s, Actor.system(), small_city.settings.data_dir)
    with make_client(small_city.settings) as c:
        yield c


def test_http_ingest_needs_a_device_token(client, small_city):
    body = {"ts": _iso(NOW), "values": {"s_supply_temp_c": 61.5, "s_return_temp_c": 44.0}}
    url = "/api/telemetry/devices/ST-0001/readings"
    assert client.post(url, json=body).status_code == 401
    assert client.post(url, json=body, headers={"Authorization": "Bearer chd_wrong"}).status_code == 401
    # a person's API token is not a device token
    assert client.post(url, json=body, headers=token(client, "htjt")).status_code == 401
    ok = {"Authorization": f"Bearer {small_city.tokens['ST-0001']}"}
    r = client.post(url, json=body, headers=ok)
    assert r.status_code == 200, r.text
    assert r.json() | {} == {"messages": 1, "readings": 2, "inserted": 2, "duplicates": 0, "quarantined": 0,
                             "quarantine_reasons": {}}
    # the same batch again: nothing new, counted as duplicates
    assert client.post(url, json=body, headers=ok).json()["duplicates"] == 2
    # batch endpoint, company token, one good reading, one unknown point, one bad JSON item
    batch = {"device": "RS-0001", "readings": [{"ts": _iso(NOW), "point": "room_temp_c", "value": 20.4},
                                               {"ts": _iso(NOW), "point": "humidity_pct", "value": 40}, "x"]}
    r = client.post("/api/telemetry/ingest", content=json.dumps(batch),
                    headers={"Authorization": f"Bearer {small_city.tokens['htjt']}"})
    assert r.json()["inserted"] == 1
    assert r.json()["quarantine_reasons"] == {"unknown_point": 1, "malformed": 1}
    # not JSON at all: quarantined, the request still answered
    r = client.post("/api/telemetry/ingest", content=b"\x00garbage", headers=ok)
    assert r.status_code == 200 and r.json()["quarantine_reasons"] == {"malformed": 1}
    # kept for inspection, the NUL byte written visibly (PostgreSQL text cannot hold it)
    items = client.get("/api/telemetry/quarantine?reason=malformed", headers=token(client, "office")).json()["items"]
    assert items[0]["location"] == "HTTP /api/telemetry/ingest offset 0"
    with small_city.session_factory() as s:
        from cleanheat.telemetry.tables import Quarantine

        assert s.get(Quarantine, items[0]["id"]).payload == "\\x00garbage"


def _ingest_station_values(client, small_city):
    ok = {"Authorization": f"Bearer {small_city.tokens['htjt']}"}
    for dev, values in (("ST-0001", {"s_supply_temp_c": 61.5, "heat_power_kw": 1200.0}),
                        ("RS-0001", {"room_temp_c": 16.0})):
        body = {"device": dev, "readings": [{"ts": _iso(NOW - 60_000 * i), "values": values} for i in range(90)]}
        assert client.post("/api/telemetry/ingest", json=body, headers=ok).json()["inserted"] == 90 * len(values)
    client.post("/api/telemetry/ingest", json={"device": "VST-0001", "ts": _iso(NOW), "point": "s_supply_temp_c",
                                               "value": 55.0},
                headers={"Authorization": f"Bearer {small_city.tokens['VST-0001']}"})
    Jobs(small_city.engine, city_dir=small_city.settings.city_dir).run(NOW + 60_000)


def test_scoping_of_stations_alarms_and_series(client, small_city):
    _ingest_station_values(client, small_city)
    htjt, veolia, office = token(client, "htjt"), token(client, "veolia"), token(client, "office")
    own = client.get("/api/telemetry/overview", headers=htjt).json()
    assert [s["code"] for s in own] == ["S1"]
    assert own[0]["values"]["s_supply_temp_c"] == 61.5
    assert [s["code"] for s in client.get("/api/telemetry/overview", headers=veolia).json()] == ["VS1"]
    assert sorted(s["code"] for s in client.get("/api/telemetry/overview", headers=office).json()) == ["S1", "VS1"]
    sid = own[0]["station_id"]
    assert client.get(f"/api/telemetry/stations/{sid}/latest", headers=veolia).status_code == 404
    assert client.get(f"/api/telemetry/stations/{sid}/series?hours=2", headers=office).status_code == 200
    series = client.get(f"/api/telemetry/stations/{sid}/series?hours=2", headers=htjt).json()
    assert series["resolution"] == "1m" and len(series["series"]["s_supply_temp_c"]["data"]) == 90
    pid = small_city.points[("ST-0001", "s_supply_temp_c")]
    raw = client.get(f"/api/telemetry/points/{pid}/series?start_ms={NOW - 3_600_000}&end_ms={NOW + 1}"
                     "&resolution=raw", headers=htjt).json()
    assert len(raw["data"]) == 61
    assert client.get(f"/api/telemetry/points/{pid}/series?start_ms=0&end_ms=1", headers=veolia).status_code == 404
    # the cold room raised an alarm for htjt only
    alarms = client.get("/api/telemetry/alarms", headers=htjt).json()
    assert [a["message_en"].split()[0] for a in alarms] == ["RS-0001"]
    assert client.get("/api/telemetry/alarms", headers=veolia).json() == []
    aid = alarms[0]["id"]
    assert client.post(f"/api/telemetry/alarms/{aid}/ack", headers=veolia).status_code == 404
    assert client.post(f"/api/telemetry/alarms/{aid}/ack", headers=office).status_code == 403
    r = client.post(f"/api/telemetry/alarms/{aid}/ack", headers=htjt)
    assert r.status_code == 200 and r.json()["state"] == "acknowledged" and r.json()["acked_by"] == "htjt"
    assert client.post(f"/api/telemetry/alarms/{aid}/ack", headers=htjt).status_code == 409
    with small_city.session_factory() as s:
        assert s.get(Alarm, aid).state == "acknowledged"
    # quarantine and compliance are scoped too
    assert client.get("/api/telemetry/quarantine", headers=veolia).json()["items"] == []
    comp = client.get("/api/telemetry/compliance?hours=2", headers=htjt).json()
    assert comp["total"] == {"measured": 1, "compliant": 0, "rate": 0.0}
    # other roles see nothing of this
    for user in ("eeb", "daoli"):
        assert client.get("/api/telemetry/overview", headers=token(client, user)).status_code == 403
    assert client.get("/api/telemetry/stats", headers=htjt).status_code == 403
    stats = client.get("/api/telemetry/stats", headers=office).json()
    assert {r["worker"] for r in stats} == {"http"}


def test_device_tokens_are_scoped(client, small_city):
    htjt, veolia = token(client, "htjt"), token(client, "veolia")
    r = client.post("/api/telemetry/tokens", json={"device_code": "ST-0001"}, headers=veolia)
    assert r.status_code == 404
    r = client.post("/api/telemetry/tokens", json={"device_code": "ST-0001", "name": "plc"}, headers=htjt)
    assert r.status_code == 201 and r.json()["token"].startswith("chd_")
    new = r.json()["token"]
    time.sleep(2.1)  # the ingest registry reloads at most every 2 s
    ok = client.post("/api/telemetry/devices/ST-0001/readings", json={"ts": _iso(NOW), "point": "s_flow_kg_s",
                                                                      "value": 10.0},
                     headers={"Authorization": f"Bearer {new}"})
    assert ok.json()["inserted"] == 1
    listed = client.get("/api/telemetry/tokens", headers=veolia).json()
    assert all(t["org_id"] != client.get("/api/telemetry/tokens", headers=htjt).json()[0]["org_id"] for t in listed)


def test_pages_render_for_company_and_office(client, small_city):
    _ingest_station_values(client, small_city)
    login(client, "htjt")
    sid = client.get("/api/telemetry/overview").json()[0]["station_id"]
    for path in ("/telemetry", f"/telemetry/stations/{sid}", "/telemetry/alarms", "/telemetry/compliance",
                 "/telemetry/quarantine", "/telemetry/requests", "/telemetry/tokens", "/assets",
                 f"/assets/stations/{sid}", "/assets/devices"):
        r = client.get(path)
        assert r.status_code == 200, (path, r.text[:300])
    page = client.get(f"/telemetry/stations/{sid}").text
    assert "61.50" in page and "一号站" in page
    assert client.get("/me", follow_redirects=False).status_code in (303, 403)


def test_resident_sees_own_household_only(client, small_city):
    _ingest_station_values(client, small_city)
    res = token(client, "resident")
    home = client.get("/api/resident/home", headers=res).json()
    assert home["household"] == "H1" and home["room_temp_c"] == 16.0
    assert client.get("/api/resident/home", headers=token(client, "resident2")).json() == {"household": None}
    assert client.get("/api/telemetry/overview", headers=res).status_code == 403
    other = small_city.points[("ST-0001", "s_supply_temp_c")]
    assert client.get(f"/api/telemetry/points/{other}/series?start_ms=0&end_ms={NOW}", headers=res).status_code == 404
    room = small_city.points[("RS-0001", "room_temp_c")]
    assert client.get(f"/api/telemetry/points/{room}/series?start_ms={NOW - 3_600_000}&end_ms={NOW + 1}",
                      headers=res).status_code == 200
    assert client.post("/api/resident/requests", json={"kind": "fault"}, headers=res).status_code == 422
    assert client.post("/api/resident/requests", json={"kind": "warmer"}, headers=res).status_code == 422
    assert client.post("/api/resident/requests", json={"kind": "warmer", "desired_temp_c": 30},
                       headers=res).status_code == 422  # outside the company's 18-24 °C band
    r = client.post("/api/resident/requests", json={"kind": "warmer", "desired_temp_c": 21}, headers=res)
    assert r.status_code == 201 and r.json()["desired_temp_c"] == 21
    # the same request again while the first is open: refused, with the reason
    r = client.post("/api/resident/requests", json={"kind": "warmer", "desired_temp_c": 22}, headers=res)
    assert r.status_code == 409 and "相同的待处理诉求" in r.text
    csrf = login(client, "resident")
    page = client.get("/me").text
    assert "16.0" in page and "低于18℃" in page
    # a fault report of only spaces is refused on the page itself, with the reason, not on an error page
    r = client.post("/me/requests", data={"kind": "fault", "message": "   ", "csrf_token": csrf})
    assert r.status_code == 200 and "请描述故障" in r.text and "not submitted" in r.text
    r = client.post("/me/requests", data={"kind": "fault", "message": "卧室暖气片不热", "csrf_token": csrf},
                    follow_redirects=False)
    assert r.status_code == 303
    # the company sees both requests, with the room temperature at the time
    csrf = login(client, "htjt")
    page = client.get("/telemetry/requests").text
    assert "卧室暖气片不热" in page and "16.0" in page
    assert client.get("/telemetry/requests", headers=token(client, "veolia")).text.count("H1") == 0


def test_the_live_stream_sends_the_values_the_station_page_shows(client, small_city):
    """The stream's lean read (one query of plain rows) gives, key for key, what the page's full tree gives."""
    from cleanheat.auth.tables import User
    from cleanheat.errors import NotFoundError
    from cleanheat.telemetry import service

    _ingest_station_values(client, small_city)
    with small_city.session_factory() as s:
        user = s.scalar(select(User).where(User.username == "htjt"))
        actor = Actor.for_user(user)
        sid = service.overview(s, actor)[0]["station"].id
        d = service.station_detail(s, actor, sid, now=NOW + 60_000)
        page = {f"{dev.code}.{v.key}": [v.value, v.ts_ms, v.fresh] for dev in d["devices"] for v in d["values"][dev.id]}
        live = service.station_live_values(s, actor, sid, now=NOW + 60_000)
        assert live == page and live["ST-0001.s_supply_temp_c"][0] == 61.5 and len(live) > 2
        veolia = Actor.for_user(s.scalar(select(User).where(User.username == "veolia")))
        with pytest.raises(NotFoundError):
            service.station_live_values(s, veolia, sid)


def test_a_shared_station_trend_is_still_refused_to_another_company(client, small_city):
    _ingest_station_values(client, small_city)
    htjt, veolia, office = token(client, "htjt"), token(client, "veolia"), token(client, "office")
    sid = client.get("/api/telemetry/overview", headers=htjt).json()[0]["station_id"]
    first = client.get(f"/api/telemetry/stations/{sid}/series?hours=2", headers=htjt)
    assert first.status_code == 200 and len(first.json()["series"]["s_supply_temp_c"]["data"]) == 90
    assert client.get(f"/api/telemetry/stations/{sid}/series?hours=2", headers=veolia).status_code == 404
    assert client.get(f"/api/telemetry/stations/{sid}/series?hours=2", headers=office).json() == first.json()
