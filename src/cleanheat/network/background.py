"""The network area's long work as jobs (``cleanheat.jobs``): the seasonal heat-loss analysis and a renovation
scenario (two seasons of weather bins)."""

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
        run_id, status, error, summary = done.id, done.status, done.error, dict(done.summary or {})
    if status != "ok":
        raise InputError(f"分析失败 / analysis failed: {error} (run {run_id})")
    return Outcome({"url": f"/network/{network_id}#seasonal", "api_url": f"/api/network/runs/{run_id}",
                    "run_id": run_id, "heat_loss_gj": summary.get("heat_loss_gj")})


def _renovation(ctx: Context, run: JobRun, progress: Progress) -> Outcome:
    from cleanheat.network import service

    p = run.params
    network_id = int(p["network_id"])
    progress(0.02, "读取管网与气象 / reading the network and the weather")
    with session_scope(ctx.sessions) as session:
        done = service.renovation_scenario(
            session, run.actor, ctx.settings, network_id, pipe_ids=list(p.get("pipes") or []),
            worst=int(p.get("worst") or 0), supply_offset_k=float(p.get("supply_offset_k") or 0.0),
            price_yuan_per_gj=p.get("price_yuan_per_gj"), existing_insulation=str(p.get("existing_insulation") or ""),
            progress=lambda f, msg: progress(0.05 + 0.9 * f, msg))
        run_id, status, error = done.id, done.status, done.error
        saved_gj, saved_yuan = done.saved_gj, done.saved_yuan
    if status != "ok":
        raise InputError(f"分析失败 / analysis failed: {error} (run {run_id})")
    return Outcome({"url": f"/network/{network_id}#renovation", "api_url": f"/api/network/runs/{run_id}",
                    "run_id": run_id, "saved_gj": saved_gj,
                    "saved_yuan": None if saved_yuan is None else str(saved_yuan)})


JOBS = [JobKind("network.seasonal", _seasonal), JobKind("network.renovation", _renovation)]
