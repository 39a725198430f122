"""Telemetry: the ingest API (device tokens), live pages (network, station, alarms, compliance, quarantine),
server-sent events, the resident page (/me), and the in-process background work (``lifespan``)."""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import threading
import time
from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, HTTPException, Query, Request, UploadFile, status
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import RedirectResponse, Response, StreamingResponse
from pydantic import BaseModel, Field

from cleanheat.auth.roles import Role
from cleanheat.auth.service import Actor
from cleanheat.climate import read_climate
from cleanheat.errors import ConflictError, InputError
from cleanheat.store.engine import session_scope
from cleanheat.telemetry import alarms as alarm_service
from cleanheat.telemetry import service, webhooks
from cleanheat.telemetry.config import TelemetryConfig
from cleanheat.telemetry.files import backfill_upload
from cleanheat.telemetry.pipeline import Inbound, IngestPipeline
from cleanheat.telemetry.tokens import issue_device_token, list_device_tokens, revoke_device_token
from cleanheat.telemetry.validation import REASONS
from cleanheat.timeutil import PROGRAMME_TZ
from cleanheat.web.deps import (
    ApiActor,
    AppSettings,
    CsrfChecked,
    DbSession,
    flash,
    optional_actor,
    page_actor,
    render,
    require_roles,
)
from cleanheat.web.nav import NavItem
from cleanheat.web.paging import local_day, pager
from cleanheat.web.params import EpochMs, Id, Limit, PageNo

log = logging.getLogger("cleanheat.web.telemetry")
router = APIRouter()

VIEW = (Role.HEAT_COMPANY, Role.PROGRAMME_OFFICE)
NAV = [
    NavItem("/telemetry", "监测运行", "Live network", order=300, roles=frozenset(VIEW)),
    NavItem("/telemetry/alarms", "告警", "Alarms", order=310, roles=frozenset(VIEW)),
    NavItem("/me", "我的家", "My home", order=950, roles=frozenset({Role.RESIDENT}),
            secondary=True),  # a resident's only entry; last (in "more") for an admin looking in
]

ViewPage = Annotated[Actor, Depends(require_roles(*VIEW, page=True))]
ViewApi = Annotated[Actor, Depends(require_roles(*VIEW))]
CompanyPage = Annotated[Actor, Depends(require_roles(Role.HEAT_COMPANY, page=True))]
CompanyApi = Annotated[Actor, Depends(require_roles(Role.HEAT_COMPANY))]
ResidentPage = Annotated[Actor, Depends(require_roles(Role.RESIDENT, page=True))]
ResidentApi = Annotated[Actor, Depends(require_roles(Role.RESIDENT))]

#: the largest database id (a 64-bit signed integer); larger ids in a scope are refused (422), never a 500
MAX_ID = 2**63 - 1

#: a span of time to show [h]: finite, positive, at most the 400 days of 1-minute rollups (else 422)
MAX_HOURS = 24 * 400
Hours = Annotated[float, Query(gt=0, le=MAX_HOURS, allow_inf_nan=False,
                               description=f"hours back from now, > 0 and at most {MAX_HOURS}")]

STATE_LABELS = {"active": ("未确认", "Active"), "acknowledged": ("已确认", "Acknowledged"),
                "cleared": ("已恢复", "Cleared")}
SEVERITY_LABELS = {"critical": ("紧急", "Critical"), "major": ("重要", "Major"), "minor": ("一般", "Minor")}
STATION_STATE_LABELS = {"ok": ("正常", "Normal"), "alarm": ("告警", "Alarm"), "offline": ("离线", "Offline"),
                        "no_device": ("未接入", "No device")}


def _config(request: Request) -> TelemetryConfig:
    cfg = getattr(request.app.state, "telemetry_config", None)
    if cfg is None:
        cfg = request.app.state.telemetry_config = TelemetryConfig()
    return cfg


_pipeline_lock = threading.Lock()


