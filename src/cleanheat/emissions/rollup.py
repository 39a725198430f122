"""Evaluation after ingest: hours, days, exceedance events and missing-data alarms (store side).

:func:`run_maintenance` is what the receiver (and the web app) run periodically. It is idempotent and safe to
run from several processes: it works off ``emissions_dirty_hours`` (filled by the bulk writer) and deletes only
the rows it processed.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from sqlalchemy import delete, select, tuple_
from sqlalchemy.orm import Session

from cleanheat.assets.heat_sources import mw_per_t_h
from cleanheat.assets.tables import HeatSource, HeatSourceEvent
from cleanheat.emissions import processing as proc
from cleanheat.emissions.hj212.codec import CHINA_TZ
from cleanheat.emissions.limits import (
    LimitSet,
    LimitTable,
    SourceFacts,
    facts_at,
    limits_path,
    profile_for,
    read_limit_table,
)
from cleanheat.emissions.processing import HOUR, O2, POLLUTANTS, Rules, Sample
from cleanheat.emissions.tables import Alarm, DayValue, DirtyHour, Exceedance, MonitoringPoint, Reading
from cleanheat.emissions.tables import HourValue as HourRow
from cleanheat.store.base import utcnow
from cleanheat.timeutil import PROGRAMME_UTC_OFFSET

EVENT_WINDOW = timedelta(hours=72)


def local_day(ts: datetime) -> date:
    """The Beijing-time calendar day of an instant."""
    return ts.astimezone(CHINA_TZ).date()


def day_range_utc(first: date, last: date) -> tuple[datetime, datetime]:
    lo = datetime(first.year, first.month, first.day, tzinfo=CHINA_TZ).astimezone(UTC)
    hi = datetime(last.year, last.month, last.day, tzinfo=CHINA_TZ).astimezone(UTC) + timedelta(days=1)
    return lo, hi


# --- the source behind a point -------------------------------------------------------------------------

def source_facts(session: Session, source: HeatSource, mw_per_t_h_value: float) -> SourceFacts:
    """The registry's dated facts of ``source``; ``mw_per_t_h_value`` [MW per t/h] is the city's conversion
    (``assets.heat_sources.mw_per_t_h(settings.city_dir)``)."""
    events = session.execute(select(HeatSourceEvent.event, HeatSourceEvent.effective_date)
                             .where(HeatSourceEvent.source_id == source.id)).all()
    return SourceFacts(kind=source.kind, fuel=source.fuel, current_fuel=source.current_fuel,
                       emission_class=source.emission_class, vintage=source.vintage,
                       capacity_t_h=source.capacity_t_h, capacity_mw=source.capacity_mw, status=source.status,
                       events=tuple((e, d) for e, d in events), commissioned_year=source.commissioned_year,
                       mw_per_t_h=mw_per_t_h_value)


@dataclass
class PointContext:
    """A point with what its evaluation needs: the source's facts, the limit table, the O2 override."""

    point_id: int
    facts: SourceFacts
    table: LimitTable
    ref_o2_override: float | None = None

    def __post_init__(self) -> None:
        self._cache: dict[date, tuple[LimitSet | None, float | None]] = {}

    def limits_on(self, day: date) -> tuple[LimitSet | None, float | None]:
        """The limit set and the reference O2 [%] on a day."""
        if day not in self._cache:
            profile = profile_for(self.facts, day)
            ls = self.table.select(profile, day) if profile else None
            ref = self.ref_o2_override if self.ref_o2_override is not None else (ls.ref_o2_pct if ls else None)
            self._cache[day] = (ls, ref)
        return self._cache[day]


def point_context(session: Session, point: MonitoringPoint, table: LimitTable,
                  mw_per_t_h_value: float) -> PointContext:
    """What evaluating ``point`` needs: its source's facts (with the city's ``mw_per_t_h_value`` [MW per t/h]),
    the limit ``table``, its reference O2 [%]."""
    return PointContext(point.id, source_facts(session, point.source, mw_per_t_h_value), table, point.ref_o2_pct)


def maintenance_rules(data_dir: Path, city_dir: Path) -> dict:
    """The keyword arguments ``rules``, ``table`` and ``mw_per_t_h_value`` of :func:`run_maintenance` for
    ``data_dir`` and ``city_dir`` (``Settings.data_dir``, ``Settings.city_dir``)."""
    return {"rules": proc.read_rules(data_dir), "table": read_limit_table(limits_path(data_dir)),
            "mw_per_t_h_value": mw_per_t_h(city_dir)}


