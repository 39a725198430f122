"""Alarms: rules as data, evaluation on rollups and latest values, lifecycle, deduplication and webhooks.

Lifecycle: a rule's condition found for a subject (a point or a device) raises an alarm (``active``); while it is
not cleared the same condition only updates ``last_seen_at``/``occurrences``/``value`` (deduplication by
``dedup_key``); an operator may acknowledge it (``acknowledged``); when the condition is gone the alarm is
``cleared``. Every change queues a webhook delivery (an outbox row) for the owning company's webhooks.
Evaluation uses data time (``now_ms``), so the demo city running faster than real time raises alarms correctly.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import logging
import math
import socket
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import yaml
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from cleanheat.assets.tables import Building, Device, Household, Point
from cleanheat.auth.roles import Role
from cleanheat.auth.service import Actor, audit
from cleanheat.errors import ConflictError, InputError, InputIssue, NotFoundError
from cleanheat.store.base import utcnow
from cleanheat.telemetry.season import Season
from cleanheat.telemetry.tables import Alarm, AlarmRule, Webhook, WebhookDelivery
from cleanheat.telemetry.validation import REASONS

KINDS = ("threshold", "rate", "no_data", "delta_t", "room_min", "pressure_drop", "data_quality")
SEVERITIES = ("critical", "major", "minor")
STATES = ("active", "acknowledged", "cleared")
MIN_MS = 60_000
HOUR_MS = 3_600_000
log = logging.getLogger("cleanheat.telemetry.alarms")

# --- the parameters of each kind of rule ----------------------------------------------------------------

#: longest window or duration a rule may look back over [s] (the 1-minute rollups are kept 400 days)
MAX_WINDOW_S = 31 * 86_400
_STR, _NUM, _DUR, _STRS = "text", "number", "duration", "list of texts"
#: kind -> parameter -> (type, required)
RULE_PARAMS: dict[str, dict[str, tuple[str, bool]]] = {
    "threshold": {"point_key": (_STR, True), "limit": (_NUM, True), "op": (_STR, False),
                  "duration_s": (_DUR, False)},
    "rate": {"point_key": (_STR, True), "max_rate_per_min": (_NUM, True), "window_s": (_DUR, False)},
    "no_data": {"device_kinds": (_STRS, True), "minutes": (_NUM, False)},
    "delta_t": {"supply_key": (_STR, True), "return_key": (_STR, True), "min_k": (_NUM, True),
                "duration_s": (_DUR, False), "min_supply_c": (_NUM, False)},
    "room_min": {"point_key": (_STR, False), "limit_c": (_NUM, False), "duration_s": (_DUR, False)},
    "pressure_drop": {"point_key": (_STR, True), "drop_kpa": (_NUM, True), "window_s": (_DUR, False)},
    "data_quality": {"reasons": (_STRS, False), "window_s": (_DUR, False), "min_count": (_NUM, False)},
}


def _is_number(v: object) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def check_params(kind: str, params: object, **where) -> list[InputIssue]:
    """Problems of a rule's ``params`` for its ``kind`` (each names the field ``params.<name>``): required
    parameters present, numbers finite, durations between 1 s and 31 days, no unknown names."""
    spec = RULE_PARAMS.get(kind)
    if spec is None:
        return []
    if not isinstance(params, dict):
        return [InputIssue("params must be an object", field="params", **where)]
    issues = []
    for name in params:
        if name not in spec:
            issues.append(InputIssue(f"unknown parameter {name!r} for a {kind} rule (known: {', '.join(spec)})",
                                     field=f"params.{name}", **where))
    for name, (typ, required) in spec.items():
        fld = f"params.{name}"
        if name not in params:
            if required:
                issues.append(InputIssue(f"a {kind} rule needs {name} ({typ})", field=fld, **where))
            continue
        v = params[name]
        if typ == _STR and not (isinstance(v, str) and v.strip()):
            issues.append(InputIssue(f"{name} must be a non-empty text", field=fld, **where))
        elif typ == _STRS and not (isinstance(v, list) and v and all(isinstance(x, str) and x for x in v)):
            issues.append(InputIssue(f"{name} must be a non-empty list of texts", field=fld, **where))
        elif typ == _NUM and not _is_number(v):
            issues.append(InputIssue(f"{name} must be a finite number, not {v!r}", field=fld, **where))
        elif typ == _DUR and not (_is_number(v) and 1 <= v <= MAX_WINDOW_S):
            issues.append(InputIssue(f"{name} must be a number of seconds from 1 to {MAX_WINDOW_S}, not {v!r}",
                                     field=fld, **where))
    if kind == "threshold" and params.get("op", ">") not in (">", "<"):
        issues.append(InputIssue("op must be '>' or '<'", field="params.op", **where))
    if kind == "data_quality" and isinstance(params.get("reasons"), list):
        unknown = [r for r in params["reasons"] if r not in REASONS]
        if unknown:
            issues.append(InputIssue(f"unknown quarantine reason(s) {unknown} (known: {', '.join(REASONS)})",
                                     field="params.reasons", **where))
    if kind == "no_data" and _is_number(params.get("minutes", 10)) and not 1 <= params.get("minutes", 10) <= MAX_WINDOW_S // 60:
        issues.append(InputIssue(f"minutes must be from 1 to {MAX_WINDOW_S // 60}", field="params.minutes", **where))
    return issues


def rules_path(data_dir: Path) -> Path:
    return Path(data_dir) / "telemetry" / "alarm_rules.yaml"


def load_default_rules(session: Session, actor: Actor, data_dir: Path) -> int:
    """Create or update the installation's default rules from data/telemetry/alarm_rules.yaml."""
    path = rules_path(data_dir)
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    issues = []
    for i, r in enumerate(doc.get("rules", [])):
        if r.get("kind") not in KINDS:
            issues.append(InputIssue(f"unknown kind {r.get('kind')!r}", file=str(path), row=i + 1, field="kind"))
        if r.get("severity", "major") not in SEVERITIES:
            issues.append(InputIssue("bad severity", file=str(path), row=i + 1, field="severity"))
        issues += check_params(r.get("kind"), r.get("params", {}), file=str(path), row=i + 1)
    if issues:
        raise InputError(f"{path}: bad alarm rules", issues)
    n = 0
    for r in doc.get("rules", []):
        row = session.scalar(select(AlarmRule).where(AlarmRule.code == r["code"]))
        values = {"name_zh": r["name_zh"], "name_en": r.get("name_en", ""), "kind": r["kind"],
                  "params": r.get("params", {}), "severity": r.get("severity", "major"),
                  "source": r.get("source", ""), "valid_from": _date(r.get("valid_from")),
                  "valid_to": _date(r.get("valid_to"))}
        if row is None:
            session.add(AlarmRule(code=r["code"], org_id=None, enabled=True, **values))
            n += 1
        elif any(getattr(row, k) != v for k, v in values.items()):
            for k, v in values.items():
                setattr(row, k, v)
            n += 1
    if n:
        session.flush()
        audit(session, actor, "load", "alarm_rules", str(path.name), {"changed": n})
    return n


