"""Pages and API of online emissions monitoring (the ecology bureau's view; heat companies see their own).

Pages: ``/emissions`` (sources and their state), ``/emissions/points/{id}`` (hourly trends against limits),
``/emissions/events`` (exceedances and alarms), ``/emissions/report`` (monthly compliance, XLSX and PDF),
``/emissions/points`` (register monitoring points), ``/emissions/packets`` (received and malformed packets).
Authorisation is in the services (``cleanheat.emissions.service``); routes only translate.
"""

from __future__ import annotations

import logging
from datetime import date, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import BaseModel, Field

from cleanheat.assets.heat_sources import mw_per_t_h
from cleanheat.auth.roles import Role
from cleanheat.emissions import reports, service
from cleanheat.emissions.errors import REASONS
from cleanheat.emissions.hj212.codec import CHINA_TZ, DATA_FLAGS
from cleanheat.emissions.hj212.codes import read_code_tables
from cleanheat.emissions.ledger_link import source_verdicts
from cleanheat.emissions.limits import limits_path, read_limit_table
from cleanheat.emissions.processing import POLLUTANTS, read_rules
from cleanheat.emissions.rollup import point_context
from cleanheat.emissions.service import SEE_ALL_ROLES, PointInput
from cleanheat.errors import InputError, InputIssue
from cleanheat.programme.model import Period
from cleanheat.programme.plan_store import load_plan
from cleanheat.store.base import utcnow
from cleanheat.web.deps import ApiActor, AppSettings, CsrfChecked, DbSession, PageActor, flash, render
from cleanheat.web.nav import NavItem
from cleanheat.web.params import Id

log = logging.getLogger("cleanheat.emissions.web")
router = APIRouter()

NAV = [NavItem("/emissions", "排放监测", "Emissions", order=40,
               roles=frozenset({Role.ECOLOGY_BUREAU, Role.PROGRAMME_OFFICE, Role.HEAT_COMPANY}))]

POLLUTANT_LABELS = {"a34013": ("颗粒物", "PM"), "a21026": ("二氧化硫", "SO2"), "a21002": ("氮氧化物", "NOx")}
STATE_LABELS = {"normal": ("正常", "Normal"), "exceeding": ("超标", "Exceeding"), "missing": ("缺数", "Missing data"),
                "offline": ("离线", "Offline"), "inactive": ("停用", "Inactive")}
STATE_CLASS = {"normal": "met", "exceeding": "missed", "missing": "lagging", "offline": "lagging",
               "inactive": "superseded"}
def _common(actor) -> dict:
    return {"pollutants": POLLUTANTS, "plabels": POLLUTANT_LABELS, "state_labels": STATE_LABELS,
            "state_class": STATE_CLASS, "reasons": REASONS, "flags": DATA_FLAGS, "can_manage": _can_manage(actor)}


def _can_manage(actor) -> bool:
    return actor.role in (Role.ECOLOGY_BUREAU, Role.ADMIN)


def _local(t: datetime) -> str:
    return t.astimezone(CHINA_TZ).strftime("%Y-%m-%d %H:%M")


# --- pages ---------------------------------------------------------------------------------------------------

@router.get("/emissions", include_in_schema=False)
def overview(request: Request, db: DbSession, actor: PageActor, settings: AppSettings):
    statuses = service.point_statuses(db, actor, threshold=settings.compliance_threshold,
                                         rules=read_rules(settings.data_dir))
    counts = {k: sum(1 for s in statuses if s.state == k) for k in STATE_LABELS}
    month = [s.month for s in statuses if s.month is not None and s.month.share_within is not None]
    judged = sum(m.judged for m in month)
    share = sum(m.within for m in month) / judged if judged else None
    now_local = utcnow().astimezone(CHINA_TZ)
    return render(request, "emissions/index.html", _common(actor) | {
        "statuses": statuses, "counts": counts, "month_share": share, "month_label": f"{now_local:%Y-%m}",
        "threshold": settings.compliance_threshold, "can_manage": _can_manage(actor),
        "sees_all": actor.role in SEE_ALL_ROLES}, actor=actor)


#: dates a page or API query may ask for (no CEMS data before; far-future dates overflow time arithmetic)
FIRST_DAY, LAST_DAY = date(2000, 1, 1), date(2099, 12, 31)


