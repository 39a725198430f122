"""Fixes from the code review: rule parameters checked and one bad rule cannot stop the others, CSRF on every
cookie-authenticated write, quarantine filed under the sender, immediate token revocation, webhooks refused for
private addresses, bounded ``hours``, backfill files read through ``cleanheat.tabular`` (GBK CSV, Excel)."""

from __future__ import annotations

import io
import socket
import time
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from openpyxl import Workbook
from sqlalchemy import func, select, text, update

from cleanheat.auth.service import Actor
from cleanheat.auth.tables import Organisation
from cleanheat.store.engine import session_scope
from cleanheat.telemetry import alarm_eval, webhooks
from cleanheat.telemetry.alarms import evaluate_alarms, load_default_rules
from cleanheat.telemetry.config import TelemetryConfig
from cleanheat.telemetry.jobs import Jobs
from cleanheat.telemetry.payload import ParsedMessage
from cleanheat.telemetry.pipeline import Inbound, IngestPipeline
from cleanheat.telemetry.rollups import process_all_dirty
from cleanheat.telemetry.tables import (
    Alarm,
    AlarmRule,
    DeviceToken,
    Quarantine,
    Reading,
    WebhookDelivery,
)
from tests.helpers import login, make_client, token
from tests.twin.conftest import webhook_receiver  # noqa: F401 - a real HTTP receiver (fixture)


def _now() -> int:
    return int(time.time() * 1000) // 60_000 * 60_000


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat()


def _org_id(s, code: str) -> int:
    return s.scalar(select(Organisation.id).where(Organisation.code == code))


def _company(s, code: str = "htjt") -> Actor:
    return Actor(actor=f"{code}-op", role="heat_company", org_code=code, org_id=_org_id(s, code))


@pytest.fixture
def client(small_city):
    with make_client(small_city.settings) as c:
        yield c


# --- 1. alarm rules ------------------------------------------------------------------------------------------

def test_rule_params_are_checked_at_creation(client):
    htjt = token(client, "htjt")
    r = client.post("/api/telemetry/rules", headers=htjt,
                    json={"code": "bad", "name_zh": "x", "kind": "threshold", "params": {}})
    assert r.status_code == 422, r.text
    assert {i["field"] for i in r.json()["issues"]} == {"params.point_key", "params.limit"}
    for params, fld in (({"point_key": "s_supply_temp_c", "limit": "85"}, "params.limit"),
                        ({"point_key": "s_supply_temp_c", "limit": 85, "duration_s": 1e12}, "params.duration_s"),
                        ({"point_key": "s_supply_temp_c", "limit": 85, "op": ">="}, "params.op"),
                        ({"point_key": "s_supply_temp_c", "limit": 85, "limt": 1}, "params.limt"),
                        ({"point_key": "", "limit": 85}, "params.point_key")):
        r = client.post("/api/telemetry/rules", headers=htjt,
                        json={"code": "bad", "name_zh": "x", "kind": "threshold", "params": params})
        assert r.status_code == 422 and [i["field"] for i in r.json()["issues"]] == [fld], (params, r.text)
    r = client.post("/api/telemetry/rules", headers=htjt, json={
        "code": "dq", "name_zh": "x", "kind": "data_quality", "params": {"reasons": ["stuck_value", "x'); --"]}})
    assert r.status_code == 422 and r.json()["issues"][0]["field"] == "params.reasons"
    r = client.post("/api/telemetry/rules", headers=htjt, json={
        "code": "hot", "name_zh": "过热", "kind": "threshold",
        "params": {"point_key": "s_supply_temp_c", "op": ">", "limit": 80, "duration_s": 300}})
    assert r.status_code == 201, r.text


def _feed(small_city, series: dict[str, list[float]], end: int) -> None:
    readings = [("ST-0001", key, end - (len(vals) - 1 - i) * 60_000, v, "t")
                for key, vals in series.items() for i, v in enumerate(vals)]
    IngestPipeline(small_city.engine, worker="t").ingest([Inbound(parsed=ParsedMessage(None, readings),
                                                                  trusted=True)], now_ms=end)