def _date(v) -> date | None:
    if v is None or isinstance(v, date):
        return v
    return date.fromisoformat(str(v))


# --- context of points (which station, building, household) ---------------------------------------------

@dataclass(frozen=True)
class PointCtx:
    point_id: int
    key: str
    name_zh: str
    org_id: int
    device_id: int
    device_code: str
    device_kind: str
    station_id: int | None
    building_id: int | None
    interval_s: int


def point_context(session: Session) -> dict[int, PointCtx]:
    b_station = dict(session.execute(select(Building.id, Building.station_id)).all())
    h_building = dict(session.execute(select(Household.id, Household.building_id)).all())
    out = {}
    rows = session.execute(select(Point.id, Point.key, Point.name_zh, Point.org_id, Point.sampling_interval_s,
                                  Device.id, Device.code, Device.kind, Device.station_id, Device.building_id,
                                  Device.household_id).join(Device, Point.device_id == Device.id)
                           .where(Device.status == "active"))
    for pid, key, name, org, interval, did, dcode, kind, st, bld, hh in rows:
        bld = bld or h_building.get(hh)
        st = st or b_station.get(bld)
        out[pid] = PointCtx(pid, key, name, org, did, dcode, kind, st, bld, interval)
    return out


@dataclass
class Condition:
    dedup_key: str
    org_id: int
    device_id: int | None
    point_id: int | None
    station_id: int | None
    building_id: int | None
    value: float | None
    message_zh: str
    message_en: str