def _check_days(**days: date | None) -> None:
    """InputError (422) naming each query field whose date is outside [FIRST_DAY, LAST_DAY]."""
    issues = [InputIssue(f"{v} is not between {FIRST_DAY} and {LAST_DAY}", field=k) for k, v in days.items()
              if v is not None and not FIRST_DAY <= v <= LAST_DAY]
    if issues:
        raise InputError(f"日期超出范围 {FIRST_DAY} … {LAST_DAY} / date out of range", issues)


@router.get("/emissions/points/{point_id}", include_in_schema=False)
def point_page(request: Request, point_id: Id, db: DbSession, actor: PageActor, settings: AppSettings,
               days: Annotated[int, Query(ge=1, le=93)] = 7, end: date | None = None):
    _check_days(end=end)
    point = service.get_point(db, actor, point_id)
    hi_local = (datetime.combine(end + timedelta(days=1), datetime.min.time(), CHINA_TZ) if end
                else (point.last_hour_ts or utcnow()).astimezone(CHINA_TZ).replace(minute=0, second=0,
                                                                                     microsecond=0)
                + timedelta(hours=1))
    hi = hi_local.astimezone(CHINA_TZ)
    lo = hi - timedelta(days=days)
    hours = service.hourly_series(db, actor, point_id, lo, hi)
    series = {p: [] for p in POLLUTANTS}
    limits = {p: None for p in POLLUTANTS}
    o2 = []
    seen_o2 = set()
    local: dict[datetime, str] = {}  # one formatting per hour, not per pollutant
    for h in hours:
        t = local.get(h.ts) or local.setdefault(h.ts, _local(h.ts))
        series[h.pollutant].append([t, None if h.conc_zs_mg_m3 is None else round(h.conc_zs_mg_m3, 2),
                                    h.valid, h.exceeded])
        if h.limit_mg_m3 is not None:
            limits[h.pollutant] = h.limit_mg_m3
        if h.o2_pct is not None and t not in seen_o2:
            seen_o2.add(t)
            o2.append([t, round(h.o2_pct, 2)])
    chart = {"series": series, "limits": limits, "o2": o2,
             "labels": {p: POLLUTANT_LABELS[p][0 if request.cookies.get("lang", "zh") != "en" else 1]
                        for p in POLLUTANTS}}
    days_rows = service.daily_values(db, actor, point_id, (lo.astimezone(CHINA_TZ)).date(),
                                     (hi - timedelta(seconds=1)).astimezone(CHINA_TZ).date())
    by_day: dict[date, dict] = {}
    for d in days_rows:
        by_day.setdefault(d.day, {})[d.pollutant] = d
    ctx = point_context(db, point, read_limit_table(limits_path(settings.data_dir)), mw_per_t_h(settings.city_dir))
    limit_set, ref_o2 = ctx.limits_on((hi - timedelta(seconds=1)).astimezone(CHINA_TZ).date())
    events = service.list_exceedances(db, actor, point_id=point_id, limit=50)
    alarms = service.list_alarms(db, actor, point_id=point_id, limit=20)
    packets = service.list_packets(db, actor, point_id=point_id, limit=20) if _can_manage(actor) else []
    return render(request, "emissions/point.html", _common(actor) | {
        "point": point, "online": service.is_online(point), "chart": chart, "days": days,
        "hours_count": len(hours),
        "by_day": sorted(by_day.items(), reverse=True), "limit_set": limit_set, "ref_o2": ref_o2,
        "events": events, "alarms": alarms, "packets": packets, "range": (_local(lo), _local(hi)),
        "factors": read_code_tables(settings.data_dir).factors, "can_manage": _can_manage(actor)}, actor=actor)


@router.get("/emissions/events", include_in_schema=False)
def events_page(request: Request, db: DbSession, actor: PageActor, open_only: bool = False,
                days: Annotated[int, Query(ge=1, le=3660)] = 30):
    since = utcnow() - timedelta(days=days)
    events = service.list_exceedances(db, actor, active_only=open_only, since=since, limit=500)
    alarms = service.list_alarms(db, actor, open_only=open_only, since=since, limit=500)
    return render(request, "emissions/events.html", _common(actor) | {
        "events": events, "alarms": alarms, "open_only": open_only, "days": days}, actor=actor)


