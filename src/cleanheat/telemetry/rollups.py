"""Rollups (1 minute, 1 hour, 1 local day) recomputed from the raw readings, and retention.

The ingest path only logs which (point, minute) windows changed (``telemetry_rollup_dirty``). ``process_dirty``
recomputes exactly those: each dirty minute's bucket from its raw readings, each hour holding one from its
minutes, each local day holding one from its hours — work in proportion to the new data, not to the hour it
falls in. Recomputing (rather than adding increments) keeps rollups right under redelivery, late and
out-of-order data, and lets several ingest workers run without coordination. The same SQL runs on SQLite and
PostgreSQL (integer milliseconds, integer division).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, Engine, text

from cleanheat.telemetry.config import TelemetryConfig
from cleanheat.telemetry.storage import MIN_MS, PARTITIONED, ensure_partitions, next_month_ms
from cleanheat.timeutil import PROGRAMME_UTC_OFFSET_H

HOUR_MS = 3_600_000
DAY_MS = 86_400_000

RESOLUTIONS = {"1m": ("telemetry_rollup_1m", MIN_MS), "1h": ("telemetry_rollup_1h", HOUR_MS),
               "1d": ("telemetry_rollup_1d", DAY_MS)}


def day_start_ms(ts_ms: int, offset_h: int = PROGRAMME_UTC_OFFSET_H) -> int:
    """Start of the local day (UTC+``offset_h`` [h]) containing ``ts_ms`` [ms since the epoch], as UTC
    milliseconds [ms]."""
    off = offset_h * HOUR_MS
    return (ts_ms + off) // DAY_MS * DAY_MS - off


@dataclass
class RollupStats:
    windows: int = 0
    logged: int = 0  # rows of the dirty log taken
    minutes: int = 0
    hours: int = 0
    days: int = 0


def process_dirty(engine: Engine, *, day_offset_h: int = PROGRAMME_UTC_OFFSET_H,
                  max_windows: int = 200_000) -> RollupStats:
    """Recompute the rollups of the logged dirty windows (up to ``max_windows`` log rows per call)."""
    off = day_offset_h * HOUR_MS
    stats = RollupStats()
    with engine.connect() as conn:
        with conn.begin():
            lo_id = conn.execute(text("SELECT min(id) FROM telemetry_rollup_dirty")).scalar()
            if lo_id is None:
                return stats
            lim = lo_id + max_windows
            for t in _TEMP_TABLES:
                conn.exec_driver_sql(f"DROP TABLE IF EXISTS {t}")
            # snapshot the log rows taken now: only these are deleted at the end (rows another worker commits
            # meanwhile, even with a lower id, stay for the next run)
            conn.execute(text("CREATE TEMP TABLE _dirty_ids AS SELECT id, point_id, minute_ms "
                              "FROM telemetry_rollup_dirty WHERE id < :lim"), {"lim": lim})
            conn.exec_driver_sql("CREATE TEMP TABLE _dirty_minutes AS SELECT DISTINCT point_id, minute_ms "
                                 "FROM _dirty_ids")
            conn.exec_driver_sql("CREATE TEMP TABLE _dirty_hours AS SELECT DISTINCT point_id, "
                                 f"(minute_ms / {HOUR_MS}) * {HOUR_MS} AS hour_ms FROM _dirty_minutes")
            conn.execute(text(
                "CREATE TEMP TABLE _dirty_days AS SELECT DISTINCT point_id, "
                "((hour_ms + :off) / :day) * :day - :off AS day_ms FROM _dirty_hours"),
                {"off": off, "day": DAY_MS})
            conn.exec_driver_sql("CREATE INDEX _dirty_minutes_ix ON _dirty_minutes (point_id, minute_ms)")
            conn.exec_driver_sql("CREATE INDEX _dirty_hours_ix ON _dirty_hours (point_id, hour_ms)")
            stats.windows = conn.execute(text("SELECT count(*) FROM _dirty_minutes")).scalar()
            stats.logged = conn.execute(text("SELECT count(*) FROM _dirty_ids")).scalar()
            span = conn.execute(text("SELECT min(hour_ms), max(hour_ms) FROM _dirty_hours")).one()
        # the rollup_1m partitions (PostgreSQL) must exist before the insert; created outside this transaction
        ensure_partitions(engine, span[0], span[1] + HOUR_MS - 1)
        with conn.begin():
            stats.minutes, stats.hours, stats.days = _recompute(conn)
            conn.exec_driver_sql("DELETE FROM telemetry_rollup_dirty WHERE id IN (SELECT id FROM _dirty_ids)")
            for t in _TEMP_TABLES:
                conn.exec_driver_sql(f"DROP TABLE {t}")
    return stats


_TEMP_TABLES = ("_dirty_ids", "_dirty_minutes", "_dirty_hours", "_dirty_days")


def _recompute(conn: Connection) -> tuple[int, int, int]:
    """Rebuild the minutes of ``_dirty_minutes``, the hours of ``_dirty_hours`` and the days of ``_dirty_days``;
    returns row counts."""
    conn.exec_driver_sql("DELETE FROM telemetry_rollup_1m WHERE EXISTS (SELECT 1 FROM _dirty_minutes d "
                         "WHERE d.point_id = telemetry_rollup_1m.point_id "
                         "AND d.minute_ms = telemetry_rollup_1m.bucket_ms)")
    minutes = conn.exec_driver_sql(
        "INSERT INTO telemetry_rollup_1m (point_id, bucket_ms, n, sum_value, min_value, max_value) "
        "SELECT d.point_id, d.minute_ms, count(*), sum(r.value), min(r.value), max(r.value) "
        "FROM _dirty_minutes d JOIN telemetry_readings r ON r.point_id = d.point_id "
        f"AND r.ts_ms >= d.minute_ms AND r.ts_ms < d.minute_ms + {MIN_MS} "
        "GROUP BY d.point_id, d.minute_ms").rowcount
    conn.exec_driver_sql("DELETE FROM telemetry_rollup_1h WHERE EXISTS (SELECT 1 FROM _dirty_hours d "
                         "WHERE d.point_id = telemetry_rollup_1h.point_id "
                         "AND d.hour_ms = telemetry_rollup_1h.bucket_ms)")
    hours = conn.exec_driver_sql(
        "INSERT INTO telemetry_rollup_1h (point_id, bucket_ms, n, sum_value, min_value, max_value) "
        "SELECT d.point_id, d.hour_ms, sum(m.n), sum(m.sum_value), min(m.min_value), max(m.max_value) "
        "FROM _dirty_hours d JOIN telemetry_rollup_1m m ON m.point_id = d.point_id "
        f"AND m.bucket_ms >= d.hour_ms AND m.bucket_ms < d.hour_ms + {HOUR_MS} "
        "GROUP BY d.point_id, d.hour_ms").rowcount
    conn.exec_driver_sql("DELETE FROM telemetry_rollup_1d WHERE EXISTS (SELECT 1 FROM _dirty_days d "
                         "WHERE d.point_id = telemetry_rollup_1d.point_id "
                         "AND d.day_ms = telemetry_rollup_1d.bucket_ms)")
    days = conn.exec_driver_sql(
        "INSERT INTO telemetry_rollup_1d (point_id, bucket_ms, n, sum_value, min_value, max_value) "
        "SELECT d.point_id, d.day_ms, sum(h.n), sum(h.sum_value), min(h.min_value), max(h.max_value) "
        "FROM _dirty_days d JOIN telemetry_rollup_1h h ON h.point_id = d.point_id "
        f"AND h.bucket_ms >= d.day_ms AND h.bucket_ms < d.day_ms + {DAY_MS} "
        "GROUP BY d.point_id, d.day_ms").rowcount
    return minutes, hours, days


def process_all_dirty(engine: Engine, *, day_offset_h: int = PROGRAMME_UTC_OFFSET_H) -> RollupStats:
    """Process the dirty log as long as it was when called (as many log rows as it held then).

    Rows that ingest logs meanwhile may wait for the next call: chasing a log that a busy writer keeps filling would
    keep the rest of a jobs round (availability, alarm rules, webhooks) waiting for as long as the writer writes.
    (Counted in rows, not bounded by the highest id: SQLite hands out ids again once the log is empty.)
    """
    total = RollupStats()
    with engine.connect() as conn:
        logged = conn.execute(text("SELECT count(*) FROM telemetry_rollup_dirty")).scalar()
    while total.logged < logged:
        s = process_dirty(engine, day_offset_h=day_offset_h)
        if s.windows == 0:
            break
        for k in ("windows", "logged", "minutes", "hours", "days"):
            setattr(total, k, getattr(total, k) + getattr(s, k))
    return total


@dataclass
class RetentionStats:
    readings: int = 0
    minutes: int = 0
    hours: int = 0
    dropped_partitions: int = 0


def apply_retention(engine: Engine, config: TelemetryConfig, now_ms: int) -> RetentionStats:
    """Delete what is older than the retention of each resolution (PostgreSQL: drop whole old partitions)."""
    stats = RetentionStats()
    cut = {"telemetry_readings": now_ms - config.retention_raw_days * DAY_MS,
           "telemetry_rollup_1m": now_ms - config.retention_1m_days * DAY_MS,
           "telemetry_rollup_1h": now_ms - config.retention_1h_days * DAY_MS}
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            stats.dropped_partitions = _drop_old_partitions(conn, cut)
        stats.readings = conn.execute(text("DELETE FROM telemetry_readings WHERE ts_ms < :c"),
                                      {"c": cut["telemetry_readings"]}).rowcount
        stats.minutes = conn.execute(text("DELETE FROM telemetry_rollup_1m WHERE bucket_ms < :c"),
                                     {"c": cut["telemetry_rollup_1m"]}).rowcount
        stats.hours = conn.execute(text("DELETE FROM telemetry_rollup_1h WHERE bucket_ms < :c"),
                                   {"c": cut["telemetry_rollup_1h"]}).rowcount
    return stats


def _drop_old_partitions(conn: Connection, cut: dict[str, int]) -> int:
    from datetime import UTC, datetime

    dropped = 0
    for parent in PARTITIONED:
        names = conn.execute(text(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = :p"), {"p": parent}).scalars().all()
        for name in names:
            try:
                start = int(datetime.strptime(name.rsplit("_", 1)[1], "%Y%m").replace(tzinfo=UTC).timestamp() * 1000)
            except ValueError:
                continue
            if next_month_ms(start) <= cut[parent]:
                conn.exec_driver_sql(f"DROP TABLE telemetry_part.{name}")
                dropped += 1
    return dropped


# --- reading rollups (dashboards) ---------------------------------------------------------------------------

def pick_resolution(span_ms: int, max_points: int = 1500) -> str:
    """The finest rollup that shows ``span_ms`` in at most ``max_points`` buckets."""
    for res in ("1m", "1h", "1d"):
        if span_ms / RESOLUTIONS[res][1] <= max_points:
            return res
    return "1d"


def read_series(conn: Connection, point_ids: list[int], start_ms: int, end_ms: int,
                resolution: str) -> dict[int, list[tuple[int, float, float, float]]]:
    """``point_id -> [(bucket_ms, mean, min, max), ...]`` from one rollup table, in time order.

    Reads through the driver's cursor: a day of minutes for ten points is 14,400 rows, and per-row result
    processing would cost more than the query."""
    table, _ = RESOLUTIONS[resolution]
    out: dict[int, list] = {pid: [] for pid in point_ids}
    if not point_ids:
        return out
    p = "?" if conn.dialect.name == "sqlite" else "%s"
    marks = ", ".join([p] * len(point_ids))
    cur = conn.connection.driver_connection.cursor()
    try:
        cur.execute(f"SELECT point_id, bucket_ms, sum_value / n, min_value, max_value FROM {table} "
                    f"WHERE point_id IN ({marks}) AND bucket_ms >= {p} AND bucket_ms < {p} "
                    "ORDER BY point_id, bucket_ms", (*point_ids, start_ms, end_ms))
        rows = cur.fetchall()
    finally:
        cur.close()
    for row in rows:
        out[row[0]].append(row[1:])
    return out
