"""The demo's live HJ 212 feed: the receiver and the CEMS simulator of the demo's monitoring points, run inside
``cleanheat serve`` when ``CLEANHEAT_DEMO_EMISSIONS_FEED`` is true (``make run`` sets it), so that the emissions
pages show sources online with real-time values instead of "all offline".

Only points whose HJ 212 password follows the synthetic rule (the demo's ``0100DE...`` and the simulator's
``SIM...`` points, :func:`~cleanheat.emissions.simstacks.synthetic_password`) are simulated; without such points
nothing starts. The simulator paces in real time from now (a real-time packet and the minute data every minute,
hourly data at each hour's end, daily data at each Beijing day's end, per stack) and is started again after
a day or after an error, so the feed runs for weeks. What it stores is bounded by
``CLEANHEAT_EMISSIONS_RETENTION_DAYS`` (:mod:`retention`), which the
receiver's maintenance applies; the feed itself logs only its start, its stop and errors.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Engine

from cleanheat.config import Settings
from cleanheat.store.engine import make_sessionmaker, session_scope

log = logging.getLogger("cleanheat.emissions.livefeed")

#: simulated minutes per simulator run; then it starts again from the current time
RUN_MINUTES = 24 * 60
#: chance per hour that a simulated stack starts an exceedance episode (a demo should show one now and then)
EXCEEDANCE_RATE = 0.003
#: wait before starting the simulator again after an error [s]
RESTART_DELAY_S = 10.0
#: at most this many points are simulated
MAX_POINTS = 500
#: real-time packets per stack and minute (HJ 212 loggers often send every 30 s; one a minute halves the raw data)
RTD_PER_MINUTE = 1


@dataclass
class LiveFeed:
    receiver: object
    port: int
    points: int
    runs: int = 0


def _models(engine: Engine, data_dir: Path, city_dir: Path):
    from cleanheat.assets.heat_sources import mw_per_t_h
    from cleanheat.emissions.limits import limits_path, read_limit_table
    from cleanheat.emissions.simstacks import stack_models

    with session_scope(make_sessionmaker(engine)) as session:
        return stack_models(session, MAX_POINTS, exceedance_rate=EXCEEDANCE_RATE,
                            table=read_limit_table(limits_path(data_dir)),
                            mw_per_t_h_value=mw_per_t_h(city_dir))


async def _simulate_forever(feed: LiveFeed, models, host: str) -> None:
    from cleanheat.emissions.simulator import SimOptions, simulate

    while True:
        opts = SimOptions(host=host, port=feed.port, rate=0.0, minutes=RUN_MINUTES,
                          start=datetime.now(UTC), seed=feed.runs + 1, ack_timeout_s=5.0,
                          rtd_per_minute=RTD_PER_MINUTE)
        try:
            await simulate(models, opts)
            feed.runs += 1
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.error("demo emissions feed: simulator stopped (%r); starting again in %.0f s", exc,
                      RESTART_DELAY_S)
            await asyncio.sleep(RESTART_DELAY_S)


@asynccontextmanager
async def demo_feed(settings: Settings, engine: Engine, *, host: str = "127.0.0.1",
                    port: int | None = None) -> AsyncIterator[LiveFeed | None]:
    """Run the receiver (on ``port``, default ``settings.demo_emissions_feed_port``; 0 picks a free one) and the
    simulator of the demo's points while the block runs; yields None (and starts nothing) without such points."""
    from cleanheat.emissions.hj212.config import ReceiverConfig
    from cleanheat.emissions.hj212.server import ReceiverOptions
    from cleanheat.emissions.receiver import Receiver, ServeOptions

    models = await asyncio.to_thread(_models, engine, settings.data_dir, settings.city_dir)
    if not models:
        log.info("demo emissions feed: no demo monitoring points, nothing to simulate")
        yield None
        return
    limits = ReceiverConfig().model_dump()
    port = settings.demo_emissions_feed_port if port is None else port
    opts = ServeOptions(receiver=ReceiverOptions(host=host, port=port, **limits), maintenance_interval_s=60.0)
    receiver = Receiver(settings, opts, engine=engine)
    await receiver.start()
    feed = LiveFeed(receiver=receiver, port=receiver.server.port, points=len(models))
    log.warning("demo emissions feed: HJ 212 receiver on %s:%d, simulating %d demo monitoring points in real time",
                host, feed.port, feed.points)
    task = asyncio.create_task(_simulate_forever(feed, models, host), name="demo-emissions-simulator")
    try:
        yield feed
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await receiver.stop()