def _store_broken_rule(small_city) -> None:
    """A rule as stored before parameters were checked (or edited in the database by hand)."""
    with session_scope(small_city.session_factory) as s:
        load_default_rules(s, Actor.system(), small_city.settings.data_dir)
        s.add(AlarmRule(code="bad", org_id=_org_id(s, "htjt"), name_zh="x", name_en="", kind="threshold",
                        params={}, severity="major", enabled=True, source=""))


def test_a_broken_rule_is_skipped_and_the_others_go_on(small_city, monkeypatch):
    _store_broken_rule(small_city)
    now = _now()
    _feed(small_city, {"s_supply_temp_c": [88.0] * 12}, now)
    process_all_dirty(small_city.engine)

    def bad_sql(conn, rule, ctx, now):  # a rule whose query fails in the database itself
        return conn.execute(text("SELECT no_such_column FROM telemetry_rollup_1m")).all()

    monkeypatch.setitem(alarm_eval.EVALUATORS, "pressure_drop", bad_sql)
    with session_scope(small_city.session_factory) as s:
        run = evaluate_alarms(s, now + 60_000)
        # a failed statement of a rule does not abort the caller's PostgreSQL transaction (rules read on their own)
        assert s.scalar(select(func.count()).select_from(AlarmRule)) > 0
    assert set(run.failed) == {"bad", "secondary_leak"} and "KeyError" in run.failed["bad"]
    with small_city.session_factory() as s:
        active = {s.get(AlarmRule, a.rule_id).code for a in s.scalars(select(Alarm))}
    assert active == {"secondary_supply_too_hot"}


def test_jobs_round_with_a_broken_rule_still_sweeps_and_delivers(small_city):
    _store_broken_rule(small_city)
    with socket.socket() as sock:  # a port nobody listens on: the delivery is attempted and fails
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with session_scope(small_city.session_factory) as s:
        webhooks.add_webhook(s, _company(s), f"http://127.0.0.1:{port}/hook", allow_private=True)
    now = _now()
    _feed(small_city, {"s_supply_temp_c": [88.0] * 12}, now)
    jobs = Jobs(small_city.engine, TelemetryConfig(webhook_allow_private=True, webhook_timeout_s=1),
                city_dir=small_city.settings.city_dir)
    res = jobs.run(now + 60_000)
    jobs.http.close()
    assert "bad" in res.alarms.failed
    assert [(t.device_code, t.event) for t in res.transitions] == [("ST-0001", "online")]
    with small_city.session_factory() as s:
        assert {s.get(AlarmRule, a.rule_id).code for a in s.scalars(select(Alarm))} == {"secondary_supply_too_hot"}
        d = s.scalars(select(WebhookDelivery)).one()
    assert d.event == "raised" and d.attempts == 1 and "ConnectError" in d.last_error


# --- 3. CSRF ---------------------------------------------------------------------------------------------------

DEVICE_AUTH_ONLY = {"/api/telemetry/ingest", "/api/telemetry/devices/{device_code}/readings"}


def test_every_cookie_write_of_telemetry_and_assets_checks_csrf(small_city):
    from cleanheat.web.deps import verify_csrf
    from cleanheat.web.routes import assets, telemetry

    writes = [(r.path, m) for router in (telemetry.router, assets.router) for r in router.routes
              for m in getattr(r, "methods", ()) if m in ("POST", "PUT", "PATCH", "DELETE")]
    assert len(writes) > 15
    unchecked = [(r.path, m) for router in (telemetry.router, assets.router) for r in router.routes
                 for m in getattr(r, "methods", ()) if m in ("POST", "PUT", "PATCH", "DELETE")
                 and not any(d.call is verify_csrf for d in r.dependant.dependencies)
                 and r.path not in DEVICE_AUTH_ONLY]
    assert unchecked == []


