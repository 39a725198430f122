"""The emissions area's background work (``cleanheat.jobs``): the maintenance round (evaluate queued hours,
missing-data alarms, raw-data retention) and, with ``CLEANHEAT_DEMO_EMISSIONS_FEED``, the demo's live HJ 212
feed (receiver and simulator) as a singleton service."""

from __future__ import annotations

from cleanheat.jobs.registry import AsyncService, Context, Periodic, Service
from cleanheat.store.engine import session_scope

#: how often queued hours are evaluated and alarms checked [s]
MAINTENANCE_INTERVAL_S = 120.0


def _maintenance(ctx: Context) -> None:
    from cleanheat.emissions.retention import prune
    from cleanheat.emissions.rollup import maintenance_rules, run_maintenance

    settings = ctx.settings
    with session_scope(ctx.sessions) as session:
        run_maintenance(session, **maintenance_rules(settings.data_dir, settings.city_dir))
        prune(session, settings.emissions_retention_days)


def _feed(ctx: Context) -> AsyncService | None:
    from cleanheat.emissions.livefeed import demo_feed

    svc = AsyncService(lambda: demo_feed(ctx.settings, ctx.engine),
                       status_of=lambda feed: {"port": feed.port, "points": feed.points} if feed else {})
    if svc.value is None:  # no demo monitoring points: nothing to run
        svc.stop()
        return None
    return svc


PERIODIC = [Periodic("emissions.maintenance", interval_s=lambda ctx: MAINTENANCE_INTERVAL_S, run=_maintenance)]
SERVICES = [Service("emissions.demo_feed", start=_feed, enabled=lambda ctx: ctx.settings.demo_emissions_feed)]
