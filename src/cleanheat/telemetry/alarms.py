"""Alarms: the lifecycle, the evaluation run and the services (``(session, actor)``, every write audited).

Lifecycle: a rule's condition found for a subject (a point or a device) raises an alarm (``active``); while it is
not cleared the same condition only updates ``last_seen_at``/``occurrences``/``value`` (deduplication by
``dedup_key``); an operator may acknowledge it (``acknowledged``); when the condition is gone the alarm is
``cleared``. Every change queues a webhook delivery (an outbox row) for the owning company's webhooks.
Evaluation uses data time (``now_ms``), so the demo city running faster than real time raises alarms correctly.

The rules and their checks are in ``alarm_rules.py`` (pure), the evaluators in ``alarm_eval.py``, the webhooks
in ``webhooks.py``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import yaml
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cleanheat.auth.roles import Role
from cleanheat.auth.service import Actor, audit
from cleanheat.auth.tables import Organisation
from cleanheat.errors import ConflictError, InputError, InputIssue, NotFoundError
from cleanheat.store.base import utcnow
from cleanheat.store.paging import PAGE_SIZE, Page, contains_text, page_of
from cleanheat.telemetry import alarm_eval
from cleanheat.telemetry.alarm_eval import point_context
from cleanheat.telemetry.alarm_rules import (
    KINDS,
    SEVERITIES,
    Condition,
    PointCtx,
    check_params,
    check_rule_doc,
    rule_values,
)
from cleanheat.telemetry.season import Season
from cleanheat.telemetry.tables import Alarm, AlarmRule
from cleanheat.telemetry.validation import REASONS
from cleanheat.telemetry.webhooks import queue_webhooks

__all__ = ["AlarmRun", "acknowledge", "create_rule", "evaluate_alarms", "list_alarms", "list_rules",
           "load_default_rules", "point_context", "rules_path"]
log = logging.getLogger("cleanheat.telemetry.alarms")


def rules_path(data_dir: Path) -> Path:
    """The installation's default rules [data/telemetry/alarm_rules.yaml]."""
    return Path(data_dir) / "telemetry" / "alarm_rules.yaml"


def load_default_rules(session: Session, actor: Actor, data_dir: Path) -> int:
    """Create or update the installation's default rules from data/telemetry/alarm_rules.yaml; how many changed."""
    path = rules_path(data_dir)
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    issues = check_rule_doc(doc, str(path), REASONS)
    if issues:
        raise InputError(f"{path}: bad alarm rules", issues)
    n = 0
    for r in doc.get("rules", []):
        row = session.scalar(select(AlarmRule).where(AlarmRule.code == r["code"]))
        values = rule_values(r, doc.get("defaults"))
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
                    ctx: dict[int, PointCtx] | None = None, started_ms: int | None = None) -> AlarmRun:
    """Evaluate every enabled rule valid at ``now_ms`` and move alarms through their lifecycle. ``started_ms``:
    when the evaluator started (data time [ms]; availability rules wait their ``startup_grace_s`` after it).

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
                    found[rule.id] = alarm_eval.conditions(conn, rule, ctx, now_ms, season, started_ms)
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


def _apply(session: Session, rule: AlarmRule, conds: list[Condition], now_ms: int, run: AlarmRun) -> None:
    """Raise, re-open, update and clear the alarms of ``rule`` for the conditions found."""
    found = {c.dedup_key: c for c in conds}
    open_rows = {a.dedup_key: a for a in session.scalars(
        select(Alarm).where(Alarm.rule_id == rule.id, Alarm.state != "cleared"))}
    now = _dt(now_ms)
    new = {k: c for k, c in found.items() if k not in open_rows and not c.hold}
    recent = _recently_cleared(session, rule, list(new), now)
    for key, c in found.items():
        a = open_rows.get(key)
        if a is not None:
            a.last_seen_at, a.value, a.occurrences = now, c.value, a.occurrences + 1
            a.message_zh, a.message_en = c.message_zh, c.message_en
        elif key in new:
            a = _reopen(recent[key], c, now) if key in recent else _raise(session, rule, c, now)
            queue_webhooks(session, a, rule, "raised")
            run.raised.append(a.id)
    for key, a in open_rows.items():
        if key not in found:
            a.state, a.cleared_at = "cleared", now
            queue_webhooks(session, a, rule, "cleared")
            run.cleared.append(a.id)
    run.still_open += sum(1 for k in found if k in open_rows)
    session.flush()  # inside the rule's savepoint, so that a failing write is this rule's failure


def _recently_cleared(session: Session, rule: AlarmRule, keys: list[str], now: datetime) -> dict[str, Alarm]:
    """The newest alarm of each key cleared within the rule's ``group_within_s`` before ``now`` (to re-open)."""
    within_s = (rule.params or {}).get("group_within_s")
    if not keys or not within_s:
        return {}
    rows = session.scalars(select(Alarm).where(Alarm.rule_id == rule.id, Alarm.dedup_key.in_(keys),
                                               Alarm.state == "cleared",
                                               Alarm.cleared_at >= now - timedelta(seconds=float(within_s)))
                           .order_by(Alarm.cleared_at))
    return {a.dedup_key: a for a in rows}  # the newest last


