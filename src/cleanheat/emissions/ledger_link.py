"""The link from monitoring to the programme ledger: does a heat source's area count as clean?

``source_verdicts(session, plan, period)`` returns one :class:`~cleanheat.programme.model.SourceVerdict` per
registered heat source that burns or supplies something the programme classifies (docs/evidence.md):

* the windows (:func:`period_windows`): every heating day inside the period — for a year-end (Q4) evaluation the
  whole calendar year (January–April of one season and the October–December start of the next), for Q1–Q3 the
  quarter's heating days (Q3 has none: the heating days of the year so far), cut at ``now``; season dates from
  ``data/<city>/climate.yaml``;
* the programme technology its heated area counts under (:func:`technology_for`), from the fuel and class at the
  end of the last window (following the source's dated events);
* the supervision requirement (``data/emissions/supervision.yaml``: monitoring, ultra-low, bag filter);
* the evidence state: ``no_monitoring_point`` / ``insufficient_data`` (capture below
  ``rules.yaml: min_valid_hour_share`` at some point or pollutant, or no judged hour) for a source that must be
  monitored, ``not_required`` for one that need not be and gives no sufficient data, else ``compliant`` when every
  limited pollutant's share of valid hours within the limit reaches the threshold (``supervision.yaml``), else
  ``non_compliant``. A coal source counted as ultra-low but not registered ultra-low, or a source required to
  have a bag filter that is registered without one, is ``non_compliant`` whatever its data.
"""

from __future__ import annotations

import functools
import threading
from collections import OrderedDict, defaultdict
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from pathlib import Path

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from cleanheat.assets.heat_sources import mw_per_t_h
from cleanheat.assets.tables import HeatSource, HeatSourceEvent
from cleanheat.climate import read_heating_season
from cleanheat.config import Settings
from cleanheat.emissions.compliance import (
    ComplianceSummary,
    PollutantStats,
    SeasonDates,
    day_bounds,
    fmt_share,
    pollutant_name,
    window_hours,
)
from cleanheat.emissions.hj212.codec import CHINA_TZ
from cleanheat.emissions.limits import (
    FUEL_EVENTS,
    FactsAt,
    SourceFacts,
    emissions_data_dir,
    facts_at,
    limits_path,
    profile_for,
)
from cleanheat.emissions.processing import POLLUTANTS, Rules, read_rules
from cleanheat.emissions.service import day_segment_counts, summaries_from_segments
from cleanheat.emissions.supervision import Requirement, Supervision, read_supervision, supervision_path
from cleanheat.emissions.tables import DayValue, MonitoringPoint
from cleanheat.programme.model import Period, PlanData, SourceVerdict
from cleanheat.store.base import utcnow

#: registry fuel -> programme technology (coal is split by kind and class in technology_for)
TECHNOLOGY_OF_FUEL = {"biomass": "biomass", "gas": "gas", "natural_gas": "gas", "lng": "gas",
                      "electricity": "electric", "geothermal": "geothermal", "waste_heat": "waste_heat",
                      "solar": "solar"}


def read_season(climate_yaml: Path) -> SeasonDates:
    """The heating season of ``climate.yaml`` (read again when the file changes)."""
    try:
        st = climate_yaml.stat()
        version = (st.st_mtime_ns, st.st_size)
    except OSError:
        version = None
    return _read_season(climate_yaml, version)


@functools.lru_cache(maxsize=16)
def _read_season(climate_yaml: Path, _version: tuple | None) -> SeasonDates:
    return read_heating_season(climate_yaml.parent)


def technology_for(facts: SourceFacts, at: FactsAt) -> str | None:
    """The programme technology a source's heated area is reported under (None: nothing the plan classifies).
    A coal CHP unit always counts under ``coal_chp_ultralow`` (the plan requires every one to be ultra-low);
    a coal boiler under ``coal_boiler_ultralow`` only when registered ultra-low."""
    if at.fuel == "coal":
        if facts.is_chp:
            return "coal_chp_ultralow"
        return "coal_boiler_ultralow" if at.emission_class == "ultra_low" else "coal_boiler"
    return TECHNOLOGY_OF_FUEL.get(at.fuel)


