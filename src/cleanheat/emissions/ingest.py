"""Storing received packets in bulk (the only write path of the receiver).

One call of :meth:`BulkWriter.write` stores a batch in one transaction: every packet (raw bytes, well-formed or
not, with its reason), the values of the good ones (idempotent upsert on (point, interval, ts, factor): a
retransmitted packet changes nothing), the hours to re-evaluate, and each point's last-packet time.

Bulk paths per PITFALLS.md: SQLite ``executemany`` in one transaction with rows sorted by key; PostgreSQL
``COPY`` (psycopg 3) into the packet table and into a staging table that is upserted with one
``INSERT ... SELECT ... ON CONFLICT``.

Every text column is written through :func:`cleanheat.store.text.storable_text` (a NUL, which PostgreSQL refuses
in text, is written as ``\\x00``); the ``raw`` column keeps the exact bytes. :meth:`BulkWriter.write_salvaging`
is the receiver's entry: when a batch fails, it is split in halves down to single records; a record the database
still refuses is stored as a malformed packet (reason ``db_error``, its raw bytes, the database's message) and
counted, so one bad record never blocks the others. Only when even that cannot be stored (the database is
unavailable or locked) does it raise :class:`WriteAborted` with the records not yet written, for a later retry.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import psycopg
from sqlalchemy import Connection, Engine
from sqlalchemy import exc as sa_exc

from cleanheat.emissions.processing import Reading, hour_start
from cleanheat.store.text import storable_text

log = logging.getLogger("cleanheat.emissions.ingest")

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
    #: records the database refused, stored as malformed packets with reason ``db_error``
    db_rejected: int = 0

    def __add__(self, other: WriteStats) -> WriteStats:
        return WriteStats(self.packets + other.packets, self.malformed + other.malformed,
                          self.readings + other.readings, self.dirty_hours + other.dirty_hours,
                          self.db_rejected + other.db_rejected)


class WriteAborted(Exception):  # not an error of the input: the database is unavailable
    """The database refused even a minimal malformed-packet record (unavailable, locked): ``remaining`` are the
    records not written (in order), ``stats`` what was written before."""

    def __init__(self, remaining: list[IngestRecord], stats: WriteStats, cause: BaseException) -> None:
        super().__init__(f"{len(remaining)} records not written: {cause!r}")
        self.remaining = remaining
        self.stats = stats
        self.cause = cause


#: errors of the connection or of locking (not of a record): nothing to salvage record by record
_TRANSIENT = (sa_exc.OperationalError, sa_exc.DisconnectionError, sqlite3.OperationalError, psycopg.OperationalError)

#: text columns of emissions_packets with their lengths (None: unbounded)
_MN_LEN, _CN_LEN, _QN_LEN, _REASON_LEN, _PEER_LEN, _ERROR_LEN, _FACTOR_LEN, _FLAG_LEN = 64, 8, 32, 24, 64, None, 16, 2


def _text(value: str | None, max_len: int | None) -> str | None:
    return None if value is None else storable_text(value, max_len)


def _packet_row(r: IngestRecord, ts) -> tuple:
    return (ts(r.received_at), r.point_id, _text(r.mn, _MN_LEN), _text(r.cn, _CN_LEN), _text(r.qn, _QN_LEN),
            ts(r.data_time), r.ok, _text(r.reason, _REASON_LEN), _text(r.error, _ERROR_LEN),
            storable_text(r.peer, _PEER_LEN), r.offset, r.raw)


def rejected_record(r: IngestRecord, exc: BaseException) -> IngestRecord:
    """``r`` as a malformed packet the database will take: its raw bytes, the database's error as the reason."""
    return IngestRecord(received_at=r.received_at, raw=r.raw, ok=False, peer=r.peer, offset=r.offset,
                        mn=r.mn, cn=r.cn, qn=r.qn, reason="db_error",
                        error=f"the database refused the record: {type(exc).__name__}: {exc}"[:2000])


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
                factor = storable_text(v.factor, _FACTOR_LEN)
                flag = None if v.flag is None else storable_text(v.flag, _FLAG_LEN)
                readings[(pid, interval, tstr, factor)] = (pid, interval, tstr, factor, v.avg, v.min, v.max,
                                                           v.cou, v.zs_avg, v.zs_min, v.zs_max, flag)
                if interval == "minute" or interval == "hour":
                    dirty.add((pid, tstr[:13] + ":00:00.000000" if sqlite else hour_start(v.ts)))
        rows = [readings[k] for k in sorted(readings)]
        if connection is not None:
            (self._write_sqlite if sqlite else self._write_postgresql)(connection, records, rows, dirty, last)
        else:
            with self.engine.begin() as conn:
                (self._write_sqlite if sqlite else self._write_postgresql)(conn, records, rows, dirty, last)
        return WriteStats(len(records), sum(1 for r in records if not r.ok), len(rows), len(dirty))

    def write_salvaging(self, records: Sequence[IngestRecord]) -> WriteStats:
        """:meth:`write`; if the batch fails, halves of it down to single records, and a record the database
        still refuses stored as a malformed packet (``db_error``). Raises :class:`WriteAborted` (with the
        records not written) only when the database takes not even that."""
        try:
            return self.write(records)
        except _TRANSIENT as exc:
            raise WriteAborted(list(records), WriteStats(0, 0, 0, 0), exc) from exc
        except Exception as exc:  # some record is refused: find it below
            log.warning("a batch of %d records failed (%r); writing it in parts", len(records), exc)
        done = WriteStats(0, 0, 0, 0)
        mid = len(records) // 2
        todo = [list(records[mid:]), list(records[:mid])] if mid else [list(records)]  # a stack: first half on top
        while todo:
            seg = todo.pop()
            try:
                done += self.write(seg)
                continue
            except _TRANSIENT as exc:
                raise WriteAborted(seg + [r for s in reversed(todo) for r in s], done, exc) from exc
            except Exception as exc:  # split further, or keep the single record as malformed
                if len(seg) > 1:
                    mid = len(seg) // 2
                    todo += [seg[mid:], seg[:mid]]
                    continue
                error = exc
            r = seg[0]
            log.error("the database refused a record from %s (%s bytes): %r; stored as malformed", r.peer,
                      len(r.raw), error)
            try:
                s = self.write([rejected_record(r, error)])
            except Exception as exc2:  # the database takes nothing: retry later
                raise WriteAborted(seg + [x for s in reversed(todo) for x in s], done, exc2) from exc2
            done += WriteStats(s.packets, s.malformed, s.readings, s.dirty_hours, 1)
        return done

    # --- SQLite ------------------------------------------------------------------------------------------
    def _write_sqlite(self, conn, records, rows, dirty, last) -> None:
        ts = _sqlite_ts
        cur = conn.connection.driver_connection.cursor()
        cur.execute("PRAGMA cache_size=-262144")  # 256 MB: the readings index stays in memory
        cur.executemany(
            f"INSERT INTO emissions_packets ({', '.join(_PACKET_COLS)}) VALUES ({', '.join('?' * 12)})",
            [_packet_row(r, ts) for r in records])
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
                    cp.write_row(_packet_row(r, _identity))
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