def _cond(rule: AlarmRule, c: PointCtx, value: float | None, zh: str, en: str, *, per_device: bool = False) -> Condition:
    subject = f"d{c.device_id}" if per_device else f"p{c.point_id}"
    return Condition(f"{rule.code}:{subject}", c.org_id, c.device_id, None if per_device else c.point_id,
                     c.station_id, c.building_id, value, zh, en)


def _points_with_key(ctx: dict[int, PointCtx], key: str, org_id: int | None) -> list[PointCtx]:
    return [c for c in ctx.values() if c.key == key and (org_id is None or c.org_id == org_id)]


def _in(ids: list[int]) -> str:
    return ",".join(str(int(i)) for i in ids) or "-1"


# --- evaluation per kind -------------------------------------------------------------------------------

def _eval_threshold(conn, rule: AlarmRule, ctx, now: int) -> list[Condition]:
    p = rule.params
    pts = {c.point_id: c for c in _points_with_key(ctx, p["point_key"], rule.org_id)}
    dur = int(p.get("duration_s", 600)) * 1000
    op = ">" if p.get("op", ">") == ">" else "<"
    rows = conn.execute(text(
        f"SELECT point_id, min(bucket_ms), count(*), sum(CASE WHEN sum_value / n {op} :lim THEN 1 ELSE 0 END), "
        "max(sum_value / n), min(sum_value / n) FROM telemetry_rollup_1m "
        f"WHERE point_id IN ({_in(list(pts))}) AND bucket_ms >= :s AND bucket_ms < :e GROUP BY point_id"),
        {"lim": float(p["limit"]), "s": now - dur, "e": now})
    out = []
    for pid, first, n, bad, mx, mn in rows:
        if n and bad == n and first <= now - 0.8 * dur:
            c = pts[pid]
            v = mx if op == ">" else mn
            out.append(_cond(rule, c, v, f"{c.device_code} {c.name_zh} {v:.1f} {op} {p['limit']}（持续{dur // MIN_MS}分钟）",
                             f"{c.device_code} {c.key} {v:.1f} {op} {p['limit']} for {dur // MIN_MS} min"))
    return out


def _eval_rate(conn, rule: AlarmRule, ctx, now: int) -> list[Condition]:
    p = rule.params
    pts = {c.point_id: c for c in _points_with_key(ctx, p["point_key"], rule.org_id)}
    win = int(p.get("window_s", 600)) * 1000
    rows = conn.execute(text(
        "SELECT point_id, bucket_ms, sum_value / n FROM telemetry_rollup_1m "
        f"WHERE point_id IN ({_in(list(pts))}) AND bucket_ms >= :s AND bucket_ms < :e ORDER BY point_id, bucket_ms"),
        {"s": now - win, "e": now}).all()
    series: dict[int, list] = {}
    for pid, b, v in rows:
        series.setdefault(pid, []).append((b, v))
    out = []
    for pid, s in series.items():
        (b0, v0), (b1, v1) = s[0], s[-1]
        if b1 - b0 < win / 2:
            continue
        rate = (v1 - v0) / ((b1 - b0) / MIN_MS)
        if abs(rate) > float(p["max_rate_per_min"]):
            c = pts[pid]
            out.append(_cond(rule, c, rate, f"{c.device_code} {c.name_zh} 变化 {rate:+.2f}/分钟",
                             f"{c.device_code} {c.key} changing {rate:+.2f}/min"))
    return out