# --- windows -----------------------------------------------------------------------------------------------

def period_days(season: SeasonDates, period: Period) -> list[tuple[date, date]]:
    """The heating days a period's evaluation covers, as (first, last inclusive) windows (docs/evidence.md)."""
    y = period.year
    if period.is_year_end:
        return season.heating_days(date(y, 1, 1), date(y, 12, 31))
    first = date(y, 3 * period.quarter - 2, 1)
    days = season.heating_days(first, period.end_date())
    return days or season.heating_days(date(y, 1, 1), period.end_date())


def clipped_windows(days: list[tuple[date, date]], now: datetime) -> list[tuple[datetime, datetime]]:
    """The day windows as [start, end) aware datetimes (Beijing days), cut at the last full hour before ``now``;
    windows wholly after ``now`` are dropped."""
    cut = now.replace(minute=0, second=0, microsecond=0)
    out = []
    for first, last in days:
        lo, hi = day_bounds(first, last)
        hi = min(hi, cut)
        if hi > lo:
            out.append((lo, hi))
    return out


def as_days(windows: list[tuple[datetime, datetime]]) -> list[tuple[date, date]]:
    """[start, end) datetimes -> (first day, last day inclusive) in Beijing time (for display)."""
    return [(lo.astimezone(CHINA_TZ).date(), (hi - timedelta(microseconds=1)).astimezone(CHINA_TZ).date())
            for lo, hi in windows]


def period_cuts(periods: list[Period], *, settings: Settings | None = None, now: datetime | None = None
                ) -> dict[Period, tuple[tuple[datetime, datetime], ...]]:
    """The [start, end) windows each period's evidence covers at ``now`` (they grow by the hour while the
    period runs): part of the key of the programme's prepared figures."""
    settings = settings or Settings()
    season = read_season(settings.city_dir / "climate.yaml")
    now = now or utcnow()
    return {p: tuple(clipped_windows(period_days(season, p), now)) for p in periods}


def period_windows(periods: list[Period], *, settings: Settings | None = None, now: datetime | None = None
                   ) -> dict[Period, list[tuple[date, date]]]:
    """The heating days each period's evaluation covered (after the cut at ``now``)."""
    settings = settings or Settings()
    season = read_season(settings.city_dir / "climate.yaml")
    now = now or utcnow()
    return {p: as_days(clipped_windows(period_days(season, p), now)) for p in periods}


# --- verdicts ----------------------------------------------------------------------------------------------

def _combine(summaries: list[ComplianceSummary], threshold: float, min_capture: float) -> ComplianceSummary | None:
    """One summary of a source's points: hours added up per pollutant; the capture is the lowest point's."""
    if not summaries:
        return None
    first = summaries[0]
    per: dict[str, list[PollutantStats]] = defaultdict(list)
    for s in summaries:
        for p, st in s.pollutants.items():
            per[p].append(st)
    pollutants = {}
    for p in POLLUTANTS:
        sts = per.get(p)
        if not sts:
            continue
        means = [(st.mean_zs_mg_m3, st.valid_hours) for st in sts if st.mean_zs_mg_m3 is not None]
        wsum = sum(w for _, w in means)
        pollutants[p] = PollutantStats(
            p, sum(s.hours_in_period for s in sts), sum(s.hours_with_data for s in sts),
            sum(s.valid_hours for s in sts),
            sum(s.within_hours for s in sts), sum(s.exceeded_hours for s in sts), sum(s.judged_hours for s in sts),
            max((s.max_zs_mg_m3 for s in sts if s.max_zs_mg_m3 is not None), default=None),
            sum(m * w for m, w in means) / wsum if wsum else None,
            max((s.limit_mg_m3 for s in sts if s.limit_mg_m3 is not None), default=None))
    return ComplianceSummary(first.start, first.end, pollutants, threshold, min_capture,
                             sum(s.exceedance_events for s in summaries), parts=tuple(summaries),
                             windows=first.windows)


