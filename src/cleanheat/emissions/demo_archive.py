"""The demo's daily archive of the programme years (``cleanheat init --demo``; synthetic, labelled so).

The showcase points of :mod:`cleanheat.emissions.demo` carry hourly data and a scenario each. A city's evaluation
needs evidence on *every* source the supervision rules require to be monitored (``supervision.yaml``: coal CHP
units, coal boilers >= 35 t/h, biomass boilers, new coal sources) — several hundred in the demo registry. Each of
those gets a monitoring point here whose programme-year history is stored as *daily values* (``emissions_days``:
valid, judged and exceeded hours, daily mean and maximum per pollutant), the form the evaluation reads, as a city
would hold the 2019-2021 archive of a provincial monitoring platform. They are marked inactive (no live feed,
no missing-data alarms) and named as archive points.

What the archive holds, so that the evaluation of 2019, 2020 and 2021 meets every evidence state:

* most points within their limits all along (``clean``), judged against the limits of each day (before an
  ultra-low retrofit the existing-boiler limits, after it the ultra-low ones);
* a few whose logger was down for much of one year's heating days (``insufficient_data`` in that year) and two
  whose dust exceeded in spring 2020 (``non_compliant`` in 2020);
* a share of required sources left without a point (``no_monitoring_point``), and one biomass boiler registered
  without a bag filter (``non_compliant`` whatever its data);
* every monitored biomass boiler registered with a bag filter (方案 §四(五)).

Pure generation (:func:`archive_days`) is seeded; :func:`add_archive` writes it.
"""

from __future__ import annotations

import random
import secrets
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import lru_cache

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from cleanheat.assets.tables import HeatSource
from cleanheat.emissions.hj212.codec import CHINA_TZ
from cleanheat.emissions.hj212.passwords import hash_password
from cleanheat.emissions.ingest import bulk_insert_columns
from cleanheat.emissions.ledger_link import all_source_facts, technology_for
from cleanheat.emissions.limits import FUEL_EVENTS, LimitTable, SourceFacts, facts_at
from cleanheat.emissions.processing import POLLUTANTS, Rules
from cleanheat.emissions.rollup import PointContext
from cleanheat.emissions.supervision import Supervision
from cleanheat.emissions.tables import DayValue, MonitoringPoint
from cleanheat.store.base import utcnow

ARCHIVE_NOTE = "合成演示数据：方案期（2019–2021）日数据归档 / synthetic demo data: daily archive of the programme years"
#: share of the required sources the demo leaves without a monitoring point (the "no evidence" path)
UNMONITORED_SHARE = 0.06
#: the year-ends at which a source's requirement is looked at
YEAR_ENDS = (date(2019, 12, 31), date(2020, 12, 31), date(2021, 12, 31))
#: share of hours without data (link down) and, of those with data, not valid (maintenance, calibration)
P_NO_DATA, P_INVALID = 0.01, 0.015
#: share of valid hours over the limit at a clean stack (start-up, soot blowing)
P_EXCEED_CLEAN = 0.002


@dataclass(frozen=True)
class ArchiveScenario:
    role: str
    #: local days (first, last inclusive) without data
    offline: tuple[tuple[date, date], ...] = ()
    #: local days (first, last inclusive) in which dust exceeds in ``pm_share`` of the valid hours
    dusty: tuple[tuple[date, date], ...] = ()
    pm_share: float = 0.0


CLEAN = ArchiveScenario("clean")
#: the departures, each given to this many archive points (coal boilers first, in code order of a seeded shuffle)
DEPARTURES = (
    (4, ArchiveScenario("offline_2021", offline=((date(2021, 10, 25), date(2021, 12, 31)),))),
    (3, ArchiveScenario("offline_2020", offline=((date(2020, 2, 1), date(2020, 4, 20)),
                                                 (date(2020, 10, 20), date(2020, 11, 30))))),
    (2, ArchiveScenario("dusty_2020", dusty=((date(2020, 1, 1), date(2020, 4, 20)),), pm_share=0.09)),
)


def required_sources(sources: list[HeatSource], facts: dict[int, SourceFacts], supervision: Supervision
                     ) -> list[HeatSource]:
    """The sources that must be monitored at some programme year-end while in service and classified."""
    out = []
    for s in sources:
        f = facts[s.id]
        for day in YEAR_ENDS:
            at = facts_at(f, day)
            if at.in_service and technology_for(f, at) and supervision.requirement_for(
                    f, day, s.area_type, at).monitoring:
                out.append(s)
                break
    return out