def _eval_no_data(conn, rule: AlarmRule, ctx, now: int) -> list[Condition]:
    p = rule.params
    kinds = set(p.get("device_kinds", []))
    cut = now - int(p.get("minutes", 10)) * MIN_MS
    by_device: dict[int, PointCtx] = {}
    for c in ctx.values():
        if c.device_kind in kinds and (rule.org_id is None or c.org_id == rule.org_id):
            by_device.setdefault(c.device_id, c)
    pts = [c.point_id for c in ctx.values() if c.device_id in by_device]
    rows = conn.execute(text(f"SELECT point_id, ts_ms FROM telemetry_latest WHERE point_id IN ({_in(pts)})")).all()
    last: dict[int, int] = {}
    for pid, ts in rows:
        did = ctx[pid].device_id
        last[did] = max(last.get(did, 0), ts)
    out = []
    for did, ts in last.items():  # devices that never reported are not commissioned yet: no alarm
        if ts < cut:
            c = by_device[did]
            mins = (now - ts) // MIN_MS
            out.append(_cond(rule, c, float(mins), f"{c.device_code} 已 {mins} 分钟无有效数据",
                             f"{c.device_code}: no valid data for {mins} min", per_device=True))
    return out


def _eval_delta_t(conn, rule: AlarmRule, ctx, now: int) -> list[Condition]:
    p = rule.params
    sup = {c.device_id: c for c in _points_with_key(ctx, p["supply_key"], rule.org_id)}
    ret = {c.device_id: c for c in _points_with_key(ctx, p["return_key"], rule.org_id)}
    pairs = {d: (sup[d].point_id, ret[d].point_id) for d in sup if d in ret}
    if not pairs:
        return []
    dur = int(p.get("duration_s", 1800)) * 1000
    min_sup = float(p.get("min_supply_c", 30.0))
    ids = [x for pr in pairs.values() for x in pr]
    rows = conn.execute(text(
        "SELECT point_id, bucket_ms, sum_value / n FROM telemetry_rollup_1m "
        f"WHERE point_id IN ({_in(ids)}) AND bucket_ms >= :s AND bucket_ms < :e"), {"s": now - dur, "e": now}).all()
    vals = {(pid, b): v for pid, b, v in rows}
    out = []
    for did, (ps, pr) in pairs.items():
        buckets = sorted(b for (pid, b) in vals if pid == ps and (pr, b) in vals)
        if not buckets or buckets[0] > now - 0.8 * dur:
            continue
        dts = [vals[(ps, b)] - vals[(pr, b)] for b in buckets]
        if all(dt < float(p["min_k"]) for dt in dts) and vals[(ps, buckets[-1])] >= min_sup:
            c = sup[did]
            dt = dts[-1]
            out.append(_cond(rule, c, dt, f"{c.device_code} 供回水温差 {dt:.1f} K < {p['min_k']} K",
                             f"{c.device_code} supply-return ΔT {dt:.1f} K < {p['min_k']} K", per_device=True))
    return out


def _eval_room_min(conn, rule: AlarmRule, ctx, now: int, season: Season) -> list[Condition]:
    if not season.heating_at(now):
        return []
    p = rule.params
    pts = {c.point_id: c for c in _points_with_key(ctx, p.get("point_key", "room_temp_c"), rule.org_id)}
    dur = int(p.get("duration_s", 3600)) * 1000
    lim = float(p.get("limit_c", 18.0))
    rows = conn.execute(text(
        "SELECT point_id, min(bucket_ms), sum(sum_value) / sum(n) FROM telemetry_rollup_1m "
        f"WHERE point_id IN ({_in(list(pts))}) AND bucket_ms >= :s AND bucket_ms < :e GROUP BY point_id"),
        {"s": now - dur, "e": now})
    out = []
    for pid, first, mean in rows:
        c = pts[pid]
        # the window must be covered: a reading within one sampling interval of its start
        if mean < lim and first <= now - dur + c.interval_s * 1000:
            out.append(_cond(rule, c, mean, f"{c.device_code} 室温 {mean:.1f}℃ 低于 {lim:g}℃",
                             f"{c.device_code} room {mean:.1f} °C below {lim:g} °C"))
    return out