def source_verdicts(session: Session, plan: PlanData, period: Period, *, settings: Settings | None = None,
                    threshold: float | None = None, rules: Rules | None = None,
                    now: datetime | None = None) -> list[SourceVerdict]:
    """Evidence on the registered sources for ``period`` (see the module docstring)."""
    return source_verdicts_for_periods(session, plan, [period], settings=settings, threshold=threshold,
                                       rules=rules, now=now)[period]


@dataclass
class _Ctx:
    """What every window's evaluation shares (read once per call)."""

    sources: list[HeatSource]
    facts: dict[int, SourceFacts]
    points: dict[int, list[MonitoringPoint]]
    supervision: Supervision
    rules: Rules
    threshold: float | None
    #: (source id, day) -> (facts at, technology, requirement, threshold): the same for every window ending then
    static: dict = field(default_factory=dict)
    #: segment_counts of all points over all the call's windows (one query)
    counts: dict = field(default_factory=dict)

    def static_for(self, src: HeatSource, last: date) -> tuple:
        key = (src.id, last)
        if key not in self.static:
            f = self.facts[src.id]
            at = facts_at(f, last)
            key2 = (src.id, at)  # what follows depends on the date only through the facts at it
            if key2 not in self.static:
                tech = technology_for(f, at)
                req = self.supervision.requirement_for(f, last, src.area_type, at) if tech else None
                thr = (self.threshold if self.threshold is not None else
                       self.supervision.threshold_for(profile_for(f, last)).value) if tech else None
                base = None
                if tech:
                    bag = (src.extra or {}).get("bag_filter")
                    base = SourceVerdict(
                        source_code=src.code, name_zh=src.name_zh, admin_unit_code=src.admin_unit_code,
                        area_type=src.area_type, technology=tech, served_area_m2=float(src.served_area_m2 or 0.0),
                        compliant=None, share_within_limits=None, valid_hours=0, required=req.monitoring,
                        points=tuple(p.mn for p in self.points[src.id]),
                        bag_filter=bag if isinstance(bag, bool) else None, rules=req.rules, threshold=thr)
                self.static[key2] = (at, tech, req, thr, base)
            self.static[key] = self.static[key2]
        return self.static[key]


def all_source_facts(session: Session, sources: list[HeatSource], mw_per_t_h_value: float
                     ) -> dict[int, SourceFacts]:
    """The dated facts of many sources with one query for all their events; ``mw_per_t_h_value`` [MW per t/h]
    is the city's conversion (``assets.heat_sources.mw_per_t_h(settings.city_dir)``)."""
    events: dict[int, list[tuple[str, date]]] = defaultdict(list)
    for sid, ev, d in session.execute(select(HeatSourceEvent.source_id, HeatSourceEvent.event,
                                             HeatSourceEvent.effective_date)):
        events[sid].append((ev, d))
    return {s.id: SourceFacts(kind=s.kind, fuel=s.fuel, current_fuel=s.current_fuel,
                              emission_class=s.emission_class, vintage=s.vintage, capacity_t_h=s.capacity_t_h,
                              capacity_mw=s.capacity_mw, status=s.status, events=tuple(events[s.id]),
                              commissioned_year=s.commissioned_year, mw_per_t_h=mw_per_t_h_value)
            for s in sources}