def test_cookie_backfill_without_the_csrf_token_is_refused(client, small_city):
    csrf = login(client, "htjt")
    body = f"device,point,ts,value\nST-0001,s_supply_temp_c,{_iso(_now())},60.5\n".encode()
    r = client.post("/api/telemetry/backfill", files={"file": ("h.csv", body, "text/csv")})
    assert r.status_code == 403
    with small_city.session_factory() as s:
        assert s.scalar(select(func.count()).select_from(Reading)) == 0
    r = client.post("/api/telemetry/backfill", files={"file": ("h.csv", body, "text/csv")},
                    headers={"X-CSRF-Token": csrf})
    assert r.status_code == 200 and r.json()["inserted"] == 1, r.text


# --- 4. quarantine of failed authentication ----------------------------------------------------------------

def test_failed_authentication_is_not_filed_under_the_named_device_s_company(small_city, client):
    ts = _iso(_now())
    # veolia's device token naming htjt's device (HTTP), and a wrong token in an MQTT payload
    r = client.post("/api/telemetry/devices/ST-0001/readings", json={"ts": ts, "values": {"s_supply_temp_c": 60}},
                    headers={"Authorization": f"Bearer {small_city.tokens['VST-0001']}"})
    assert r.json()["quarantine_reasons"] == {"unknown_device": 1}
    pipe = IngestPipeline(small_city.engine, worker="t")
    payload = f'{{"token": "chd_wrong", "device": "ST-0001", "ts": "{ts}", "values": {{"s_flow_kg_s": 3}}}}'
    assert pipe.ingest([Inbound(payload=payload.encode(), location="mqtt")]).reasons == {"auth_failed": 1}
    with small_city.session_factory() as s:
        filed = {q.point_key: q.org_id for q in s.scalars(select(Quarantine))}
        assert filed == {"s_supply_temp_c": _org_id(s, "veolia"), "s_flow_kg_s": None}
    # htjt does not see others' failed attempts at its devices in its quarantine list
    assert client.get("/api/telemetry/quarantine", headers=token(client, "htjt")).json()["items"] == []


# --- 5. revoked and expired device tokens ------------------------------------------------------------------

def test_revoked_or_expired_tokens_stop_at_once(small_city, client):
    htjt = token(client, "htjt")
    url = "/api/telemetry/devices/ST-0001/readings"

    def send(tok: str, minute: int) -> int:
        body = {"ts": _iso(_now() - minute * 60_000), "values": {"s_supply_temp_c": 60.0}}
        return client.post(url, json=body, headers={"Authorization": f"Bearer {tok}"}).status_code

    new = client.post("/api/telemetry/tokens", headers=htjt, json={"device_code": "ST-0001"}).json()["token"]
    assert send(new, 1) == 200
    tid = next(t["id"] for t in client.get("/api/telemetry/tokens", headers=htjt).json() if new.startswith(t["prefix"]))
    assert client.delete(f"/api/telemetry/tokens/{tid}", headers=htjt).status_code == 204
    assert send(new, 2) == 401  # no waiting for the 30 s registry refresh
    # revoked by another process (the CLI): the HTTP API re-checks the database
    assert send(small_city.tokens["ST-0001"], 3) == 200
    with session_scope(small_city.session_factory) as s:
        s.execute(update(DeviceToken).where(DeviceToken.device_id.is_not(None)).values(revoked=True))
    assert send(small_city.tokens["ST-0001"], 4) == 401
    # expired since the snapshot was loaded
    assert send(small_city.tokens["htjt"], 5) == 200
    with session_scope(small_city.session_factory) as s:
        s.execute(update(DeviceToken).where(DeviceToken.device_id.is_(None))
                  .values(expires_at=datetime.now(UTC) - timedelta(seconds=1)))
    assert send(small_city.tokens["htjt"], 6) == 401