def _eval_pressure_drop(conn, rule: AlarmRule, ctx, now: int) -> list[Condition]:
    p = rule.params
    pts = {c.point_id: c for c in _points_with_key(ctx, p["point_key"], rule.org_id)}
    win = int(p.get("window_s", 900)) * 1000
    recent = dict(conn.execute(text(
        "SELECT point_id, sum(sum_value) / sum(n) FROM telemetry_rollup_1m "
        f"WHERE point_id IN ({_in(list(pts))}) AND bucket_ms >= :s AND bucket_ms < :e GROUP BY point_id"),
        {"s": now - win, "e": now}).all())
    hour_now = now - now % HOUR_MS
    base = dict(conn.execute(text(
        "SELECT point_id, max(sum_value / n) FROM telemetry_rollup_1h "
        f"WHERE point_id IN ({_in(list(recent))}) AND bucket_ms >= :s AND bucket_ms < :e GROUP BY point_id"),
        {"s": hour_now - 24 * HOUR_MS, "e": hour_now - HOUR_MS}).all())
    out = []
    for pid, r in recent.items():
        b = base.get(pid)
        if b is not None and b - r > float(p["drop_kpa"]):
            c = pts[pid]
            out.append(_cond(rule, c, r, f"{c.device_code} {c.name_zh} {r:.0f} kPa，比此前 {b:.0f} kPa 下降 {b - r:.0f} kPa",
                             f"{c.device_code} {c.key} {r:.0f} kPa, {b - r:.0f} kPa below {b:.0f} kPa"))
    return out


def _eval_data_quality(conn, rule: AlarmRule, ctx, now: int) -> list[Condition]:
    p = rule.params
    reasons = ",".join("'" + r.replace("'", "") + "'" for r in p.get("reasons", ["stuck_value"]))
    win = int(p.get("window_s", 1800)) * 1000
    rows = conn.execute(text(
        "SELECT point_id, count(*), max(ts_ms) FROM telemetry_quarantine "
        f"WHERE reason IN ({reasons}) AND point_id IS NOT NULL AND ts_ms >= :s AND ts_ms <= :e GROUP BY point_id"),
        {"s": now - win, "e": now})
    out = []
    for pid, n, _last in rows:
        c = ctx.get(pid)
        if c is None or n < int(p.get("min_count", 1)) or (rule.org_id is not None and c.org_id != rule.org_id):
            continue
        why = ", ".join(p.get("reasons", ["stuck_value"]))
        out.append(_cond(rule, c, float(n), f"{c.device_code} {c.name_zh}：{n} 个读数被隔离（{why}）",
                         f"{c.device_code} {c.key}: {n} readings quarantined ({why})"))
    return out


# --- the run -----------------------------------------------------------------------------------------

@dataclass
class AlarmRun:
    raised: list[int] = field(default_factory=list)
    cleared: list[int] = field(default_factory=list)
    still_open: int = 0
    #: rules that failed and were skipped: code -> error
    failed: dict[str, str] = field(default_factory=dict)