def _raise(session: Session, rule: AlarmRule, c: Condition, now: datetime) -> Alarm:
    a = Alarm(rule_id=rule.id, org_id=c.org_id, dedup_key=c.dedup_key, state="active", severity=rule.severity,
              device_id=c.device_id, point_id=c.point_id, station_id=c.station_id, building_id=c.building_id,
              value=c.value, message_zh=c.message_zh, message_en=c.message_en, raised_at=now,
              last_seen_at=now, occurrences=1, times_raised=1)
    session.add(a)
    session.flush()
    return a


def _reopen(a: Alarm, c: Condition, now: datetime) -> Alarm:
    """The same alarm again (grouped): active and unacknowledged, raised once more; ``raised_at`` stays the
    first time."""
    a.state, a.cleared_at, a.acked_at, a.acked_by = "active", None, None, ""
    a.times_raised = (a.times_raised or 1) + 1
    a.last_seen_at, a.value, a.occurrences = now, c.value, a.occurrences + 1
    a.message_zh, a.message_en = c.message_zh, c.message_en
    return a


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


def count_open_alarms(session: Session, actor: Actor) -> int:
    """How many of the actor's alarms are not cleared (one count, not the rows)."""
    actor.require_roles(Role.HEAT_COMPANY, Role.PROGRAMME_OFFICE)
    q = select(func.count()).select_from(Alarm).where(Alarm.state != "cleared")
    if not actor.city_wide:
        q = q.where(Alarm.org_id == actor.org_id)
    return session.scalar(q) or 0


@dataclass(frozen=True)
class AlarmFilter:
    """Which alarms a list shows: state (``open``: not cleared), severity, organisation, station, last seen
    within [since, until) (UTC) and text in the message or the device code."""

    state: str = ""
    severity: str = ""
    org_id: int | None = None
    station_id: int | None = None
    since: datetime | None = None
    until: datetime | None = None
    text: str = ""


def _filtered(actor: Actor, f: AlarmFilter):
    q = select(Alarm)
    if not actor.city_wide:
        q = q.where(Alarm.org_id == actor.org_id)
    if f.state == "open":
        q = q.where(Alarm.state != "cleared")
    elif f.state:
        q = q.where(Alarm.state == f.state)
    for col, value in ((Alarm.severity, f.severity or None), (Alarm.org_id, f.org_id),
                       (Alarm.station_id, f.station_id)):
        if value is not None:
            q = q.where(col == value)
    if f.since is not None:
        q = q.where(Alarm.last_seen_at >= f.since)
    if f.until is not None:
        q = q.where(Alarm.last_seen_at < f.until)
    if f.text:
        q = q.where(contains_text(f.text, Alarm.message_zh, Alarm.message_en))
    return q


def search_alarms(session: Session, actor: Actor, f: AlarmFilter, *, page: int = 1,
                  per_page: int = PAGE_SIZE) -> Page:
    """One page of the alarms matching ``f`` (most recently seen first) and how many match in all."""
    actor.require_roles(Role.HEAT_COMPANY, Role.PROGRAMME_OFFICE)
    return page_of(session, _filtered(actor, f), Alarm.last_seen_at.desc(), Alarm.id.desc(), page=page,
                   per_page=per_page)


def alarm_organisations(session: Session, actor: Actor) -> list[tuple[int, str]]:
    """(id, name) of the organisations that have alarms the actor may see (the organisation filter)."""
    actor.require_roles(Role.HEAT_COMPANY, Role.PROGRAMME_OFFICE)
    q = (select(Organisation.id, Organisation.name_zh).where(Organisation.id.in_(select(Alarm.org_id).distinct()))
         .order_by(Organisation.name_zh))
    if not actor.city_wide:
        q = q.where(Organisation.id == actor.org_id)
    return [(i, n) for i, n in session.execute(q)]


def acknowledge(session: Session, actor: Actor, alarm_id: int) -> Alarm:
    """An operator has seen the alarm (active -> acknowledged)."""
    actor.require_roles(Role.HEAT_COMPANY)
    a = session.get(Alarm, alarm_id)
    if a is None or not actor.can_access_org(a.org_id):
        raise NotFoundError(f"alarm {alarm_id} not found")
    if a.state != "active":
        raise ConflictError(f"alarm {alarm_id} is {a.state}; only an active alarm can be acknowledged")
    a.state, a.acked_at, a.acked_by = "acknowledged", utcnow(), actor.actor
    queue_webhooks(session, a, session.get(AlarmRule, a.rule_id), "acknowledged")
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
    issues += check_params(kind, params, REASONS)
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