# --- upserts ---------------------------------------------------------------------------------------------

def upsert(session: Session, table, rows: list[dict], keys: Iterable[str]) -> None:
    """INSERT ... ON CONFLICT (keys) DO UPDATE for SQLite and PostgreSQL."""
    if not rows:
        return
    keys = list(keys)
    if session.get_bind().dialect.name == "sqlite":
        from sqlalchemy.dialects.sqlite import insert
    else:
        from sqlalchemy.dialects.postgresql import insert
    for i in range(0, len(rows), 2000):
        chunk = rows[i:i + 2000]
        stmt = insert(table)
        cols = [c for c in chunk[0] if c not in keys]
        stmt = stmt.on_conflict_do_update(index_elements=keys, set_={c: stmt.excluded[c] for c in cols})
        session.execute(stmt, chunk)


# --- hours ---------------------------------------------------------------------------------------------

def _sample(row, o2_row) -> Sample:
    return Sample(conc_mg_m3=row.avg, o2_pct=o2_row.avg if o2_row is not None else None, flag=row.flag,
                  device_zs_mg_m3=row.zs_avg, o2_flag=o2_row.flag if o2_row is not None else None)


def evaluate_hours(session: Session, ctx: PointContext, hours: Iterable[datetime], rules: Rules) -> list[dict]:
    """Evaluate (and store) the given hours of one point from its stored minute and hourly readings."""
    hours = sorted(set(hours))
    if not hours:
        return []
    lo, hi = hours[0], hours[-1] + HOUR
    rows = session.execute(
        select(Reading).where(Reading.point_id == ctx.point_id, Reading.interval.in_(("minute", "hour")),
                              Reading.ts >= lo, Reading.ts < hi, Reading.factor.in_((*POLLUTANTS, O2)))
    ).scalars().all()
    minutes: dict[datetime, dict[datetime, dict[str, Reading]]] = defaultdict(lambda: defaultdict(dict))
    device: dict[datetime, dict[str, Reading]] = defaultdict(dict)
    for r in rows:
        if r.interval == "minute":
            minutes[proc.hour_start(r.ts)][r.ts][r.factor] = r
        else:
            device[r.ts][r.factor] = r
    out = []
    now = utcnow()
    for h in hours:
        limit_set, ref_o2 = ctx.limits_on(local_day(h))
        mins = minutes.get(h, {})
        dev = device.get(h, {})
        present = {f for m in mins.values() for f in m} | set(dev)
        for p in POLLUTANTS:
            if p not in present:
                continue
            samples = [_sample(m[p], m.get(O2)) for _, m in sorted(mins.items()) if p in m]
            dev_sample = _sample(dev[p], dev.get(O2)) if p in dev else None
            limit = limit_set.limit(p) if limit_set else None
            v = proc.evaluate_hour(p, samples, dev_sample, ref_o2_pct=ref_o2, limit_mg_m3=limit, rules=rules)
            out.append({"point_id": ctx.point_id, "ts": h, "pollutant": p, "conc_mg_m3": v.conc_mg_m3,
                            "o2_pct": v.o2_pct, "conc_zs_mg_m3": v.conc_zs_mg_m3, "device_zs_mg_m3": v.device_zs_mg_m3,
                            "limit_mg_m3": v.limit_mg_m3, "ref_o2_pct": ref_o2,
                            "limit_set": limit_set.id if limit_set else None, "valid": v.valid, "exceeded": v.exceeded,
                            "valid_minutes": v.valid_minutes, "minutes_received": v.minutes_received, "flag": v.flag,
                            "basis": v.basis, "reason": v.reason[:300], "computed_at": now})
    upsert(session, HourRow.__table__, out, ("point_id", "ts", "pollutant"))
    return out