def plan_archive(required: list[HeatSource], seed: int = 2019
                 ) -> tuple[list[tuple[HeatSource, ArchiveScenario]], list[HeatSource]]:
    """Which required sources get an archive point with which scenario, and which are left unmonitored."""
    rng = random.Random(seed)
    order = sorted(required, key=lambda s: s.code)
    rng.shuffle(order)
    n_off = round(len(order) * UNMONITORED_SHARE)
    unmonitored, monitored = order[:n_off], order[n_off:]
    coal_first = sorted(monitored, key=lambda s: s.fuel != "coal")
    roles: dict[int, ArchiveScenario] = {}
    i = 0
    for n, scenario in DEPARTURES:
        for s in coal_first[i:i + n]:
            roles[s.id] = scenario
        i += n
    return [(s, roles.get(s.id, CLEAN)) for s in sorted(monitored, key=lambda s: s.code)], \
        sorted(unmonitored, key=lambda s: s.code)


@lru_cache(maxsize=4)
def _windows(history: tuple[tuple[date, date], ...], today: date) -> list[date]:
    days = []
    for first, last in history:
        d = first
        while d <= min(last, today):
            days.append(d)
            d += timedelta(days=1)
    return days


def _within(ordinals: np.ndarray, spans: tuple[tuple[date, date], ...]) -> np.ndarray:
    """Which days (``date.toordinal()``) fall in one of the spans (first, last inclusive)."""
    out = np.zeros(len(ordinals), dtype=bool)
    for a, b in spans:
        out |= (ordinals >= a.toordinal()) & (ordinals <= b.toordinal())
    return out


def _judged_days(ctx: PointContext, facts: SourceFacts, table: LimitTable, days: list[date],
                 scenario: ArchiveScenario) -> tuple[list[date], dict[str, np.ndarray]]:
    """The in-service, online days of the point (from its last fuel change on) and each pollutant's limit on
    each of them [mg/m³] (NaN: no limit). The facts and limits change only at the registry's event dates and
    the limit table's boundaries: they are looked up on the first such day of each stretch between them."""
    bounds = sorted({d for _, d in facts.events} | set(table.boundaries()))
    start = max((d for ev, d in facts.events if ev in FUEL_EVENTS), default=None)
    ordinals = np.array([d.toordinal() for d in days], dtype=np.int64)
    online = ~_within(ordinals, scenario.offline)
    if start:
        online &= ordinals >= start.toordinal()
    stretch = np.searchsorted(np.array([b.toordinal() for b in bounds], dtype=np.int64), ordinals, side="right")
    kept = np.zeros(len(days), dtype=bool)
    limits = {p: np.full(len(days), np.nan) for p in POLLUTANTS}
    candidates = np.flatnonzero(online)
    stretches, first = np.unique(stretch[candidates], return_index=True)
    for k, i in zip(stretches.tolist(), candidates[first].tolist(), strict=True):
        ls, _ref = ctx.limits_on(days[i])
        if not facts_at(facts, days[i]).in_service:
            continue
        here = online & (stretch == k)
        kept |= here
        for p in POLLUTANTS:
            lim = ls.limit(p) if ls else None
            if lim is not None:
                limits[p][here] = float(lim)
    return [d for d, k in zip(days, kept.tolist(), strict=True) if k], {p: v[kept] for p, v in limits.items()}


