"""Use cases of the programme ledger: reporting organisations, report submission and review, evaluation.

Every function takes a session and the acting user; writes are audited; nothing commits.
"""

from __future__ import annotations

import importlib
from collections import defaultdict
from dataclasses import asdict, dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from cleanheat.assets import heat_sources
from cleanheat.auth.roles import REPORTING_ORG_KINDS, Role
from cleanheat.auth.service import Actor, audit
from cleanheat.auth.tables import Organisation
from cleanheat.config import Settings
from cleanheat.errors import ConflictError, InputError, InputIssue, NotFoundError, PermissionDeniedError
from cleanheat.programme import indicators, prepared
from cleanheat.programme.errors import ReportConflictError, ReportImportError
from cleanheat.programme.model import AREA_TYPES, Period, PlanData, SourceVerdict
from cleanheat.programme.plan_store import get_plan_row, load_plan
from cleanheat.programme.reports_io import ParsedReport, PreviousFigures, Reporter
from cleanheat.programme.tables import Report, ReportArea, ReportTask
from cleanheat.store.base import utcnow
from cleanheat.store.paging import PAGE_SIZE, Page, contains_text, page_of

SUBMIT_ROLES = (Role.REPORTING_UNIT, Role.HEAT_COMPANY, Role.PROGRAMME_OFFICE)
REVIEW_ROLES = (Role.PROGRAMME_OFFICE,)
EVALUATION_ROLES = (Role.PROGRAMME_OFFICE, Role.REPORTING_UNIT, Role.HEAT_COMPANY, Role.ECOLOGY_BUREAU)
#: the prepared figures of this process (accepted reports, evaluations), keyed by their inputs
_FIGURES = prepared.FiguresCache()


# --- reporting organisations ----------------------------------------------------------------------------------

def reporters(session: Session, plan: PlanData) -> dict[str, Reporter]:
    """Reporting organisations keyed by code and by Chinese name (and unit name for governments)."""
    out: dict[str, Reporter] = {}
    units = {u.code: u for u in plan.units}
    for org in session.scalars(select(Organisation)
                               .where(Organisation.kind.in_([k.value for k in REPORTING_ORG_KINDS]))):
        unit = units.get(org.admin_unit_code) if org.admin_unit_code else None
        r = Reporter(org.code, org.name_zh, unit.code if unit else None, unit.area_types if unit else ())
        out[org.code] = r
        out[org.name_zh] = r
        if unit is not None:
            out[unit.name_zh] = r
            out[unit.code] = r
    return out


def reporter_for(session: Session, plan: PlanData, key: str) -> Reporter:
    r = reporters(session, plan).get(key)
    if r is None:
        raise InputError(f"unknown reporting unit {key!r}",
                         [InputIssue(f"未知的填报单位“{key}”：应为区县（市）名称或编码，或供热企业编码", field="unit")])
    return r


def visible_reporters(session: Session, actor: Actor, plan: PlanData) -> list[Reporter]:
    seen, out = set(), []
    for r in reporters(session, plan).values():
        if r.org_code in seen:
            continue
        seen.add(r.org_code)
        if actor.city_wide or actor.role == Role.ECOLOGY_BUREAU or r.org_code == actor.org_code:
            out.append(r)
    order = {u.code: i for i, u in enumerate(plan.units)}
    return sorted(out, key=lambda r: (r.admin_unit_code is None, order.get(r.admin_unit_code or "", 99), r.org_code))


def _org(session: Session, code: str) -> Organisation:
    org = session.scalar(select(Organisation).where(Organisation.code == code))
    if org is None:
        raise NotFoundError(f"organisation {code!r} not found")
    return org


# --- submission and review -------------------------------------------------------------------------------------