def test_mqtt_pipeline_drops_a_token_revoked_elsewhere(small_city):
    pipe = IngestPipeline(small_city.engine, worker="mqtt")
    tok = small_city.tokens["ST-0001"]

    def send(minute: int):
        payload = f'{{"token": "{tok}", "device": "ST-0001", "ts": "{_iso(_now() - minute * 60_000)}", ' \
                  '"values": {"s_supply_temp_c": 60}}'
        return pipe.ingest([Inbound(payload=payload.encode(), location="mqtt")])

    assert send(1).counts.inserted == 1
    with session_scope(small_city.session_factory) as s:
        s.execute(update(DeviceToken).where(DeviceToken.device_id.is_not(None)).values(revoked=True))
    assert send(2).reasons == {"auth_failed": 1}


# --- 6. webhooks to private addresses -----------------------------------------------------------------------

@pytest.mark.parametrize("url", ["http://127.0.0.1:8080/x", "http://localhost/x", "http://169.254.169.254/latest",
                                 "http://10.0.0.5/", "https://192.168.1.1/", "http://172.16.0.1/", "http://[::1]/",
                                 "http://[::ffff:127.0.0.1]/", "http://0.0.0.0/", "http://100.64.0.1/",
                                 "http://224.0.0.1/", "http://[fd00::1]/"])
def test_webhooks_to_private_addresses_are_refused(client, url):
    r = client.post("/api/telemetry/webhooks", headers=token(client, "htjt"), json={"url": url})
    assert r.status_code == 422 and r.json()["issues"][0]["field"] == "url", r.text


def test_webhook_to_a_public_address_is_accepted_and_private_allowed_by_setting(client, monkeypatch):
    htjt = token(client, "htjt")
    assert client.post("/api/telemetry/webhooks", headers=htjt, json={"url": "https://8.8.8.8/hook"}).status_code == 201
    client.app.state.telemetry_config = None  # the next request reads the settings again
    monkeypatch.setenv("CLEANHEAT_TELEMETRY_WEBHOOK_ALLOW_PRIVATE", "true")
    r = client.post("/api/telemetry/webhooks", headers=htjt, json={"url": "http://127.0.0.1:9/hook"})
    assert r.status_code == 201, r.text


def test_delivery_re_checks_the_address(small_city, webhook_receiver):  # noqa: F811
    with session_scope(small_city.session_factory) as s:
        # added while private addresses were allowed; the setting has been turned off since
        hook = webhooks.add_webhook(s, _company(s), webhook_receiver.url, allow_private=True)
        load_default_rules(s, Actor.system(), small_city.settings.data_dir)
        rule = s.scalars(select(AlarmRule)).first()
        a = Alarm(rule_id=rule.id, org_id=hook.org_id, dedup_key="k", state="active", severity="major",
                  message_zh="x", message_en="x", raised_at=datetime.now(UTC), last_seen_at=datetime.now(UTC),
                  occurrences=1)
        s.add(a)
        s.flush()
        webhooks.queue_webhooks(s, a, rule, "raised")
    with session_scope(small_city.session_factory) as s, httpx.Client() as http:
        assert webhooks.deliver_webhooks(s, http) == 0
    with small_city.session_factory() as s:
        d = s.scalars(select(WebhookDelivery)).one()
    assert d.status == "pending" and d.last_error.startswith("refused: host '127.0.0.1'")
    assert webhook_receiver.posts == []
    with session_scope(small_city.session_factory) as s:
        s.execute(update(WebhookDelivery).values(next_attempt_at=datetime.now(UTC) - timedelta(seconds=1)))
    with session_scope(small_city.session_factory) as s, httpx.Client() as http:
        assert webhooks.deliver_webhooks(s, http, allow_private=True) == 1
    assert len(webhook_receiver.posts) == 1


