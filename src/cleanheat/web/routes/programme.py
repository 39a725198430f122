"""Programme ledger pages and API: city overview, drill-downs, task board, reports (upload, review),
published report downloads."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from contextlib import asynccontextmanager
from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, Query, Request, UploadFile
from fastapi.responses import JSONResponse, RedirectResponse, Response
from pydantic import BaseModel, Field

from cleanheat.auth.roles import Role
from cleanheat.auth.service import Actor, org_names
from cleanheat.errors import ConflictError, InputError, InputIssue, NotFoundError, PermissionDeniedError
from cleanheat.programme import indicators, publish, service
from cleanheat.programme.model import (
    AREA_TYPE_LABELS,
    AREA_TYPES,
    Period,
    task_display_scale,
    task_display_unit,
)
from cleanheat.programme.plan_store import load_plan
from cleanheat.programme.reports_io import parse_report, write_template
from cleanheat.web.deps import AppSettings, CsrfChecked, DbSession, flash, language, render, require_roles
from cleanheat.web.i18n import BASELINE_FACT_EN, STATUS_LABELS
from cleanheat.web.job_pages import accepted, submitted
from cleanheat.web.nav import NavItem
from cleanheat.web.paging import local_day, pager
from cleanheat.web.params import Id, PageNo

router = APIRouter()
log = logging.getLogger(__name__)

VIEW_ROLES = (Role.PROGRAMME_OFFICE, Role.REPORTING_UNIT, Role.HEAT_COMPANY, Role.ECOLOGY_BUREAU)
NAV = [
    # a district's or county's own page, first in its menu (and its start page: home.HOME_BY_ROLE)
    NavItem("/programme/units/{unit}", "本区县", "My district", order=5, roles=frozenset({Role.REPORTING_UNIT})),
    NavItem("/programme/overview", "全市概览", "Overview", order=10,
            roles=frozenset({Role.PROGRAMME_OFFICE, Role.REPORTING_UNIT, Role.HEAT_COMPANY, Role.ECOLOGY_BUREAU})),
    NavItem("/programme/tasks", "任务进展", "Tasks", order=20,
            roles=frozenset({Role.PROGRAMME_OFFICE, Role.REPORTING_UNIT, Role.HEAT_COMPANY})),
    NavItem("/programme/reports", "季度报表", "Reports", order=30,
            roles=frozenset({Role.PROGRAMME_OFFICE, Role.REPORTING_UNIT, Role.HEAT_COMPANY})),
    NavItem("/programme/supervision", "监管清单", "Supervision", order=33,
            roles=frozenset({Role.PROGRAMME_OFFICE, Role.ECOLOGY_BUREAU})),
    NavItem("/programme/plan", "方案目标", "Plan & targets", order=35,
            roles=frozenset({Role.PROGRAMME_OFFICE, Role.REPORTING_UNIT, Role.HEAT_COMPANY, Role.ECOLOGY_BUREAU})),
    NavItem("/programme/publish", "评价报告", "Publications", order=40,
            roles=frozenset({Role.PROGRAMME_OFFICE, Role.REPORTING_UNIT, Role.HEAT_COMPANY, Role.ECOLOGY_BUREAU})),
]

Viewer = Annotated[Actor, Depends(require_roles(*VIEW_ROLES, page=True))]
YearQ = Annotated[int | None, Query(ge=2000, le=2100)]
QuarterQ = Annotated[int | None, Query(ge=1, le=4)]
ApiViewer = Annotated[Actor, Depends(require_roles(*VIEW_ROLES))]
Submitter = Annotated[Actor, Depends(require_roles(*service.SUBMIT_ROLES, page=True))]
ApiSubmitter = Annotated[Actor, Depends(require_roles(*service.SUBMIT_ROLES))]
Reviewer = Annotated[Actor, Depends(require_roles(*service.REVIEW_ROLES, page=True))]
ApiReviewer = Annotated[Actor, Depends(require_roles(*service.REVIEW_ROLES))]


_latest_period = service.latest_period
#: how often each web process checks whether the figures of the landing pages must be prepared again [s]
PREPARE_INTERVAL_S = 10.0


def freeze_heap() -> None:
    """Collect, then move every object alive now out of the collector's scans (``gc.freeze``): done once by a
    server process when warm, as `cleanheat serve` does (``bench/bench_pages.py`` does the same)."""
    gc.collect()
    gc.freeze()


@asynccontextmanager
async def lifespan(app):
    """Prepare the figures of the office's landing page in the background (``service.prepare_figures``): after
    a report is accepted, a registry event or new monitoring data, the next request finds them ready."""
    from cleanheat.store.engine import session_scope

    def job() -> None:
        with session_scope(app.state.sessionmaker) as session:
            service.prepare_figures(session, app.state.settings)

    async def loop() -> None:
        await asyncio.sleep(1)
        frozen = False
        while True:
            try:
                await asyncio.to_thread(job)
                if not frozen and getattr(app.state, "freeze_heap_when_warm", False):
                    # warm: what lives as long as the server process (modules, templates, the prepared figures)
                    # leaves the collector's full scans, which otherwise cost ~200 ms every few requests
                    await asyncio.to_thread(freeze_heap)
                    frozen = True
            except NotFoundError:  # no programme loaded yet
                pass
            except Exception as exc:  # logged; tried again next round
                log.warning("preparing the programme figures failed: %r", exc)
            await asyncio.sleep(PREPARE_INTERVAL_S)

    task = asyncio.create_task(loop())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def _pick_period(plan, year: int | None, quarter: int | None) -> Period:
    if year is None:
        return _latest_period(plan)
    p = Period(year, quarter or 4)
    if not plan.contains_period(p):
        raise InputError("period outside the programme",
                         [InputIssue(f"{p} 不在方案期 {plan.start_year}–{plan.end_year} 内", field="year")])
    return p


@router.get("/programme", include_in_schema=False)
def programme_root(actor: Viewer):
    return RedirectResponse("/programme/overview", status_code=303)


@router.get("/programme/overview", include_in_schema=False)
def overview(request: Request, db: DbSession, settings: AppSettings, actor: Viewer, year: YearQ = None,
             quarter: QuarterQ = None):
    plan = load_plan(db)
    period = _pick_period(plan, year, quarter)
    trend = service.trend(db, actor, plan, period, settings)  # first: the evaluation reuses its verdicts when cold
    ev = service.evaluate(db, actor, plan, year=period.year, period=period, settings=settings)
    lang_en = request.cookies.get("lang") == "en"
    keys = [*AREA_TYPES, "city"]
    techs = [t for t in ev.technologies if t.area_m2 > 0]
    chart = {
        "keys": keys, "labels": [AREA_TYPE_LABELS[k][1 if lang_en else 0] for k in keys],
        "actual": [ev.rates[k].actual for k in keys], "target": [ev.rates[k].target for k in keys], "trend": trend,
        "verified": [ev.rates[k].verified for k in keys], "t_verified": "Verified" if lang_en else "核验",
        "tech_names": [t.name_en if lang_en else t.name_zh for t in techs], "tech_areas": [t.area_m2 for t in techs],
        "t_actual": "Reported" if lang_en else "上报", "t_target": "Target" if lang_en else "目标",
        "t_wan": "10⁴ m²" if lang_en else "万m²",
    }
    ranked = sorted([u for u in ev.units if u.rates],
                    key=lambda u: -((u.rates["all"].actual or 0) - (u.rates["all"].target or 0)))
    # a district, county or company sees the city's figures and its own unit, never another unit's
    scoped = not (actor.city_wide or actor.role == Role.ECOLOGY_BUREAU)
    return render(request, "programme/overview.html", {"chart": chart, "ranked": ranked, "scoped": scoped,
        "plan": plan, "ev": ev, "period": period, "trend": trend, "labels": AREA_TYPE_LABELS,
        "area_types": AREA_TYPES, "status_labels": STATUS_LABELS, "periods": plan.periods(),
        "pending": service.pending_count(db, actor) if actor.city_wide else 0,
        "tech_names": {t.code: (t.name_zh, t.name_en) for t in plan.technologies},
    }, actor=actor)


@router.get("/programme/area/{area_type}", include_in_schema=False)
def area_page(request: Request, area_type: str, db: DbSession, settings: AppSettings, actor: Viewer,
              year: YearQ = None,
              quarter: QuarterQ = None):
    if area_type not in AREA_TYPES:
        raise NotFoundError(f"unknown area type {area_type}")
    plan = load_plan(db)
    period = _pick_period(plan, year, quarter)
    ev = service.evaluate(db, actor, plan, year=period.year, period=period, settings=settings)
    units = sorted([u for u in ev.units if area_type in u.rates], key=lambda u: -(u.rates[area_type].actual or 0))
    return render(request, "programme/area.html", {
        "plan": plan, "ev": ev, "period": period, "area_type": area_type, "labels": AREA_TYPE_LABELS,
        "units": units, "status_labels": STATUS_LABELS, "periods": plan.periods(),
    }, actor=actor)


@router.get("/programme/units/{code}", include_in_schema=False)
def unit_page(request: Request, code: str, db: DbSession, settings: AppSettings, actor: Viewer,
              year: YearQ = None,
              quarter: QuarterQ = None):
    plan = load_plan(db)
    try:
        unit = plan.unit(code)
    except KeyError as exc:
        raise NotFoundError(f"unknown unit {code}") from exc
    if not (actor.city_wide or actor.role == Role.ECOLOGY_BUREAU or actor.admin_unit_code == code):
        raise NotFoundError(f"unknown unit {code}")
    period = _pick_period(plan, year, quarter)
    series = service.unit_series(db, actor, plan, code, period, settings)
    ev = service.evaluate(db, actor, plan, year=period.year, period=period, settings=settings)
    u = next(x for x in ev.units if x.code == code)
    reports = service.list_reports(db, actor, org_code=f"gov-{code}", limit=24, contents=False) if actor.city_wide or \
        actor.admin_unit_code == code else []
    figures = next((f for f in service.counted_figures(db, plan, period) if f.admin_unit_code == code), None)
    return render(request, "programme/unit.html", {
        "plan": plan, "unit": unit, "u": u, "period": period, "series": series, "labels": AREA_TYPE_LABELS,
        "status_labels": STATUS_LABELS, "reports": reports, "figures": figures, "periods": plan.periods(),
        "verification": [v for v in ev.verification if v.admin_unit_code == code],
        "unattributed": [a for a in ev.unattributed if a.admin_unit_code == code], "windows": ev.windows,
        "ev_rows": ev.evidence_rows(code), "tech_names": {t.code: (t.name_zh, t.name_en) for t in plan.technologies},
    }, actor=actor)


@router.get("/programme/supervision", include_in_schema=False)
def supervision_page(request: Request, db: DbSession, settings: AppSettings, actor: Viewer,
                     year: YearQ = None, quarter: QuarterQ = None):
    """Supervision list: per registered source, whether it must be monitored (and by which clause), its
    monitoring points, data capture, bag filter and current evidence (docs/evidence.md)."""
    plan = load_plan(db)
    period = _pick_period(plan, year, quarter)
    rows, windows, rules = service.supervision_list(db, actor, plan, period, settings)
    return render(request, "programme/supervision.html", {
        "plan": plan, "period": period, "rows": rows, "windows": windows, "rules": rules,
        "periods": plan.periods(), "labels": AREA_TYPE_LABELS,
        "tech_names": {t.code: (t.name_zh, t.name_en) for t in plan.technologies},
    }, actor=actor)


@router.get("/programme/plan", include_in_schema=False)
def plan_page(request: Request, db: DbSession, actor: Viewer):
    """The programme as data: baseline, rate and technology targets, tasks and projects, each with its clause."""
    plan = load_plan(db)
    from cleanheat.planner import service as planner_service

    proposals = planner_service.list_proposals(db, actor)[:10]
    return render(request, "programme/plan.html",
                  {"plan": plan, "labels": AREA_TYPE_LABELS, "proposals": proposals,
                   "area_types": AREA_TYPES, "groups": {g[0]: g for g in plan.technology_groups},
                   "fact_en": BASELINE_FACT_EN,
                   "task_display_unit": lambda t: task_display_unit(t.measure, t.unit_zh),
                   "scale": lambda t: task_display_scale(t.measure)},
                  actor=actor)


@router.get("/programme/tasks", include_in_schema=False)
def tasks_page(request: Request, db: DbSession, settings: AppSettings, actor: Viewer, year: YearQ = None,
               quarter: QuarterQ = None):
    plan = load_plan(db)
    period = _pick_period(plan, year, quarter)
    ev = service.evaluate(db, actor, plan, year=period.year, period=period, settings=settings)
    return render(request, "programme/tasks.html", {
        "plan": plan, "ev": ev, "period": period, "status_labels": STATUS_LABELS, "periods": plan.periods(),
        "task_display": publish.task_display, "met_share": round((1 - indicators.ABOUT_TOLERANCE) * 100),
    }, actor=actor)


# --- reports: pages ----------------------------------------------------------------------------------------

#: report statuses a list may filter by
REPORT_STATUSES = ("submitted", "accepted", "returned", "superseded")


@router.get("/programme/reports", include_in_schema=False)
def reports_page(request: Request, db: DbSession, actor: Submitter, page: PageNo = 1, period: str = "",
                 status: str = "", unit: str = "", since: str = "", until: str = "", q: str = ""):
    """Download, upload, and the reports: paged, filtered (period, status, unit, days submitted) and searched."""
    plan = load_plan(db)
    tz = request.app.state.settings.display_timezone
    f = service.ReportFilter(period=period.strip()[:8], status=status if status in REPORT_STATUSES else "",
                             org_code=unit.strip()[:64], since=local_day(since, "since", tz),
                             until=local_day(until, "until", tz, 1), text=q.strip()[:200])
    reports = service.search_reports(db, actor, f, page=page)
    query = {"period": f.period, "status": f.status, "unit": f.org_code, "since": since, "until": until,
             "q": f.text}
    return render(request, "programme/reports.html", pager(reports, query, "/programme/reports", "reports") | {
        "plan": plan, "reports": reports.rows, "reporters": service.visible_reporters(db, actor, plan),
        "names": org_names(db, actor), "periods": plan.periods(), "default_period": str(_latest_period(plan)),
        "filter_period": f.period, "filter_status": f.status,
        "can_review": actor.role in (Role.PROGRAMME_OFFICE, Role.ADMIN),
    }, actor=actor)


@router.get("/programme/reports/template", include_in_schema=False)
def template_download(db: DbSession, actor: Submitter, unit: str, period: str):
    return _template_response(db, actor, unit, period)


@router.post("/programme/reports/upload", include_in_schema=False, dependencies=[CsrfChecked])
async def upload_report(request: Request, db: DbSession, settings: AppSettings, actor: Submitter,
                        file: Annotated[UploadFile, File()], correction: Annotated[str, Form()] = "",
                        reason: Annotated[str, Form()] = ""):
    data = await file.read(settings.upload_max_bytes + 1)
    try:
        report = _submit(db, actor, data, file.filename or "upload.xlsx", settings.upload_max_bytes,
                         reason.strip() if correction else None)
    except InputError as exc:
        db.rollback()
        flash(request, "error", f"导入失败，未导入任何数据 / import refused, nothing imported: {exc.summary}",
              [str(i) for i in exc.issues])
        return RedirectResponse("/programme/reports", status_code=303)
    except ConflictError as exc:
        db.rollback()
        flash(request, "error", f"导入失败，未导入任何数据 / import refused, nothing imported: {exc}")
        return RedirectResponse("/programme/reports", status_code=303)
    except PermissionDeniedError:
        db.rollback()
        flash(request, "error", f"导入失败，未导入任何数据：{file.filename} 是其他单位的报表，只能提交本单位的报表 / "
                                "import refused, nothing imported: the file is another unit's report; a unit "
                                "submits only its own")
        return RedirectResponse("/programme/reports", status_code=303)
    flash(request, "ok", f"已提交 {report.period} 报告（第 {report.version} 版），等待审核。 / "
                           f"Report {report.period} (version {report.version}) submitted for review.")
    return RedirectResponse(f"/programme/reports/{report.id}", status_code=303)


@router.get("/programme/reports/{report_id}", include_in_schema=False)
def report_page(request: Request, report_id: Id, db: DbSession, actor: Submitter):
    plan = load_plan(db)
    report = service.get_report(db, actor, report_id)
    history = service.report_history(db, actor, report)
    techs = {t.code: t for t in plan.technologies}
    tasks = {t.code: t for t in plan.tasks}
    from cleanheat.auth.tables import Organisation

    org = db.get(Organisation, report.org_id)
    return render(request, "programme/report_detail.html", {
        "plan": plan, "report": report, "history": history, "techs": techs, "tasks": tasks, "org": org,
        "labels": AREA_TYPE_LABELS, "area_types": AREA_TYPES,
        "cmp": service.review_comparison(db, actor, plan, report),
        "can_review": actor.role in (Role.PROGRAMME_OFFICE, Role.ADMIN) and report.status == "submitted",
    }, actor=actor)


@router.post("/programme/reports/{report_id}/review", include_in_schema=False, dependencies=[CsrfChecked])
def review_form(request: Request, report_id: Id, db: DbSession, actor: Reviewer,
                decision: Annotated[str, Form()], comment: Annotated[str, Form()] = ""):
    try:
        r = service.review_report(db, actor, report_id, decision, comment)
    except InputError as exc:
        db.rollback()
        # in the page's language, without field names: the issue's own message
        en = language(request) == "en"
        messages = [(i.message_en if en and i.message_en else i.message) for i in exc.issues] or [exc.summary]
        flash(request, "error", "；".join(messages) if not en else "; ".join(messages))
        return RedirectResponse(f"/programme/reports/{report_id}#review", status_code=303)
    flash(request, "ok", f"报告 {r.period}（第 {r.version} 版）已{'接受' if r.status == 'accepted' else '退回'}。 / "
                           f"Report {r.period} (version {r.version}) "
                           f"{'accepted' if r.status == 'accepted' else 'returned'}.")
    return RedirectResponse("/programme/reports?status=submitted", status_code=303)


@router.get("/programme/publish", include_in_schema=False)
def publish_page(request: Request, db: DbSession, actor: Viewer):
    plan = load_plan(db)
    return render(request, "programme/publish.html", {"plan": plan, "periods": plan.periods(),
                                                      "latest": str(_latest_period(plan))}, actor=actor)


@router.post("/programme/publish/jobs", include_in_schema=False, dependencies=[CsrfChecked])
def publish_job(request: Request, db: DbSession, actor: Viewer, period: Annotated[str, Form(max_length=10)],
                format: Annotated[str, Form(max_length=8)] = "pdf"):
    """PDF and Excel are made by a background worker (a job with its progress page), never in the request."""
    return submitted(request, publish.submit_publication(db, actor, period, format))


@router.get("/programme/publish/download", include_in_schema=False)
def publish_download(db: DbSession, settings: AppSettings, actor: Viewer, period: str,
                     format: str = "html"):
    """The web version of the report; PDF and Excel come from ``POST /programme/publish/jobs``."""
    return _publication(db, actor, period, format, settings, job_via="POST /programme/publish/jobs")


# --- API ---------------------------------------------------------------------------------------------------

MEDIA = publish.MEDIA
#: made by a job only (seconds to minutes of evaluation and WeasyPrint, never inside a request)
JOB_FORMATS = ("pdf", "xlsx")


def _publication(db, actor: Actor, period: str, fmt: str, settings=None, *, job_via: str) -> Response:
    """The web version (HTML) at once; PDF and Excel are refused with where to ask for them as a job."""
    publish.check_format(fmt)
    if fmt in JOB_FORMATS:
        raise InputError("made by a job", [InputIssue(
            f"{fmt.upper()} 由后台任务生成：{job_via}（period, format），再查询 /api/jobs/<id> / "
            f"{fmt.upper()} is made by a job: {job_via} (period, format), then poll /api/jobs/<id>", field="format")])
    name, content = publish.publication(db, actor, load_plan(db), period, fmt, settings)
    # The web page opens in the browser (a tab of its own); PDF and Excel are downloads.
    disposition = "inline" if fmt == "html" else "attachment"
    return Response(content, media_type=MEDIA[fmt],
                    headers={"Content-Disposition": f'{disposition}; filename="{name}"'})


def _template_response(db, actor: Actor, unit: str, period: str) -> Response:
    plan = load_plan(db)
    reporter = service.reporter_for(db, plan, unit)
    if not actor.city_wide and reporter.org_code != actor.org_code:
        raise NotFoundError(f"unknown reporting unit {unit}")
    try:
        p = Period.parse(period)
    except ValueError as exc:
        raise InputError("bad period", [InputIssue(str(exc), field="period")]) from exc
    if not plan.contains_period(p):
        raise InputError("period outside the programme", [InputIssue(f"{p} 不在方案期内", field="period")])
    content = write_template(plan, reporter, p, previous=service.last_accepted(db, actor, plan, reporter, p))
    name = f"report-{reporter.org_code}-{p}.xlsx"
    return Response(content, media_type=MEDIA["xlsx"],
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


def _submit(db, actor: Actor, data: bytes, filename: str, max_bytes: int, correction: str | None):
    if len(data) > max_bytes:
        raise InputError("file too large", [InputIssue(f"文件超过 {max_bytes // 1024 // 1024} MB", file=filename)])
    plan = load_plan(db)
    parsed = parse_report(data, filename, plan, service.reporters(db, plan))
    return service.submit_report(db, actor, plan, parsed, correction_reason=correction)


class ReportOut(BaseModel):
    id: int
    org_code: str
    admin_unit_code: str | None
    period: str
    version: int
    status: str
    is_correction: bool
    submitted_by: str
    submitted_at: str
    reviewed_by: str | None
    review_comment: str
    synthetic: bool
    areas_m2: dict[str, dict[str, float]]
    tasks: dict[str, float]


def _report_out(db, r) -> ReportOut:
    from cleanheat.auth.tables import Organisation

    org = db.get(Organisation, r.org_id)
    areas: dict[str, dict[str, float]] = {}
    for a in r.areas:
        areas.setdefault(a.area_type, {})[a.technology] = a.heated_area_m2
    return ReportOut(id=r.id, org_code=org.code, admin_unit_code=r.admin_unit_code, period=r.period, version=r.version,
                     status=r.status, is_correction=r.is_correction, submitted_by=r.submitted_by,
                     submitted_at=r.submitted_at.isoformat(), reviewed_by=r.reviewed_by,
                     review_comment=r.review_comment, synthetic=r.synthetic, areas_m2=areas,
                     tasks={t.task_code: t.value for t in r.tasks})


@router.get("/api/programme/evaluation", tags=["programme"])
def api_evaluation(db: DbSession, settings: AppSettings, actor: ApiViewer,
                   year: Annotated[int, Query(ge=2000, le=2100)], period: str | None = None):
    """The evaluation for a year (annual, Q4) or a quarter; the same JSON as `cleanheat programme evaluate`."""
    plan = load_plan(db)
    p = None
    if period:
        try:
            p = Period.parse(period)
        except ValueError as exc:
            raise InputError("bad period", [InputIssue(str(exc), field="period")]) from exc
    return service.evaluation_to_dict(service.evaluate(db, actor, plan, year=year, period=p, settings=settings))


@router.get("/api/programme/trend", tags=["programme"])
def api_trend(db: DbSession, settings: AppSettings, actor: ApiViewer, upto: str):
    plan = load_plan(db)
    try:
        p = Period.parse(upto)
    except ValueError as exc:
        raise InputError("bad period", [InputIssue(str(exc), field="upto")]) from exc
    return service.trend(db, actor, plan, p, settings)


@router.get("/api/programme/plan", tags=["programme"])
def api_plan(db: DbSession, actor: ApiViewer):
    """The programme as data: units, baseline, targets, tasks (with clauses)."""
    from dataclasses import asdict

    plan = load_plan(db)
    return asdict(plan)


@router.get("/api/programme/reports", response_model=list[ReportOut], tags=["programme"])
def api_reports(db: DbSession, actor: ApiSubmitter, period: str | None = None, status: str | None = None,
                org: str | None = Query(None, description="organisation code")):
    return [_report_out(db, r) for r in service.list_reports(db, actor, period=period, status=status, org_code=org)]


@router.get("/api/programme/reports/{report_id}", response_model=ReportOut, tags=["programme"])
def api_report(report_id: Id, db: DbSession, actor: ApiSubmitter):
    return _report_out(db, service.get_report(db, actor, report_id))


@router.post("/api/programme/reports", response_model=ReportOut, status_code=201, tags=["programme"])
async def api_upload(db: DbSession, settings: AppSettings, actor: ApiSubmitter, file: Annotated[UploadFile, File()],
                     correction_reason: Annotated[str | None, Form()] = None):
    """Upload a filled template (.xlsx) or CSV; 422 with every issue (sheet, row, column) and nothing stored."""
    data = await file.read(settings.upload_max_bytes + 1)
    report = _submit(db, actor, data, file.filename or "upload.xlsx", settings.upload_max_bytes, correction_reason)
    return _report_out(db, report)


class ReviewIn(BaseModel):
    decision: str
    comment: str = ""


@router.post("/api/programme/reports/{report_id}/review", response_model=ReportOut, tags=["programme"])
def api_review(report_id: Id, body: ReviewIn, db: DbSession, actor: ApiReviewer):
    return _report_out(db, service.review_report(db, actor, report_id, body.decision, body.comment))


@router.get("/api/programme/template", tags=["programme"])
def api_template(db: DbSession, actor: ApiSubmitter, unit: str, period: str):
    return _template_response(db, actor, unit, period)


@router.get("/api/programme/publication", tags=["programme"])
def api_publication(db: DbSession, settings: AppSettings, actor: ApiViewer, period: str,
                    format: str = "pdf"):
    """The evaluation report of ``period`` (``2020Q4``, ``2021``) as a web page (``format=html``). PDF and Excel
    are made by a job: ``POST /api/programme/publication`` (a 422 here says so)."""
    return _publication(db, actor, period, format, settings, job_via="POST /api/programme/publication")


class PublicationIn(BaseModel):
    period: str = Field(max_length=10, description="`2020Q4` (a quarter) or `2021` (the year)")
    format: str = Field(default="pdf", max_length=8, description="pdf, xlsx or html")


@router.post("/api/programme/publication", tags=["programme"], status_code=202, dependencies=[CsrfChecked],
             responses={202: {"description": "queued as a job: poll `/api/jobs/<id>` (the `Location`), then "
                                             "download its `result_url`"}})
def api_publication_job(body: PublicationIn, db: DbSession, actor: ApiViewer) -> JSONResponse:
    """Queue the evaluation report of ``period`` in ``format`` as a job (``202 Accepted``, ``Location:
    /api/jobs/<id>``); the period and format are checked now (422). When the job is done its ``result_url`` is
    the file (``/api/jobs/<id>/download``), for the caller's account only."""
    return accepted(db, publish.submit_publication(db, actor, body.period, body.format))