def source_verdicts_for_periods(session: Session, plan: PlanData, periods: list[Period], *,
                                settings: Settings | None = None, threshold: float | None = None,
                                rules: Rules | None = None, now: datetime | None = None
                                ) -> dict[Period, list[SourceVerdict]]:
    """:func:`source_verdicts` for several periods (a trend): the sources, their dated facts and the rules are
    read once, each distinct set of windows is evaluated once, with one aggregate query for all points.
    ``threshold`` overrides the per-source thresholds of ``supervision.yaml`` (e.g. for a what-if)."""
    settings = settings or Settings()
    season = read_season(settings.city_dir / "climate.yaml")
    now = now or utcnow()
    plan_windows = {}
    for period in periods:
        days = period_days(season, period)
        plan_windows[period] = (clipped_windows(days, now), days[-1][1] if days else period.end_date())
    cacheable = threshold is None and rules is None
    stamp = inputs_fingerprint(session, settings) if cacheable else None
    hits = {p: _CACHE.get((stamp, tuple(w), last)) for p, (w, last) in plan_windows.items()} if cacheable else {}
    missing = {p: v for p, v in plan_windows.items() if hits.get(p) is None}
    out = _compute(session, settings, missing, threshold, rules) if missing else {}
    if cacheable:
        for p, (w, last) in missing.items():
            _CACHE.put((stamp, tuple(w), last), tuple(out[p]))
    return {p: list(hits[p]) if p not in missing else out[p] for p in plan_windows}


class _VerdictCache:
    """Verdicts per (inputs fingerprint, windows): computed once per change of their inputs (issue #13 item 1),
    per process, least recently used first out."""

    def __init__(self, size: int = 64) -> None:
        self.size = size
        self.data: OrderedDict[tuple, tuple[SourceVerdict, ...]] = OrderedDict()
        self.lock = threading.Lock()

    def get(self, key: tuple) -> tuple[SourceVerdict, ...] | None:
        with self.lock:
            v = self.data.get(key)
            if v is not None:
                self.data.move_to_end(key)
            return v

    def put(self, key: tuple, value: tuple[SourceVerdict, ...]) -> None:
        with self.lock:
            self.data[key] = value
            self.data.move_to_end(key)
            while len(self.data) > self.size:
                self.data.popitem(last=False)

    def clear(self) -> None:
        with self.lock:
            self.data.clear()


_CACHE = _VerdictCache()


def newest_day_value(session: Session) -> datetime | None:
    """When the newest daily value was written (every writer of ``emissions_days`` sets ``computed_at``;
    indexed)."""
    return session.scalar(select(func.max(DayValue.computed_at)))


def days_written_since(session: Session, since: datetime | None) -> tuple[date, date] | None:
    """The first and last day of the daily values written after ``since`` (None: none was). Reads only those
    rows (the ``computed_at`` index): whether new monitoring data touch the days an evaluation covered."""
    q = select(func.min(DayValue.day), func.max(DayValue.day)).where(DayValue.computed_at.is_not(None))
    if since is not None:
        q = q.where(DayValue.computed_at > since)
    first, last = session.execute(q).one()
    return None if first is None else (first, last)


def inputs_fingerprint(session: Session, settings: Settings, *, days: bool = True) -> tuple:
    """What the verdicts depend on, read cheaply: the newest daily value (left out with ``days=False``, for a
    caller that checks the days it covered with :func:`days_written_since`), the monitoring points, the registry
    (sources and their dated events), the rule files, and the database (two databases never share a stamp)."""
    days = newest_day_value(session) if days else None
    pts = session.execute(select(func.count(), func.max(MonitoringPoint.id), func.sum(MonitoringPoint.source_id),
                                 func.sum(case((MonitoringPoint.active, 1), else_=0)))).one()
    srcs = session.execute(select(func.count(), func.max(HeatSource.updated_at), func.max(HeatSource.id))).one()
    evs = session.execute(select(func.count(), func.max(HeatSourceEvent.id),
                                 func.max(HeatSourceEvent.recorded_at))).one()
    files = []
    for path in (supervision_path(settings.data_dir), emissions_data_dir(settings.data_dir) / "rules.yaml",
                 limits_path(settings.data_dir), settings.city_dir / "climate.yaml",
                 settings.city_dir / "conversions.yaml"):
        try:
            st = path.stat()
            files.append((str(path), st.st_mtime_ns, st.st_size))
        except OSError:
            files.append((str(path), None, None))
    return (str(session.get_bind().url), days, tuple(pts), tuple(srcs), tuple(evs), tuple(files))


