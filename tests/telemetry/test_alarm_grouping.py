"""Availability alarms that mean something (issue 12 item 2): a start-up grace before any no-data alarm, the
device's expected reporting interval, and one alarm row for a condition that keeps coming back.

The default rules (data/telemetry/alarm_rules.yaml): ``sensor_no_data`` for room sensors and heat meters, 90 min or
3 missed intervals, 30 min start-up grace; every rule re-opens an alarm that comes back within 6 h of clearing.
All times below are data times, counted in minutes from ``T0`` (one reading of each device at T0).
"""

from __future__ import annotations

import time

import pytest
from sqlalchemy import select, update

from cleanheat.assets.tables import Point
from cleanheat.auth.service import Actor
from cleanheat.store.engine import session_scope
from cleanheat.telemetry.alarm_rules import check_rule_doc, in_startup_grace, silence_limit_ms
from cleanheat.telemetry.alarms import evaluate_alarms, load_default_rules
from cleanheat.telemetry.config import TelemetryConfig
from cleanheat.telemetry.jobs import Jobs
from cleanheat.telemetry.payload import ParsedMessage
from cleanheat.telemetry.pipeline import Inbound, IngestPipeline
from cleanheat.telemetry.tables import Alarm, AlarmRule
from cleanheat.telemetry.webhooks import alarm_payload

MIN = 60_000


@pytest.fixture
def t0() -> int:
    return int(time.time() * 1000) // MIN * MIN - 24 * 60 * MIN


def _send(city, ts: int, devices=(("RS-0001", "room_temp_c", 21.0), ("HM-0001", "heat_energy_kwh", 1000.0))):
    readings = [(code, key, ts, value, "t") for code, key, value in devices]
    res = IngestPipeline(city.engine, worker="t").ingest([Inbound(parsed=ParsedMessage(None, readings),
                                                                  trusted=True)], now_ms=ts)
    assert res.counts.inserted == len(readings), res


def _setup(city, t0: int) -> None:
    with session_scope(city.session_factory) as s:
        load_default_rules(s, Actor.system(), city.settings.data_dir)
        # the heat meter reports hourly
        s.execute(update(Point).where(Point.id == city.points[("HM-0001", "heat_energy_kwh")])
                  .values(sampling_interval_s=3600))
    _send(city, t0)


def _no_data_alarms(city) -> dict[str, Alarm]:
    with city.session_factory() as s:
        rule = s.scalar(select(AlarmRule.id).where(AlarmRule.code == "sensor_no_data"))
        return {a.message_en.split(":")[0]: a for a in s.scalars(select(Alarm).where(Alarm.rule_id == rule)
                                                                   .order_by(Alarm.id))}


def _evaluate(city, now: int, started_ms: int | None = None):
    with session_scope(city.session_factory) as s:
        return evaluate_alarms(s, now, started_ms=started_ms)


def test_the_limit_follows_the_expected_interval_and_the_grace_is_from_the_start():
    # 90 min, or 3 intervals of 60 s (3 min): 90 min; of 3,600 s (180 min): 180 min
    assert silence_limit_ms(90, 3, 60) == 90 * MIN
    assert silence_limit_ms(90, 3, 3600) == 180 * MIN
    assert in_startup_grace(29 * MIN, 0, 1800) and not in_startup_grace(30 * MIN, 0, 1800)
    assert not in_startup_grace(5, None, 1800)  # started long ago (no start known)
    issues = check_rule_doc({"defaults": {"group_within_s": 0, "grace": 1}, "rules": []}, "rules.yaml")
    assert {i.field for i in issues} == {"defaults.group_within_s", "defaults.grace"}