def _app_singleton(request: Request, name: str, make):
    """``request.app.state.<name>``, made once per app by ``make()`` (double-checked under a lock)."""
    obj = getattr(request.app.state, name, None)
    if obj is None:
        with _pipeline_lock:
            obj = getattr(request.app.state, name, None)
            if obj is None:
                obj = make()
                setattr(request.app.state, name, obj)
    return obj


def _pipeline(request: Request) -> IngestPipeline:
    """One ingest pipeline per app (the registry snapshot and validator state live in it)."""
    return _app_singleton(request, "telemetry_pipeline", lambda: IngestPipeline(
        request.app.state.engine, _config(request), worker="http", source="http"))


# --- ingest (device tokens) -----------------------------------------------------------------------------

class IngestOut(BaseModel):
    messages: int
    readings: int
    inserted: int
    duplicates: int
    quarantined: int
    quarantine_reasons: dict[str, int]


def _device_grant(request: Request, pipe: IngestPipeline):
    """The grant of the request's device token (:meth:`IngestPipeline.grant_for`); 401 without a valid one."""
    header = request.headers.get("authorization", "")
    token = header[7:].strip() if header.lower().startswith("bearer ") else ""
    grant = pipe.grant_for(token)
    if grant is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED,
                            "a valid device token is required (Authorization: Bearer chd_...)",
                            headers={"WWW-Authenticate": "Bearer"})
    return grant


async def _ingest(request: Request, settings, device: str | None) -> IngestOut:
    pipe = _pipeline(request)
    grant = await run_in_threadpool(_device_grant, request, pipe)
    body = await request.body()  # at most http_ingest_max_bytes (web.limits refuses larger bodies while reading)
    limit = _config(request).http_ingest_max_bytes
    if len(body) > limit:
        raise HTTPException(status.HTTP_413_REQUEST_ENTITY_TOO_LARGE, f"at most {limit} bytes")
    where = f"HTTP {request.url.path}"
    res = await run_in_threadpool(pipe.ingest, [Inbound(payload=body, grant=grant, device=device, location=where)])
    return IngestOut(**res.as_dict())


@router.post("/api/telemetry/ingest", response_model=IngestOut, tags=["telemetry"])
async def ingest(request: Request, settings: AppSettings):
    """Readings from a device or gateway (body: the MQTT payload format; ``Authorization: Bearer <device token>``).

    Every reading is stored (idempotent on point and timestamp: a resend counts as a duplicate) or quarantined
    with its reason; the response counts both."""
    return await _ingest(request, settings, None)


@router.post("/api/telemetry/devices/{device_code}/readings", response_model=IngestOut, tags=["telemetry"])
async def ingest_device(request: Request, settings: AppSettings, device_code: str):
    """Readings of one device (the device code need not be repeated in the body)."""
    return await _ingest(request, settings, device_code)


@router.post("/api/telemetry/backfill", response_model=IngestOut, tags=["telemetry"], dependencies=[CsrfChecked])
def backfill_api(request: Request, db: DbSession, actor: CompanyApi, file: Annotated[UploadFile, File()],
                 settings: AppSettings):
    """Backfill (CSV in UTF-8 or GBK, or Excel; columns device, point, ts, value) of the caller's own devices."""
    data = file.file.read(settings.upload_max_bytes + 1)
    if len(data) > settings.upload_max_bytes:
        raise HTTPException(status.HTTP_413_REQUEST_ENTITY_TOO_LARGE, "file too large")
    pipe = IngestPipeline(request.app.state.engine, _config(request), worker="http-backfill", source="csv")
    res = backfill_upload(db, actor, pipe, data, file.filename or "upload.csv")
    return IngestOut(**res.as_dict())


# --- JSON API (people) ------------------------------------------------------------------------------------

def _json(data: object) -> Response:
    """Large numeric payloads serialised directly (FastAPI's generic encoder walks every number)."""
    return Response(json.dumps(data, separators=(",", ":"), ensure_ascii=False), media_type="application/json")



@router.get("/api/telemetry/overview", tags=["telemetry"])
def overview_api(db: DbSession, actor: ViewApi):
    """Every visible station: state, open alarms and the controller's fresh values (expired ones are null)."""
    return _json(service.overview_json(service.overview(db, actor)))