def submit_report(session: Session, actor: Actor, plan: PlanData, parsed: ParsedReport, *,
                  correction_reason: str | None = None, synthetic: bool = False) -> Report:
    """Store a parsed report as a new version. A second report for an accepted period is refused unless it is a
    correction (with a reason); earlier unreviewed versions are superseded; history is kept."""
    actor.require_roles(*SUBMIT_ROLES)
    org = _org(session, parsed.org_code)
    if not actor.city_wide and org.id != actor.org_id:
        raise PermissionDeniedError("a reporting unit submits only its own reports")
    plan_row = get_plan_row(session, plan.code)
    period = str(parsed.period)
    for attempt in range(SUBMIT_ATTEMPTS):
        # two uploads of one unit's period at the same moment: the one that finds its version taken reads the
        # versions again and becomes the next one (as it would have a moment later)
        report = _new_version(session, actor, plan_row.id, org.id, parsed, correction_reason, synthetic)
        try:
            with session.begin_nested():
                session.add(report)
                session.flush()
            break
        except IntegrityError as exc:
            if attempt == SUBMIT_ATTEMPTS - 1:
                raise ConflictError(f"{parsed.org_name} {period} 的其他报告正在同时提交，请刷新后重新提交 (other "
                                    "uploads of this report were saved at the same moment; reload and submit "
                                    "again)") from exc
    audit(session, actor, "submit", "programme_report", report.id,
          {"org": parsed.org_code, "period": period, "version": report.version, "file": parsed.filename,
           "sha256": parsed.sha256, "correction": bool(correction_reason)},
          summary=f"{parsed.org_name} 提交 {period} 报告（第 {report.version} 版）")
    return report


#: how often an upload whose version number was just taken by a simultaneous upload tries the next one
SUBMIT_ATTEMPTS = 3


def _new_version(session: Session, actor: Actor, plan_id: int, org_id: int, parsed: ParsedReport,
                 correction_reason: str | None, synthetic: bool) -> Report:
    """The next version of the unit's report for the period, not added yet (earlier unreviewed versions are
    marked superseded)."""
    period = str(parsed.period)
    versions = list(session.scalars(select(Report).where(Report.plan_id == plan_id, Report.org_id == org_id,
                                                         Report.period == period).order_by(Report.version)))
    accepted = [r for r in versions if r.status == "accepted"]
    if accepted and not correction_reason:
        loc = parsed.period_location
        raise ReportImportError(
            f"{parsed.org_name} {period} 的报告已被接受；如需修改请以更正方式提交 (a report for this period is already "
            "accepted; submit a correction)",
            [InputIssue(f"{period} 已有被接受的报告（第 {accepted[-1].version} 版）；请勾选“更正”并说明原因",
                        file=loc.file if loc else parsed.filename, sheet=loc.sheet if loc else None,
                        row=loc.row if loc else None, column=loc.column if loc else None, field="period")],
        )
    for r in versions:
        if r.status == "submitted":
            r.status = "superseded"
    report = Report(
        plan_id=plan_id, org_id=org_id, admin_unit_code=parsed.admin_unit_code, period=period,
        year=parsed.period.year, quarter=parsed.period.quarter,
        version=(versions[-1].version + 1) if versions else 1, status="submitted",
        is_correction=bool(correction_reason and accepted),
        supersedes_id=accepted[-1].id if accepted else (versions[-1].id if versions else None),
        submitted_by=actor.actor, source_filename=parsed.filename, source_sha256=parsed.sha256,
        synthetic=synthetic, note=correction_reason or "",
        areas=[ReportArea(area_type=at, technology=tech, heated_area_m2=a) for (at, tech), a in parsed.areas.items()],
        tasks=[ReportTask(task_code=code, value=v) for code, v in parsed.tasks.items()],
    )
    return report


def review_report(session: Session, actor: Actor, report_id: int, decision: str, comment: str = "") -> Report:
    """The office accepts a submitted report (older accepted versions become superseded) or returns it."""
    actor.require_roles(*REVIEW_ROLES)
    report = session.get(Report, report_id)
    if report is None:
        raise NotFoundError(f"report {report_id} not found")
    if report.status != "submitted":
        raise ReportConflictError(f"report {report_id} is {report.status}, not awaiting review")
    if decision not in ("accept", "return"):
        raise InputError("decision must be accept or return", [InputIssue("decision", field="decision")])
    if decision == "return" and not comment.strip():
        raise InputError("a returned report needs a comment", [InputIssue(
            "退回报告须填写审核意见，说明需要修改的内容", field="comment",
            message_en="Returning a report needs a comment saying what to change")])
    if decision == "accept":
        for older in session.scalars(select(Report).where(Report.plan_id == report.plan_id,
                                                          Report.org_id == report.org_id,
                                                          Report.period == report.period,
                                                          Report.status == "accepted")):
            older.status = "superseded"
        report.status = "accepted"
    else:
        report.status = "returned"
    report.reviewed_by, report.reviewed_at, report.review_comment = actor.actor, utcnow(), comment.strip()
    audit(session, actor, decision, "programme_report", report.id, {"comment": comment},
          summary=f"{'接受' if decision == 'accept' else '退回'} {report.period} 报告（第 {report.version} 版）")
    return report


