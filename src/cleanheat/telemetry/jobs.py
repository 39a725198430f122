"""Background work of the telemetry area: rollups, availability, alarms, webhooks and retention.

``run_jobs`` does one round; ``JobRunner`` repeats it in a thread. Time is either the wall clock or the data
clock (the newest reading stored), so that a demo city running faster than real time is judged by its own time.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from sqlalchemy import Engine, func, select

from cleanheat.store.engine import make_sessionmaker, session_scope
from cleanheat.telemetry.alarm_eval import point_context
from cleanheat.telemetry.alarms import AlarmRun, evaluate_alarms
from cleanheat.telemetry.availability import Transition, sweep_availability
from cleanheat.telemetry.config import TelemetryConfig
from cleanheat.telemetry.rollups import RollupStats, apply_retention, process_all_dirty
from cleanheat.telemetry.season import Season, read_season
from cleanheat.telemetry.tables import Latest
from cleanheat.telemetry.webhooks import deliver_webhooks

log = logging.getLogger("cleanheat.telemetry.jobs")


def wall_clock_ms() -> int:
    return int(time.time() * 1000)


def data_clock(engine: Engine) -> Callable[[], int | None]:
    """A clock reading the newest stored reading's time (None before the first reading)."""

    def now() -> int | None:
        with engine.connect() as conn:
            return conn.execute(select(func.max(Latest.ts_ms))).scalar()

    return now


@dataclass
class JobsResult:
    now_ms: int
    rollups: RollupStats
    transitions: list[Transition] = field(default_factory=list)
    alarms: AlarmRun | None = None
    webhooks_sent: int = 0


class Jobs:
    """One round of background work; keeps the point context and an HTTP client between rounds."""

    def __init__(self, engine: Engine, config: TelemetryConfig | None = None, *, city_dir: Path | None = None,
                 http: httpx.Client | None = None) -> None:
        self.engine = engine
        self.config = config or TelemetryConfig()
        self.sessions = make_sessionmaker(engine)
        self.season = read_season(city_dir) if city_dir and (Path(city_dir) / "climate.yaml").exists() else Season()
        self.http = http or httpx.Client(timeout=self.config.webhook_timeout_s)
        self._ctx = None
        self._ctx_at = 0.0
        self._retention_at = 0.0
        #: data time of the first round: availability alarms wait their start-up grace after it
        self.started_ms: int | None = None

    def run(self, now_ms: int) -> JobsResult:
        if self.started_ms is None:
            self.started_ms = now_ms
        rollups = process_all_dirty(self.engine, day_offset_h=self.config.day_offset_h)
        res = JobsResult(now_ms, rollups)
        # each step in its own transaction: a failure of one (logged) does not undo or skip the others
        try:
            with session_scope(self.sessions) as session:
                res.transitions = sweep_availability(session, now_ms, stale_factor=self.config.stale_factor)
            for t in res.transitions:
                log.info("device %s %s", t.device_code, t.event)
        except Exception:
            log.exception("availability sweep failed")
        try:
            with session_scope(self.sessions) as session:
                if self._ctx is None or time.monotonic() - self._ctx_at > 30:
                    self._ctx, self._ctx_at = point_context(session), time.monotonic()
                res.alarms = evaluate_alarms(session, now_ms, season=self.season, ctx=self._ctx,
                                             started_ms=self.started_ms)
        except Exception:
            log.exception("alarm evaluation failed")
        with session_scope(self.sessions) as session:
            res.webhooks_sent = deliver_webhooks(session, self.http, max_attempts=self.config.webhook_max_attempts,
                                                 retry_base_s=self.config.webhook_retry_base_s,
                                                 allow_private=self.config.webhook_allow_private)
        if time.monotonic() - self._retention_at > 3600:
            apply_retention(self.engine, self.config, now_ms)
            self._retention_at = time.monotonic()
        return res


class JobRunner:
    """Runs ``Jobs`` every ``interval_s`` in a daemon thread until stopped."""

    def __init__(self, jobs: Jobs, clock: Callable[[], int | None], interval_s: float) -> None:
        self.jobs, self.clock, self.interval_s = jobs, clock, interval_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.rounds = 0
        self.last: JobsResult | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="telemetry-jobs", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                now = self.clock()
                if now is not None:
                    self.last = self.jobs.run(now)
                    self.rounds += 1
            except Exception:
                log.exception("telemetry jobs round failed")

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
