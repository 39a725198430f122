"""The demo city running inside the web process (``make run``): history first, then live readings.

At start it fills in the last ``demo_backfill_h`` hours (coarser sampling, quickly), then every few seconds sends
what the city reports up to now, through the same ingest pipeline as real devices. Inside the heating season the
weather of the same calendar hour is used; outside it the city runs on 15 January's weather (stated on the pages)
so that the demo is always heating. A few faults are always present so that alarms can be seen.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import replace

from sqlalchemy import Engine, select

from cleanheat.assets.tables import Network
from cleanheat.config import Settings
from cleanheat.telemetry.config import TelemetryConfig
from cleanheat.telemetry.pipeline import IngestPipeline
from cleanheat.telemetry.season import Season, read_season
from cleanheat.twin.city import make_city
from cleanheat.twin.demo import DEMO_CITY
from cleanheat.twin.sim import HOUR_MS, LOCAL_OFFSET_MS, CitySim, Fault
from cleanheat.twin.sinks import InProcessSink
from cleanheat.weather.epw import harbin_epw_path, read_epw

log = logging.getLogger("cleanheat.twin.live")
DAY_MS = 24 * HOUR_MS


def demo_faults(day_start_ms: int, prefix: str = "HB") -> list[Fault]:
    """Faults of the demo day: one building under-heated, one stuck room sensor, a morning leak, a lost link."""
    d = day_start_ms
    return [Fault("underheat", f"{prefix}-S03-B02", d - DAY_MS, None),
            Fault("stuck", f"{prefix}-S01-B02-H03-T:room_temp_c", d - DAY_MS, None),
            Fault("leak", f"{prefix}-S02", d + 9 * HOUR_MS, d + 9 * HOUR_MS + 40 * 60_000),
            Fault("lost_link", f"{prefix}-S04-B01-H02-T", d + 14 * HOUR_MS, d + 17 * HOUR_MS)]


def demo_exists(engine: Engine) -> bool:
    from sqlalchemy.orm import Session

    with Session(engine) as s:
        return s.scalar(select(Network.id).where(Network.code == f"{DEMO_CITY.prefix}-N1")) is not None


class LiveCity:
    """Runs the demo city in a background thread until ``stop()``."""

    def __init__(self, engine: Engine, settings: Settings, config: TelemetryConfig | None = None, *,
                 tick_s: float = 5.0) -> None:
        self.engine, self.settings = engine, settings
        self.config = config or TelemetryConfig()
        self.tick_s = tick_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.weather_note = ""
        self.sent = 0

    def _sim(self, now: int, config=None) -> CitySim:
        try:
            season = read_season(self.settings.city_dir)
        except OSError:
            season = Season()
        day = (now + LOCAL_OFFSET_MS) // DAY_MS * DAY_MS - LOCAL_OFFSET_MS
        weather = read_epw(harbin_epw_path(self.settings.data_dir))
        spec = make_city(config or DEMO_CITY)
        if season.heating_at(now):
            self.weather_note = ""
            return CitySim(spec, weather, anchor_ms=now, faults=demo_faults(day), season=season)
        self.weather_note = "01-15"
        return CitySim(spec, weather, anchor_ms=day, weather_start="01-15", faults=demo_faults(day), season=season)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="demo-city", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            pipeline = IngestPipeline(self.engine, self.config, worker="demo-city", source="twin")
            sink = InProcessSink(pipeline)
            now = int(time.time() * 1000)
            # history: coarse sampling, a simulated hour per step
            hist = replace(DEMO_CITY, station_interval_s=60, building_meter_interval_s=300, room_interval_s=600,
                           household_meter_interval_s=900, weather_interval_s=300)
            sim = self._sim(now, hist)
            fine_from = now - 15 * 60_000  # the last minutes at the live sampling, so values are fresh at once
            t = min(now - self.config.demo_backfill_h * HOUR_MS, fine_from)
            while t < fine_from and not self._stop.is_set():
                t1 = min(t + HOUR_MS, fine_from)
                sink.send(sim.samples(t, t1), now_ms=t1)
                t = t1
            sim = self._sim(now)
            t1 = int(time.time() * 1000)
            sink.send(sim.samples(t, t1), now_ms=t1)
            t = t1
            while not self._stop.wait(self.tick_s):
                t1 = int(time.time() * 1000)
                sink.send(sim.samples(t, t1), now_ms=t1)
                t = t1
            self.sent = sink.sent
        except Exception:
            log.exception("the demo city stopped")

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