def _scoped_reports(actor: Actor, contents: bool = True):
    """The reports the actor may see; ``contents``: with their areas and tasks loaded (lists showing only the
    reports' own columns leave them out: they would be loaded on access)."""
    q = select(Report)
    if contents:
        q = q.options(selectinload(Report.areas), selectinload(Report.tasks))
    if not actor.city_wide:
        q = q.where(Report.org_id == actor.org_id)
    return q


def list_reports(session: Session, actor: Actor, *, period: str | None = None, org_code: str | None = None,
                 status: str | None = None, limit: int = 500, contents: bool = True) -> list[Report]:
    q = _scoped_reports(actor, contents).order_by(Report.period.desc(), Report.org_id, Report.version.desc())
    if period:
        q = q.where(Report.period == period)
    if org_code:
        q = q.where(Report.org_id == _org(session, org_code).id)
    if status:
        q = q.where(Report.status == status)
    return list(session.scalars(q.limit(limit)))


@dataclass(frozen=True)
class ReportFilter:
    """Which quarterly reports a list shows: period, status, reporting unit (organisation code), submitted within
    [since, until) (UTC) and text in the unit's name or code, the submitter or the review comment."""

    period: str = ""
    status: str = ""
    org_code: str = ""
    since: datetime | None = None
    until: datetime | None = None
    text: str = ""


def search_reports(session: Session, actor: Actor, f: ReportFilter, *, page: int = 1,
                   per_page: int = PAGE_SIZE) -> Page:
    """One page of the reports matching ``f`` (newest period first, then unit and version) and the count (the
    reports' own columns: their areas and tasks load on access)."""
    q = _scoped_reports(actor, contents=False)
    for col, value in ((Report.period, f.period), (Report.status, f.status)):
        if value:
            q = q.where(col == value)
    if f.org_code:
        q = q.where(Report.org_id.in_(select(Organisation.id).where(Organisation.code == f.org_code)))
    if f.since is not None:
        q = q.where(Report.submitted_at >= f.since)
    if f.until is not None:
        q = q.where(Report.submitted_at < f.until)
    if f.text:
        units = select(Organisation.id).where(contains_text(f.text, Organisation.name_zh, Organisation.name_en,
                                                               Organisation.code))
        q = q.where(Report.org_id.in_(units) | contains_text(f.text, Report.submitted_by, Report.review_comment))
    return page_of(session, q, Report.period.desc(), Report.org_id, Report.version.desc(), page=page,
                   per_page=per_page)


def get_report(session: Session, actor: Actor, report_id: int) -> Report:
    report = session.scalar(_scoped_reports(actor).where(Report.id == report_id))
    if report is None:
        raise NotFoundError(f"report {report_id} not found")
    return report


def report_history(session: Session, actor: Actor, report: Report) -> list[Report]:
    return list(session.scalars(_scoped_reports(actor).where(Report.plan_id == report.plan_id,
                                                             Report.org_id == report.org_id,
                                                             Report.period == report.period)
                                .order_by(Report.version)))


def last_accepted(session: Session, actor: Actor, plan: PlanData, reporter: Reporter, period: Period
                  ) -> PreviousFigures | None:
    """The newest accepted report of ``reporter`` for ``period`` or an earlier quarter (what its next template
    is pre-filled with), or None."""
    actor.require_roles(*SUBMIT_ROLES)
    org = _org(session, reporter.org_code)
    if not actor.city_wide and org.id != actor.org_id:
        raise NotFoundError(f"unknown reporting unit {reporter.org_code}")
    plan_row = get_plan_row(session, plan.code)
    r = session.scalar(select(Report).where(Report.plan_id == plan_row.id, Report.org_id == org.id,
                                            Report.status == "accepted", Report.period <= str(period))
                       .options(selectinload(Report.areas), selectinload(Report.tasks))
                       .order_by(Report.period.desc(), Report.version.desc()).limit(1))
    if r is None:
        return None
    return PreviousFigures(Period.parse(r.period), r.version,
                           {(a.area_type, a.technology): a.heated_area_m2 for a in r.areas},
                           {t.task_code: t.value for t in r.tasks})


@dataclass(frozen=True)
class ComparedFigure:
    """One figure of a report under review beside the unit's previous version and previous quarter."""

    key: str
    current: float | None
    previous_version: float | None
    previous_quarter: float | None

    @staticmethod
    def _changed(a: float | None, b: float | None) -> bool:
        """Differs from a figure that exists (None: there is no such report to compare with)."""
        return b is not None and abs((a or 0.0) - b) > 1e-9 * max(1.0, abs(b))

    @property
    def changed_from_version(self) -> bool:
        return self._changed(self.current, self.previous_version)

    @property
    def changed_from_quarter(self) -> bool:
        return self._changed(self.current, self.previous_quarter)