@router.get("/api/telemetry/stations/{station_id}/latest", tags=["telemetry"])
def station_latest_api(db: DbSession, actor: ViewApi, station_id: Id):
    d = service.station_detail(db, actor, station_id)
    return {"station_id": station_id, "now_ms": d["now_ms"],
            "devices": [{"code": dev.code, "kind": dev.kind, "values": [v.as_dict() for v in d["values"][dev.id]]}
                        for dev in d["devices"]]}


@router.get("/api/telemetry/stations/{station_id}/series", tags=["telemetry"])
def station_series_api(db: DbSession, actor: ViewApi, station_id: Id, hours: Hours = 24.0, band: bool = False):
    """Trends of the station controller's points: ``[bucket_ms, mean]`` (``band``: ``[bucket_ms, mean, min, max]``)
    from the finest rollup that shows the span in at most 1,500 buckets."""
    return Response(service.station_series_json(db, actor, station_id, hours=max(hours, 0.5), band=band),
                    media_type="application/json")


@router.get("/api/telemetry/points/{point_id}/series", tags=["telemetry"])
def point_series_api(db: DbSession, actor: ApiActor, point_id: Id, start_ms: EpochMs, end_ms: EpochMs,
                     resolution: str | None = None):
    if resolution not in (None, "raw", "1m", "1h", "1d"):
        raise HTTPException(422, "resolution: raw | 1m | 1h | 1d")
    return _json(service.point_series(db, actor, point_id, start_ms, end_ms, resolution))


def _alarm_json(a) -> dict:
    return {"id": a.id, "state": a.state, "severity": a.severity, "rule_id": a.rule_id, "station_id": a.station_id,
            "building_id": a.building_id, "device_id": a.device_id, "point_id": a.point_id, "value": a.value,
            "message_zh": a.message_zh, "message_en": a.message_en, "raised_at": a.raised_at.isoformat(),
            "last_seen_at": a.last_seen_at.isoformat(), "occurrences": a.occurrences, "times_raised": a.times_raised,
            "acked_at": a.acked_at.isoformat() if a.acked_at else None, "acked_by": a.acked_by,
            "cleared_at": a.cleared_at.isoformat() if a.cleared_at else None}


@router.get("/api/telemetry/alarms", tags=["telemetry"])
def alarms_api(db: DbSession, actor: ViewApi, state: str | None = None, open_only: bool = False, limit: Limit = 200):
    return [_alarm_json(a) for a in alarm_service.list_alarms(db, actor, state=state, open_only=open_only,
                                                              limit=min(limit, 2000))]


@router.post("/api/telemetry/alarms/{alarm_id}/ack", tags=["telemetry"], dependencies=[CsrfChecked])
def ack_api(db: DbSession, actor: CompanyApi, alarm_id: Id):
    return _alarm_json(alarm_service.acknowledge(db, actor, alarm_id))


@router.get("/api/telemetry/rules", tags=["telemetry"])
def rules_api(db: DbSession, actor: ViewApi):
    return [{"id": r.id, "code": r.code, "org_id": r.org_id, "name_zh": r.name_zh, "name_en": r.name_en,
             "kind": r.kind, "params": r.params, "severity": r.severity, "enabled": r.enabled, "source": r.source,
             "valid_from": r.valid_from.isoformat() if r.valid_from else None}
            for r in alarm_service.list_rules(db, actor)]


class RuleIn(BaseModel):
    code: str = Field(min_length=1, max_length=64)
    name_zh: str = Field(min_length=1)
    name_en: str = ""
    kind: str
    params: dict
    severity: str = "major"
    source: str = ""


@router.post("/api/telemetry/rules", tags=["telemetry"], status_code=201, dependencies=[CsrfChecked])
def create_rule_api(db: DbSession, actor: CompanyApi, body: RuleIn):
    r = alarm_service.create_rule(db, actor, **body.model_dump())
    return {"id": r.id, "code": r.code}


class WebhookIn(BaseModel):
    url: str
    secret: str = ""