def _dt(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


def evaluate_alarms(session: Session, now_ms: int, *, season: Season | None = None,
                    ctx: dict[int, PointCtx] | None = None) -> AlarmRun:
    """Evaluate every enabled rule valid at ``now_ms`` and move alarms through their lifecycle.

    Two steps, so that the write is short and never follows a read in the same SQLite transaction:

    1. each rule's condition is read from the rollups on a connection of its own, one transaction per rule
       (a rule whose query fails is skipped; PostgreSQL's transaction of the caller is not touched);
    2. the alarms of all rules are updated in the caller's session, one savepoint per rule, after taking the
       write lock first on SQLite (``BEGIN IMMEDIATE``, waiting up to the busy timeout for a writer such as an
       ingest worker). A read followed by a write in one deferred SQLite transaction fails at once with
       ``database is locked`` when another connection committed in between (the busy timeout does not apply).
    """
    season = season or Season()
    ctx = ctx if ctx is not None else point_context(session)
    today = _dt(now_ms).date()
    run = AlarmRun()
    rules = [r for r in session.scalars(select(AlarmRule).where(AlarmRule.enabled.is_(True)).order_by(AlarmRule.id))
             if not ((r.valid_from and r.valid_from > today) or (r.valid_to and r.valid_to < today))]
    found: dict[int, list[Condition]] = {}
    with session.get_bind().connect() as conn:
        for rule in rules:
            try:
                with conn.begin():
                    found[rule.id] = _conditions(conn, rule, ctx, now_ms, season)
            except Exception as exc:  # any failure of one rule must not stop the others
                _skip(run, rule.code, exc)
    if not found:
        return run
    _lock_for_write(session)
    for rule in rules:
        if rule.id not in found:
            continue
        code = rule.code
        part = AlarmRun()
        try:
            # one savepoint per rule: a rule whose write fails is logged and skipped; the other rules and the
            # caller's transaction go on
            with session.begin_nested():
                _apply(session, rule, found[rule.id], now_ms, part)
        except Exception as exc:  # any failure of one rule must not stop the others
            _skip(run, code, exc)
            continue
        run.raised += part.raised
        run.cleared += part.cleared
        run.still_open += part.still_open
    return run


def _skip(run: AlarmRun, code: str, exc: Exception) -> None:
    log.exception("alarm rule %s failed and was skipped", code)
    run.failed[code] = f"{type(exc).__name__}: {exc}"[:300]


def _lock_for_write(session: Session) -> None:
    """SQLite: start the session's transaction with the write lock (``BEGIN IMMEDIATE``, which waits for another
    writer up to the busy timeout), unless it is in a transaction already. PostgreSQL: nothing to do."""
    conn = session.connection()
    if conn.dialect.name != "sqlite":
        return
    raw = conn.connection.driver_connection
    if not raw.in_transaction:
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def _conditions(conn, rule: AlarmRule, ctx: dict[int, PointCtx], now_ms: int, season: Season) -> list[Condition]:
    if rule.kind == "room_min":
        return _eval_room_min(conn, rule, ctx, now_ms, season)
    return _EVAL[rule.kind](conn, rule, ctx, now_ms)


def _apply(session: Session, rule: AlarmRule, conds: list[Condition], now_ms: int, run: AlarmRun) -> None:
    """Raise, update and clear the alarms of ``rule`` for the conditions found."""
    found = {c.dedup_key: c for c in conds}
    open_rows = {a.dedup_key: a for a in session.scalars(
        select(Alarm).where(Alarm.rule_id == rule.id, Alarm.state != "cleared"))}
    now = _dt(now_ms)
    for key, c in found.items():
        a = open_rows.get(key)
        if a is not None:
            a.last_seen_at, a.value, a.occurrences = now, c.value, a.occurrences + 1
            a.message_zh, a.message_en = c.message_zh, c.message_en
            continue
        a = Alarm(rule_id=rule.id, org_id=c.org_id, dedup_key=key, state="active", severity=rule.severity,
                  device_id=c.device_id, point_id=c.point_id, station_id=c.station_id, building_id=c.building_id,
                  value=c.value, message_zh=c.message_zh, message_en=c.message_en, raised_at=now,
                  last_seen_at=now, occurrences=1)
        session.add(a)
        session.flush()
        _queue_webhooks(session, a, rule, "raised")
        run.raised.append(a.id)
    for key, a in open_rows.items():
        if key not in found:
            a.state, a.cleared_at = "cleared", now
            _queue_webhooks(session, a, rule, "cleared")
            run.cleared.append(a.id)
    run.still_open += sum(1 for k in found if k in open_rows)
    session.flush()  # inside the rule's savepoint, so that a failing write is this rule's failure


_EVAL = {"threshold": _eval_threshold, "rate": _eval_rate, "no_data": _eval_no_data, "delta_t": _eval_delta_t,
         "pressure_drop": _eval_pressure_drop, "data_quality": _eval_data_quality}


# --- lifecycle by people -------------------------------------------------------------------------------

def list_alarms(session: Session, actor: Actor, *, state: str | None = None, open_only: bool = False,
                station_id: int | None = None, limit: int = 200) -> list[Alarm]:
    actor.require_roles(Role.HEAT_COMPANY, Role.PROGRAMME_OFFICE)
    q = select(Alarm).order_by(Alarm.raised_at.desc(), Alarm.id.desc()).limit(limit)
    if not actor.city_wide:
        q = q.where(Alarm.org_id == actor.org_id)
    if state:
        q = q.where(Alarm.state == state)
    if open_only:
        q = q.where(Alarm.state != "cleared")
    if station_id is not None:
        q = q.where(Alarm.station_id == station_id)
    return list(session.scalars(q))


def acknowledge(session: Session, actor: Actor, alarm_id: int) -> Alarm:
    """An operator has seen the alarm (active -> acknowledged)."""
    actor.require_roles(Role.HEAT_COMPANY)
    a = session.get(Alarm, alarm_id)
    if a is None or not actor.can_access_org(a.org_id):
        raise NotFoundError(f"alarm {alarm_id} not found")
    if a.state != "active":
        raise ConflictError(f"alarm {alarm_id} is {a.state}; only an active alarm can be acknowledged")
    a.state, a.acked_at, a.acked_by = "acknowledged", utcnow(), actor.actor
    _queue_webhooks(session, a, session.get(AlarmRule, a.rule_id), "acknowledged")
    audit(session, actor, "acknowledge", "alarm", a.id, {"rule_id": a.rule_id})
    return a


def list_rules(session: Session, actor: Actor) -> list[AlarmRule]:
    actor.require_roles(Role.HEAT_COMPANY, Role.PROGRAMME_OFFICE)
    q = select(AlarmRule).order_by(AlarmRule.id)
    if not actor.city_wide:
        q = q.where((AlarmRule.org_id.is_(None)) | (AlarmRule.org_id == actor.org_id))
    return list(session.scalars(q))


def create_rule(session: Session, actor: Actor, *, code: str, name_zh: str, kind: str, params: dict,
                severity: str = "major", name_en: str = "", source: str = "") -> AlarmRule:
    """A company's own rule (applies to its own points only)."""
    actor.require_roles(Role.HEAT_COMPANY)
    issues = []
    if kind not in KINDS:
        issues.append(InputIssue(f"kind must be one of {', '.join(KINDS)}", field="kind"))
    if severity not in SEVERITIES:
        issues.append(InputIssue(f"severity must be one of {', '.join(SEVERITIES)}", field="severity"))
    issues += check_params(kind, params)
    if issues:
        raise InputError("bad alarm rule: " + "; ".join(f"{i.field}: {i.message}" for i in issues), issues)
    if session.scalar(select(AlarmRule.id).where(AlarmRule.code == code)) is not None:
        raise ConflictError(f"rule {code!r} exists")
    rule = AlarmRule(code=code, org_id=actor.org_id if not actor.city_wide else None, name_zh=name_zh,
                     name_en=name_en, kind=kind, params=params, severity=severity, enabled=True, source=source,
                     valid_from=None, valid_to=None)
    session.add(rule)
    session.flush()
    audit(session, actor, "create", "alarm_rule", rule.id, {"code": code, "kind": kind})
    return rule


# --- webhooks ------------------------------------------------------------------------------------------

def alarm_payload(a: Alarm, rule: AlarmRule | None, event: str) -> dict:
    return {"event": event, "alarm_id": a.id, "rule": rule.code if rule else None, "state": a.state,
            "severity": a.severity, "org_id": a.org_id, "device_id": a.device_id, "point_id": a.point_id,
            "station_id": a.station_id, "building_id": a.building_id, "value": a.value,
            "message_zh": a.message_zh, "message_en": a.message_en,
            "raised_at": a.raised_at.isoformat() if a.raised_at else None,
            "cleared_at": a.cleared_at.isoformat() if a.cleared_at else None}


def _queue_webhooks(session: Session, a: Alarm, rule: AlarmRule | None, event: str) -> None:
    for hook in session.scalars(select(Webhook).where(Webhook.org_id == a.org_id, Webhook.enabled.is_(True))):
        session.add(WebhookDelivery(webhook_id=hook.id, alarm_id=a.id, event=event,
                                    payload=alarm_payload(a, rule, event)))


def _blocked(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """Loopback, link-local (cloud metadata), private, shared, reserved, multicast or unspecified."""
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return not ip.is_global or ip.is_multicast


def resolve_public(url: str) -> tuple[str, list[str]]:
    """The host of an http(s) URL and its addresses, all of them public; raises ``ValueError`` otherwise.

    A webhook is delivered from inside the installation's network, so an address there (127.0.0.1, 10.x,
    169.254.169.254 ...) would let a company account probe it (blind SSRF)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("not an http(s) URL with a host")
    host = parts.hostname
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as exc:
        raise ValueError(f"bad port: {exc}") from exc
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise ValueError(f"host {host!r} cannot be resolved ({exc})") from exc
    addrs = list(dict.fromkeys(info[4][0] for info in infos))
    bad = [a for a in addrs if _blocked(ipaddress.ip_address(a.split("%", 1)[0]))]
    if bad or not addrs:
        raise ValueError(f"host {host!r} is a loopback, link-local or private address ({', '.join(bad)}); "
                         "webhooks go to public addresses only (CLEANHEAT_TELEMETRY_WEBHOOK_ALLOW_PRIVATE)")
    return host, addrs


def add_webhook(session: Session, actor: Actor, url: str, secret: str = "", *,
                allow_private: bool = False) -> Webhook:
    """A webhook of the caller's company. Unless ``allow_private``, the URL must resolve to public addresses
    only (checked again at every delivery)."""
    actor.require_roles(Role.HEAT_COMPANY)
    if not url.startswith(("http://", "https://")):
        raise InputError("webhook URL must be http(s)", [InputIssue("not an http(s) URL", field="url")])
    if not allow_private:
        try:
            resolve_public(url)
        except ValueError as exc:
            raise InputError(f"webhook URL refused: {exc}", [InputIssue(str(exc), field="url")]) from exc
    if actor.org_id is None:
        raise InputError("no organisation", [InputIssue("the caller has no organisation", field="org")])
    hook = Webhook(org_id=actor.org_id, url=url, secret=secret, enabled=True)
    session.add(hook)
    session.flush()
    audit(session, actor, "create", "webhook", hook.id, {"url": url})
    return hook


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def _post(client: httpx.Client, url: str, body: bytes, headers: dict, allow_private: bool) -> httpx.Response:
    if allow_private:
        return client.post(url, content=body, headers=headers)
    try:
        host, addrs = resolve_public(url)
    except ValueError as exc:
        raise _Refused(str(exc)) from exc
    # connect to the address just checked (no second lookup that could answer differently); the host name
    # still goes in the Host header and, for https, in SNI and the certificate check
    pinned = httpx.URL(url).copy_with(host=addrs[0])
    return client.post(pinned, content=body, headers=headers | {"host": httpx.URL(url).netloc.decode()},
                       extensions={"sni_hostname": host})


class _Refused(Exception):
    pass


def deliver_webhooks(session: Session, client: httpx.Client, *, max_attempts: int = 6, limit: int = 100,
                     retry_base_s: float = 10.0, allow_private: bool = False) -> int:
    """POST due deliveries (JSON, ``X-Cleanheat-Signature``); failures retry with exponential back-off.

    Unless ``allow_private``, the URL's host is resolved again and refused when any address is not public."""
    now = utcnow()
    due = list(session.scalars(select(WebhookDelivery).where(WebhookDelivery.status == "pending",
                                                             WebhookDelivery.next_attempt_at <= now)
                               .order_by(WebhookDelivery.id).limit(limit)))
    sent = 0
    for d in due:
        hook = session.get(Webhook, d.webhook_id)
        body = json.dumps(d.payload, ensure_ascii=False).encode()
        headers = {"content-type": "application/json", "x-cleanheat-event": d.event}
        if hook.secret:
            headers["x-cleanheat-signature"] = sign(hook.secret, body)
        d.attempts += 1
        try:
            r = _post(client, hook.url, body, headers, allow_private)
            ok, err = 200 <= r.status_code < 300, f"HTTP {r.status_code}"
        except _Refused as exc:
            ok, err = False, f"refused: {exc}"
        except httpx.HTTPError as exc:
            ok, err = False, f"{type(exc).__name__}: {exc}"
        if ok:
            d.status, d.sent_at, d.last_error = "sent", utcnow(), ""
            sent += 1
        else:
            d.last_error = err[:500]
            if d.attempts >= max_attempts:
                d.status = "failed"
            else:
                d.next_attempt_at = utcnow() + timedelta(seconds=retry_base_s * 2 ** (d.attempts - 1))
    return sent