@dataclass
class ReviewComparison:
    """What the office sees when it reviews a report: each figure beside the previous version of the same
    period (if any) and the unit's accepted report of the previous quarter (if any), the clean-heating rates the
    figures imply per area type, and the task lines in the plan's order."""

    report: Report
    previous_version: Report | None
    previous_quarter: Report | None
    area_types: list[str]
    #: area type -> rows: one per technology with a figure in any of the three, then "total", "clean"
    areas: dict[str, list[ComparedFigure]]
    #: area type -> reported clean-heating rate (clean / total area) of each of the three
    rates: dict[str, ComparedFigure]
    #: area type -> the plan's target rate for the report's year
    targets: dict[str, float | None]
    #: task lines in plan order (tasks with a value in any of the three)
    tasks: list[ComparedFigure]


def _areas_of(r: Report | None) -> dict[tuple[str, str], float] | None:
    return None if r is None else {(a.area_type, a.technology): a.heated_area_m2 for a in r.areas}


def review_comparison(session: Session, actor: Actor, plan: PlanData, report: Report) -> ReviewComparison:
    """Compare ``report`` (visible to ``actor``) with its previous version and the previous quarter's accepted
    report of the same organisation."""
    versions = [r for r in report_history(session, actor, report) if r.version < report.version]
    prev_version = versions[-1] if versions else None
    prev_period = str(Period.parse(report.period).previous())
    prev_quarter = session.scalar(_scoped_reports(actor).where(
        Report.plan_id == report.plan_id, Report.org_id == report.org_id, Report.period == prev_period,
        Report.status == "accepted").order_by(Report.version.desc()).limit(1))
    cur, pv, pq = _areas_of(report), _areas_of(prev_version), _areas_of(prev_quarter)
    clean = {t.code for t in plan.technologies if t.counts_as_clean}
    types = [t for t in AREA_TYPES if any(k[0] == t for d in (cur, pv, pq) if d for k in d)]
    areas: dict[str, list[ComparedFigure]] = {}
    rates: dict[str, ComparedFigure] = {}

    def pick(d: dict | None, key) -> float | None:
        return None if d is None else d.get(key, 0.0)

    def total(d: dict | None, at: str, only_clean: bool = False) -> float | None:
        if d is None:
            return None
        return sum(v for (t, tech), v in d.items() if t == at and (not only_clean or tech in clean))

    def rate(d: dict | None, at: str) -> float | None:
        tot = total(d, at)
        return None if not tot else total(d, at, True) / tot

    for at in types:
        rows = [ComparedFigure(t.code, pick(cur, (at, t.code)), pick(pv, (at, t.code)), pick(pq, (at, t.code)))
                for t in plan.technologies if any(d and d.get((at, t.code)) for d in (cur, pv, pq))]
        rows.append(ComparedFigure("total", total(cur, at), total(pv, at), total(pq, at)))
        rows.append(ComparedFigure("clean", total(cur, at, True), total(pv, at, True), total(pq, at, True)))
        areas[at] = rows
        rates[at] = ComparedFigure(at, rate(cur, at), rate(pv, at), rate(pq, at))
    tv = {t.task_code: t.value for t in report.tasks}
    tpv = {t.task_code: t.value for t in prev_version.tasks} if prev_version else None
    tpq = {t.task_code: t.value for t in prev_quarter.tasks} if prev_quarter else None
    tasks = [ComparedFigure(t.code, tv.get(t.code), tpv.get(t.code) if tpv is not None else None,
                            tpq.get(t.code) if tpq is not None else None)
             for t in plan.tasks if t.code in tv or (tpv and t.code in tpv) or (tpq and t.code in tpq)]
    year = Period.parse(report.period).year
    return ReviewComparison(report, prev_version, prev_quarter, types, areas, rates,
                            {at: plan.rate_target(at, year) for at in types}, tasks)


def pending_count(session: Session, actor: Actor) -> int:
    q = select(func.count()).select_from(Report).where(Report.status == "submitted")
    if not actor.city_wide:
        q = q.where(Report.org_id == actor.org_id)
    return session.scalar(q) or 0


# --- evaluation ---------------------------------------------------------------------------------------------------

