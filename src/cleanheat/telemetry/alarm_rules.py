"""Alarm rules as data: the kinds, their parameters and the checks of a rule (pure; no storage, no I/O).

* :data:`RULE_PARAMS`: the parameters of each kind of rule, their type and whether they are required.
* :func:`check_params` / :func:`check_rule_doc`: the problems of one rule's parameters / of a rules document
  (``data/telemetry/alarm_rules.yaml``), each naming its field (and file and row).
* :func:`rule_values`: the stored values of one rule of the document.
* :class:`PointCtx` and :class:`Condition`: what an evaluator knows of a point and what it found.

The evaluators (reading the rollups) are in ``alarm_eval.py``; the lifecycle and the services in ``alarms.py``;
webhook delivery in ``webhooks.py``.
"""

from __future__ import annotations

import math
from collections.abc import Collection
from dataclasses import dataclass
from datetime import date

from cleanheat.errors import InputIssue

KINDS = ("threshold", "rate", "no_data", "delta_t", "room_min", "pressure_drop", "data_quality")
SEVERITIES = ("critical", "major", "minor")
STATES = ("active", "acknowledged", "cleared")
#: one minute / one hour [ms]
MIN_MS = 60_000
HOUR_MS = 3_600_000

#: longest window or duration a rule may look back over [s] (the 1-minute rollups are kept 400 days)
MAX_WINDOW_S = 31 * 86_400
_STR, _NUM, _DUR, _STRS = "text", "number", "duration", "list of texts"
#: kind -> parameter -> (type, required)
RULE_PARAMS: dict[str, dict[str, tuple[str, bool]]] = {
    "threshold": {"point_key": (_STR, True), "limit": (_NUM, True), "op": (_STR, False),
                  "duration_s": (_DUR, False)},
    "rate": {"point_key": (_STR, True), "max_rate_per_min": (_NUM, True), "window_s": (_DUR, False)},
    "no_data": {"device_kinds": (_STRS, True), "minutes": (_NUM, False), "missed_intervals": (_NUM, False),
                "startup_grace_s": (_DUR, False)},
    "delta_t": {"supply_key": (_STR, True), "return_key": (_STR, True), "min_k": (_NUM, True),
                "duration_s": (_DUR, False), "min_supply_c": (_NUM, False)},
    "room_min": {"point_key": (_STR, False), "limit_c": (_NUM, False), "duration_s": (_DUR, False)},
    "pressure_drop": {"point_key": (_STR, True), "drop_kpa": (_NUM, True), "window_s": (_DUR, False)},
    "data_quality": {"reasons": (_STRS, False), "window_s": (_DUR, False), "min_count": (_NUM, False)},
}
#: parameters every kind of rule may have: an alarm that comes back within ``group_within_s`` after it cleared
#: re-opens the same alarm (one row with a count of how often it was raised) instead of a new one
COMMON_PARAMS: dict[str, tuple[str, bool]] = {"group_within_s": (_DUR, False)}
for _spec in RULE_PARAMS.values():
    _spec.update(COMMON_PARAMS)


def is_number(v: object) -> bool:
    """A finite int or float (not a bool)."""
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def _type_issue(name: str, typ: str, v: object) -> str | None:
    if typ == _STR and not (isinstance(v, str) and v.strip()):
        return f"{name} must be a non-empty text"
    if typ == _STRS and not (isinstance(v, list) and v and all(isinstance(x, str) and x for x in v)):
        return f"{name} must be a non-empty list of texts"
    if typ == _NUM and not is_number(v):
        return f"{name} must be a finite number, not {v!r}"
    if typ == _DUR and not (is_number(v) and 1 <= v <= MAX_WINDOW_S):
        return f"{name} must be a number of seconds from 1 to {MAX_WINDOW_S}, not {v!r}"
    return None


def _kind_issues(kind: str, params: dict, reasons: Collection[str], where: dict) -> list[InputIssue]:
    issues = []
    if kind == "threshold" and params.get("op", ">") not in (">", "<"):
        issues.append(InputIssue("op must be '>' or '<'", field="params.op", **where))
    if kind == "data_quality" and isinstance(params.get("reasons"), list):
        unknown = [r for r in params["reasons"] if r not in reasons]
        if unknown:
            issues.append(InputIssue(f"unknown quarantine reason(s) {unknown} (known: {', '.join(reasons)})",
                                     field="params.reasons", **where))
    minutes = params.get("minutes", 10)
    if kind == "no_data" and is_number(minutes) and not 1 <= minutes <= MAX_WINDOW_S // 60:
        issues.append(InputIssue(f"minutes must be from 1 to {MAX_WINDOW_S // 60}", field="params.minutes",
                                 **where))
    missed = params.get("missed_intervals", 1)
    if kind == "no_data" and is_number(missed) and not 1 <= missed <= 1000:
        issues.append(InputIssue("missed_intervals must be from 1 to 1000", field="params.missed_intervals", **where))
    return issues


