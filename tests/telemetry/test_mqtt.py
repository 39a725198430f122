"""MQTT ingest end to end: a private mosquitto, worker processes, the demo city publishing with QoS 1.

* killing the worker mid-run and restarting it loses nothing and stores nothing twice;
* two workers on one MQTT 5 shared subscription split the messages, nothing lost or counted twice.
"""

from __future__ import annotations

import time

import pytest
from sqlalchemy import func, select

from cleanheat.assets.tables import Device, Point
from cleanheat.auth.service import Actor
from cleanheat.store.engine import session_scope
from cleanheat.telemetry.tables import IngestBatch, Quarantine, Reading
from cleanheat.telemetry.tokens import issue_device_token
from cleanheat.twin.city import CityConfig, ensure_city, make_city
from cleanheat.twin.sim import CitySim
from cleanheat.twin.sinks import MqttSink
from cleanheat.weather.epw import harbin_epw_path, read_epw
from tests.helpers import bootstrap
from tests.telemetry.conftest import WorkerProc, run_cli

H = 3_600_000
# Each test runs a private broker and two or three worker interpreters (about both cores): under pytest-xdist they
# stay on one worker, one after another, so two such process sets never compete with each other.
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("mqtt")]


def _city(settings, session_factory, prefix: str):
    bootstrap(settings)
    spec = make_city(CityConfig(prefix=prefix, stations=2, buildings_per_station=2, households_per_building=3,
                                room_interval_s=300, household_meter_interval_s=900))
    with session_scope(session_factory) as s:
        ensure_city(s, Actor.system(), spec, "htjt")
        token = issue_device_token(s, Actor.system(), org_code="htjt")
    with session_factory() as s:
        points = {(d, k): pid for pid, d, k in s.execute(select(Point.id, Device.code, Point.key).join(Device))}
    # the last six hours (validation refuses future and very old readings), on late-January weather
    start = (int(time.time() * 1000) // H - 6) * H
    sim = CitySim(spec, read_epw(harbin_epw_path(settings.data_dir)), anchor_ms=start, weather_start="01-30")
    return sim, token, points, start


def _stored(session_factory) -> int:
    with session_factory() as s:
        return s.scalar(select(func.count()).select_from(Reading))


def _wait_for(session_factory, n: int, timeout: float = 300.0) -> int:
    deadline = time.time() + timeout
    got = _stored(session_factory)
    while got < n and time.time() < deadline:
        time.sleep(0.3)
        got = _stored(session_factory)
    return got


def test_kill_and_restart_worker_during_a_twin_run(settings, session_factory, broker, tmp_path):
    sim, token, points, start = _city(settings, session_factory, "K")
    steps = [(start + i * 600_000, start + (i + 1) * 600_000) for i in range(36)]  # 6 h in 10-minute steps
    expected = {}
    for t0, t1 in steps:
        for code, ts, values in sim.samples(t0, t1):
            for key, v in values.items():
                expected[(points[(code, key)], ts)] = v
    worker = WorkerProc(settings, broker, "kill-test", tmp_path)
    worker.wait_connected()
    sink = MqttSink(broker.url, "htjt", {"*": token}, client_id="twin-kill-test")
    try:
        for i, (t0, t1) in enumerate(steps):
            sink.send(sim.samples(t0, t1))
            if i == 11:
                sink.flush()
                deadline = time.time() + 30
                while _stored(session_factory) == 0 and time.time() < deadline:
                    time.sleep(0.01)
                worker.kill()  # SIGKILL: no goodbye; what it had received but not committed is not acknowledged
                killed_at = _stored(session_factory)
            if i == 23:
                sink.flush()  # the broker has accepted everything sent while the worker was down
                worker = WorkerProc(settings, broker, "kill-test", tmp_path)
                worker.wait_connected()
        sink.close()
        got = _wait_for(session_factory, len(expected))
    finally:
        worker.stop()
    # killed mid-run: some stored, the rest (sent before and after the kill) came through the persistent session
    assert 0 < killed_at < len(expected)
    assert "session present: True" in worker.log_path.read_text()
    assert got == len(expected), f"stored {got} of {len(expected)}"
    with session_factory() as s:
        stored = {(r.point_id, r.ts_ms): r.value for r in s.scalars(select(Reading))}
        assert stored == expected  # every reading, each once, with its value
        assert s.scalar(select(func.count()).select_from(Quarantine)) == 0
        batches = s.execute(select(func.sum(IngestBatch.inserted), func.sum(IngestBatch.duplicates))).one()
    assert batches[0] == len(expected)  # redeliveries (if any) were counted as duplicates, never stored


def test_two_workers_share_one_subscription(settings, session_factory, broker, tmp_path):
    sim, token, _points, start = _city(settings, session_factory, "W")
    workers = [WorkerProc(settings, broker, f"shared-{i}", tmp_path) for i in (1, 2)]
    try:
        for w in workers:
            w.wait_connected()
        sink = MqttSink(broker.url, "htjt", {"*": token}, client_id="twin-share-test")
        samples = sim.samples(start, start + 6 * H)
        # one message per device and 10 minutes, as a gateway would send
        for t0 in range(start, start + 6 * H, 600_000):
            sink.send([s for s in samples if t0 <= s[1] < t0 + 600_000])
        sink.close()
        n = sum(len(v) for _, _, v in samples)
        got = _wait_for(session_factory, n)
    finally:
        for w in workers:
            w.stop()
    assert got == n
    with session_factory() as s:
        per_worker = dict(s.execute(select(IngestBatch.worker, func.sum(IngestBatch.messages))
                                    .group_by(IngestBatch.worker)).all())
        dup = s.scalar(select(func.sum(IngestBatch.duplicates)))
        inserted = s.scalar(select(func.sum(IngestBatch.inserted)))
    assert set(per_worker) == {"shared-1", "shared-2"}
    assert all(m > sink.messages * 0.2 for m in per_worker.values()), per_worker  # both did a fair share
    assert sum(per_worker.values()) == sink.messages  # each message handled by exactly one worker
    assert dup == 0 and inserted == n


def _settled(session_factory, quiet_s: float = 2.0, timeout: float = 60.0) -> int:
    """The number of stored readings once some are stored and it has not changed for ``quiet_s``."""
    _wait_for(session_factory, 1, timeout)
    last, since, deadline = _stored(session_factory), time.time(), time.time() + timeout
    while time.time() - since < quiet_s and time.time() < deadline:
        time.sleep(0.2)
        now = _stored(session_factory)
        if now != last:
            last, since = now, time.time()
    return last


def _messages_by_worker(session_factory) -> dict[str, int]:
    with session_factory() as s:
        return dict(s.execute(select(IngestBatch.worker, func.sum(IngestBatch.messages))
                              .group_by(IngestBatch.worker)).all())


def _session_present(broker, client_id: str) -> bool:
    """Connect as ``client_id`` resuming its session (expiry 0: this probe leaves none behind)."""
    import threading

    import paho.mqtt.client as mqtt

    flags, done = {}, threading.Event()

    def on_connect(client, userdata, f, rc, props):
        flags["present"] = f.session_present
        done.set()

    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
    c.on_connect = on_connect
    c.connect("127.0.0.1", broker.port, clean_start=False)
    c.loop_start()
    try:
        assert done.wait(10)
    finally:
        c.disconnect()
        c.loop_stop()
    return flags["present"]


def test_retire_a_worker_id(settings, session_factory, broker, tmp_path):
    """A stopped worker id keeps its session in the shared group and its share waits for it; ``retire-worker``
    ingests that share, ends the session, and from then on the remaining worker gets every message."""
    sim, token, _points, start = _city(settings, session_factory, "R")
    samples = sim.samples(start, start + 6 * H)
    half = start + 3 * H
    one = WorkerProc(settings, broker, "ingest-1", tmp_path)
    two = WorkerProc(settings, broker, "ingest-2", tmp_path)
    sink = MqttSink(broker.url, "htjt", {"*": token}, client_id="twin-retire-test")
    try:
        one.wait_connected()
        two.wait_connected()
        one.stop()  # SIGTERM: a clean stop; the broker keeps the session (7 days) in the shared group
        for t0 in range(start, half, 600_000):
            sink.send([s for s in samples if t0 <= s[1] < t0 + 600_000])
        sink.flush()
        first = sum(len(v) for _, ts, v in samples if ts < half)
        waiting = _settled(session_factory)
        assert 0 < waiting < first  # ingest-2 got only its round-robin share; the rest is queued for ingest-1
        r = run_cli(settings, broker, "telemetry", "retire-worker", "ingest-1", "--idle-s", "2")
        assert r.returncode == 0, r.stdout + r.stderr
        assert "retired ingest-1" in r.stdout, r.stdout
        assert _wait_for(session_factory, first) == first  # the queued share is stored (ingest-2 may lag)
        assert not _session_present(broker, "ingest-1")  # the broker has forgotten the id
        before, m1 = _messages_by_worker(session_factory), sink.messages
        assert before["ingest-1"] > 0 and sum(before.values()) == m1
        for t0 in range(half, start + 6 * H, 600_000):
            sink.send([s for s in samples if t0 <= s[1] < t0 + 600_000])
        sink.close()
        n = sum(len(v) for _, _, v in samples)
        got = _wait_for(session_factory, n)
        again = run_cli(settings, broker, "telemetry", "retire-worker", "ingest-1", "--idle-s", "1")
    finally:
        two.stop()
        one.stop()
    assert got == n
    assert again.returncode == 0 and "no session" in again.stdout, again.stdout
    after = _messages_by_worker(session_factory)
    # everything published after the retire step went to ingest-2, each message handled once
    assert after == {"ingest-1": before["ingest-1"], "ingest-2": before["ingest-2"] + sink.messages - m1}
    with session_factory() as s:
        dup = s.scalar(select(func.sum(IngestBatch.duplicates)))
        inserted = s.scalar(select(func.sum(IngestBatch.inserted)))
        assert s.scalar(select(func.count()).select_from(Quarantine)) == 0
    assert dup == 0 and inserted == n  # every reading once