def accepted_reports(session: Session, plan: PlanData) -> list[indicators.UnitFigures]:
    """Every accepted report of the programme as figures, newest version first per (org, period); read once
    per change of the reports (:mod:`cleanheat.programme.prepared`)."""
    key = ("reports", prepared.PlanKey(plan), _inputs(session))
    return list(_FIGURES.get_or_compute(key, lambda: tuple(_read_accepted_reports(session, plan))))


def _read_accepted_reports(session: Session, plan: PlanData) -> list[indicators.UnitFigures]:
    plan_row = get_plan_row(session, plan.code)
    start, end = f"{plan.start_year}Q1", f"{plan.end_year}Q4"
    chosen = (Report.plan_id == plan_row.id, Report.status == "accepted", Report.period >= start,
              Report.period <= end)
    areas: dict[int, dict[tuple[str, str], float]] = defaultdict(dict)
    for rid, at, tech, a in session.execute(select(ReportArea.report_id, ReportArea.area_type, ReportArea.technology,
                                                   ReportArea.heated_area_m2).join(Report).where(*chosen)):
        areas[rid][(at, tech)] = a
    tasks: dict[int, dict[str, float]] = defaultdict(dict)
    for rid, code, v in session.execute(select(ReportTask.report_id, ReportTask.task_code, ReportTask.value)
                                        .join(Report).where(*chosen)):
        tasks[rid][code] = v
    orgs = dict(session.execute(select(Organisation.id, Organisation.code)).all())
    rows = session.execute(select(Report.id, Report.org_id, Report.admin_unit_code, Report.period).where(*chosen)
                           .order_by(Report.org_id, Report.period.desc(), Report.version.desc()))
    return [indicators.UnitFigures(org_code=orgs[org_id], admin_unit_code=unit, report_period=Period.parse(period),
                                   report_id=rid, areas=areas.get(rid, {}), tasks=tasks.get(rid, {}))
            for rid, org_id, unit, period in rows]


def figures_at(reports: list[indicators.UnitFigures], period: Period) -> list[indicators.UnitFigures]:
    """Per reporting organisation, the newest accepted report at or before ``period`` (``reports`` as given by
    :func:`accepted_reports`, newest first per organisation)."""
    chosen: dict[str, indicators.UnitFigures] = {}
    for f in reports:
        if f.report_period <= period:
            chosen.setdefault(f.org_code, f)
    return list(chosen.values())


def counted_figures(session: Session, plan: PlanData, period: Period) -> list[indicators.UnitFigures]:
    """Per reporting organisation, the newest accepted report at or before ``period`` (within the programme)."""
    return figures_at(accepted_reports(session, plan), period)


def registry_counts(session: Session, plan: PlanData, period: Period, settings: Settings | None = None
                    ) -> dict[str, float] | None:
    """Task progress counted from the heat-source registry (None when the registry is empty; MW per t/h from
    the settings' ``conversions.yaml``)."""
    if heat_sources.registry_is_empty(session):
        return None
    rules = {t.code: dict(t.registry_rule, measure=t.measure) for t in plan.tasks if t.registry_rule}
    return heat_sources.count_for_rules(session, rules, date(plan.start_year, 1, 1), period.end_date(),
                                        heat_sources.mw_per_t_h((settings or Settings()).city_dir))


def source_verdicts(session: Session, plan: PlanData, period: Period, settings: Settings | None = None
                    ) -> list[SourceVerdict]:
    """Monitoring verdicts from the emissions area, when it is installed."""
    return verdicts_for_periods(session, plan, [period], settings)[period]


def billing_counts(session: Session, period: Period, settings: Settings) -> dict[str, float] | None:
    """Task progress counted from billing data (None without the billing area or a settled season)."""
    link = _billing_link()
    return link.task_values(session, period.end_date(), settings.city_dir) if link else None


def _area_link(area: str, module: str):
    """``cleanheat.<area>.<module>``, or None when that area is not installed (the programme never imports the
    areas that feed it; any other missing module is an error)."""
    name = f"cleanheat.{area}.{module}"
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name not in (f"cleanheat.{area}", name):
            raise
        return None


def _link():  # the emissions area's ledger link
    return _area_link("emissions", "ledger_link")


def _billing_link():  # the billing area's programme link
    return _area_link("billing", "programme_link")


def _inputs(session: Session) -> tuple:
    """The stamp of the evaluation's database inputs, read once per transaction: reports, registry, … and the
    approved billing runs when the billing area is installed."""
    memo = prepared.memo(session)
    if "inputs" not in memo:
        billing = _billing_link()
        memo["inputs"] = (*prepared.inputs_stamp(session), billing.stamp(session) if billing else None)
    return memo["inputs"]


