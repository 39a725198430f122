"""The evaluators of the alarm rules: each reads the rollups, latest values or quarantine of the points a rule
concerns (SQLAlchemy Core statements, bound parameters only) and returns the conditions found.

Each evaluator takes ``(conn, rule, ctx, now_ms)`` (``room_min`` also the heating season) and returns
``list[Condition]``; :data:`EVALUATORS` maps a rule kind to its evaluator. Time is data time [ms since epoch].
"""

from __future__ import annotations

from sqlalchemy import Connection, case, func, select
from sqlalchemy.orm import Session

from cleanheat.assets.tables import Building, Device, Household, Point
from cleanheat.telemetry.alarm_rules import (
    HOUR_MS,
    MIN_MS,
    Condition,
    PointCtx,
    in_startup_grace,
    make_condition,
    points_with_key,
    silence_limit_ms,
)
from cleanheat.telemetry.season import Season
from cleanheat.telemetry.tables import AlarmRule, Latest, Quarantine, Rollup1h, Rollup1m

R1m, R1h = Rollup1m.__table__.c, Rollup1h.__table__.c
#: the mean of a 1-minute bucket
_MEAN_1M = R1m.sum_value / R1m.n


def point_context(session: Session) -> dict[int, PointCtx]:
    """Every point of an active device with its station and building (a household's building, a building's
    station), by point id."""
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


def _window(cols, ids, start_ms: int, end_ms: int):
    """``point_id IN ids AND start <= bucket_ms < end`` for a rollup table's columns."""
    return (cols.point_id.in_(list(ids)), cols.bucket_ms >= start_ms, cols.bucket_ms < end_ms)


def eval_threshold(conn: Connection, rule: AlarmRule, ctx, now: int) -> list[Condition]:
    p = rule.params
    pts = {c.point_id: c for c in points_with_key(ctx, p["point_key"], rule.org_id)}
    dur = int(p.get("duration_s", 600)) * 1000
    above = p.get("op", ">") == ">"
    op = ">" if above else "<"
    lim = float(p["limit"])
    bad = (_MEAN_1M > lim) if above else (_MEAN_1M < lim)
    rows = conn.execute(select(R1m.point_id, func.min(R1m.bucket_ms), func.count(),
                               func.sum(case((bad, 1), else_=0)), func.max(_MEAN_1M), func.min(_MEAN_1M))
                        .where(*_window(R1m, pts, now - dur, now)).group_by(R1m.point_id))
    out = []
    for pid, first, n, n_bad, mx, mn in rows:
        if n and n_bad == n and first <= now - 0.8 * dur:
            c = pts[pid]
            v = mx if above else mn
            out.append(make_condition(
                rule.code, c, v, f"{c.device_code} {c.name_zh} {v:.1f} {op} {p['limit']}（持续{dur // MIN_MS}分钟）",
                f"{c.device_code} {c.key} {v:.1f} {op} {p['limit']} for {dur // MIN_MS} min"))
    return out


def _series(conn: Connection, ids, start_ms: int, end_ms: int) -> list[tuple[int, int, float]]:
    """(point, bucket, mean) of the 1-minute rollups in the window, by point and time."""
    return conn.execute(select(R1m.point_id, R1m.bucket_ms, _MEAN_1M).where(*_window(R1m, ids, start_ms, end_ms))
                        .order_by(R1m.point_id, R1m.bucket_ms)).all()


def eval_rate(conn: Connection, rule: AlarmRule, ctx, now: int) -> list[Condition]:
    p = rule.params
    pts = {c.point_id: c for c in points_with_key(ctx, p["point_key"], rule.org_id)}
    win = int(p.get("window_s", 600)) * 1000
    series: dict[int, list] = {}
    for pid, b, v in _series(conn, pts, now - win, now):
        series.setdefault(pid, []).append((b, v))
    out = []
    for pid, s in series.items():
        (b0, v0), (b1, v1) = s[0], s[-1]
        if b1 - b0 < win / 2:
            continue
        rate = (v1 - v0) / ((b1 - b0) / MIN_MS)
        if abs(rate) > float(p["max_rate_per_min"]):
            c = pts[pid]
            out.append(make_condition(rule.code, c, rate, f"{c.device_code} {c.name_zh} 变化 {rate:+.2f}/分钟",
                                      f"{c.device_code} {c.key} changing {rate:+.2f}/min"))
    return out