@router.post("/api/telemetry/webhooks", tags=["telemetry"], status_code=201, dependencies=[CsrfChecked])
def webhook_api(request: Request, db: DbSession, actor: CompanyApi, body: WebhookIn):
    hook = webhooks.add_webhook(db, actor, body.url, body.secret,
                                     allow_private=_config(request).webhook_allow_private)
    return {"id": hook.id, "url": hook.url}


@router.get("/api/telemetry/quarantine", tags=["telemetry"])
def quarantine_api(db: DbSession, actor: ViewApi, reason: str | None = None, limit: Limit = 200):
    rows = service.list_quarantine(db, actor, reason=reason, limit=min(limit, 2000))
    return {"counts": service.quarantine_counts(db, actor),
            "items": [{"id": q.id, "received_at": q.received_at.isoformat(), "source": q.source, "reason": q.reason,
                       "detail": q.detail, "location": q.location, "device_code": q.device_code,
                       "point_key": q.point_key, "ts_ms": q.ts_ms, "raw_ts": q.raw_ts, "raw_value": q.raw_value}
                      for q in rows]}


@router.get("/api/telemetry/compliance", tags=["telemetry"])
def compliance_api(db: DbSession, actor: ViewApi, settings: AppSettings, hours: Hours = 24.0):
    end = service.now_ms()
    c = service.compliance(db, actor, start_ms=end - int(hours * 3_600_000), end_ms=end,
                           limit_c=read_climate(settings.city_dir).statutory_min_room_c)
    return {"limit_c": c["limit_c"], "total": c["total"],
            "buildings": [{"code": r["building"].code, "name_zh": r["building"].name_zh, "rooms": r["rooms"],
                           "measured": r["measured"], "compliant": r["compliant"], "rate": r["rate"],
                           "hour_rate": r["hour_rate"], "mean_c": r["mean_c"], "min_c": r["min_c"]}
                          for r in c["buildings"]]}


@router.get("/api/telemetry/stats", tags=["telemetry"])
def stats_api(db: DbSession, actor: Annotated[Actor, Depends(require_roles(Role.PROGRAMME_OFFICE))]):
    return [r | {"last_at": r["last_at"].isoformat() if r["last_at"] else None}
            for r in service.ingest_stats(db, actor)]


class TokenIn(BaseModel):
    device_code: str | None = None
    org_code: str | None = None
    name: str = ""
    max_age_days: int | None = Field(None, ge=1, le=3650)


@router.post("/api/telemetry/tokens", tags=["telemetry"], status_code=201, dependencies=[CsrfChecked])
def token_api(db: DbSession, actor: CompanyApi, body: TokenIn):
    """A device (or company-wide) ingest token; the clear token is in this response only."""
    return {"token": issue_device_token(db, actor, **body.model_dump())}


@router.get("/api/telemetry/tokens", tags=["telemetry"])
def tokens_api(db: DbSession, actor: CompanyApi):
    return [{"id": t.id, "name": t.name, "prefix": t.prefix, "device_id": t.device_id, "org_id": t.org_id,
             "revoked": t.revoked, "created_at": t.created_at.isoformat(),
             "last_used_at": t.last_used_at.isoformat() if t.last_used_at else None}
            for t in list_device_tokens(db, actor)]


@router.delete("/api/telemetry/tokens/{token_id}", tags=["telemetry"], status_code=204, dependencies=[CsrfChecked])
def revoke_token_api(request: Request, db: DbSession, actor: CompanyApi, token_id: Id):
    row = revoke_device_token(db, actor, token_id)
    pipe = getattr(request.app.state, "telemetry_pipeline", None)
    if pipe is not None:
        pipe.registry.forget_token(row.token_hash)  # this process at once; others re-check the database


class RequestIn(BaseModel):
    kind: str
    message: str = Field("", max_length=2000)
    #: warmer / cooler: the room temperature wanted, within the company's band (GET /api/resident/home)
    desired_temp_c: float | None = Field(None, ge=-50, le=60)
    contact_phone: str = Field("", max_length=32)