def _compute(session: Session, settings: Settings, plan_windows: dict, threshold: float | None,
             rules: Rules | None) -> dict[Period, list[SourceVerdict]]:
    points: dict[int, list[MonitoringPoint]] = defaultdict(list)
    for p in session.scalars(select(MonitoringPoint)):
        points[p.source_id].append(p)
    sources = list(session.scalars(select(HeatSource).order_by(HeatSource.code)))
    ctx = _Ctx(sources, all_source_facts(session, sources, mw_per_t_h(settings.city_dir)), points,
               read_supervision(supervision_path(settings.data_dir)), rules or read_rules(settings.data_dir),
               threshold)
    segments = elementary_segments([w for w, _ in plan_windows.values()])
    all_points = [p.id for ps in points.values() for p in ps]
    ctx.counts = day_segment_counts(session, all_points, segments)
    by_window: dict[tuple, list[SourceVerdict]] = {}
    out: dict[Period, list[SourceVerdict]] = {}
    for period, (windows, last) in plan_windows.items():
        key = (tuple(windows), last)
        if key not in by_window:
            seg_ids = [i for i, (a, b) in enumerate(segments) if any(lo <= a and b <= hi for lo, hi in windows)]
            by_window[key] = _window_verdicts(ctx, windows, last, seg_ids)
        out[period] = list(by_window[key])
    return out


def elementary_segments(window_sets: list[list[tuple[datetime, datetime]]]) -> list[tuple[datetime, datetime]]:
    """The disjoint pieces every window of every set is a union of (cut at all their boundaries)."""
    windows = {w for ws in window_sets for w in ws}
    cuts = sorted({t for w in windows for t in w})
    return [(a, b) for a, b in zip(cuts, cuts[1:], strict=False) if any(lo <= a and b <= hi for lo, hi in windows)]


def in_service_days(facts: SourceFacts, day_windows: list[tuple[date, date]], last: date | None = None) -> int:
    """Days of the (first, last inclusive) windows on which the source was in service under the technology it
    counts under at ``last`` (as ``facts_at``: from its first ``commissioned`` event to its first ``demolished``
    event; without events, by its status). A fuel change (e.g. ``converted_biomass``) on or before ``last``
    starts the count again: the days it burnt the earlier fuel were under other rules (docs/evidence.md)."""
    if not facts.events and facts.status in ("demolished", "retired"):
        return 0
    commissioned = [d for ev, d in facts.events if ev == "commissioned"]
    gone = [d for ev, d in facts.events if ev == "demolished"]
    start, end = (min(commissioned) if commissioned else None), (min(gone) if gone else None)
    changes = [d for ev, d in facts.events if ev in FUEL_EVENTS and (last is None or d <= last)]
    if changes:
        start = max(start, max(changes)) if start else max(changes)
    n = 0
    for first, last in day_windows:
        lo = max(first, start) if start else first
        hi = min(last, end - timedelta(days=1)) if end else last
        n += max(0, (hi - lo).days + 1)
    return n


