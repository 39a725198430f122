"""Alarms fire and clear on faults injected into the demo city (in-process, data time), with webhooks."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime

from sqlalchemy import select

from cleanheat.assets.tables import Device
from cleanheat.auth.service import Actor
from cleanheat.auth.tables import Organisation
from cleanheat.store.engine import session_scope
from cleanheat.telemetry import alarms as alarm_service
from cleanheat.telemetry import webhooks
from cleanheat.telemetry.config import TelemetryConfig
from cleanheat.telemetry.jobs import Jobs
from cleanheat.telemetry.pipeline import IngestPipeline
from cleanheat.telemetry.tables import Alarm, AlarmRule, DeviceEvent, WebhookDelivery
from cleanheat.twin.city import CityConfig, ensure_city, make_city
from cleanheat.twin.run import run_city
from cleanheat.twin.sim import CitySim, Fault
from cleanheat.twin.sinks import InProcessSink
from cleanheat.weather.epw import harbin_epw_path, read_epw
from tests.helpers import bootstrap

H = 3_600_000
A = int(datetime(2024, 1, 29, 16, tzinfo=UTC).timestamp() * 1000)  # local midnight, 30 Jan 2024 (-12..-9 °C)


def test_faults_raise_and_clear_alarms(settings, engine, session_factory, webhook_receiver):
    bootstrap(settings)
    spec = make_city(CityConfig(prefix="T", stations=2, buildings_per_station=2, households_per_building=3))
    with session_scope(session_factory) as s:
        alarm_service.load_default_rules(s, Actor.system(), settings.data_dir)
        ensure_city(s, Actor.system(), spec, "htjt")
        company = Actor(actor="htjt-op", role="heat_company", org_code="htjt",
                        org_id=s.scalar(select(Organisation.id).where(Organisation.code == "htjt")))
        # the receiver listens on 127.0.0.1: allowed explicitly (CLEANHEAT_TELEMETRY_WEBHOOK_ALLOW_PRIVATE)
        webhooks.add_webhook(s, company, webhook_receiver.url, secret="s3cret", allow_private=True)
    webhook_receiver.fail_next = 1  # the first delivery fails once and is retried
    faults = [Fault("lost_link", "T-S01-B02-H01-T", A + 1 * H, A + 3 * H),
              Fault("stuck", "T-S02-C:s_supply_temp_c", A + 1 * H, A + 6 * H),
              Fault("leak", "T-S01", A + 3 * H, A + 4 * H),
              Fault("underheat", "T-S02-B01", A + 2 * H, A + 8 * H)]
    sim = CitySim(spec, read_epw(harbin_epw_path(settings.data_dir)), anchor_ms=A, faults=faults)
    pipe = IngestPipeline(engine, worker="twin", source="twin")
    jobs = Jobs(engine, TelemetryConfig(webhook_retry_base_s=0.05, webhook_allow_private=True),
                city_dir=settings.city_dir)
    timeline: list[tuple[float, str, str, str]] = []
    acked = []

    def on_step(now: int) -> None:
        if (now - A) % (10 * 60_000):
            return
        r = jobs.run(now)
        with session_factory() as s:
            for kind, ids in (("raise", r.alarms.raised), ("clear", r.alarms.cleared)):
                for i in ids:
                    a = s.get(Alarm, i)
                    dev = a.message_en.split()[0].rstrip(":")
                    timeline.append(((now - A) / H, kind, s.get(AlarmRule, a.rule_id).code, dev))
        if r.alarms.raised and not acked:  # an operator acknowledges the first alarm while it is active
            with session_scope(session_factory) as s:
                acked.append(alarm_service.acknowledge(s, company, r.alarms.raised[0]).id)

    run_city(sim, InProcessSink(pipe), A, A + 15 * H, on_step=on_step)
    time.sleep(0.1)  # the retry of the failed delivery is due 50 ms after the failure (wall clock)
    with session_scope(session_factory) as s:
        webhooks.deliver_webhooks(s, jobs.http, retry_base_s=0.05, allow_private=True)
    jobs.http.close()

    def when(kind: str, rule: str, device: str) -> float:
        hits = [t for t, k, r, d in timeline if (k, r, d) == (kind, rule, device)]
        assert len(hits) == 1, f"{kind} {rule} {device}: {hits} in {timeline}"
        return hits[0]

    # lost link from 1 h: the room sensor's 90-minute no-data rule fires after 2.5 h and clears when it is back
    assert 2.5 <= when("raise", "sensor_no_data", "T-S01-B02-H01-T") <= 2.7
    assert 3.0 <= when("clear", "sensor_no_data", "T-S01-B02-H01-T") <= 3.2
    # stuck from 1 h: accepted for the 2 h of points.yaml, then quarantined -> alarm; clears 30 min after the end
    assert 3.0 <= when("raise", "sensor_stuck", "T-S02-C") <= 3.3
    assert 6.3 <= when("clear", "sensor_stuck", "T-S02-C") <= 6.6
    # leak from 3 h: 4 kPa/min passes the 30 kPa drop within minutes; repaired at 4 h, refilled in 20 min
    assert 3.1 <= when("raise", "secondary_leak", "T-S01-C") <= 3.4
    assert 4.2 <= when("clear", "secondary_leak", "T-S01-C") <= 4.6
    # under-heated building from 2 h: its rooms fall below 18 °C for an hour; all recover after the fault ends
    cold = {d for t, k, r, d in timeline if (k, r) == ("raise", "room_below_statutory_min")}
    assert cold and all(d.startswith("T-S02-B01-") for d in cold)
    for d in cold:
        assert 8.0 < when("clear", "room_below_statutory_min", d) < 15.0
    assert {r for _, _, r, _ in timeline} == {"sensor_no_data", "sensor_stuck", "secondary_leak",
                                             "room_below_statutory_min"}

    with session_factory() as s:
        rows = s.scalars(select(Alarm)).all()
        assert all(a.state == "cleared" for a in rows)
        # deduplication: one alarm per condition, seen at every evaluation while it lasted
        assert len(rows) == len({a.dedup_key for a in rows}) == len(timeline) // 2
        assert max(a.occurrences for a in rows) > 10
        first = s.get(Alarm, acked[0])
        assert first.acked_by == "htjt-op" and first.acked_at is not None and first.cleared_at is not None
        # availability: the silent sensor went offline and came back, logged once each way
        events = [e.event for e in s.scalars(select(DeviceEvent).join(Device).where(
            Device.code == "T-S01-B02-H01-T").order_by(DeviceEvent.id))]
        assert events == ["online", "offline", "online"]
        # every raise, acknowledgement and clearance went out by webhook (the first after one retry)
        deliveries = s.scalars(select(WebhookDelivery)).all()
        assert len(deliveries) == 2 * len(rows) + 1 and all(d.status == "sent" for d in deliveries)
        assert max(d.attempts for d in deliveries) == 2
    events = sorted(p["event"] for _, p in webhook_receiver.posts)
    assert events.count("raised") == events.count("cleared") == len(rows) and events.count("acknowledged") == 1
    headers, payload = webhook_receiver.posts[-1]
    body = json.dumps(payload, ensure_ascii=False).encode()
    assert headers["x-cleanheat-signature"] == webhooks.sign("s3cret", body)