def archive_days(ctx: PointContext, facts: SourceFacts, table: LimitTable, scenario: ArchiveScenario,
                 history: list[tuple[date, date]], today: date, rules: Rules, seed: int) -> dict[str, list]:
    """Daily values of one archive point (the columns of ``emissions_days``, pollutant by pollutant), drawn per
    day and pollutant: hours with data, valid and judged hours, hours over the limit, daily mean and maximum
    [mg/m³]."""
    days, limits = _judged_days(ctx, facts, table, _windows(tuple(history), today), scenario)
    n = len(days)
    if not n:
        return {}
    rng = np.random.default_rng(seed)
    data = 24 - rng.binomial(24, P_NO_DATA, n)
    valid = data - rng.binomial(data, P_INVALID)
    level = rng.uniform(0.25, 0.5)  # the stack's typical share of its limit
    dusty = _within(np.array([d.toordinal() for d in days], dtype=np.int64), scenario.dusty)
    has_valid = (valid > 0).tolist()
    cols: dict[str, list] = {c: [] for c in ("conc_zs_mg_m3", "max_zs_mg_m3", "exceeded_hours", "limit_mg_m3",
                                             "judged_hours")}
    for p in POLLUTANTS:
        lim = limits[p]
        limited = ~np.isnan(lim)
        base = np.where(limited, lim, 30.0)  # a pollutant without a limit: a plain level
        p_exc = np.where(dusty & (p == "a34013"), scenario.pm_share, P_EXCEED_CLEAN)
        exceeded = np.where(limited, rng.binomial(valid, p_exc), 0)
        mean = base * np.clip(level * rng.lognormal(0.0, 0.15, n), 0.05, 0.9)
        peak = np.where(exceeded > 0, base * rng.uniform(1.05, 1.5, n),
                        np.minimum(mean * rng.uniform(1.2, 1.7, n), base * 0.99))
        cols["conc_zs_mg_m3"] += [round(m, 2) if v else None for m, v in zip(mean.tolist(), has_valid, strict=True)]
        cols["max_zs_mg_m3"] += [round(m, 2) if v else None for m, v in zip(peak.tolist(), has_valid, strict=True)]
        cols["exceeded_hours"] += exceeded.tolist()
        cols["limit_mg_m3"] += [None if li != li else li for li in lim.tolist()]
        cols["judged_hours"] += np.where(limited, valid, 0).tolist()
    k = len(POLLUTANTS)
    return {"point_id": [ctx.point_id] * (k * n), "day": days * k, "pollutant": [p for p in POLLUTANTS for _ in days],
            "valid_hours": valid.tolist() * k, "valid": (valid >= rules.day_min_valid_hours).tolist() * k,
            "conc_zs_mg_m3": cols["conc_zs_mg_m3"], "max_zs_mg_m3": cols["max_zs_mg_m3"],
            "exceeded_hours": cols["exceeded_hours"], "limit_mg_m3": cols["limit_mg_m3"],
            "judged_hours": cols["judged_hours"], "data_hours": data.tolist() * k, "computed_at": [utcnow()] * (k * n)}


def _mark_bag_filter(src: HeatSource, value: bool) -> None:
    src.extra = {**(src.extra or {}), "bag_filter": value}


def add_archive(session: Session, *, supervision: Supervision, table: LimitTable, rules: Rules,
                history: list[tuple[date, date]], now: datetime, first_mn: int, mn_of,
                mw_per_t_h_value: float) -> tuple[int, int, int]:
    """Archive points and their daily values for the required sources without a point yet. Returns (points,
    daily rows, sources left unmonitored)."""
    have = {pid for (pid,) in session.execute(select(MonitoringPoint.source_id))}
    sources = list(session.scalars(select(HeatSource).order_by(HeatSource.code)))
    facts = all_source_facts(session, sources, mw_per_t_h_value)
    required = [s for s in required_sources(sources, facts, supervision) if s.id not in have]
    planned, unmonitored = plan_archive(required)
    locked = hash_password(secrets.token_hex(16))  # archive points take no packets: nobody knows this password
    today = now.astimezone(CHINA_TZ).date()
    biomass = [s for s, _ in planned if s.current_fuel == "biomass"]
    for s in biomass:
        _mark_bag_filter(s, True)
    if biomass:
        _mark_bag_filter(biomass[len(biomass) // 2], False)  # one registered without a bag filter
    points = [MonitoringPoint(mn=mn_of(first_mn + i), password_hash=locked, source_id=src.id,
                              name_zh=f"{src.name_zh} 排放口1（归档）", stack_no="1", active=False,
                              note=f"{ARCHIVE_NOTE} ({scenario.role})") for i, (src, scenario) in enumerate(planned)]
    session.add_all(points)
    session.flush()
    n_rows = 0
    for i, ((src, scenario), point) in enumerate(zip(planned, points, strict=True)):
        ctx = PointContext(point.id, facts[src.id], table)
        columns = archive_days(ctx, facts[src.id], table, scenario, history, today, rules, seed=first_mn + i)
        n_rows += bulk_insert_columns(session.connection(), DayValue.__table__, columns) if columns else 0
    return len(planned), n_rows, len(unmonitored)
