"""Bulk, idempotent storage of readings and their side tables (the only SQL of the ingest path).

* Readings are written with ``INSERT ... ON CONFLICT DO NOTHING`` on (point_id, ts_ms): a redelivered reading is
  counted as a duplicate and changes nothing. SQLite: one ``executemany`` of key-sorted rows; PostgreSQL: binary
  ``COPY`` into a temporary staging table, then one ``INSERT ... SELECT ... ON CONFLICT DO NOTHING``.
* ``telemetry_latest`` keeps the newest value per point; ``telemetry_rollup_dirty`` logs the (point, minute) windows
  the rollup job must recompute.
* PostgreSQL: monthly partitions of the series tables are created on demand (``ensure_partitions``).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Connection, Engine, insert, text

from cleanheat.store.text import storable_text
from cleanheat.telemetry.tables import IngestBatch, Quarantine
from cleanheat.telemetry.validation import QuarantineItem, Validated

MIN_MS = 60_000  # the rollup dirty log's window [ms]
PARTITIONED = {"telemetry_readings": "readings", "telemetry_rollup_1m": "rollup_1m"}
PAYLOAD_KEEP = 65_536


@dataclass
class BatchCounts:
    messages: int = 0
    readings: int = 0
    inserted: int = 0
    duplicates: int = 0
    quarantined: int = 0

    def add(self, other: BatchCounts) -> None:
        for k in ("messages", "readings", "inserted", "duplicates", "quarantined"):
            setattr(self, k, getattr(self, k) + getattr(other, k))

    def as_dict(self) -> dict[str, int]:
        return {k: getattr(self, k) for k in ("messages", "readings", "inserted", "duplicates", "quarantined")}


# --- PostgreSQL partitions -------------------------------------------------------------------------------

def month_start_ms(ts_ms: int) -> int:
    d = datetime.fromtimestamp(ts_ms / 1000, UTC)
    return int(datetime(d.year, d.month, 1, tzinfo=UTC).timestamp() * 1000)


def next_month_ms(month_ms: int) -> int:
    d = datetime.fromtimestamp(month_ms / 1000, UTC)
    y, m = (d.year + 1, 1) if d.month == 12 else (d.year, d.month + 1)
    return int(datetime(y, m, 1, tzinfo=UTC).timestamp() * 1000)


_known_partitions: set[tuple[str, int]] = set()
_partition_lock = threading.Lock()


def ensure_partitions(engine: Engine, min_ts_ms: int, max_ts_ms: int) -> None:
    """Create the monthly partitions covering [min_ts_ms, max_ts_ms] (PostgreSQL; a no-op on SQLite).

    Runs in its own autocommit connection so that concurrent workers never hold the DDL lock in their batch
    transaction; an existing partition is fine.
    """
    if engine.dialect.name != "postgresql":
        return
    months = []
    m = month_start_ms(min_ts_ms)
    while m <= max_ts_ms:
        months.append(m)
        m = next_month_ms(m)
    todo = [(t, m) for t in PARTITIONED for m in months if (engine.url.database, t, m) not in _known_partitions]
    if not todo:
        return
    with _partition_lock, engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        for table, start in todo:
            name = f"{PARTITIONED[table]}_{datetime.fromtimestamp(start / 1000, UTC):%Y%m}"
            try:
                conn.exec_driver_sql(
                    f"CREATE TABLE IF NOT EXISTS telemetry_part.{name} PARTITION OF {table} "
                    f"FOR VALUES FROM ({start}) TO ({next_month_ms(start)})")
            except Exception as exc:
                exists = conn.exec_driver_sql(
                    "SELECT 1 FROM pg_tables WHERE schemaname = 'telemetry_part' AND tablename = %s",
                    (name,)).first()
                if exists is None:
                    raise RuntimeError(f"could not create partition {name}") from exc
            _known_partitions.add((engine.url.database, table, start))


def list_partitions(conn: Connection) -> list[tuple[str, str]]:
    """(parent table, partition name) of every time partition (PostgreSQL)."""
    if conn.dialect.name != "postgresql":
        return []
    rows = conn.execute(text(
        "SELECT p.relname AS parent, c.relname AS part FROM pg_inherits i "
        "JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_class p ON p.oid = i.inhparent "
        "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'telemetry_part' ORDER BY 1, 2"))
    return [(r.parent, r.part) for r in rows]


# --- writes ----------------------------------------------------------------------------------------------

def insert_readings(conn: Connection, rows: list[tuple[int, int, float]]) -> int:
    """Insert readings (sorted by key: SQLite appends in B-tree order), ignoring those already stored; returns
    how many were new."""
    if not rows:
        return 0
    if conn.dialect.name == "sqlite":
        raw = conn.connection.driver_connection
        before = raw.total_changes
        conn.exec_driver_sql(
            "INSERT INTO telemetry_readings (point_id, ts_ms, value) VALUES (?, ?, ?) ON CONFLICT DO NOTHING", rows)
        return raw.total_changes - before
    raw = conn.connection.driver_connection
    with raw.cursor() as cur:
        cur.execute("CREATE TEMP TABLE IF NOT EXISTS _stage_readings "
                    "(point_id int4, ts_ms int8, value float8) ON COMMIT DELETE ROWS")
        with cur.copy("COPY _stage_readings (point_id, ts_ms, value) FROM STDIN (FORMAT BINARY)") as cp:
            cp.set_types(["int4", "int8", "float8"])
            for r in rows:
                cp.write_row(r)
        cur.execute("INSERT INTO telemetry_readings (point_id, ts_ms, value) "
                    "SELECT point_id, ts_ms, value FROM _stage_readings ON CONFLICT DO NOTHING")
        inserted = cur.rowcount
        cur.execute("TRUNCATE _stage_readings")
    return inserted


def update_latest(conn: Connection, rows: list[tuple[int, int, float]]) -> None:
    """Keep the newest value per point; ``rows`` must be sorted by (point_id, ts_ms)."""
    newest = {pid: (pid, ts, v) for pid, ts, v in rows}  # sorted: the last row of a point is its newest
    if not newest:
        return
    rows = list(newest.values())
    upsert = ("ON CONFLICT (point_id) DO UPDATE SET ts_ms = excluded.ts_ms, value = excluded.value "
              "WHERE excluded.ts_ms >= telemetry_latest.ts_ms")
    if conn.dialect.name == "postgresql":  # one statement with arrays beats executemany by far
        p, t, v = zip(*rows, strict=True)
        conn.exec_driver_sql("INSERT INTO telemetry_latest (point_id, ts_ms, value) SELECT * FROM "
                             f"unnest(%s::int4[], %s::int8[], %s::float8[]) {upsert}", (list(p), list(t), list(v)))
        return
    conn.exec_driver_sql(f"INSERT INTO telemetry_latest (point_id, ts_ms, value) VALUES (?, ?, ?) {upsert}", rows)


def mark_dirty(conn: Connection, rows: list[tuple[int, int, float]]) -> None:
    windows = sorted({(pid, ts - ts % MIN_MS) for pid, ts, _ in rows})
    if not windows:
        return
    if conn.dialect.name == "postgresql":
        p, m = zip(*windows, strict=True)
        conn.exec_driver_sql("INSERT INTO telemetry_rollup_dirty (point_id, minute_ms) "
                             "SELECT * FROM unnest(%s::int4[], %s::int8[])", (list(p), list(m)))
        return
    conn.exec_driver_sql("INSERT INTO telemetry_rollup_dirty (point_id, minute_ms) VALUES (?, ?)", windows)


def _t(text: str | None, n: int) -> str:
    """Text for a quarantine column (see ``store.text.storable_text``)."""
    return storable_text(text, n)


def insert_quarantine(conn: Connection, items: list[QuarantineItem], source: str) -> None:
    if not items:
        return
    conn.execute(insert(Quarantine), [
        {"source": source, "reason": q.reason, "detail": _t(q.detail, 2000), "location": _t(q.location, 300),
         "device_code": _t(q.device_code, 64), "point_key": _t(q.point_key, 64), "point_id": q.point_id,
         "ts_ms": q.ts_ms, "raw_ts": _t(q.raw_ts, 64), "raw_value": _t(q.raw_value, 64), "org_id": q.org_id,
         "payload": _t(q.payload, PAYLOAD_KEEP)}
        for q in items])


def write_validated(conn: Connection, validated: Validated, *, worker: str, source: str,
                    messages: int) -> BatchCounts:
    """Store one validated batch in the caller's transaction and log its counters."""
    rows = sorted(validated.rows)
    inserted = insert_readings(conn, rows)
    update_latest(conn, rows)
    mark_dirty(conn, rows)
    insert_quarantine(conn, validated.quarantine, source)
    counts = BatchCounts(messages=messages, readings=len(validated.rows) + len(validated.quarantine),
                         inserted=inserted, duplicates=len(validated.rows) - inserted,
                         quarantined=len(validated.quarantine))
    conn.execute(insert(IngestBatch), [{"worker": worker, "source": source} | counts.as_dict()])
    return counts
