"""The programme area's long work as jobs (``cleanheat.jobs``): the evaluation reports (PDF, Excel)."""

from __future__ import annotations

from cleanheat.jobs.registry import Context, JobKind, JobRun, Outcome, Progress
from cleanheat.store.engine import session_scope


def _publication(ctx: Context, run: JobRun, progress: Progress) -> Outcome:
    from cleanheat.programme import publish
    from cleanheat.programme.plan_store import load_plan

    fmt = str(run.params["format"])
    with session_scope(ctx.sessions) as session:
        name, content = publish.publication(session, run.actor, load_plan(session), str(run.params["period"]), fmt,
                                            ctx.settings, progress=progress)
    return Outcome({"file": name, "media_type": publish.MEDIA[fmt], "bytes": len(content)}, content)


JOBS = [JobKind("programme.publication", _publication)]
