"""The telemetry area's background work (``cleanheat.jobs``): one round of rollups, availability, alarms,
webhooks and retention every ``CLEANHEAT_TELEMETRY_JOBS_INTERVAL_S``, run by one worker at a time."""

from __future__ import annotations

from cleanheat.jobs.registry import Context, Periodic
from cleanheat.telemetry.config import TelemetryConfig
from cleanheat.telemetry.jobs import Jobs, wall_clock_ms

NAME = "telemetry.rounds"


def _config(ctx: Context) -> TelemetryConfig:
    cfg = ctx.state.get("telemetry.config")
    if cfg is None:
        cfg = ctx.state["telemetry.config"] = TelemetryConfig()
    return cfg


def _round(ctx: Context) -> None:
    jobs = ctx.state.get(NAME)
    if jobs is None:  # kept between rounds: the point context and the webhook client
        jobs = ctx.state[NAME] = Jobs(ctx.engine, _config(ctx), city_dir=ctx.settings.city_dir)
    jobs.run(wall_clock_ms())


PERIODIC = [Periodic(NAME, interval_s=lambda ctx: _config(ctx).jobs_interval_s, run=_round,
                     enabled=lambda ctx: _config(ctx).jobs_in_web)]
