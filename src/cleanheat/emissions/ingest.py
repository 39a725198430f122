"""Storing received packets in bulk (the only write path of the receiver).

One call of :meth:`BulkWriter.write` stores a batch in one transaction: every packet (raw bytes, well-formed or
not, with its reason), the values of the good ones (idempotent upsert on (point, interval, ts, factor): a
retransmitted packet changes nothing), the hours to re-evaluate, and each point's last-packet time.

Bulk paths per PITFALLS.md: SQLite ``executemany`` in one transaction with rows sorted by key; PostgreSQL
``COPY`` (psycopg 3) into the packet table and into a staging table that is upserted with one
``INSERT ... SELECT ... ON CONFLICT``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import Connection, Engine

from cleanheat.emissions.processing import Reading, hour_start

_READING_COLS = ("point_id", "interval", "ts", "factor", "avg", "min", "max", "cou", "zs_avg", "zs_min", "zs_max",
                 "flag")
_PACKET_COLS = ("received_at", "point_id", "mn", "cn", "qn", "data_time", "ok", "reason", "error", "peer",
                "stream_offset", "raw")


@dataclass(slots=True)
class IngestRecord:
    """One received frame (or junk) as the receiver hands it to the writer."""

    received_at: datetime
    raw: bytes
    ok: bool
    peer: str = ""
    offset: int | None = None
    point_id: int | None = None
    mn: str | None = None
    cn: str | None = None
    qn: str | None = None
    data_time: datetime | None = None
    reason: str | None = None
    error: str | None = None
    readings: Sequence[Reading] = field(default=())


@dataclass(frozen=True)
class WriteStats:
    packets: int
    malformed: int
    readings: int
    dirty_hours: int


def _sqlite_ts(t: datetime | None) -> str | None:
    """The text SQLAlchemy's SQLite DateTime stores (naive UTC, microseconds)."""
    if t is None:
        return None
    if t.utcoffset():
        t = t.astimezone(UTC)
    return t.replace(tzinfo=None).isoformat(" ", "microseconds")


def _identity(t):
    return t


