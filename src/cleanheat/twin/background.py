"""The demo city as a singleton service (``cleanheat.jobs``): one process at a time runs the twin, which sends
the demo's stations, buildings, rooms and meters into the telemetry pipeline in real time."""

from __future__ import annotations

from cleanheat.jobs.registry import Context, Service
from cleanheat.telemetry.config import TelemetryConfig

NAME = "twin.live"


class _Running:
    def __init__(self, live) -> None:
        self.live = live

    def stop(self) -> None:
        self.live.stop()

    def status(self) -> dict:
        return {"weather_note": self.live.weather_note, "sent": self.live.sent}


def _start(ctx: Context) -> _Running | None:
    from cleanheat.twin.live import LiveCity, demo_exists

    if not demo_exists(ctx.engine):
        return None
    live = LiveCity(ctx.engine, ctx.settings, TelemetryConfig())
    live.start()
    return _Running(live)


SERVICES = [Service(NAME, start=_start, enabled=lambda ctx: TelemetryConfig().demo_live)]