def check_params(kind: str, params: object, reasons: Collection[str] = (), **where) -> list[InputIssue]:
    """Problems of a rule's ``params`` for its ``kind`` (each names the field ``params.<name>``): required
    parameters present, numbers finite, durations between 1 s and 31 days, no unknown names. ``reasons``: the
    known quarantine reasons (for a data_quality rule)."""
    spec = RULE_PARAMS.get(kind)
    if spec is None:
        return []
    if not isinstance(params, dict):
        return [InputIssue("params must be an object", field="params", **where)]
    issues = [InputIssue(f"unknown parameter {name!r} for a {kind} rule (known: {', '.join(spec)})",
                         field=f"params.{name}", **where) for name in params if name not in spec]
    for name, (typ, required) in spec.items():
        if name not in params:
            if required:
                issues.append(InputIssue(f"a {kind} rule needs {name} ({typ})", field=f"params.{name}", **where))
            continue
        problem = _type_issue(name, typ, params[name])
        if problem:
            issues.append(InputIssue(problem, field=f"params.{name}", **where))
    return issues + _kind_issues(kind, params, reasons, where)


def check_rule_doc(doc: dict, file: str, reasons: Collection[str] = ()) -> list[InputIssue]:
    """Problems of a rules document (``{"defaults": {...}, "rules": [...]}``), each with the file and the rule's
    row (from 1). ``defaults``: parameters common to every kind (:data:`COMMON_PARAMS`) that a rule does not set."""
    defaults = doc.get("defaults") or {}
    issues = [InputIssue(f"unknown default {k!r} (known: {', '.join(COMMON_PARAMS)})", file=file,
                         field=f"defaults.{k}") for k in defaults if k not in COMMON_PARAMS]
    for k, (typ, _req) in COMMON_PARAMS.items():
        problem = _type_issue(k, typ, defaults[k]) if k in defaults else None
        if problem:
            issues.append(InputIssue(problem, file=file, field=f"defaults.{k}"))
    for i, r in enumerate(doc.get("rules", [])):
        if r.get("kind") not in KINDS:
            issues.append(InputIssue(f"unknown kind {r.get('kind')!r}", file=file, row=i + 1, field="kind"))
        if r.get("severity", "major") not in SEVERITIES:
            issues.append(InputIssue("bad severity", file=file, row=i + 1, field="severity"))
        issues += check_params(r.get("kind"), r.get("params", {}), reasons, file=file, row=i + 1)
    return issues


def rule_values(r: dict, defaults: dict | None = None) -> dict:
    """The stored values of one rule of the document (everything but the code); the document's ``defaults``
    fill in the common parameters the rule does not set."""
    params = {k: v for k, v in (defaults or {}).items() if k in COMMON_PARAMS} | r.get("params", {})
    return {"name_zh": r["name_zh"], "name_en": r.get("name_en", ""), "kind": r["kind"], "params": params,
            "severity": r.get("severity", "major"), "source": r.get("source", ""),
            "valid_from": _date(r.get("valid_from")), "valid_to": _date(r.get("valid_to"))}


def _date(v) -> date | None:
    if v is None or isinstance(v, date):
        return v
    return date.fromisoformat(str(v))


# --- what an evaluator knows and finds -----------------------------------------------------------------

@dataclass(frozen=True)
class PointCtx:
    """A point of an active device and where it is (station, building); ``interval_s``: its sampling interval."""

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


@dataclass
class Condition:
    """A rule's condition found for one subject (a point or a device); ``dedup_key``: rule code and subject."""

    dedup_key: str
    org_id: int
    device_id: int | None
    point_id: int | None
    station_id: int | None
    building_id: int | None
    value: float | None
    message_zh: str
    message_en: str
    #: held back: keeps an open alarm open, but raises none (start-up grace of availability alarms)
    hold: bool = False


def make_condition(code: str, c: PointCtx, value: float | None, zh: str, en: str, *,
                   per_device: bool = False, hold: bool = False) -> Condition:
    """The condition of rule ``code`` for point ``c`` (or for its device when ``per_device``)."""
    subject = f"d{c.device_id}" if per_device else f"p{c.point_id}"
    return Condition(f"{code}:{subject}", c.org_id, c.device_id, None if per_device else c.point_id,
                     c.station_id, c.building_id, value, zh, en, hold)


def points_with_key(ctx: dict[int, PointCtx], key: str, org_id: int | None) -> list[PointCtx]:
    """The points with ``key`` (of organisation ``org_id``, or of all when None)."""
    return [c for c in ctx.values() if c.key == key and (org_id is None or c.org_id == org_id)]


# --- availability (no_data) --------------------------------------------------------------------------------

def silence_limit_ms(minutes: float, missed_intervals: float, interval_s: int) -> int:
    """How long a device may stay silent before it is unavailable [ms]: the rule's ``minutes``, or
    ``missed_intervals`` of the device's expected reporting interval ``interval_s`` [s] when that is longer
    (an hourly meter is not late after 90 minutes)."""
    return int(max(minutes * MIN_MS, missed_intervals * interval_s * 1000))


def in_startup_grace(now_ms: int, started_ms: int | None, grace_s: float) -> bool:
    """Whether ``now_ms`` is within ``grace_s`` [s] of the evaluator's start ``started_ms`` (data time [ms];
    None: started long ago). During the grace no availability alarm is raised: devices catch up first (the demo
    backfills its history, devices resend what they buffered)."""
    return started_ms is not None and now_ms - started_ms < grace_s * 1000