def rebuild_days(session: Session, point_id: int, days: Iterable[date], rules: Rules) -> int:
    """Recompute the daily values of the given Beijing-time days from the stored hours."""
    days = sorted(set(days))
    if not days:
        return 0
    lo, hi = day_range_utc(days[0], days[-1])
    hrs = session.execute(select(HourRow.ts, HourRow.pollutant, HourRow.conc_zs_mg_m3, HourRow.valid,
                                 HourRow.exceeded, HourRow.limit_mg_m3)
                          .where(HourRow.point_id == point_id, HourRow.ts >= lo, HourRow.ts < hi)).all()
    grouped: dict[tuple[date, str], list] = defaultdict(list)
    limits: dict[tuple[date, str], float | None] = {}
    wanted = set(days)
    for ts, pollutant, zs, valid, exceeded, limit in hrs:
        d = (ts + PROGRAMME_UTC_OFFSET).date()  # Beijing day (UTC+8, no daylight saving)
        if d in wanted:
            grouped[(d, pollutant)].append(proc.HourValue(
                pollutant, None, None, zs, None, valid, None, None, None, "", "", limit, exceeded))
            if limit is not None:
                limits[(d, pollutant)] = limit
    rows = []
    stamp = utcnow()
    for (d, p), values in grouped.items():
        dv = proc.evaluate_day(p, values, limit_mg_m3=limits.get((d, p)), rules=rules)
        rows.append({"point_id": point_id, "day": d, "pollutant": p, "valid_hours": dv.valid_hours, "valid": dv.valid,
                         "conc_zs_mg_m3": dv.conc_zs_mg_m3, "max_zs_mg_m3": dv.max_zs_mg_m3,
                         "exceeded_hours": dv.exceeded_hours, "limit_mg_m3": dv.limit_mg_m3,
                     "judged_hours": dv.judged_hours, "data_hours": dv.data_hours, "computed_at": stamp})
    upsert(session, DayValue.__table__, rows, ("point_id", "day", "pollutant"))
    return len(rows)


def rebuild_exceedances(session: Session, point_id: int, lo: datetime, hi: datetime) -> int:
    """Re-derive the exceedance events of a point around [lo, hi) from its hours; acknowledgements are kept."""
    wlo, whi = lo - EVENT_WINDOW, hi + EVENT_WINDOW
    hrs = session.execute(select(HourRow.ts, HourRow.pollutant, HourRow.exceeded, HourRow.conc_zs_mg_m3,
                                 HourRow.limit_mg_m3)
                          .where(HourRow.point_id == point_id, HourRow.ts >= wlo, HourRow.ts < whi)).all()
    by_p: dict[str, list] = defaultdict(list)
    newest: dict[str, datetime] = {}
    for ts, p, exc, zs, lim in hrs:
        by_p[p].append((ts, exc, zs, lim))
    for p, ts in session.execute(select(HourRow.pollutant, HourRow.ts).where(HourRow.point_id == point_id)
                                 .order_by(HourRow.ts.desc()).limit(len(POLLUTANTS) * 4)).all():
        newest.setdefault(p, ts)
    existing = list(session.scalars(select(Exceedance).where(
        Exceedance.point_id == point_id, Exceedance.end_ts > wlo, Exceedance.start_ts < whi)))
    used: set[int] = set()
    n = 0
    for p, values in by_p.items():
        for run in proc.exceedance_runs(values):
            overlapping = [e for e in existing if e.pollutant == p and e.id not in used
                           and e.start_ts < run.end and e.end_ts > run.start]
            start = run.start
            if overlapping and run.start <= wlo:
                start = min([run.start] + [e.start_ts for e in overlapping])
            active = newest.get(p) is not None and run.end == newest[p] + HOUR
            if overlapping:
                ev = overlapping[0]
                for extra in overlapping[1:]:
                    if extra.acknowledged_at and not ev.acknowledged_at:
                        ev.acknowledged_at, ev.acknowledged_by = extra.acknowledged_at, extra.acknowledged_by
                        ev.note = ev.note or extra.note
                    session.delete(extra)
                    used.add(extra.id)
                used.add(ev.id)
            else:
                ev = Exceedance(point_id=point_id, pollutant=p)
                session.add(ev)
            ev.start_ts, ev.end_ts = start, run.end
            ev.hours = int((run.end - start) / HOUR)
            ev.max_zs_mg_m3 = max(run.max_zs_mg_m3, ev.max_zs_mg_m3 or 0) if start != run.start else run.max_zs_mg_m3
            ev.limit_mg_m3, ev.active = run.limit_mg_m3, active
            n += 1
    for e in existing:
        if e.id not in used and e.start_ts >= wlo and e.end_ts <= whi:
            session.delete(e)  # the hours were re-evaluated and are no longer over the limit
    session.flush()
    return n


