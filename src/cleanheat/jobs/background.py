"""The jobs area's own periodic work (``cleanheat.jobs``): deleting finished jobs, and the files they made,
after ``Settings.jobs_retention_days``."""

from __future__ import annotations

import logging

from cleanheat.jobs import queue
from cleanheat.jobs.registry import Context, Periodic
from cleanheat.store.engine import session_scope

log = logging.getLogger("cleanheat.jobs.retention")

#: how often the retention round runs [s]; the retention itself is in days, an hour late is nothing
PRUNE_EVERY_S = 3600.0


def prune_jobs(ctx: Context) -> None:
    """Delete the jobs that ended more than ``jobs_retention_days`` ago (their files are in their rows)."""
    with session_scope(ctx.sessions) as session:
        n = queue.prune_finished(session, ctx.settings.jobs_retention_days)
    if n:
        log.info("worker %s: %d finished jobs older than %g days deleted", ctx.worker, n,
                 ctx.settings.jobs_retention_days)


PERIODIC = [Periodic("jobs.retention", lambda ctx: PRUNE_EVERY_S, prune_jobs,
                     enabled=lambda ctx: ctx.settings.jobs_retention_days > 0)]
