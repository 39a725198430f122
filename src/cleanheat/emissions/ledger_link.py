"""The link from monitoring to the programme ledger: does a heat source's area count as clean?

``source_verdicts(session, plan, period)`` returns one :class:`~cleanheat.programme.model.SourceVerdict` per
registered heat source with a monitoring point (sources without one give no evidence and are not listed). For each:

* the window: the heating season containing the end of ``period``, or the last one that ended before it, cut at
  the period's end (season dates from ``data/<city>/climate.yaml``);
* the programme technology its heated area counts under: coal CHP -> ``coal_chp_ultralow``; coal boiler of class
  ultra_low -> ``coal_boiler_ultralow`` (otherwise ``coal_boiler``); biomass -> ``biomass``; gas -> ``gas``
  (fuel and class as they were at the end of the window, following the source's dated events);
* compliance: the share of valid pollutant-hours within limits over the window (``compliance.py``) against
  ``threshold`` (``Settings.compliance_threshold`` unless given), with a data capture of at least
  ``min_valid_hour_share`` measured against the hours the source was in service, at every monitoring point of
  the source (inactive points without data in the window are left out); None when there is no evidence (no
  point, or no valid hour with a limit);
* a coal source counted under an ``*_ultralow`` technology that is not registered as ultra-low at that time is
  not compliant, whatever its data (reason given).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import replace
from datetime import date, datetime, timedelta
from pathlib import Path

import yaml
from sqlalchemy import select
from sqlalchemy.orm import Session

from cleanheat.assets.tables import HeatSource
from cleanheat.config import Settings
from cleanheat.emissions.compliance import ComplianceSummary, PollutantStats, SeasonDates, day_bounds
from cleanheat.emissions.limits import FactsAt, SourceFacts, facts_at
from cleanheat.emissions.processing import POLLUTANTS, Rules, read_rules
from cleanheat.emissions.rollup import source_facts
from cleanheat.emissions.service import compliance_summaries
from cleanheat.emissions.tables import MonitoringPoint
from cleanheat.programme.model import Period, PlanData, SourceVerdict
from cleanheat.store.base import utcnow


def read_season(climate_yaml: Path) -> SeasonDates:
    hs = yaml.safe_load(climate_yaml.read_text(encoding="utf-8"))["heating_season"]
    return SeasonDates(int(hs["start"]["month"]), int(hs["start"]["day"]), int(hs["end"]["month"]),
                       int(hs["end"]["day"]))


def technology_for(facts: SourceFacts, at: FactsAt) -> str | None:
    """The programme technology a source's heated area is reported under (None: not a monitored kind)."""
    if at.fuel == "coal":
        if facts.is_chp:
            return "coal_chp_ultralow"
        return "coal_boiler_ultralow" if at.emission_class == "ultra_low" else "coal_boiler"
    if at.fuel == "biomass":
        return "biomass"
    if at.fuel in ("gas", "natural_gas", "lng"):
        return "gas"
    return None


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
            p, sum(s.hours_in_period for s in sts), sum(s.hours_with_data for s in sts), sum(s.valid_hours for s in sts),
            sum(s.within_hours for s in sts), sum(s.exceeded_hours for s in sts), sum(s.judged_hours for s in sts),
            max((s.max_zs_mg_m3 for s in sts if s.max_zs_mg_m3 is not None), default=None),
            sum(m * w for m, w in means) / wsum if wsum else None,
            max((s.limit_mg_m3 for s in sts if s.limit_mg_m3 is not None), default=None))
    return ComplianceSummary(first.start, first.end, pollutants, threshold, min_capture,
                             sum(s.exceedance_events for s in summaries), parts=tuple(summaries))


def source_verdicts(session: Session, plan: PlanData, period: Period, *, settings: Settings | None = None,
                    threshold: float | None = None, rules: Rules | None = None,
                    now: datetime | None = None) -> list[SourceVerdict]:
    """Monitoring verdicts on the registered combustion sources for ``period`` (see the module docstring)."""
    return source_verdicts_for_periods(session, plan, [period], settings=settings, threshold=threshold,
                                       rules=rules, now=now)[period]