def verdicts_for_periods(session: Session, plan: PlanData, periods: list[Period], settings: Settings | None = None
                         ) -> dict[Period, list[SourceVerdict]]:
    """Monitoring verdicts for several periods at once (a trend reads the sources and each set of windows once)."""
    link = _link()
    if link is None:
        return {p: [] for p in periods}
    return link.source_verdicts_for_periods(session, plan, periods, settings=settings)


def evidence_windows(period: Period, settings: Settings | None = None) -> list:
    """The heating days (first, last inclusive) the evidence of ``period`` covers (empty without emissions)."""
    link = _link()
    return link.period_windows([period], settings=settings)[period] if link else []


def _figures_key(session: Session, plan: PlanData, settings: Settings, periods: list[Period],
                 with_verification: bool = True) -> tuple[tuple, dict]:
    """What evaluations of ``periods`` depend on (the plan, reports, registry, rule files and, with verification,
    the monitoring inputs and each period's evidence windows at this hour), and each period's windows. The
    monitoring data are not in the key: :func:`_prepared` checks the days they were written for."""
    memo = prepared.memo(session)
    link = _link() if with_verification else None
    inputs = _inputs(session)
    key = (str(settings.city_dir), str(settings.data_dir), link is not None)
    if key not in memo:
        memo[key] = (inputs, prepared.file_stamp(settings.city_dir / "conversions.yaml"),
                     link.inputs_fingerprint(session, settings, days=False) if link else None)
    stamp = (prepared.PlanKey(plan), *memo[key])
    return stamp, (link.period_cuts(periods, settings=settings) if link else {p: None for p in periods})


def _quarterly_evaluations(session: Session, plan: PlanData, upto: Period, settings: Settings | None
                           ) -> list[tuple[Period, indicators.Evaluation]]:
    """The (unscoped) evaluation of every quarter from the programme start to ``upto``, verified against
    monitoring; the verdicts of all quarters are computed in one pass, once per change of the inputs."""
    settings = settings or Settings()
    periods, p = [], Period(plan.start_year, 1)
    while p <= upto:
        periods.append(p)
        p = p.next()
    stamp, cuts = _figures_key(session, plan, settings, periods)

    def compute() -> tuple[tuple[Period, indicators.Evaluation], ...]:
        reports = accepted_reports(session, plan)
        verdicts = verdicts_for_periods(session, plan, periods, settings)
        return tuple((p, indicators.evaluate(plan, p, figures_at(reports, p), annual=p.is_year_end,
                                             verdicts=verdicts[p])) for p in periods)

    key = ("quarters", stamp, upto, tuple(cuts[p] for p in periods))
    return list(_prepared(session, key, [cuts[p] for p in periods], compute))


def _evaluation(session: Session, plan: PlanData, period: Period, with_verification: bool, settings: Settings
                ) -> indicators.Evaluation:
    """The unscoped evaluation at ``period``, computed once per change of its inputs."""
    stamp, cuts = _figures_key(session, plan, settings, [period], with_verification)

    def compute() -> indicators.Evaluation:
        return indicators.evaluate(
            plan, period, counted_figures(session, plan, period),
            registry_counts=registry_counts(session, plan, period, settings),
            billing_counts=billing_counts(session, period, settings),
            verdicts=source_verdicts(session, plan, period, settings) if with_verification else (),
            annual=period.is_year_end,
            windows=evidence_windows(period, settings) if with_verification else (),
        )

    return _prepared(session, ("evaluation", stamp, period, cuts[period], with_verification), [cuts[period]], compute)