@router.get("/api/resident/home", tags=["resident"])
def resident_api(db: DbSession, actor: ResidentApi):
    h = service.resident_home(db, actor)
    if h["household"] is None:
        return {"household": None}
    v = h["value"]
    return {"household": h["household"].code, "building": h["building"].name_zh,
            "room_temp_c": v.value if v and v.fresh else None, "ts_ms": v.ts_ms if v else None,
            "series": h["series"],
            "desired_temp_band_c": [h["band"].min_c, h["band"].max_c],
            "requests": [{"id": r.id, "kind": r.kind, "status": r.status, "message": r.message,
                          "desired_temp_c": r.desired_temp_c, "reply": r.reply,
                          "created_at": r.created_at.isoformat()} for r in h["requests"]]}


@router.post("/api/resident/requests", tags=["resident"], status_code=201, dependencies=[CsrfChecked])
def resident_request_api(db: DbSession, actor: ResidentApi, body: RequestIn):
    r = service.create_request(db, actor, body.kind, body.message, desired_temp_c=body.desired_temp_c,
                               contact_phone=body.contact_phone)
    return {"id": r.id, "kind": r.kind, "status": r.status, "desired_temp_c": r.desired_temp_c}


# --- pages -------------------------------------------------------------------------------------------------

def fmt_ms(ms: int | None, fmt: str = "%m-%d %H:%M:%S", tz: str = PROGRAMME_TZ) -> str:
    """A time in ms since the epoch, shown in the display time zone."""
    if ms is None:
        return "–"
    from datetime import UTC, datetime
    from zoneinfo import ZoneInfo

    return datetime.fromtimestamp(ms / 1000, UTC).astimezone(ZoneInfo(tz)).strftime(fmt)


#: how long a web process reuses the demo twin's weather note [s]
WEATHER_NOTE_TTL_S = 30.0


def _weather_note(request: Request) -> str:
    """The demo twin's note (it simulates 15 January outside the heating season), as the worker running it
    tells it (``cleanheat.jobs`` lease status); read at most every ``WEATHER_NOTE_TTL_S`` per process."""
    st = request.app.state
    cached = getattr(st, "weather_note", None)
    if cached is None or time.monotonic() - cached[0] > WEATHER_NOTE_TTL_S:
        with session_scope(st.sessionmaker) as session:
            cached = st.weather_note = (time.monotonic(), service.demo_weather_note(session))
    return cached[1]


def _common(request: Request) -> dict:
    tz = request.app.state.settings.display_timezone
    return {"reasons": REASONS, "fmt_ms": lambda ms, fmt="%m-%d %H:%M:%S": fmt_ms(ms, fmt, tz),
            "state_labels": STATE_LABELS, "severity_labels": SEVERITY_LABELS,
            "station_state_labels": STATION_STATE_LABELS,
            "weather_note": _weather_note(request)}


@router.get("/telemetry", include_in_schema=False)
def overview_page(request: Request, db: DbSession, actor: ViewPage):
    rows = service.overview(db, actor)
    alarms = alarm_service.list_alarms(db, actor, open_only=True, limit=10)
    power_kw = sum(v.value for r in rows for k, v in r["values"].items()
                   if k == "heat_power_kw" and v is not None and v.fresh and v.value is not None)
    return render(request, "telemetry/overview.html", _common(request) | {
        "rows": rows, "alarms": alarms, "total_power_mw": power_kw / 1000}, actor=actor)


@router.get("/telemetry/stations/{station_id}", include_in_schema=False)
def station_page(request: Request, db: DbSession, actor: ViewPage, station_id: Id, hours: Hours = 24.0):
    d = service.station_detail(db, actor, station_id)
    alarms = alarm_service.list_alarms(db, actor, station_id=station_id, limit=20)
    return render(request, "telemetry/station.html", _common(request) | d | {"alarms": alarms, "hours": hours},
                  actor=actor)


#: alarm states a list may filter by (``open``: active or acknowledged)
ALARM_STATES = ("open", "active", "acknowledged", "cleared")