@dataclass(frozen=True)
class MaintenanceStats:
    hours: int
    days: int
    events: int
    alarms_raised: int
    alarms_cleared: int


def evaluate_dirty(session: Session, *, rules: Rules, table: LimitTable, mw_per_t_h_value: float,
                   max_hours: int = 20000) -> tuple[int, int, int]:
    """Evaluate queued hours (and their days and exceedance events). Returns (hours, days, events)."""
    dirty = session.execute(select(DirtyHour.point_id, DirtyHour.ts).order_by(DirtyHour.point_id, DirtyHour.ts)
                            .limit(max_hours)).all()
    if not dirty:
        return 0, 0, 0
    by_point: dict[int, list[datetime]] = defaultdict(list)
    for pid, ts in dirty:
        by_point[pid].append(ts)
    n_hours = n_days = n_events = 0
    for pid, hours in by_point.items():
        point = session.get(MonitoringPoint, pid)
        if point is None:
            continue
        ctx = point_context(session, point, table, mw_per_t_h_value)
        out = evaluate_hours(session, ctx, hours, rules)
        n_hours += len(out)
        n_days += rebuild_days(session, pid, {local_day(h) for h in hours}, rules)
        n_events += rebuild_exceedances(session, pid, min(hours), max(hours) + HOUR)
        newest = max((r["ts"] for r in out), default=None)
        if newest is not None and (point.last_hour_ts is None or newest > point.last_hour_ts):
            point.last_hour_ts = newest
    keys = [(pid, ts) for pid, ts in dirty]
    for i in range(0, len(keys), 500):
        session.execute(delete(DirtyHour).where(tuple_(DirtyHour.point_id, DirtyHour.ts).in_(keys[i:i + 500])))
    session.flush()
    return n_hours, n_days, n_events


def check_missing_data(session: Session, now: datetime, rules: Rules, mw_per_t_h_value: float) -> tuple[int, int]:
    """Raise a ``missing_data`` alarm for every active point without hourly data for over the allowed time,
    and clear it when data comes again (only state changes are written). Returns (raised, cleared)."""
    open_alarms = {a.point_id: a for a in session.scalars(
        select(Alarm).where(Alarm.kind == "missing_data", Alarm.cleared_at.is_(None)))}
    raised = cleared = 0
    for point in session.scalars(select(MonitoringPoint)):
        in_service = point.active and facts_at(source_facts(session, point.source, mw_per_t_h_value),
                                                  local_day(now)).in_service
        missing = in_service and proc.hourly_data_missing(point.last_hour_ts, now, rules)
        alarm = open_alarms.get(point.id)
        if missing and alarm is None:
            since = (point.last_hour_ts + HOUR + timedelta(minutes=rules.missing_hourly_after_min)
                     if point.last_hour_ts else max(point.created_at, now - timedelta(minutes=1)))
            last = point.last_hour_ts.astimezone(CHINA_TZ).strftime("%Y-%m-%d %H:00") if point.last_hour_ts \
                else "—"
            session.add(Alarm(point_id=point.id, kind="missing_data", started_at=min(since, now),
                              detail=f"无小时数据超过 {rules.missing_hourly_after_min} 分钟；最新小时 {last} / "
                                     f"no hourly data for over {rules.missing_hourly_after_min} min"))
            raised += 1
        elif not missing and alarm is not None:
            alarm.cleared_at = now
            cleared += 1
    session.flush()
    return raised, cleared


def run_maintenance(session: Session, *, rules: Rules, table: LimitTable, mw_per_t_h_value: float,
                    now: datetime | None = None, max_rounds: int = 50) -> MaintenanceStats:
    """Evaluate the queued hours (up to ``max_rounds`` batches), then raise / clear missing-data alarms, with
    the ``rules`` and limit ``table`` of the settings' data directory and the city's ``mw_per_t_h_value``
    [MW per t/h] (:func:`maintenance_rules`)."""
    now = now or utcnow()
    hours = days = events = 0
    for _ in range(max_rounds):
        h, d, e = evaluate_dirty(session, rules=rules, table=table, mw_per_t_h_value=mw_per_t_h_value)
        hours, days, events = hours + h, days + d, events + e
        if not session.execute(select(DirtyHour.point_id).limit(1)).first():
            break
    raised, cleared = check_missing_data(session, now, rules, mw_per_t_h_value)
    return MaintenanceStats(hours, days, events, raised, cleared)