def _window_verdicts(ctx: _Ctx, windows: list[tuple[datetime, datetime]], last: date, seg_ids: list[int]
                     ) -> list[SourceVerdict]:
    """The verdicts of every classified source over ``windows`` (``last``: the day its facts are taken at)."""
    day_windows = as_days(windows)
    hours_total = window_hours(windows)
    todo: list[tuple[HeatSource, SourceVerdict, FactsAt, Requirement, float]] = []
    hours_by_point: dict[int, int] = {}
    verdicts: dict[int, SourceVerdict] = {}
    for src in ctx.sources:
        f = ctx.facts[src.id]
        at, tech, req, thr, base = ctx.static_for(src, last)
        if tech is None:
            continue
        in_service = min(in_service_days(f, day_windows, last) * 24, hours_total)
        if in_service == 0:  # heats nothing in the windows: nothing to verify, no area to apportion
            verdicts[src.id] = replace(base, evidence="not_required", served_area_m2=0.0,
                                       reason="期内未运行 / not in service in the windows")
            continue
        if not ctx.points[src.id]:  # no data to read: the verdict depends on the registration only
            key = ("no-point", src.id, at)
            if key not in ctx.static:
                ctx.static[key] = _finish(base, tech, at, req, None)
            verdicts[src.id] = ctx.static[key]
            continue
        todo.append((src, base, at, req, thr))
        for p in ctx.points[src.id]:
            hours_by_point[p.id] = in_service
    sums = summaries_from_segments(ctx.counts, seg_ids, list(hours_by_point), windows,
                                   threshold=ctx.threshold or 0.95, rules=ctx.rules,
                                   hours_by_point=hours_by_point) if hours_by_point and windows else {}
    for src, base, at, req, thr in todo:
        summary = _combine([replace(sums[p.id], label=p.mn) for p in ctx.points[src.id]
                            if p.id in sums and (p.active or sums[p.id].pollutants)], thr,
                           ctx.rules.min_valid_hour_share)
        verdicts[src.id] = _finish(base, base.technology, at, req, summary)
    return [verdicts[src.id] for src in ctx.sources if src.id in verdicts]


def _pollutants(summary: ComplianceSummary | None) -> dict[str, dict]:
    if summary is None:
        return {}
    return {pollutant_name(p.pollutant): {"valid_hours": p.judged_hours, "compliant_share": p.share_within}
            for p in summary.pollutants.values() if p.limit_mg_m3 is not None}


def _finish(base: SourceVerdict, tech: str, at: FactsAt, req: Requirement, summary: ComplianceSummary | None
            ) -> SourceVerdict:
    """The evidence state and its reason (docs/evidence.md, "States")."""
    share = summary.share_within if summary else None
    capture = summary.capture if summary else None
    if summary is None or summary.compliant is None or (capture or 0.0) < summary.min_capture:
        if not req.monitoring:
            state, why = "not_required", "监测非必需 / monitoring not required"
        elif summary is None and not base.points:
            state, why = "no_monitoring_point", "须在线监测但无监测点 / must be monitored, has no monitoring point"
        else:
            state = "insufficient_data"
            why = (f"数据不足 / insufficient data: {summary.reason_zh} / {summary.reason}" if summary
                   else "期内无有效小时数据 / no valid hourly data in the windows")
    elif summary.compliant:
        state = "compliant"
        why = "各污染物有效小时达标率 / share of valid hours within the limit: " + ", ".join(
            f"{pollutant_name(p.pollutant)} {fmt_share(p.share_within)}" for p in summary.limited) + \
            f" ≥ {fmt_share(summary.threshold)}"
    else:
        state, why = "non_compliant", f"{summary.reason_zh} / {summary.reason}"
    if tech.endswith("_ultralow") and at.emission_class != "ultra_low":
        state, why = "non_compliant", f"未登记为超低排放 / not registered as ultra-low emission; {why}"
    if req.bag_filter and base.bag_filter is False:
        state, why = "non_compliant", f"未配套布袋除尘 / no bag filter registered (方案 §四(五)); {why}"
    compliant = {"compliant": True, "non_compliant": False}.get(state)
    return replace(base, evidence=state, compliant=compliant, share_within_limits=share,
                   valid_hours=summary.valid_hours if summary else 0, reason=why, pollutants=_pollutants(summary),
                   capture=capture)