def last_reading_by_device(conn: Connection, ctx: dict[int, PointCtx], devices) -> dict[int, int]:
    """The time of the newest valid reading of each of ``devices`` that ever reported [ms]."""
    pts = [c.point_id for c in ctx.values() if c.device_id in devices]
    last: dict[int, int] = {}
    for pid, ts in conn.execute(select(Latest.point_id, Latest.ts_ms).where(Latest.point_id.in_(pts))):
        did = ctx[pid].device_id
        last[did] = max(last.get(did, 0), ts)
    return last


def eval_no_data(conn: Connection, rule: AlarmRule, ctx, now: int, started_ms: int | None = None
                 ) -> list[Condition]:
    """Devices of ``device_kinds`` silent longer than ``minutes`` or ``missed_intervals`` of their expected
    reporting interval (the longest sampling interval of their points). Within ``startup_grace_s`` of the
    evaluator's start (``started_ms``) the conditions are held: open alarms stay open, none is raised."""
    p = rule.params
    kinds = set(p.get("device_kinds", []))
    by_device: dict[int, PointCtx] = {}
    interval_s: dict[int, int] = {}
    for c in ctx.values():
        if c.device_kind in kinds and (rule.org_id is None or c.org_id == rule.org_id):
            by_device.setdefault(c.device_id, c)
            interval_s[c.device_id] = max(interval_s.get(c.device_id, 0), c.interval_s or 0)
    hold = in_startup_grace(now, started_ms, float(p.get("startup_grace_s", 0)))
    out = []
    # devices that never reported are not commissioned yet: no alarm
    for did, ts in last_reading_by_device(conn, ctx, by_device).items():
        limit = silence_limit_ms(float(p.get("minutes", 10)), float(p.get("missed_intervals", 1)),
                                 interval_s[did])
        if now - ts > limit:
            c = by_device[did]
            mins = (now - ts) // MIN_MS
            out.append(make_condition(rule.code, c, float(mins), f"{c.device_code} 已 {mins} 分钟无有效数据",
                                      f"{c.device_code}: no valid data for {mins} min", per_device=True,
                                      hold=hold))
    return out


def eval_delta_t(conn: Connection, rule: AlarmRule, ctx, now: int) -> list[Condition]:
    p = rule.params
    sup = {c.device_id: c for c in points_with_key(ctx, p["supply_key"], rule.org_id)}
    ret = {c.device_id: c for c in points_with_key(ctx, p["return_key"], rule.org_id)}
    pairs = {d: (sup[d].point_id, ret[d].point_id) for d in sup if d in ret}
    if not pairs:
        return []
    dur = int(p.get("duration_s", 1800)) * 1000
    min_sup = float(p.get("min_supply_c", 30.0))
    ids = [x for pr in pairs.values() for x in pr]
    vals = {(pid, b): v for pid, b, v in _series(conn, ids, now - dur, now)}
    out = []
    for did, (ps, pr) in pairs.items():
        buckets = sorted(b for (pid, b) in vals if pid == ps and (pr, b) in vals)
        if not buckets or buckets[0] > now - 0.8 * dur:
            continue
        dts = [vals[(ps, b)] - vals[(pr, b)] for b in buckets]
        if all(dt < float(p["min_k"]) for dt in dts) and vals[(ps, buckets[-1])] >= min_sup:
            c = sup[did]
            dt = dts[-1]
            out.append(make_condition(rule.code, c, dt, f"{c.device_code} 供回水温差 {dt:.1f} K < {p['min_k']} K",
                                      f"{c.device_code} supply-return ΔT {dt:.1f} K < {p['min_k']} K",
                                      per_device=True))
    return out


def _means(conn: Connection, ids, start_ms: int, end_ms: int) -> list[tuple[int, int, float]]:
    """(point, first bucket, mean over the window) of the 1-minute rollups."""
    return conn.execute(select(R1m.point_id, func.min(R1m.bucket_ms), func.sum(R1m.sum_value) / func.sum(R1m.n))
                        .where(*_window(R1m, ids, start_ms, end_ms)).group_by(R1m.point_id)).all()