@router.get("/telemetry/alarms", include_in_schema=False)
def alarms_page(request: Request, db: DbSession, actor: ViewPage, page: PageNo = 1, state: str = "",
                severity: str = "", org: str = "", since: str = "", until: str = "", q: str = ""):
    """The alarms, most recently seen first: paged, filtered (state, severity, company, days last seen) and
    searched (message or device code)."""
    tz = request.app.state.settings.display_timezone
    org_id = int(org) if org.isdigit() and len(org) <= 18 else None  # "" (all) or an organisation's id
    f = alarm_service.AlarmFilter(state=state if state in ALARM_STATES else "",
                                  severity=severity if severity in SEVERITY_LABELS else "", org_id=org_id,
                                  since=local_day(since, "since", tz), until=local_day(until, "until", tz, 1),
                                  text=q.strip()[:200])
    rows = alarm_service.search_alarms(db, actor, f, page=page)
    query = {"state": f.state, "severity": f.severity, "org": org_id, "since": since, "until": until, "q": f.text}
    ctx = _common(request) | pager(rows, query, "/telemetry/alarms", "alarm")
    return render(request, "telemetry/alarms.html", ctx | {
        "rules": {r.id: r for r in alarm_service.list_rules(db, actor)}, "state": f.state,
        # the open alarms the live feed sends (telemetry-alarms.js reloads the list when they change)
        "open_ids": ",".join(sorted(str(a.id) for a in alarm_service.list_alarms(db, actor, open_only=True,
                                                                                 limit=300))),
        "orgs": alarm_service.alarm_organisations(db, actor) if actor.city_wide else []}, actor=actor)


@router.post("/telemetry/alarms/{alarm_id}/ack", include_in_schema=False, dependencies=[CsrfChecked])
def ack_page(request: Request, db: DbSession, actor: CompanyPage, alarm_id: Id):
    a = alarm_service.acknowledge(db, actor, alarm_id)
    if request.headers.get("hx-request"):
        rules = {r.id: r for r in alarm_service.list_rules(db, actor)}
        return render(request, "telemetry/_alarm_row.html", _common(request) | {"a": a, "rules": rules}, actor=actor)
    return RedirectResponse("/telemetry/alarms", status_code=303)


@router.get("/telemetry/compliance", include_in_schema=False)
def compliance_page(request: Request, db: DbSession, actor: ViewPage, settings: AppSettings, hours: Hours = 24.0):
    end = service.now_ms()
    c = service.compliance(db, actor, start_ms=end - int(hours * 3_600_000), end_ms=end,
                           limit_c=read_climate(settings.city_dir).statutory_min_room_c)
    return render(request, "telemetry/compliance.html", _common(request) | {"c": c, "hours": hours}, actor=actor)


@router.get("/telemetry/quarantine", include_in_schema=False)
def quarantine_page(request: Request, db: DbSession, actor: ViewPage, reason: str | None = None):
    rows = service.list_quarantine(db, actor, reason=reason or None, limit=300)
    return render(request, "telemetry/quarantine.html", _common(request) | {
        "rows": rows, "counts": service.quarantine_counts(db, actor), "reason": reason}, actor=actor)


@router.get("/telemetry/requests", include_in_schema=False)
def requests_page(request: Request, db: DbSession, actor: ViewPage):
    return render(request, "telemetry/requests.html",
                  _common(request) | {"rows": service.list_requests(db, actor, open_only=False)}, actor=actor)


@router.post("/telemetry/requests/{request_id}/close", include_in_schema=False, dependencies=[CsrfChecked])
def close_request_page(request: Request, db: DbSession, actor: CompanyPage, request_id: Id,
                       reply: Annotated[str, Form(max_length=2000)] = ""):
    try:
        service.close_request(db, actor, request_id, reply)
    except (InputError, ConflictError) as exc:
        flash(request, "error", f"未办结 / not closed: {exc.summary if isinstance(exc, InputError) else exc}",
              [str(i) for i in getattr(exc, "issues", [])])
        return RedirectResponse("/telemetry/requests", status_code=303)
    flash(request, "ok", "已办结并答复居民 / closed; the resident sees your reply")
    return RedirectResponse("/telemetry/requests", status_code=303)