def _sqlite_times(values: list) -> list:
    """A column of aware datetimes as SQLite's stored text (a time repeated in consecutive rows, as one shared
    by the rows of an hour, is converted once)."""
    out = []
    last, text = None, None
    for t in values:
        if t is not last:
            last, text = t, _sqlite_ts(t)
        out.append(text)
    return out


def bulk_insert_columns(connection: Connection, table, columns: dict[str, list]) -> int:
    """Plain bulk INSERT (no upsert) of rows given column by column (lists of one length; no dict per row):
    SQLite ``executemany`` with the stored time format (a datetime column converted once per run of equal
    times), PostgreSQL binary ``COPY`` (so each value must be of its column's type: floats in float columns).
    Datetime values must be aware; dates stay dates."""
    cols = list(columns)
    n = len(columns[cols[0]]) if cols else 0
    if not n:
        return 0
    if connection.dialect.name == "sqlite":
        values = [_sqlite_times(v) if isinstance(v[0], datetime) else v for v in columns.values()]
        cur = connection.connection.driver_connection.cursor()
        cur.executemany(f"INSERT INTO {table.name} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})",
                        zip(*values, strict=True))
        cur.close()
    else:
        dbapi = connection.connection.driver_connection
        types = _pg_column_types(dbapi, table.name)
        with dbapi.cursor() as cur, cur.copy(f"COPY {table.name} ({', '.join(cols)}) FROM STDIN (FORMAT BINARY)") as cp:
            cp.set_types([types[c] for c in cols])
            for row in zip(*columns.values(), strict=True):
                cp.write_row(row)
    return n


_PG_TYPES: dict[str, dict[str, str]] = {}


def _pg_column_types(dbapi, table_name: str) -> dict[str, str]:
    """Column -> PostgreSQL type name of a table (read once per process: the schema is the code's)."""
    if table_name not in _PG_TYPES:
        with dbapi.cursor() as cur:
            cur.execute("SELECT a.attname, t.typname FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid "
                        "WHERE a.attrelid = %s::regclass AND a.attnum > 0 AND NOT a.attisdropped", (table_name,))
            _PG_TYPES[table_name] = dict(cur.fetchall())
    return _PG_TYPES[table_name]


def suspend_foreign_keys(connection: Connection, table_names: Sequence[str]) -> Callable[[], None]:
    """Before a bulk load into ``table_names``: on PostgreSQL, drop their foreign keys and return the function
    that adds them back (checking every row once, in one join, instead of a trigger call per inserted row:
    PostgreSQL manual, "Populating a Database"). All in the caller's transaction, so a failure rolls the drop
    back with the load. SQLite (where the check is cheap) keeps them: the function returned does nothing."""
    if connection.dialect.name != "postgresql":
        return lambda: None
    keys = connection.exec_driver_sql(
        "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) FROM pg_constraint "
        "WHERE contype = 'f' AND conrelid = ANY(%(tables)s::regclass[]) ORDER BY 1, 2",
        {"tables": list(table_names)}).all()
    for table, name, _definition in keys:
        connection.exec_driver_sql(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')

    def restore() -> None:
        for table, name, definition in keys:
            connection.exec_driver_sql(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}')

    return restore


def bulk_insert(connection: Connection, table, rows: list[dict]) -> int:
    """:func:`bulk_insert_columns` of dict rows (every row with the keys of the first)."""
    if not rows:
        return 0
    return bulk_insert_columns(connection, table, {c: [r[c] for r in rows] for c in rows[0]})