def _prepared(session: Session, key: tuple, cuts: list, compute):
    """The prepared value of ``key`` (computed when missing), recomputed when daily monitoring values were
    written since it was computed for a day its evidence windows (``cuts``) cover: new data of today leave the
    figures of past periods as they are, so a live feed does not make every page compute them again. (Day
    values are stamped with the time they were written: a writer's transaction that commits after a later
    one's would go unseen; the daily values have one writer at a time, the rollup.)"""
    link = _link()
    windows = [w for ws in cuts if ws for w in ws]
    if link is None or not windows:
        return _FIGURES.get_or_compute(key, lambda: (None, compute()))[1]
    first = min(lo for lo, _ in windows).date() - timedelta(days=1)  # UTC dates ± 1 day: any local day inside
    last = max(hi for _, hi in windows).date() + timedelta(days=1)
    memo = prepared.memo(session)

    def newest_day():  # read before the days written since, and before the figures
        if "newest_day" not in memo:
            memo["newest_day"] = link.newest_day_value(session)
        return memo["newest_day"]

    def fresh(entry: tuple) -> bool:
        newest = newest_day()
        if ("days", entry[0]) not in memo:
            memo[("days", entry[0])] = link.days_written_since(session, entry[0])
        changed = memo[("days", entry[0])]
        if changed is not None and changed[1] >= first and changed[0] <= last:
            return False
        if newest != entry[0]:  # checked up to the newest: the next check reads only what comes after it
            _FIGURES.put(key, (newest, entry[1]))
        return True

    def compute_entry() -> tuple:
        return newest_day(), compute()

    return _FIGURES.get_or_compute(key, compute_entry, fresh)[1]


def require_in_programme(plan: PlanData, period: Period) -> None:
    """Refuse a period outside the programme's years (before any work is done for it)."""
    if not plan.contains_period(period):
        raise InputError("period outside the programme",
                         [InputIssue(f"{period} 不在方案期 {plan.start_year}–{plan.end_year} 内", field="period")])


def evaluate(session: Session, actor: Actor, plan: PlanData, *, year: int, period: Period | None = None,
             with_verification: bool = True, settings: Settings | None = None) -> indicators.Evaluation:
    """Evaluate the programme for ``year`` at ``period`` (default: the year's Q4 = the annual evaluation).
    Units other than the actor's own are hidden from reporting units and companies."""
    actor.require_roles(*EVALUATION_ROLES)
    if period is None:
        period = Period(year, 4)
    if period.year != year:
        raise InputError("period outside year", [InputIssue(f"报告期 {period} 不在 {year} 年", field="period")])
    require_in_programme(plan, period)
    ev = _evaluation(session, plan, period, with_verification, settings or Settings())
    if not (actor.city_wide or actor.role == Role.ECOLOGY_BUREAU):
        own = actor.admin_unit_code
        own_sources = _own_source_codes(session, actor) if actor.role == Role.HEAT_COMPANY else set()
        ev = indicators.Evaluation(**{
            **ev.__dict__,
            "units": [u for u in ev.units if u.code == own],
            # Monitoring verdicts: a unit sees those of sources in its area, a company those of its own sources.
            "verification": [v for v in ev.verification
                             if (own and v.admin_unit_code == own) or v.source_code in own_sources],
            "unattributed": [a for a in ev.unattributed if own and a.admin_unit_code == own],
        })
    return ev


def supervision_list(session: Session, actor: Actor, plan: PlanData, period: Period,
                     settings: Settings | None = None) -> tuple[list[SourceVerdict], list, list]:
    """Every classified registered source with its supervision requirement, monitoring points, data capture,
    bag filter and evidence for ``period`` (scoped like the evaluation), the windows, and the rules applied
    (``data/emissions/supervision.yaml``). Empty without the emissions area."""
    actor.require_roles(*EVALUATION_ROLES)
    link = _link()
    if link is None:
        return [], [], []
    rows = verdicts_for_periods(session, plan, [period], settings)[period]
    if not (actor.city_wide or actor.role == Role.ECOLOGY_BUREAU):
        own = actor.admin_unit_code
        own_sources = _own_source_codes(session, actor) if actor.role == Role.HEAT_COMPANY else set()
        rows = [v for v in rows if (own and v.admin_unit_code == own) or v.source_code in own_sources]
    # through the ledger link (loaded only when the emissions area is installed): programme never imports emissions
    rules = list(link.read_supervision(link.supervision_path((settings or Settings()).data_dir)).rules)
    return rows, evidence_windows(period, settings), rules


def _own_source_codes(session: Session, actor: Actor) -> set[str]:
    from cleanheat.assets.tables import HeatSource

    return set(session.scalars(select(HeatSource.code).where(HeatSource.org_id == actor.org_id)))


def trend(session: Session, actor: Actor, plan: PlanData, upto: Period, settings: Settings | None = None
          ) -> list[dict]:
    """Rates by area type for every quarter from the programme start to ``upto`` (accepted reports, verified
    against monitoring like the headline figures)."""
    actor.require_roles(*EVALUATION_ROLES)
    return [{"period": str(p)} | {k: r.actual for k, r in ev.rates.items()}
            | {f"{k}_verified": r.verified for k, r in ev.rates.items()}
            | {f"{k}_target": r.target for k, r in ev.rates.items()}
            for p, ev in _quarterly_evaluations(session, plan, upto, settings)]


