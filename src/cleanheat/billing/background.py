"""The billing area's long work as jobs (``cleanheat.jobs``): a billing run of a company's season (up to millions of
households: minutes), started from the billing page."""

from __future__ import annotations

from cleanheat.jobs.registry import Context, JobKind, JobRun, Outcome, Progress
from cleanheat.store.engine import session_scope

#: the run's computing stages (service.run_billing's ``progress``) and how far along each one is. The writing
#: stages after them are not reported: the job's progress is stored from another connection, which would wait
#: for the run's open write transaction on SQLite (database is locked)
STAGES = {"accounts": (0.05, "读取账户 / reading the accounts"), "rules": (0.15, "热价与规则 / tariffs and rules"),
          "reads": (0.25, "读数 / reads"), "validation": (0.35, "读数校验 / validating reads"),
          "amounts": (0.6, "计算金额 / amounts; 写入账单 / writing the statements")}


def _run(ctx: Context, run: JobRun, progress: Progress) -> Outcome:
    from cleanheat.billing import service

    p = run.params
    seen: set[str] = set()

    def stage(name: str) -> None:
        if name in STAGES and name not in seen:  # "amounts" is passed once per kind of run; report it once
            seen.add(name)
            progress(*STAGES[name])

    progress(0.02, "开始 / starting")
    with session_scope(ctx.sessions) as session:
        report = service.run_billing(session, run.actor, str(p["company"]), str(p["season"]), str(p["kind"]),
                                     city_dir=ctx.settings.city_dir, data_dir=ctx.settings.data_dir,
                                     progress=stage)
        run_id = report.run_id
    return Outcome({"url": f"/billing/runs/{run_id}", "run_id": run_id, "statements": report.statement_count,
                    "total_yuan": str(report.total_yuan)})


JOBS = [JobKind("billing.run", _run)]


def submit_run(session, actor, city_dir, company: str, season: str, kind: str):
    """Queue a billing run after the checks that need no computation (the service checks again in the job)."""
    from cleanheat.auth.roles import Role
    from cleanheat.billing import service
    from cleanheat.billing.views import RUN_KIND_LABELS, companies
    from cleanheat.errors import InputError, InputIssue
    from cleanheat.jobs import queue

    actor.require_roles(Role.HEAT_COMPANY)
    org = next((o for o in companies(session, actor) if o.code == company), None)
    issues = []
    if org is None:  # the form offers the actor's own companies only
        issues.append(InputIssue(f"没有可开账的供热企业 {company!r} / no heat company {company!r} to bill",
                                 field="company"))
    if kind not in RUN_KIND_LABELS:
        issues.append(InputIssue(f"开账类型须为预交或季末结算 / kind: prepayment | settlement, not {kind!r}",
                                 field="kind"))
    if issues:
        raise InputError("开账参数有误 / run not started", issues)
    actor.require_org(org.id)
    service.season_of(city_dir, season)  # an unknown season is refused here, not in the job
    zh, en = RUN_KIND_LABELS[kind]
    return queue.submit(session, actor, "billing.run", {"company": org.code, "season": season, "kind": kind},
                        title=f"开账 {org.code} {season} {zh}", title_en=f"Billing run {org.code} {season} {en}")
