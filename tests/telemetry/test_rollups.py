"""Rollups by hand: 1-minute, hourly and local-day buckets; late data and redelivery; retention."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from sqlalchemy import func, select

from cleanheat.telemetry.config import TelemetryConfig
from cleanheat.telemetry.pipeline import Inbound, IngestPipeline
from cleanheat.telemetry.rollups import apply_retention, day_start_ms, process_all_dirty, read_series
from cleanheat.telemetry.tables import Reading, Rollup1d, Rollup1h, Rollup1m, RollupDirty

# 2024-01-15 15:58 UTC = 23:58 in Harbin, two minutes before the local day ends
T0 = int(datetime(2024, 1, 15, 15, 58, tzinfo=UTC).timestamp() * 1000)
NOW = T0 + 3_600_000


def send(pipe, token, readings):
    body = {"token": token, "readings": [{"ts_ms": t, "point": "s_supply_temp_c", "value": v} for t, v in readings]}
    return pipe.ingest([Inbound(payload=json.dumps(body).encode(),
                                topic="cleanheat/v1/htjt/ST-0001/readings")], now_ms=NOW)


def test_rollups_by_hand(small_city):
    pipe = IngestPipeline(small_city.engine, worker="t")
    tok = small_city.tokens["ST-0001"]
    pid = small_city.points[("ST-0001", "s_supply_temp_c")]
    # 15:58:00 60, 15:58:30 62  | 15:59:00 64 | 16:00:00 70 (next hour, next local day) | 16:01:10 72
    send(pipe, tok, [(T0, 60.0), (T0 + 30_000, 62.0), (T0 + 60_000, 64.0), (T0 + 120_000, 70.0),
                     (T0 + 190_000, 72.0)])
    stats = process_all_dirty(small_city.engine)
    assert (stats.windows, stats.hours, stats.days) == (4, 2, 2)  # minutes 15:58, 15:59, 16:00, 16:01
    with small_city.session_factory() as s:
        m = {r.bucket_ms - T0: (r.n, r.sum_value, r.min_value, r.max_value)
             for r in s.scalars(select(Rollup1m).where(Rollup1m.point_id == pid))}
        assert m == {0: (2, 122.0, 60.0, 62.0), 60_000: (1, 64.0, 64.0, 64.0), 120_000: (1, 70.0, 70.0, 70.0),
                     180_000: (1, 72.0, 72.0, 72.0)}
        h = {r.bucket_ms: (r.n, r.sum_value) for r in s.scalars(select(Rollup1h).where(Rollup1h.point_id == pid))}
        hour0 = T0 - 58 * 60_000
        assert h == {hour0: (3, 186.0), hour0 + 3_600_000: (2, 142.0)}
        d = {r.bucket_ms: (r.n, r.min_value, r.max_value)
             for r in s.scalars(select(Rollup1d).where(Rollup1d.point_id == pid))}
        # local (UTC+8) days: 16:00 UTC is midnight in Harbin
        day1 = int(datetime(2024, 1, 14, 16, tzinfo=UTC).timestamp() * 1000)
        assert day_start_ms(T0) == day1
        assert d == {day1: (3, 60.0, 64.0), day1 + 86_400_000: (2, 70.0, 72.0)}
        assert s.scalar(select(func.count()).select_from(RollupDirty)) == 0

    # a late reading for 15:58:45 and a redelivery of 15:59:00 with another value (ignored: first write wins)
    send(pipe, tok, [(T0 + 45_000, 58.0), (T0 + 60_000, 99.0)])
    process_all_dirty(small_city.engine)
    with small_city.engine.connect() as conn:
        series = read_series(conn, [pid], T0, T0 + 120_000, "1m")[pid]
    assert series == [(T0, 60.0, 58.0, 62.0), (T0 + 60_000, 64.0, 64.0, 64.0)]
    with small_city.session_factory() as s:
        assert s.get(Rollup1d, (pid, day_start_ms(T0))).n == 4
        assert s.scalar(select(func.count()).select_from(Reading)) == 6


def test_a_rollup_pass_takes_the_log_as_it_stood_and_does_not_chase_a_busy_writer(small_city, monkeypatch):
    """A writer that commits during every pass must not keep ``process_all_dirty`` (and so the alarm rules of the
    jobs round behind it) running for as long as it writes; what it logged meanwhile waits for the next call."""
    import cleanheat.telemetry.rollups as rollups

    pipe = IngestPipeline(small_city.engine, worker="t")
    tok = small_city.tokens["ST-0001"]
    process_all_dirty(small_city.engine)  # whatever the city's setup logged
    send(pipe, tok, [(T0, 60.0)])
    real, passes = rollups.process_dirty, []

    def writer_commits_during_each_pass(engine, **kw):
        passes.append(kw)
        assert len(passes) <= 5, "process_all_dirty chases the log the writer keeps filling"
        out = real(engine, **kw)
        send(pipe, tok, [(T0 + 3_600_000 * len(passes), 61.0)])  # another hour, logged after the pass began
        return out

    monkeypatch.setattr(rollups, "process_dirty", writer_commits_during_each_pass)
    stats = process_all_dirty(small_city.engine)
    assert (stats.windows, stats.logged, len(passes)) == (1, 1, 1)
    with small_city.session_factory() as s:
        assert s.scalar(select(func.count()).select_from(RollupDirty)) == 1  # the writer's hour waits
    monkeypatch.setattr(rollups, "process_dirty", real)
    assert process_all_dirty(small_city.engine).windows == 1


def test_retention_deletes_old_data(small_city):
    pipe = IngestPipeline(small_city.engine, TelemetryConfig(max_age_days=1000), worker="t")
    tok = small_city.tokens["ST-0001"]
    old = T0 - 150 * 86_400_000  # 2023-08-18
    send(pipe, tok, [(old, 50.0), (T0, 60.0)])
    process_all_dirty(small_city.engine)
    stats = apply_retention(small_city.engine, TelemetryConfig(retention_raw_days=90), NOW)
    with small_city.session_factory() as s:
        assert [r.ts_ms for r in s.scalars(select(Reading))] == [T0]
        # the 1-minute rollups are kept longer (400 days) than the raw readings (90)
        assert s.scalar(select(func.count()).select_from(Rollup1m)) == 2
    if small_city.engine.dialect.name == "postgresql":
        # whole months went at once: August and September 2023 end before the cut (2023-10-17)
        from cleanheat.telemetry.storage import list_partitions

        assert stats.dropped_partitions == 2
        with small_city.engine.connect() as conn:
            parts = list_partitions(conn)
        assert [p for t, p in parts if t == "telemetry_readings"] == [
            "readings_202310", "readings_202311", "readings_202312", "readings_202401"]
    else:
        assert stats.readings == 1


def test_the_migration_to_dirty_minutes_keeps_every_pending_hour_as_its_sixty_minutes(database_url):
    """A database upgraded with hour windows still pending in the log: each becomes its 60 minutes, so nothing
    logged before the upgrade is left out of the rollups; the downgrade gives the hours back."""
    from alembic import command
    from sqlalchemy import create_engine, text

    from cleanheat.store.migrate import alembic_config

    cfg = alembic_config(database_url)
    command.downgrade(cfg, "telemetry@telemetry_0003")
    engine = create_engine(database_url.replace("postgresql://", "postgresql+psycopg://"))
    hour = 1_705_334_400_000  # 2024-01-15 16:00 UTC
    with engine.begin() as c:
        c.execute(text("INSERT INTO telemetry_rollup_dirty (point_id, hour_ms) VALUES (7, :h), (8, :h)"), {"h": hour})
    command.upgrade(cfg, "heads")
    with engine.connect() as c:
        rows = c.execute(text("SELECT point_id, minute_ms FROM telemetry_rollup_dirty")).all()
    assert sorted(rows) == [(p, hour + 60_000 * k) for p in (7, 8) for k in range(60)]
    command.downgrade(cfg, "telemetry@telemetry_0003")
    with engine.connect() as c:
        hours = c.execute(text("SELECT DISTINCT point_id, hour_ms FROM telemetry_rollup_dirty")).all()
    assert sorted(hours) == [(7, hour), (8, hour)]
    command.upgrade(cfg, "heads")
    engine.dispose()
