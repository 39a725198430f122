"""The planner's long work as jobs (``cleanheat.jobs``): solving a scenario and its sensitivity cases."""

from __future__ import annotations

from cleanheat.jobs.registry import Context, JobKind, JobRun, Outcome, Progress
from cleanheat.store.engine import session_scope


def _runner(kind: str):
    def run(ctx: Context, job: JobRun, progress: Progress) -> Outcome:
        from cleanheat.planner import service

        do = service.solve_scenario if kind == "planner.solve" else service.run_sensitivity
        progress(0.05, "建立模型并求解 / building the model and solving (HiGHS)")
        with session_scope(ctx.sessions) as session:
            result = do(session, job.actor, ctx.settings, int(job.params["scenario_id"]))
            result_id, status = result.id, result.status
        return Outcome({"url": f"/planner/results/{result_id}", "api_url": f"/api/planner/results/{result_id}",
                        "result_id": result_id, "status": status})
    return run


JOBS = [JobKind("planner.solve", _runner("planner.solve")),
        JobKind("planner.sensitivity", _runner("planner.sensitivity"))]