@router.get("/telemetry/tokens", include_in_schema=False)
def tokens_page(request: Request, db: DbSession, actor: CompanyPage):
    return render(request, "telemetry/tokens.html", {"rows": list_device_tokens(db, actor),
                                                     "new_token": request.session.pop("new_token", None)},
                  actor=actor)


@router.post("/telemetry/tokens", include_in_schema=False, dependencies=[CsrfChecked])
def tokens_issue_page(request: Request, db: DbSession, actor: CompanyPage, device_code: Annotated[str, Form()] = "",
                      name: Annotated[str, Form()] = ""):
    token = issue_device_token(db, actor, device_code=device_code.strip() or None, name=name.strip())
    request.session["new_token"] = token
    return RedirectResponse("/telemetry/tokens", status_code=303)


@router.get("/me", include_in_schema=False)
def resident_page(request: Request, db: DbSession, actor: ResidentPage):
    return render(request, "telemetry/me.html", _common(request) | service.resident_home(db, actor), actor=actor)


@router.post("/me/requests", include_in_schema=False, dependencies=[CsrfChecked])
def resident_request_page(request: Request, db: DbSession, actor: ResidentPage, kind: Annotated[str, Form()],
                          message: Annotated[str, Form(max_length=2000)] = "",
                          desired_temp_c: Annotated[str, Form(max_length=16)] = "",
                          contact_phone: Annotated[str, Form(max_length=32)] = ""):
    try:
        wanted = float(desired_temp_c) if desired_temp_c.strip() else None
    except ValueError:
        wanted = None
    try:
        service.create_request(db, actor, kind, message, desired_temp_c=wanted, contact_phone=contact_phone)
    except InputError as exc:
        flash(request, "error", f"未提交 / not submitted: {exc.summary}", [str(i) for i in exc.issues])
        return RedirectResponse("/me", status_code=303)
    except ConflictError as exc:
        flash(request, "error", f"未提交 / not submitted: {exc}")
        return RedirectResponse("/me", status_code=303)
    flash(request, "ok", {"warmer": "已提交调高温度申请 / request for a warmer home submitted",
                          "cooler": "已提交调低温度申请 / request for a cooler home submitted",
                          "fault": "已提交报修 / fault report submitted"}.get(kind, "已提交 / submitted"))
    return RedirectResponse("/me", status_code=303)


# --- live updates (server-sent events) --------------------------------------------------------------------

def _snapshot(request: Request, actor: Actor, scope: str) -> dict:
    with request.app.state.sessionmaker() as session:
        if scope == "overview":
            data = {"stations": service.overview_json(service.overview(session, actor)),
                    "open_alarms": alarm_service.count_open_alarms(session, actor)}
        elif scope.startswith("station:") and scope[8:].isdecimal() and 0 < int(scope[8:]) <= MAX_ID:
            sid = int(scope[8:])
            data = {"values": service.station_live_values(session, actor, sid),
                    "open_alarms": [_alarm_json(a) for a in alarm_service.list_alarms(
                        session, actor, station_id=sid, open_only=True, limit=50)]}
        elif scope == "alarms":
            data = {"alarms": [_alarm_json(a) for a in alarm_service.list_alarms(session, actor, open_only=True,
                                                                                  limit=300)]}
        else:
            raise HTTPException(422, "scope: overview | station:<id> | alarms")
    return data


def _stream_viewer(request: Request) -> Actor:
    """The viewer of a stream, read in a session closed at once. A stream lives for hours: a ``DbSession``
    dependency would keep its pooled connection all that time (dependencies with ``yield`` end after the
    response), and a few open tabs would exhaust the pool for everyone."""
    with session_scope(request.app.state.sessionmaker) as db:
        return require_roles(*VIEW, page=True)(page_actor(optional_actor(request, db)))


