"""The receiver wired to the store: point directory from ``emissions_points``, batched bulk writes, periodic
evaluation (hours, days, exceedances, missing-data alarms). ``cleanheat emissions serve`` runs :func:`serve`.

All database work runs in one worker thread (SQLite has one writer; PostgreSQL does not mind), so the event loop
only parses and answers. Records wait in memory until written; while too many wait, connections stop being read
(TCP back-pressure) instead of anything being dropped.

Group commit: a packet is answered (9014 ...) only after the transaction holding it is committed. Each batch
has a future (:meth:`StoreSink.barrier`); a connection's replies wait on the future of the batch that holds their
packets, and the writer resolves it after the commit (True), or with False when the write failed — then the
replies are withheld (``ReceiverStats.replies_withheld``) and the logger resends; a resent packet changes no
value (idempotent upsert). Batches are written every ``flush_interval_s`` or at ``batch_size`` records, so an
answer waits at most about ``flush_interval_s`` plus one commit (loggers wait seconds for answers); writing at
every packet instead would make many small transactions (and, with ``--workers`` on SQLite, contention for the
write lock). A crash can cause a resend, never a loss. A batch the database refuses is written in parts; a record
it still refuses is stored as a malformed packet (reason ``db_error``, raw bytes kept) and counted
(``SinkStats.db_rejected``). Only records that could not be written at all (database unavailable) are retried.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from sqlalchemy import Engine, select

from cleanheat.config import Settings
from cleanheat.emissions.hj212.codes import read_code_tables
from cleanheat.emissions.hj212.server import PointAuth, ReceiverOptions, ReceiverServer
from cleanheat.emissions.ingest import BulkWriter, IngestRecord, WriteAborted
from cleanheat.emissions.retention import prune
from cleanheat.emissions.rollup import maintenance_rules, run_maintenance
from cleanheat.emissions.tables import MonitoringPoint
from cleanheat.store.engine import make_engine, make_sessionmaker, session_scope

log = logging.getLogger("cleanheat.emissions.receiver")


class DbPointDirectory:
    """MN -> point credentials, loaded from ``emissions_points`` (``refresh`` re-reads it)."""

    def __init__(self, engine: Engine, min_refresh_s: float = 5.0) -> None:
        self.engine = engine
        self.points: dict[str, PointAuth] = {}
        self.min_refresh_s = min_refresh_s
        self.refresh_wanted = False
        self._last_refresh = 0.0

    def refresh_if_wanted(self) -> int | None:
        """Re-read the points when an unknown MN was seen (at most every ``min_refresh_s``)."""
        if self.refresh_wanted and time.monotonic() - self._last_refresh >= self.min_refresh_s:
            return self.refresh()
        return None

    def refresh(self) -> int:
        factory = make_sessionmaker(self.engine)
        with session_scope(factory) as session:
            rows = session.execute(select(MonitoringPoint.mn, MonitoringPoint.id, MonitoringPoint.password_hash,
                                          MonitoringPoint.crc_variant, MonitoringPoint.active)).all()
        self.points = {mn: PointAuth(pid, pw, crc, active) for mn, pid, pw, crc, active in rows}
        self._last_refresh = time.monotonic()
        self.refresh_wanted = False
        return len(self.points)

    def lookup(self, mn: str) -> PointAuth | None:
        auth = self.points.get(mn)
        if auth is None and mn:
            self.refresh_wanted = True  # a point registered since the last refresh is picked up soon
        return auth


@dataclass
class SinkStats:
    written: int = 0
    batches: int = 0
    errors: int = 0
    last_error: str = ""
    #: records the database refused, kept as malformed packets (reason db_error)
    db_rejected: int = 0
    max_pending: int = 0
    #: batches whose write failed: their replies were withheld (the records are retried)
    failed_batches: int = 0


@dataclass
class StoreSink:
    """Buffers records and writes them in batches on the DB thread."""

    writer: BulkWriter
    executor: ThreadPoolExecutor
    batch_size: int = 5000
    flush_interval_s: float = 0.2
    high_water: int = 20_000
    on_drain: object = None  # callable() when the sink has room again
    stats: SinkStats = field(default_factory=SinkStats)

    def __post_init__(self) -> None:
        self.pending: list[IngestRecord] = []
        #: resolved when the records now pending are committed (True) or their write failed (False)
        self._future: asyncio.Future | None = None
        self.inflight = 0
        self._wake = asyncio.Event()
        self._closing = False
        self._was_congested = False

    def submit(self, record: IngestRecord) -> None:
        self.pending.append(record)
        n = len(self.pending)
        self.stats.max_pending = max(self.stats.max_pending, n)
        if n >= self.batch_size:
            self._wake.set()

    def barrier(self) -> asyncio.Future:
        """The future of the commit of every record submitted so far."""
        if self._future is None:
            self._future = asyncio.get_running_loop().create_future()
        return self._future

    @property
    def congested(self) -> bool:
        c = len(self.pending) + self.inflight >= self.high_water
        if c:
            self._was_congested = True
        return c

    @property
    def backlog(self) -> int:
        return len(self.pending) + self.inflight

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        backoff = 0.5
        while True:
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=self.flush_interval_s)
            except TimeoutError:
                pass
            self._wake.clear()
            if not self.pending:
                _resolve(self._future, True)
                self._future = None
                if self._closing:
                    return
                continue
            batch, self.pending = self.pending, []
            done, self._future = self._future, None
            self.inflight = len(batch)
            try:
                ws = await loop.run_in_executor(self.executor, self.writer.write_salvaging, batch)
            except Exception as exc:  # the database took nothing more: keep the rest, retry
                _resolve(done, False)  # no answer for a packet that may not be stored: the logger resends
                self.stats.failed_batches += 1
                remaining = exc.remaining if isinstance(exc, WriteAborted) else batch
                if isinstance(exc, WriteAborted):
                    self.stats.written += exc.stats.packets
                    self.stats.db_rejected += exc.stats.db_rejected
                self.stats.errors += 1
                self.stats.last_error = repr(getattr(exc, "cause", exc))[:500]
                log.error("writing %d records failed, will retry: %r", len(remaining), exc)
                self.pending = remaining + self.pending
                self.inflight = 0
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 10.0)
                continue
            backoff = 0.5
            self.inflight = 0
            _resolve(done, True)
            self.stats.written += ws.packets
            self.stats.db_rejected += ws.db_rejected
            if ws.db_rejected:
                self.stats.last_error = f"{ws.db_rejected} records refused by the database (kept as db_error)"
            self.stats.batches += 1
            if self._was_congested and not self.congested:
                self._was_congested = False
                if callable(self.on_drain):
                    self.on_drain()

    async def close(self) -> None:
        self._closing = True
        self._wake.set()


def _resolve(fut: asyncio.Future | None, committed: bool) -> None:
    if fut is not None and not fut.done():
        fut.set_result(committed)


@dataclass
class ServeOptions:
    receiver: ReceiverOptions = field(default_factory=ReceiverOptions)
    maintenance_interval_s: float = 60.0
    directory_refresh_s: float = 30.0
    batch_size: int = 5000
    flush_interval_s: float = 0.2
    stats_interval_s: float = 0.0  # 0: no periodic stats callback
    stop_timeout_s: float = 120.0  # how long stop() waits for the last writes


class Receiver:
    """The running receiver (server + sink + background jobs); used by the CLI, the benchmark and tests."""

    def __init__(self, settings: Settings, options: ServeOptions | None = None, *, engine: Engine | None = None,
                 on_stats=None) -> None:
        self.settings = settings
        self.options = options or ServeOptions()
        self.engine = engine or make_engine(settings.database_url)
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="emissions-db")
        self.directory = DbPointDirectory(self.engine)
        tables = read_code_tables(settings.data_dir)
        ro = self.options.receiver
        if not ro.commands:
            ro.commands = tables.commands
        if not ro.code_map:
            ro.code_map = tables.old_to_new
        self.sink = StoreSink(BulkWriter(self.engine), self.executor, batch_size=self.options.batch_size,
                              flush_interval_s=self.options.flush_interval_s)
        self.server = ReceiverServer(self.directory, self.sink, ro)
        self.sink.on_drain = self.server.resume_all
        self.on_stats = on_stats
        self._tasks: list[asyncio.Task] = []
        self.maintenance_runs = 0
        self.last_maintenance = None

    async def start(self) -> None:
        # Many short-lived objects per packet: collect the young generation less often and keep what exists
        # at start-up (imports, tables) out of every collection.
        gc.collect()
        gc.freeze()
        gc.set_threshold(50_000, 20, 100)
        loop = asyncio.get_running_loop()
        n = await loop.run_in_executor(self.executor, self.directory.refresh)
        log.info("%d monitoring points registered", n)
        await self.server.start()
        self._tasks = [asyncio.create_task(self.sink.run(), name="emissions-sink"),
                       asyncio.create_task(self._every(self.options.directory_refresh_s, self.directory.refresh)),
                       asyncio.create_task(self._every(1.0, self.directory.refresh_if_wanted))]
        if self.options.maintenance_interval_s > 0:
            self._tasks.append(asyncio.create_task(self._every(self.options.maintenance_interval_s,
                                                               self.maintenance)))
        if self.options.stats_interval_s > 0 and self.on_stats:
            self._tasks.append(asyncio.create_task(self._stats_loop()))

    async def _every(self, interval: float, fn) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(interval)
            try:
                await loop.run_in_executor(self.executor, fn)
            except Exception as exc:  # a failed periodic job is logged and retried next time
                log.error("periodic job %s failed: %r", getattr(fn, "__name__", fn), exc)

    async def _stats_loop(self) -> None:
        while True:
            await asyncio.sleep(self.options.stats_interval_s)
            self.on_stats(self)

    def maintenance(self):
        with session_scope(make_sessionmaker(self.engine)) as session:
            stats = run_maintenance(session, **maintenance_rules(self.settings.data_dir, self.settings.city_dir))
            prune(session, self.settings.emissions_retention_days)
        self.maintenance_runs += 1
        self.last_maintenance = stats
        return stats

    async def run_maintenance_now(self):
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.executor, self.maintenance)

    async def drain(self, timeout_s: float = 60.0) -> None:
        """Wait until every received record is written."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while self.sink.backlog and loop.time() < deadline:
            await asyncio.sleep(0.05)

    async def stop(self) -> None:
        await self.server.stop()
        await self.sink.close()
        sink_task = self._tasks[0] if self._tasks else None
        if sink_task is not None:
            try:
                await asyncio.wait_for(sink_task, timeout=self.options.stop_timeout_s)
            except TimeoutError:
                log.error("records still unwritten at shutdown: %d", self.sink.backlog)
        for t in self._tasks[1:]:
            t.cancel()
        for t in self._tasks[1:]:
            with contextlib.suppress(asyncio.CancelledError):
                await t
        self.executor.shutdown(wait=True)


async def serve(settings: Settings, options: ServeOptions, on_stats=None, ready=None) -> Receiver:
    """Run the receiver until SIGINT/SIGTERM; then flush and stop."""
    receiver = Receiver(settings, options, on_stats=on_stats)
    await receiver.start()
    if ready:
        ready(receiver)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop.set)
        except (NotImplementedError, RuntimeError):  # pragma: no cover - non-Unix
            pass
    await stop.wait()
    await receiver.stop()
    return receiver
