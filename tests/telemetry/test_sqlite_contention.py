"""Alarm rules are evaluated while ingest writes (another thread, its own connections).

On SQLite a rule used to read inside a deferred transaction (its savepoint) and then write: when ingest had
committed in between, SQLite refused the upgrade at once with ``database is locked`` (SQLITE_BUSY_SNAPSHOT; the
busy timeout does not apply), and the rule was logged and skipped while ingest ran. PostgreSQL runs it too.
"""

from __future__ import annotations

import threading
import time

from sqlalchemy import func, select

from cleanheat.auth.service import Actor
from cleanheat.store.engine import session_scope
from cleanheat.telemetry.alarms import load_default_rules
from cleanheat.telemetry.config import TelemetryConfig
from cleanheat.telemetry.jobs import Jobs
from cleanheat.telemetry.payload import ParsedMessage
from cleanheat.telemetry.pipeline import Inbound, IngestPipeline
from cleanheat.telemetry.tables import Alarm, AlarmRule, Quarantine, Reading

MIN = 60_000


def test_alarm_rules_are_evaluated_while_ingest_writes(small_city):
    with session_scope(small_city.session_factory) as s:
        load_default_rules(s, Actor.system(), small_city.settings.data_dir)
    now = int(time.time() * 1000) // MIN * MIN
    pipe = IngestPipeline(small_city.engine, worker="t")
    # a hot secondary supply for 12 minutes: secondary_supply_too_hot is raised, then updated every round
    pipe.ingest([Inbound(parsed=ParsedMessage(None, [("ST-0001", "s_supply_temp_c", now - (11 - i) * MIN, 88.0, "t")
                                                     for i in range(12)]), trusted=True)], now_ms=now)
    jobs = Jobs(small_city.engine, TelemetryConfig(), city_dir=small_city.settings.city_dir)
    jobs.run(now)

    stop = threading.Event()
    errors: list[BaseException] = []
    batches = [0]

    def ingest() -> None:  # another writer (an MQTT worker) committing a small batch every few milliseconds
        other = IngestPipeline(small_city.engine, worker="writer")
        ts = now - 3 * 3_600_000
        try:
            # until told to stop (a slow machine needs more batches); 100 000 batches of readings 20 ms apart
            # (over 8 minutes of writing) still end in the past
            while not stop.is_set() and batches[0] < 100_000:
                rows = [("RS-0002", "room_temp_c", ts + i * 20, 20.0 + (i % 7) / 10, "t") for i in range(5)]
                other.ingest([Inbound(parsed=ParsedMessage(None, rows), trusted=True)], now_ms=now)
                ts += 100
                batches[0] += 1
                time.sleep(0.005)
        except BaseException as exc:  # reported below
            errors.append(exc)

    writer = threading.Thread(target=ingest)
    writer.start()
    failed: dict[str, str] = {}
    rounds = overlapped = 0
    try:
        # evaluate the rules until 25 evaluations overlapped commits of the writer (however fast the machine is)
        deadline = time.monotonic() + 600  # a bound for a hung run only: 25 rounds take seconds
        while overlapped < 25 and not errors:
            assert time.monotonic() < deadline, f"only {overlapped} of {rounds} rounds overlapped the writer"
            before = batches[0]
            res = jobs.run(now)
            rounds += 1
            overlapped += batches[0] > before
            failed.update(res.alarms.failed)
    finally:
        stop.set()
        writer.join(timeout=60)
        jobs.http.close()
    assert errors == []
    assert failed == {}
    with small_city.session_factory() as s:
        hot = s.scalars(select(Alarm).join(AlarmRule).where(AlarmRule.code == "secondary_supply_too_hot")).all()
        assert [(a.state, a.occurrences) for a in hot] == [("active", 1 + rounds)]  # raised once, seen every round
        assert s.scalar(select(func.count()).select_from(Reading)) == 12 + 5 * batches[0]  # nothing lost
        assert s.scalar(select(func.count()).select_from(Quarantine)) == 0