def source_verdicts_for_periods(session: Session, plan: PlanData, periods: list[Period], *,
                                settings: Settings | None = None, threshold: float | None = None,
                                rules: Rules | None = None, now: datetime | None = None
                                ) -> dict[Period, list[SourceVerdict]]:
    """:func:`source_verdicts` for several periods (a trend): the sources, their dated facts and the rules are
    read once, each distinct season window is evaluated once, with one aggregate query for all points."""
    settings = settings or Settings()
    threshold = settings.compliance_threshold if threshold is None else threshold
    rules = rules or read_rules(settings.data_dir)
    season = read_season(settings.city_dir / "climate.yaml")
    now = now or utcnow()

    points_by_source: dict[int, list[MonitoringPoint]] = defaultdict(list)
    for p in session.scalars(select(MonitoringPoint)):
        points_by_source[p.source_id].append(p)
    sources = list(session.scalars(select(HeatSource).where(HeatSource.id.in_(list(points_by_source)))
                                   .order_by(HeatSource.code))) if points_by_source else []
    facts = {src.id: source_facts(session, src) for src in sources}

    by_window: dict[tuple, list[SourceVerdict]] = {}
    out: dict[Period, list[SourceVerdict]] = {}
    for period in periods:
        first, last, label = season.window_for(period.end_date())
        lo, hi = day_bounds(first, last)
        hi = min(hi, now.replace(minute=0, second=0, microsecond=0))
        key = (first, last, hi)
        if key not in by_window:
            by_window[key] = _window_verdicts(session, sources, facts, points_by_source, first, last, label,
                                              lo, hi, threshold, rules)
        out[period] = list(by_window[key])
    return out


def _window_verdicts(session: Session, sources: list[HeatSource], facts: dict[int, SourceFacts],
                     points_by_source: dict[int, list[MonitoringPoint]], first: date, last: date, label: str,
                     lo: datetime, hi: datetime, threshold: float, rules: Rules) -> list[SourceVerdict]:
    window_hours = max(0, int((hi - lo).total_seconds() // 3600))
    days = [first + timedelta(days=i) for i in range((last - first).days + 1)]
    judged: list[tuple[HeatSource, str, SourceVerdict, FactsAt]] = []
    hours_by_point: dict[int, int] = {}
    verdicts: dict[int, SourceVerdict] = {}
    for src in sources:
        f = facts[src.id]
        at = facts_at(f, last)
        tech = technology_for(f, at)
        if tech is None:
            continue
        in_service_days = sum(1 for d in days if facts_at(f, d).in_service)
        hours_in_service = min(in_service_days * 24, window_hours)
        base = SourceVerdict(source_code=src.code, name_zh=src.name_zh, admin_unit_code=src.admin_unit_code,
                             area_type=src.area_type, technology=tech,
                             served_area_m2=float(src.served_area_m2 or 0.0), compliant=None,
                             share_within_limits=None, valid_hours=0)
        if hours_in_service == 0:
            verdicts[src.id] = replace(base, reason=f"{label} 采暖季未运行 / not in service in the {label} season")
            continue
        judged.append((src, tech, base, at))
        for p in points_by_source[src.id]:
            hours_by_point[p.id] = hours_in_service
    sums = compliance_summaries(session, list(hours_by_point), lo, hi, threshold=threshold, rules=rules,
                                hours_by_point=hours_by_point) if hours_by_point else {}
    for src, tech, base, at in judged:
        points = points_by_source[src.id]
        summary = _combine([replace(sums[p.id], label=p.mn) for p in points
                            if p.active or sums[p.id].pollutants], threshold, rules.min_valid_hour_share)
        share = summary.share_within if summary else None
        compliant = summary.compliant if summary else None
        if compliant is None:
            reason = f"{label} 采暖季无有效小时数据 / no valid hourly data in the {label} season"
        elif not compliant:
            reason = f"{label} 采暖季：{summary.reason_zh} / {label} season: {summary.reason}"
        else:
            reason = f"{label} 采暖季: {share:.1%} 有效小时达标 / of valid hours within limits"
        if tech.endswith("_ultralow") and at.emission_class != "ultra_low":
            compliant = False
            reason = f"未登记为超低排放 / not registered as ultra-low emission; {reason}"
        verdicts[src.id] = replace(base, compliant=compliant, share_within_limits=share,
                                   valid_hours=summary.valid_hours if summary else 0, reason=reason)
    return [verdicts[src.id] for src in sources if src.id in verdicts]