class _StreamSlots:
    """Open streams per user, at most ``TelemetryConfig.stream_max_per_user`` (a tab more gets 429)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.open: dict[int, int] = {}

    def take(self, user_id: int, limit: int) -> bool:
        with self.lock:
            if self.open.get(user_id, 0) >= limit:
                return False
            self.open[user_id] = self.open.get(user_id, 0) + 1
            return True

    def give_back(self, user_id: int) -> None:
        with self.lock:
            self.open[user_id] -= 1
            if not self.open[user_id]:
                del self.open[user_id]


def _stream_slots(request: Request) -> _StreamSlots:
    return _app_singleton(request, "telemetry_stream_slots", _StreamSlots)


@router.get("/telemetry/stream", include_in_schema=False)
async def stream(request: Request, actor: Annotated[Actor, Depends(_stream_viewer)], scope: str = "overview",
                 interval_s: Annotated[float, Query(allow_inf_nan=False)] = 2.0):
    """Server-sent events: the scope's snapshot whenever it changes (checked every ``interval_s``).

    Each read opens and closes its own database session; no connection is held between reads."""
    await run_in_threadpool(_snapshot, request, actor, scope)  # authorise and validate the scope first
    interval_s = min(max(interval_s, 0.5), 30.0)
    slots, user_id = _stream_slots(request), actor.user_id or 0
    limit = _config(request).stream_max_per_user
    if not slots.take(user_id, limit):
        raise HTTPException(status.HTTP_429_TOO_MANY_REQUESTS,
                            f"最多同时打开 {limit} 个实时页面 / at most {limit} live pages open at once")

    async def events():
        try:
            async for chunk in _events(request, actor, scope, interval_s):
                yield chunk
        finally:
            slots.give_back(user_id)

    return StreamingResponse(events(), media_type="text/event-stream",
                             headers={"cache-control": "no-cache", "x-accel-buffering": "no"})


#: how old a stream snapshot may be when another stream of the same scope and viewer kind reuses it [s]
SNAPSHOT_SHARE_S = 1.0


def _snapshot_cache(request: Request) -> dict:
    cache = getattr(request.app.state, "stream_snapshots", None)
    if cache is None:
        cache = request.app.state.stream_snapshots = {}
    return cache


def _snapshot_key(actor: Actor, scope: str) -> tuple:
    """Viewers who see the same share a snapshot: same scope, role, organisation and unit."""
    return scope, actor.role, actor.org_id, actor.admin_unit_code


def _fresh_snapshot(request: Request, actor: Actor, scope: str) -> tuple[str, str] | None:
    """The shared snapshot of the scope as (JSON body, digest) when one was read less than ``SNAPSHOT_SHARE_S``
    ago (a dictionary lookup: done on the event loop, no thread)."""
    hit = _snapshot_cache(request).get(_snapshot_key(actor, scope))
    if hit is not None and time.monotonic() - hit[0] < SNAPSHOT_SHARE_S:
        return hit[1], hit[2]
    return None


def _read_snapshot(request: Request, actor: Actor, scope: str) -> tuple[str, str]:
    """Read the scope's snapshot as (JSON body, digest) and share it with this process's other streams of viewers
    who see the same: dozens of open live pages of one company cost one set of reads and one serialisation per
    second, not one each per interval."""
    body = json.dumps(_snapshot(request, actor, scope), ensure_ascii=False, separators=(",", ":"))
    digest = hashlib.sha1(body.encode()).hexdigest()
    cache = _snapshot_cache(request)
    if len(cache) > 10_000:  # scopes x viewer kinds: bounded
        cache.clear()
    cache[_snapshot_key(actor, scope)] = (time.monotonic(), body, digest)
    return body, digest


async def _events(request: Request, actor: Actor, scope: str, interval_s: float):
    last, quiet = None, 0.0
    while not await request.is_disconnected():
        hit = _fresh_snapshot(request, actor, scope)
        body, digest = hit if hit is not None else await run_in_threadpool(_read_snapshot, request, actor, scope)
        if digest != last:
            last, quiet = digest, 0.0
            yield f"event: snapshot\ndata: {body}\n\n"
        else:
            quiet += interval_s
            if quiet >= 15:
                quiet = 0.0
                yield ": keep-alive\n\n"
        await asyncio.sleep(interval_s)
