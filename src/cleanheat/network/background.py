"""The network area's long work as jobs (``cleanheat.jobs``): the seasonal heat-loss analysis."""

from __future__ import annotations

from cleanheat.errors import InputError
from cleanheat.jobs.registry import Context, JobKind, JobRun, Outcome, Progress
from cleanheat.store.engine import session_scope


def _seasonal(ctx: Context, run: JobRun, progress: Progress) -> Outcome:
    from cleanheat.network import service

    network_id = int(run.params["network_id"])
    progress(0.02, "读取管网与气象 / reading the network and the weather")
    with session_scope(ctx.sessions) as session:
        done = service.seasonal_analysis(
            session, run.actor, ctx.settings, network_id, bin_k=float(run.params.get("bin_k", 2.0)),
            progress=lambda k, n: progress(0.05 + 0.9 * k / n, f"气象区间 weather bin {k} / {n}"))
        status, error, summary = done.status, done.error, dict(done.summary or {})
    if status != "ok":
        raise InputError(f"分析失败 / analysis failed: {error}")
    return Outcome({"url": f"/network/{network_id}#seasonal", "heat_loss_gj": summary.get("heat_loss_gj")})


JOBS = [JobKind("network.seasonal", _seasonal)]