@router.post("/emissions/events/{event_id}/ack", include_in_schema=False, dependencies=[CsrfChecked])
def ack_event_form(request: Request, event_id: Id, db: DbSession, actor: PageActor,
                   note: Annotated[str, Form()] = ""):
    service.acknowledge_exceedance(db, actor, event_id, note)
    flash(request, "ok", "已确认超标事件 / exceedance acknowledged")
    return RedirectResponse(request.headers.get("referer") or "/emissions/events", status_code=303)


@router.post("/emissions/alarms/{alarm_id}/ack", include_in_schema=False, dependencies=[CsrfChecked])
def ack_alarm_form(request: Request, alarm_id: Id, db: DbSession, actor: PageActor):
    service.acknowledge_alarm(db, actor, alarm_id)
    flash(request, "ok", "已确认报警 / alarm acknowledged")
    return RedirectResponse(request.headers.get("referer") or "/emissions/events", status_code=303)


def _month_arg(month: str | None) -> tuple[int, int]:
    if not month:
        now = utcnow().astimezone(CHINA_TZ)
        return now.year, now.month
    try:
        y, m = (int(x) for x in month.split("-"))
        return y, m
    except ValueError:
        raise InputError("月份格式应为 YYYY-MM / month must be YYYY-MM", [InputIssue(month, field="month")]) from None


@router.get("/emissions/report", include_in_schema=False)
def report_page(request: Request, db: DbSession, actor: PageActor, settings: AppSettings, month: str | None = None):
    y, m = _month_arg(month)
    rep = service.monthly_report(db, actor, y, m, threshold=settings.compliance_threshold,
                                 data_dir=settings.data_dir)
    return render(request, "emissions/report.html", _common(actor) | {"report": rep}, actor=actor)


@router.get("/emissions/report.xlsx", include_in_schema=False)
def report_xlsx(db: DbSession, actor: PageActor, settings: AppSettings, month: str | None = None):
    y, m = _month_arg(month)
    rep = service.monthly_report(db, actor, y, m, threshold=settings.compliance_threshold,
                                 data_dir=settings.data_dir)
    names = {u.code: u.name_zh for u in load_plan(db).units}
    return Response(reports.monthly_xlsx(rep, unit_names=names),
                    media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                    headers={"Content-Disposition": f'attachment; filename="emissions-{rep.label}.xlsx"'})


@router.get("/emissions/report.pdf", include_in_schema=False)
def report_pdf(db: DbSession, actor: PageActor, settings: AppSettings, month: str | None = None):
    y, m = _month_arg(month)
    rep = service.monthly_report(db, actor, y, m, threshold=settings.compliance_threshold,
                                 data_dir=settings.data_dir)
    return Response(reports.monthly_pdf(rep), media_type="application/pdf",
                    headers={"Content-Disposition": f'attachment; filename="emissions-{rep.label}.pdf"'})


@router.get("/emissions/points", include_in_schema=False)
def points_page(request: Request, db: DbSession, actor: PageActor):
    points = service.list_points(db, actor)
    sources = service.monitorable_sources(db, actor) if _can_manage(actor) else []
    return render(request, "emissions/points.html", _common(actor) | {
        "points": points, "sources": sources, "can_manage": _can_manage(actor)}, actor=actor)


@router.post("/emissions/points", include_in_schema=False, dependencies=[CsrfChecked])
def register_point_form(request: Request, db: DbSession, actor: PageActor,
                        mn: Annotated[str, Form()], password: Annotated[str, Form()],
                        source_code: Annotated[str, Form()], name_zh: Annotated[str, Form()] = "",
                        stack_no: Annotated[str, Form()] = "", crc_variant: Annotated[str, Form()] = "hj212",
                        ref_o2_pct: Annotated[str, Form()] = ""):
    try:
        ref = float(ref_o2_pct) if ref_o2_pct.strip() else None
    except ValueError:
        raise InputError("基准氧含量应为数字 / reference O2 must be a number",
                         [InputIssue(ref_o2_pct, field="ref_o2_pct")]) from None
    try:
        point = service.register_point(db, actor, PointInput(mn=mn.strip(), password=password,
                                                             source_code=source_code, name_zh=name_zh.strip(),
                                                             stack_no=stack_no.strip(), crc_variant=crc_variant,
                                                             ref_o2_pct=ref))
    except InputError as exc:
        flash(request, "error", exc.summary, [str(i) for i in exc.issues])
        return RedirectResponse("/emissions/points", status_code=303)
    flash(request, "ok", f"已登记监测点 {point.mn} / monitoring point registered")
    return RedirectResponse("/emissions/points", status_code=303)