def test_a_device_is_late_after_its_expected_interval(small_city, t0):
    _setup(small_city, t0)
    # 120 min: the room sensor (limit 90 min) is late, the hourly meter (3 × 60 min = 180 min) is not
    _evaluate(small_city, t0 + 120 * MIN)
    assert set(_no_data_alarms(small_city)) == {"RS-0001"}
    # 180 min is not yet more than 180 min; 181 min is
    _evaluate(small_city, t0 + 180 * MIN)
    assert set(_no_data_alarms(small_city)) == {"RS-0001"}
    _evaluate(small_city, t0 + 181 * MIN)
    alarms = _no_data_alarms(small_city)
    assert set(alarms) == {"RS-0001", "HM-0001"}
    assert alarms["HM-0001"].value == 181.0 and alarms["HM-0001"].state == "active"


def test_no_availability_alarm_in_the_start_up_grace(small_city, t0):
    """The demo's first start: the jobs begin while devices are hours behind (their history is being filled)."""
    _setup(small_city, t0)
    jobs = Jobs(small_city.engine, TelemetryConfig(), city_dir=small_city.settings.city_dir)
    try:
        start = t0 + 185 * MIN  # both devices silent for 185 min (more than 90 and 180)
        res = jobs.run(start)
        assert res.alarms.raised == [] and _no_data_alarms(small_city) == {}
        # the history arrives within the grace: nothing to raise at all
        _send(small_city, start + 10 * MIN, devices=(("HM-0001", "heat_energy_kwh", 1001.0),))
        assert jobs.run(start + 29 * MIN).alarms.raised == []
        # the room sensor stays silent: raised once the 30-minute grace is over
        res = jobs.run(start + 30 * MIN)
        assert set(_no_data_alarms(small_city)) == {"RS-0001"} and len(res.alarms.raised) == 1
        # an open alarm stays open through the grace of a restarted evaluator
        restarted = Jobs(small_city.engine, TelemetryConfig(), city_dir=small_city.settings.city_dir)
        res = restarted.run(start + 31 * MIN)
        restarted.http.close()
        assert res.alarms.cleared == [] and _no_data_alarms(small_city)["RS-0001"].state == "active"
    finally:
        jobs.http.close()


def test_a_condition_that_comes_back_re_opens_its_alarm(small_city, t0):
    _setup(small_city, t0)
    _evaluate(small_city, t0 + 100 * MIN)                      # silent 100 min: raised
    first = _no_data_alarms(small_city)["RS-0001"]
    _send(small_city, t0 + 110 * MIN)
    _evaluate(small_city, t0 + 111 * MIN)                      # back: cleared
    assert _no_data_alarms(small_city)["RS-0001"].state == "cleared"
    # silent again 100 min later (2 h 20 min after the clearance, within 6 h): the same alarm, raised twice
    run = _evaluate(small_city, t0 + 210 * MIN)
    alarms = _no_data_alarms(small_city)
    assert list(alarms) == ["RS-0001"] and run.raised == [first.id]
    a = alarms["RS-0001"]
    assert (a.id, a.state, a.times_raised, a.cleared_at) == (first.id, "active", 2, None)
    assert a.raised_at == first.raised_at  # first raised at 100 min ...
    assert (a.last_seen_at.timestamp() * 1000 - t0) / MIN == 210  # ... last seen at 210 min
    assert a.value == 100.0
    sent = alarm_payload(a, None, "raised")  # what a webhook receives says it is the second time
    assert (sent["alarm_id"], sent["times_raised"], sent["raised_at"]) == (first.id, 2, a.raised_at.isoformat())
    assert sent["last_seen_at"] == a.last_seen_at.isoformat() and sent["occurrences"] == a.occurrences
    # back again, then silent after more than 6 h: a new alarm
    _send(small_city, t0 + 220 * MIN)
    _evaluate(small_city, t0 + 221 * MIN)                      # cleared at 221 min
    run = _evaluate(small_city, t0 + (221 + 6 * 60 + 1) * MIN)  # 6 h 1 min later
    with small_city.session_factory() as s:
        rows = s.scalars(select(Alarm).where(Alarm.dedup_key == first.dedup_key).order_by(Alarm.id)).all()
        assert [(r.state, r.times_raised) for r in rows] == [("cleared", 2), ("active", 1)]
        assert rows[1].id in run.raised  # (the meter, silent 362 min, is raised too)