def unit_series(session: Session, actor: Actor, plan: PlanData, unit_code: str, upto: Period,
                settings: Settings | None = None) -> list[dict]:
    """One unit's (actual, target) rates per area type for every quarter up to ``upto`` (verified)."""
    actor.require_roles(*EVALUATION_ROLES)
    if not (actor.city_wide or actor.role == Role.ECOLOGY_BUREAU or actor.admin_unit_code == unit_code):
        raise NotFoundError(f"unknown unit {unit_code}")
    out = []
    for p, ev in _quarterly_evaluations(session, plan, upto, settings):
        u = next(x for x in ev.units if x.code == unit_code)
        out.append({"period": str(p)} | {k: (r.actual, r.target, r.verified) for k, r in u.rates.items()})
    return out


def latest_period(plan: PlanData, today: date | None = None) -> Period:
    """The newest programme quarter that has ended (the programme's last quarter after it): what the overview
    shows by default."""
    from cleanheat.timeutil import local_today

    today = today or local_today()
    p = Period(min(today.year, plan.end_year), 4)
    while p.end_date() > today and p > Period(plan.start_year, 1):
        p = p.previous()
    return p


def prepare_figures(session: Session, settings: Settings) -> Period:
    """Prepare what the landing pages of the office and the administrator show (the latest ended quarter's
    evaluation and trend), so that after a change no request waits for them. Cheap when nothing changed (the
    stamps only). Runs in the background of every web process (its figures are kept per process)."""
    plan = load_plan(session)
    period = latest_period(plan)
    actor = Actor.system("prepare")
    trend(session, actor, plan, period, settings)
    evaluate(session, actor, plan, year=period.year, period=period, settings=settings)
    return period


def evaluation_to_dict(ev: indicators.Evaluation) -> dict:
    """The JSON form of an evaluation (``rates.urban|county_fringe|rural|city`` with actual (reported), verified,
    unverified_m2, target, status, gap_m2; ``verification`` with the windows, one entry per source heating area
    reported as clean, and the reported area no registered source accounts for; docs/evidence.md)."""
    def rate(r: indicators.RateResult) -> dict:
        return {"actual": r.actual, "target": r.target, "status": r.status, "gap_m2": r.gap_m2,
                "heated_area_m2": r.heated_area_m2, "clean_area_m2": r.clean_area_m2,
                "reported_clean_area_m2": r.reported_clean_area_m2, "reclassified_m2": r.reclassified_m2,
                "verified": r.verified, "verified_clean_area_m2": r.verified_clean_area_m2,
                "unverified_m2": r.unverified_m2, "verified_status": r.verified_status,
                "verified_gap_m2": r.verified_gap_m2}

    def source(v: indicators.VerificationResult) -> dict:
        return {"code": v.source_code, "name_zh": v.name_zh, "admin_unit_code": v.admin_unit_code,
                "technology": v.technology, "area_type": v.area_type, "served_area_m2": v.served_area_m2,
                "evidence": v.evidence, "required": v.required,
                "pollutants": {k: dict(x) for k, x in v.pollutants.items()},
                "counted_clean_m2": v.counted_clean_m2, "unverified_m2": v.unverified_m2,
                "reclassified_m2": v.reclassified_m2, "points": list(v.points), "capture": v.capture,
                "bag_filter": v.bag_filter, "threshold": v.threshold, "reason": v.reason}

    return {
        "plan": ev.plan_code,
        "year": ev.year,
        "period": str(ev.period),
        "units_reporting": ev.units_reporting,
        "units_total": ev.units_total,
        "rates": {k: rate(r) for k, r in ev.rates.items()},
        "reference_city_target": ev.reference_city_target,
        "units": [{"code": u.code, "name_zh": u.name_zh,
                   "report_period": str(u.report_period) if u.report_period else None,
                   "stale": u.stale, "rates": {k: rate(r) for k, r in u.rates.items()}} for u in ev.units],
        "technologies": [asdict(t) for t in ev.technologies],
        "tasks": [asdict(t) | {"responsible": list(t.responsible)} for t in ev.tasks],
        "verification": {"windows": [{"start": a.isoformat(), "end": b.isoformat()} for a, b in ev.windows],
                         "sources": [source(v) for v in ev.verification],
                         "unattributed": [asdict(a) for a in ev.unattributed]},
    }