@router.post("/emissions/points/{point_id}", include_in_schema=False, dependencies=[CsrfChecked])
def update_point_form(request: Request, point_id: Id, db: DbSession, actor: PageActor,
                      active: Annotated[str, Form()] = "", crc_variant: Annotated[str, Form()] = "",
                      password: Annotated[str, Form()] = ""):
    service.update_point(db, actor, point_id, active=active == "1", crc_variant=crc_variant or None,
                         password=password or None)
    flash(request, "ok", "已保存 / saved")
    return RedirectResponse("/emissions/points", status_code=303)


@router.get("/emissions/packets", include_in_schema=False)
def packets_page(request: Request, db: DbSession, actor: PageActor, reason: str | None = None,
                 bad: bool = True):
    packets = service.list_packets(db, actor, ok=False if bad else None, reason=reason or None, limit=300)
    counts = service.packet_counts(db, actor, utcnow() - timedelta(hours=24))
    return render(request, "emissions/packets.html", _common(actor) | {
        "packets": packets, "counts": counts, "reason": reason, "bad": bad}, actor=actor)


# --- API --------------------------------------------------------------------------------------------------------

class PointPublic(BaseModel):
    id: int
    mn: str
    name_zh: str
    stack_no: str
    source_code: str
    source_name_zh: str
    company: str
    active: bool
    state: str
    online: bool
    last_packet_at: datetime | None
    last_hour: datetime | None
    latest: dict[str, dict]
    month_share_within: float | None
    month_valid_hours: int


class PointCreate(BaseModel):
    mn: str = Field(description="HJ 212 MN of the data logger")
    password: str = Field(description="HJ 212 access password (PW)")
    source_code: str = Field(description="heat source code in the assets registry")
    name_zh: str = ""
    stack_no: str = ""
    crc_variant: str = "hj212"
    ref_o2_pct: float | None = None


class HourPublic(BaseModel):
    ts: datetime
    pollutant: str
    conc_mg_m3: float | None
    o2_pct: float | None
    conc_zs_mg_m3: float | None
    limit_mg_m3: float | None
    valid: bool
    exceeded: bool
    flag: str | None
    basis: str
    reason: str


class ExceedancePublic(BaseModel):
    id: int
    point_id: int
    mn: str
    source_code: str
    pollutant: str
    start: datetime
    end: datetime
    hours: int
    max_zs_mg_m3: float
    limit_mg_m3: float
    active: bool
    acknowledged_by: str | None
    note: str


class AckIn(BaseModel):
    note: str = ""


@router.get("/api/emissions/points", response_model=list[PointPublic], tags=["emissions"])
def api_points(db: DbSession, actor: ApiActor, settings: AppSettings):
    """Monitoring points visible to the caller with their current state."""
    out = []
    for s in service.point_statuses(db, actor, threshold=settings.compliance_threshold,
                                         rules=read_rules(settings.data_dir)):
        p = s.point
        out.append(PointPublic(
            id=p.id, mn=p.mn, name_zh=p.name_zh, stack_no=p.stack_no, source_code=p.source.code,
            source_name_zh=p.source.name_zh, company=s.company, active=p.active, state=s.state, online=s.online,
            last_packet_at=p.last_packet_at, last_hour=s.last_hour,
            latest={k: {"conc_zs_mg_m3": v.conc_zs_mg_m3, "limit_mg_m3": v.limit_mg_m3, "valid": v.valid,
                        "exceeded": v.exceeded, "flag": v.flag} for k, v in s.latest.items()},
            month_share_within=s.month.share_within if s.month else None,
            month_valid_hours=s.month.valid_hours if s.month else 0))
    return out


@router.post("/api/emissions/points", response_model=PointPublic, status_code=201, tags=["emissions"],
             dependencies=[CsrfChecked])
def api_register_point(body: PointCreate, db: DbSession, actor: ApiActor, settings: AppSettings):
    """Register a monitoring point (ecology bureau, administrators)."""
    p = service.register_point(db, actor, PointInput(**body.model_dump()))
    db.flush()
    return next(x for x in api_points(db, actor, settings) if x.id == p.id)