class BulkWriter:
    """Writes batches of :class:`IngestRecord` to the emissions tables of ``engine``."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.dialect = engine.dialect.name

    def write(self, records: Sequence[IngestRecord], connection: Connection | None = None) -> WriteStats:
        """Store ``records`` in one transaction (or in the caller's ``connection``, which then commits)."""
        if not records:
            return WriteStats(0, 0, 0, 0)
        sqlite = self.dialect == "sqlite"
        fmt = _sqlite_ts if sqlite else _identity
        readings: dict[tuple, tuple] = {}
        dirty: set[tuple] = set()
        last: dict[int, tuple[datetime, str]] = {}
        for r in records:
            pid = r.point_id
            if pid is None or not r.ok:
                continue
            prev = last.get(pid)
            if prev is None or r.received_at > prev[0]:
                last[pid] = (r.received_at, r.peer)
            prev_ts = tstr = None
            for v in r.readings:
                if v.ts != prev_ts:  # the readings of a packet share one time
                    prev_ts = v.ts
                    tstr = fmt(v.ts)
                interval = v.interval
                readings[(pid, interval, tstr, v.factor)] = (pid, interval, tstr, v.factor, v.avg, v.min, v.max,
                                                             v.cou, v.zs_avg, v.zs_min, v.zs_max, v.flag)
                if interval == "minute" or interval == "hour":
                    dirty.add((pid, tstr[:13] + ":00:00.000000" if sqlite else hour_start(v.ts)))
        rows = [readings[k] for k in sorted(readings)]
        if connection is not None:
            (self._write_sqlite if sqlite else self._write_postgresql)(connection, records, rows, dirty, last)
        else:
            with self.engine.begin() as conn:
                (self._write_sqlite if sqlite else self._write_postgresql)(conn, records, rows, dirty, last)
        return WriteStats(len(records), sum(1 for r in records if not r.ok), len(rows), len(dirty))

    # --- SQLite ------------------------------------------------------------------------------------------
    def _write_sqlite(self, conn, records, rows, dirty, last) -> None:
        ts = _sqlite_ts
        cur = conn.connection.driver_connection.cursor()
        cur.execute("PRAGMA cache_size=-262144")  # 256 MB: the readings index stays in memory
        cur.executemany(
            f"INSERT INTO emissions_packets ({', '.join(_PACKET_COLS)}) VALUES ({', '.join('?' * 12)})",
            [(ts(r.received_at), r.point_id, r.mn, r.cn, r.qn, ts(r.data_time), r.ok, r.reason, r.error,
              r.peer, r.offset, r.raw) for r in records])
        if rows:
            sets = ", ".join(f"{c} = excluded.{c}" for c in _READING_COLS[4:])
            cur.executemany(
                f"INSERT INTO emissions_readings ({', '.join(_READING_COLS)}) VALUES ({', '.join('?' * 12)}) "
                f"ON CONFLICT (point_id, interval, ts, factor) DO UPDATE SET {sets}", rows)
        if dirty:
            cur.executemany("INSERT OR IGNORE INTO emissions_dirty_hours (point_id, ts) VALUES (?, ?)",
                            sorted(dirty))
        if last:
            cur.executemany("UPDATE emissions_points SET last_packet_at = ?, last_peer = ? WHERE id = ? AND "
                            "(last_packet_at IS NULL OR last_packet_at < ?)",
                            [(ts(t), peer, p, ts(t)) for p, (t, peer) in last.items()])
        cur.close()

    # --- PostgreSQL --------------------------------------------------------------------------------------
    def _write_postgresql(self, conn, records, rows, dirty, last) -> None:
        dbapi = conn.connection.driver_connection
        with dbapi.cursor() as cur:
            with cur.copy(f"COPY emissions_packets ({', '.join(_PACKET_COLS)}) FROM STDIN") as cp:
                for r in records:
                    cp.write_row((r.received_at, r.point_id, r.mn, r.cn, r.qn, r.data_time, r.ok, r.reason,
                                  r.error, r.peer, r.offset, r.raw))
            if rows:
                cur.execute(
                    "CREATE TEMP TABLE IF NOT EXISTS emissions_readings_stage "
                    "(LIKE emissions_readings) ON COMMIT DELETE ROWS")
                with cur.copy(f"COPY emissions_readings_stage ({', '.join(_READING_COLS)}) FROM STDIN") as cp:
                    for row in rows:
                        cp.write_row(row)
                sets = ", ".join(f"{c} = EXCLUDED.{c}" for c in _READING_COLS[4:])
                cur.execute(
                    f"INSERT INTO emissions_readings ({', '.join(_READING_COLS)}) "
                    f"SELECT {', '.join(_READING_COLS)} FROM emissions_readings_stage "
                    f"ON CONFLICT (point_id, interval, ts, factor) DO UPDATE SET {sets}")
            if dirty:
                cur.executemany("INSERT INTO emissions_dirty_hours (point_id, ts) VALUES (%s, %s) "
                                "ON CONFLICT DO NOTHING", sorted(dirty))
            if last:
                cur.executemany("UPDATE emissions_points SET last_packet_at = %s, last_peer = %s WHERE id = %s "
                                "AND (last_packet_at IS NULL OR last_packet_at < %s)",
                                [(t, peer, p, t) for p, (t, peer) in last.items()])


def bulk_insert(connection: Connection, table, rows: list[dict]) -> int:
    """Plain bulk INSERT of dict rows (no upsert): SQLite ``executemany`` with the stored time format,
    PostgreSQL ``COPY``. Datetime values must be aware; dates stay dates."""
    if not rows:
        return 0
    cols = list(rows[0])
    if connection.dialect.name == "sqlite":
        cur = connection.connection.driver_connection.cursor()
        conv = [(_sqlite_ts if isinstance(rows[0][c], datetime) else None) for c in cols]
        cur.executemany(f"INSERT INTO {table.name} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})",
                        [tuple(f(r[c]) if f and r[c] is not None else r[c] for c, f in zip(cols, conv, strict=True))
                         for r in rows])
        cur.close()
    else:
        dbapi = connection.connection.driver_connection
        with dbapi.cursor() as cur, cur.copy(f"COPY {table.name} ({', '.join(cols)}) FROM STDIN") as cp:
            for r in rows:
                cp.write_row(tuple(r[c] for c in cols))
    return len(rows)