def eval_room_min(conn: Connection, rule: AlarmRule, ctx, now: int, season: Season) -> list[Condition]:
    if not season.heating_at(now):
        return []
    p = rule.params
    pts = {c.point_id: c for c in points_with_key(ctx, p.get("point_key", "room_temp_c"), rule.org_id)}
    dur = int(p.get("duration_s", 3600)) * 1000
    lim = float(p.get("limit_c", 18.0))
    out = []
    for pid, first, mean in _means(conn, pts, now - dur, now):
        c = pts[pid]
        # the window must be covered: a reading within one sampling interval of its start
        if mean < lim and first <= now - dur + c.interval_s * 1000:
            out.append(make_condition(rule.code, c, mean, f"{c.device_code} 室温 {mean:.1f}℃ 低于 {lim:g}℃",
                                      f"{c.device_code} room {mean:.1f} °C below {lim:g} °C"))
    return out


def eval_pressure_drop(conn: Connection, rule: AlarmRule, ctx, now: int) -> list[Condition]:
    p = rule.params
    pts = {c.point_id: c for c in points_with_key(ctx, p["point_key"], rule.org_id)}
    win = int(p.get("window_s", 900)) * 1000
    recent = {pid: mean for pid, _first, mean in _means(conn, pts, now - win, now)}
    hour_now = now - now % HOUR_MS
    base = dict(conn.execute(select(R1h.point_id, func.max(R1h.sum_value / R1h.n))
                             .where(*_window(R1h, recent, hour_now - 24 * HOUR_MS, hour_now - HOUR_MS))
                             .group_by(R1h.point_id)).all())
    out = []
    for pid, r in recent.items():
        b = base.get(pid)
        if b is not None and b - r > float(p["drop_kpa"]):
            c = pts[pid]
            out.append(make_condition(
                rule.code, c, r, f"{c.device_code} {c.name_zh} {r:.0f} kPa，比此前 {b:.0f} kPa 下降 {b - r:.0f} kPa",
                f"{c.device_code} {c.key} {r:.0f} kPa, {b - r:.0f} kPa below {b:.0f} kPa"))
    return out


def eval_data_quality(conn: Connection, rule: AlarmRule, ctx, now: int) -> list[Condition]:
    p = rule.params
    reasons = list(p.get("reasons", ["stuck_value"]))
    win = int(p.get("window_s", 1800)) * 1000
    rows = conn.execute(select(Quarantine.point_id, func.count(), func.max(Quarantine.ts_ms))
                        .where(Quarantine.reason.in_(reasons), Quarantine.point_id.is_not(None),
                               Quarantine.ts_ms >= now - win, Quarantine.ts_ms <= now)
                        .group_by(Quarantine.point_id))
    out = []
    for pid, n, _last in rows:
        c = ctx.get(pid)
        if c is None or n < int(p.get("min_count", 1)) or (rule.org_id is not None and c.org_id != rule.org_id):
            continue
        why = ", ".join(reasons)
        out.append(make_condition(rule.code, c, float(n), f"{c.device_code} {c.name_zh}：{n} 个读数被隔离（{why}）",
                                  f"{c.device_code} {c.key}: {n} readings quarantined ({why})"))
    return out


#: rule kind -> evaluator (room_min is evaluated with the heating season: :func:`conditions`)
EVALUATORS = {"threshold": eval_threshold, "rate": eval_rate, "no_data": eval_no_data, "delta_t": eval_delta_t,
              "pressure_drop": eval_pressure_drop, "data_quality": eval_data_quality}


def conditions(conn: Connection, rule: AlarmRule, ctx: dict[int, PointCtx], now_ms: int,
               season: Season, started_ms: int | None = None) -> list[Condition]:
    """The conditions of ``rule`` found at ``now_ms`` (data time [ms]); ``started_ms``: when the evaluator
    started (the start-up grace of availability rules)."""
    if rule.kind == "room_min":
        return eval_room_min(conn, rule, ctx, now_ms, season)
    if rule.kind == "no_data":
        return EVALUATORS["no_data"](conn, rule, ctx, now_ms, started_ms)
    return EVALUATORS[rule.kind](conn, rule, ctx, now_ms)