@router.get("/api/emissions/points/{point_id}/hours", response_model=list[HourPublic], tags=["emissions"])
def api_hours(point_id: Id, db: DbSession, actor: ApiActor, start: Annotated[datetime, Query(alias="from")],
              end: Annotated[datetime, Query(alias="to")]):
    """Evaluated hours of a point in [from, to) (ISO times; naive ones are Beijing time)."""
    _check_days(**{"from": start.date(), "to": end.date()})
    lo = start if start.tzinfo else start.replace(tzinfo=CHINA_TZ)
    hi = end if end.tzinfo else end.replace(tzinfo=CHINA_TZ)
    return [HourPublic(ts=h.ts, pollutant=h.pollutant, conc_mg_m3=h.conc_mg_m3, o2_pct=h.o2_pct,
                       conc_zs_mg_m3=h.conc_zs_mg_m3, limit_mg_m3=h.limit_mg_m3, valid=h.valid, exceeded=h.exceeded,
                       flag=h.flag, basis=h.basis, reason=h.reason)
            for h in service.hourly_series(db, actor, point_id, lo, hi)]


def _event_public(e) -> ExceedancePublic:
    return ExceedancePublic(id=e.id, point_id=e.point_id, mn=e.point.mn, source_code=e.point.source.code,
                            pollutant=e.pollutant, start=e.start_ts, end=e.end_ts, hours=e.hours,
                            max_zs_mg_m3=e.max_zs_mg_m3, limit_mg_m3=e.limit_mg_m3, active=e.active,
                            acknowledged_by=e.acknowledged_by, note=e.note)


@router.get("/api/emissions/exceedances", response_model=list[ExceedancePublic], tags=["emissions"])
def api_exceedances(db: DbSession, actor: ApiActor, active_only: bool = False, point_id: Id | None = None):
    return [_event_public(e) for e in service.list_exceedances(db, actor, active_only=active_only,
                                                               point_id=point_id)]


@router.post("/api/emissions/exceedances/{event_id}/ack", response_model=ExceedancePublic, tags=["emissions"],
             dependencies=[CsrfChecked])
def api_ack(event_id: Id, body: AckIn, db: DbSession, actor: ApiActor):
    return _event_public(service.acknowledge_exceedance(db, actor, event_id, body.note))


@router.get("/api/emissions/compliance", tags=["emissions"])
def api_compliance(db: DbSession, actor: ApiActor, settings: AppSettings, month: str | None = None):
    """Monthly compliance per visible point (share of valid hours within limits)."""
    y, m = _month_arg(month)
    rep = service.monthly_report(db, actor, y, m, threshold=settings.compliance_threshold,
                                 data_dir=settings.data_dir)
    return {"month": rep.label, "threshold": rep.threshold, "points": [
        {"point_id": r.point.id, "mn": r.point.mn, "source_code": r.point.source.code, "company": r.company,
         "valid_hours": r.summary.valid_hours, "capture": r.summary.capture,
         "share_within": r.summary.share_within, "compliant": r.summary.compliant, "reason": r.summary.reason,
         "exceedance_events": r.summary.exceedance_events,
         "pollutants": {p: {"valid_hours": s.valid_hours, "exceeded_hours": s.exceeded_hours,
                            "share_within": s.share_within, "max_zs_mg_m3": s.max_zs_mg_m3,
                            "mean_zs_mg_m3": s.mean_zs_mg_m3, "limit_mg_m3": s.limit_mg_m3}
                        for p, s in r.summary.pollutants.items()}}
        for r in rep.rows]}


@router.get("/api/emissions/verdicts", tags=["emissions"])
def api_verdicts(db: DbSession, actor: ApiActor, settings: AppSettings, period: str):
    """The monitoring verdicts the programme evaluation uses (programme office, ecology bureau)."""
    actor.require_roles(Role.PROGRAMME_OFFICE, Role.ECOLOGY_BUREAU)
    try:
        per = Period.parse(period)
    except ValueError as exc:
        raise InputError(str(exc), [InputIssue(period, field="period")]) from None
    vs = source_verdicts(db, load_plan(db), per, settings=settings)
    return [v.__dict__ for v in vs]