def test_delivery_connects_to_the_checked_address(monkeypatch):
    """No second DNS lookup (rebinding): the request goes to the address just checked, the name in Host/SNI."""
    answers = {"hooks.example.com": "93.184.215.14", "rebind.example.com": "127.0.0.1"}

    def fake_getaddrinfo(host, port, *args, **kw):  # DNS is not reachable from the test machine
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (answers[host], port))]

    monkeypatch.setattr(socket, "getaddrinfo", fake_getaddrinfo)
    seen = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append((str(request.url), request.headers["host"], request.extensions.get("sni_hostname")))
        return httpx.Response(204)

    with httpx.Client(transport=httpx.MockTransport(handler)) as http:
        r = webhooks._post(http, "https://hooks.example.com:8443/a?b=1", b"{}", {}, False)
        assert r.status_code == 204
        with pytest.raises(webhooks._Refused):
            webhooks._post(http, "https://rebind.example.com/a", b"{}", {}, False)
    assert seen == [("https://93.184.215.14:8443/a?b=1", "hooks.example.com:8443", "hooks.example.com")]


# --- 7. bounded spans ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("hours", ["nan", "inf", "-inf", "1e308", "0", "-1", "9601"])
def test_hours_must_be_finite_and_bounded(client, small_city, hours):
    htjt = token(client, "htjt")
    with small_city.session_factory() as s:
        from cleanheat.assets.tables import Station

        sid = s.scalar(select(Station.id).where(Station.code == "S1"))
    for path in (f"/api/telemetry/stations/{sid}/series", "/api/telemetry/compliance", "/telemetry/compliance",
                 f"/telemetry/stations/{sid}"):
        r = client.get(f"{path}?hours={hours}", headers=htjt)
        assert r.status_code == 422, (path, r.status_code)
        assert client.get(f"{path}?hours=48", headers=htjt).status_code == 200


# --- 8. backfill files through cleanheat.tabular -----------------------------------------------------------

def test_backfill_reads_gbk_csv_and_excel_and_refuses_a_damaged_workbook(client, small_city):
    htjt = token(client, "htjt")
    now = _now()
    gbk = ("device,point,ts,value,备注\n"
           f"ST-0001,s_supply_temp_c,{_iso(now - 60_000)},60.5,供水温度\n"
           f"ST-0001,s_supply_temp_c,{_iso(now)},数值,坏值\n").encode("gbk")
    r = client.post("/api/telemetry/backfill", headers=htjt, files={"file": ("历史.csv", gbk, "text/csv")})
    assert r.status_code == 200, r.text
    assert r.json()["inserted"] == 1 and r.json()["quarantine_reasons"] == {"non_numeric": 1}
    with small_city.session_factory() as s:
        q = s.scalars(select(Quarantine)).one()
    assert (q.location, q.raw_value) == ("历史.csv row 3", "数值")

    wb = Workbook()
    ws = wb.active
    ws.title = "读数"
    ws.append(["device", "point", "ts", "value"])
    ws.append(["ST-0001", "s_return_temp_c", _iso(now), 44.5])
    buf = io.BytesIO()
    wb.save(buf)
    r = client.post("/api/telemetry/backfill", headers=htjt, files={"file": ("h.xlsx", buf.getvalue(), "x")})
    assert r.status_code == 200 and r.json()["inserted"] == 1, r.text

    damaged = buf.getvalue()[:400]
    r = client.post("/api/telemetry/backfill", headers=htjt, files={"file": ("h.xlsx", damaged, "x")})
    assert r.status_code == 422 and r.json()["issues"][0]["file"] == "h.xlsx", r.text
    missing = client.post("/api/telemetry/backfill", headers=htjt,
                          files={"file": ("m.csv", "设备,point,ts,value\n".encode("gbk"), "text/csv")})
    assert missing.status_code == 422 and missing.json()["issues"][0].items() >= {"row": 1, "column": "device"}.items()
