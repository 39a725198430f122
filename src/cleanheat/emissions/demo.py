"""Demo data of the emissions area (``cleanheat init --demo``; synthetic, labelled so).

* Monitoring points for a chosen set of registered combustion sources, each with a *scenario* so that the
  programme evaluation of 2019, 2020 and 2021 meets every kind of evidence (see :data:`ROLES`):
  coal CHP units and ultra-low coal boilers >= 35 t/h that comply; one CHP unit whose 2020-2021 season breaks
  down in January-April (a window cut at 31 December looks compliant, the whole season does not); one boiler whose
  NOx exceeds its limit in ~13 % of valid hours (the share over all pollutants stays above 95 %, so only a
  per-pollutant judgement fails it); one boiler whose data logger was offline for most of the 2019-2020 season
  (too little data); biomass boilers with bag-filter differential pressure (one failing: dust over the limit and
  a pressure drop that says the bags are torn); a new gas peak-load boiler (monitored, not required). All the
  other required sources of the registry have no monitoring point (the "no evidence" path).
  When the registry has no source of the demo companies yet, demo sources coded ``DEMO-CEMS-*`` are created.
* Evaluated hours for the programme's heating seasons 2019-2020, 2020-2021 and 2021 up to 31 December.
* Bag-filter differential pressure: daily values (interval ``day``) of factor :data:`BAG_FILTER_DP` in
  ``emissions_readings`` at the biomass points, in Pa — HJ 212 carries process (工况) values of a bag filter
  (process digit 6) as ``g6xxyy`` factors; the factor number used here is not confirmed (confidence K).
* The last seven days (or the month so far, when longer) as real HJ 212 hourly packets (2025 edition), stored and
  evaluated through the same path as the receiver's, plus a few malformed packets; so the pages are alive after
  ``make run``.

Idempotent: points are keyed by MN, sources by code; a point that already exists gets no new data.
"""

from __future__ import annotations

import random
from collections import defaultdict
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta

import numpy as np
from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from cleanheat.assets.heat_sources import mw_per_t_h
from cleanheat.assets.tables import HeatSource, HeatSourceEvent
from cleanheat.auth.service import Actor, audit
from cleanheat.auth.tables import Organisation
from cleanheat.config import Settings
from cleanheat.emissions.demo_archive import add_archive
from cleanheat.emissions.hj212.codec import CHINA_TZ, encode, parse_frame
from cleanheat.emissions.hj212.passwords import hash_password
from cleanheat.emissions.ingest import (
    BulkWriter,
    IngestRecord,
    bulk_insert,
    bulk_insert_columns,
    suspend_foreign_keys,
)
from cleanheat.emissions.limits import LimitTable, facts_at, limits_path, read_limit_table
from cleanheat.emissions.processing import POLLUTANTS, Rules, exceedance_runs, read_rules, readings_from_packet
from cleanheat.emissions.processing_np import evaluate_days, evaluate_device_hours, none_for_nan
from cleanheat.emissions.rollup import point_context, run_maintenance
from cleanheat.emissions.simstacks import model_for, synthetic_password
from cleanheat.emissions.supervision import read_supervision, supervision_path
from cleanheat.emissions.tables import DayValue, Exceedance, HourValue, MonitoringPoint, Reading
from cleanheat.store.base import utcnow
from cleanheat.timeutil import PROGRAMME_UTC_OFFSET

ORDER = 50
COMPANIES = ("htjt", "veolia", "huaneng", "suibao")
PREFIX = "DEMO-CEMS-"
#: code suffix, company, kind, fuel, class, t/h, MW, served m2, unit, area type, events, name
DEMO_SOURCES = [
    ("VEOLIA-1", "veolia", "coal_chp", "coal", "ultra_low", 410.0, None, 8_000_000.0, "daoli", "urban",
     [("commissioned", date(2006, 11, 1)), ("ultra_low_retrofitted", date(2018, 9, 20))],
     "威立雅热电厂 #1 机组（演示）"),
    ("HUANENG-1", "huaneng", "coal_chp", "coal", "ultra_low", 670.0, None, 9_500_000.0, "nangang", "urban",
     [("commissioned", date(2004, 10, 1)), ("ultra_low_retrofitted", date(2018, 8, 30))], "华能热电厂 #2 机组（演示）"),
    ("HTJT-1", "htjt", "coal_boiler", "coal", "ultra_low", None, 116.0, 2_600_000.0, "xiangfang", "urban",
     [("commissioned", date(2010, 10, 1)), ("ultra_low_retrofitted", date(2019, 8, 15))],
     "哈投供热 116MW 热水锅炉（演示）"),
    ("HTJT-2", "htjt", "gas_boiler", "gas", "ordinary", None, 70.0, 1_100_000.0, "daoli", "urban",
     [("commissioned", date(2019, 10, 10))], "哈投供热 燃气调峰锅炉（演示）"),
    ("SUIBAO-1", "suibao", "coal_boiler", "coal", "ultra_low", None, 58.0, 1_500_000.0, "hulan", "county_fringe",
     [("commissioned", date(2012, 10, 1)), ("ultra_low_retrofitted", date(2019, 9, 30))], "岁宝热电 58MW 锅炉（演示）"),
    ("SUIBAO-2", "suibao", "biomass_boiler", "biomass", "ordinary", 20.0, None, 320_000.0, "hulan", "county_fringe",
     [("commissioned", date(2019, 10, 5))], "岁宝热电 生物质锅炉（演示）"),
]
#: seasons of the programme with evaluated history: (first day, last day inclusive)
HISTORY = [(date(2019, 1, 1), date(2019, 4, 20)), (date(2019, 10, 20), date(2020, 4, 20)),
           (date(2020, 10, 20), date(2021, 4, 20)), (date(2021, 10, 20), date(2021, 12, 31))]
COMBUSTION = ("coal", "gas", "biomass", "oil")
#: GB 13271-2014: boilers built from this day on are new boilers (table 2) [S]
GB13271_NEW_FROM = date(2014, 7, 1)


#: HJ 212 process factor of a bag filter's differential pressure [Pa] (g + process 6 + factor 01 + device 01;
#: confidence K: the factor number is not confirmed against HJ 212 table B.7)
BAG_FILTER_DP = "g60101"
#: MN numbers of the daily-archive points start here (the showcase points are numbered from 1)
ARCHIVE_FIRST_MN = 1000
READY = date(2019, 10, 1)  # ultra-low (or converted) by then: every programme season is judged as such


@dataclass(frozen=True)
class Scenario:
    """How a demo point's history departs from a clean stack (per season index k of HISTORY)."""

    role: str
    #: share of valid hours (every season) in which only NOx / only dust exceeds its limit
    nox_share: float = 0.0
    pm_share: float = 0.0
    pm_seasons: tuple[int, ...] = ()
    #: season index whose January-April hours exceed (SO2 and NOx) with ``late_share``
    late_season: int | None = None
    late_share: float = 0.0
    #: local days (first, last inclusive) the data logger was offline
    offline: tuple[tuple[date, date], ...] = ()
    bag_filter: bool = False
    exceedance_rate: float = 0.004


#: role -> (how many, scenario); the order is the order points are created in
ROLES = {
    "chp": (3, Scenario("chp")),
    "chp_late": (1, Scenario("chp_late", late_season=2, late_share=0.25)),
    "coal": (3, Scenario("coal")),
    "coal_nox": (1, Scenario("coal_nox", nox_share=0.13, exceedance_rate=0.0)),
    "coal_offline": (1, Scenario("coal_offline", offline=((date(2019, 11, 10), date(2020, 2, 29)),))),
    "biomass": (3, Scenario("biomass", bag_filter=True)),
    "biomass_failing": (1, Scenario("biomass_failing", bag_filter=True, pm_share=0.3, pm_seasons=(2, 3))),
    "gas": (1, Scenario("gas")),
}


def _ready(s: HeatSource, events: dict[int, dict[str, date]], event: str) -> bool:
    d = events.get(s.id, {}).get(event)
    return d is not None and d <= READY


def _candidates(session: Session, sources: list[HeatSource], mw_per_t_h_value: float
                ) -> dict[str, list[HeatSource]]:
    """Sources fit for each kind of role, demo companies' sources first (``mw_per_t_h_value``: the city's
    MW per t/h, for sources registered in MW only)."""
    events: dict[int, dict[str, date]] = defaultdict(dict)
    for sid, ev, d in session.execute(select(HeatSourceEvent.source_id, HeatSourceEvent.event,
                                             HeatSourceEvent.effective_date)):
        events[sid].setdefault(ev, d)
    companies = {o.id for o in session.scalars(select(Organisation).where(Organisation.code.in_(COMPANIES)))}

    def ul(s: HeatSource) -> bool:
        return s.fuel == "coal" and (_ready(s, events, "ultra_low_retrofitted") or (
            s.emission_class == "ultra_low" and "ultra_low_retrofitted" not in events.get(s.id, {})))

    def key(s: HeatSource) -> tuple:  # the plan's named units (not sources the demo added to fill a unit)
        return (s.org_id not in companies, s.code.startswith("SYN-AD-"), s.code)

    def t_h(s: HeatSource) -> float:
        return s.capacity_t_h if s.capacity_t_h is not None else (s.capacity_mw or 0.0) / mw_per_t_h_value

    big = [s for s in sources if t_h(s) >= 35 and s.status not in ("demolished", "connected_network")]
    return {
        "chp": sorted((s for s in big if "chp" in s.kind and ul(s)), key=key),
        "coal": sorted((s for s in big if s.kind == "coal_boiler" and ul(s)), key=key),
        "biomass": sorted((s for s in sources if s.current_fuel == "biomass" and (
            s.fuel == "biomass" or _ready(s, events, "converted_biomass"))), key=key),
        "gas": sorted((s for s in sources if s.kind == "gas_boiler" and s.vintage == "new"), key=key),
    }


def _choose(session: Session, sources: list[HeatSource], mw_per_t_h_value: float
            ) -> list[tuple[HeatSource, Scenario]]:
    cands = _candidates(session, sources, mw_per_t_h_value)
    out, used = [], set()
    for role, (n, scenario) in ROLES.items():
        pool = cands[role.split("_")[0]]
        picked = [s for s in pool if s.id not in used][:n]
        used.update(s.id for s in picked)
        out += [(s, scenario) for s in picked]
    return out


def _ensure_sources(session: Session, orgs: dict[str, int]) -> list[HeatSource]:
    """The companies' combustion sources to monitor; demo ones are created when the registry has none."""
    existing = list(session.scalars(select(HeatSource).where(HeatSource.current_fuel.in_(COMBUSTION))
                                    .order_by(HeatSource.code)))
    if any(s.org_id in orgs.values() for s in existing):
        return existing
    made = []
    for suffix, company, kind, fuel, klass, cap_t, cap_mw, area, unit, area_type, events, name in DEMO_SOURCES:
        src = HeatSource(code=PREFIX + suffix, name_zh=name, plant_name=name.split(" ")[0], org_id=orgs[company],
                         admin_unit_code=unit, area_type=area_type, kind=kind, fuel=fuel, current_fuel=fuel,
                         capacity_t_h=cap_t, capacity_mw=cap_mw, emission_class=klass,
                         vintage="new" if min(d for _, d in events) >= GB13271_NEW_FROM else "existing",
                         served_area_m2=area, status="in_service", note="合成演示数据 / synthetic demo data")
        src.events = [HeatSourceEvent(event=e, effective_date=d, note="demo", recorded_by="system:demo")
                      for e, d in events]
        session.add(src)
        made.append(src)
    session.flush()
    return made


def _mn(i: int) -> str:
    return f"0100DE{i:018d}"


_EPOCH_DAY = date(1970, 1, 1)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_DAY_S, _HOUR_S = 86_400, 3_600
_OFFSET_S = int(PROGRAMME_UTC_OFFSET.total_seconds())


@dataclass
class SeasonHours:
    """The hours with data of a point (arrays in time order): start [s since the epoch], Beijing day [days since
    the epoch], O2 [%], converted concentrations [mg/m³] and limits [mg/m³, NaN: none] by pollutant, flag,
    reference O2 [%] and limit set id of the day."""

    start_s: np.ndarray
    day: np.ndarray
    o2: np.ndarray
    zs: dict[str, np.ndarray]
    flag: np.ndarray
    limits: dict[str, np.ndarray]
    ref_o2: np.ndarray
    limit_set: list[str | None]

    def __len__(self) -> int:
        return len(self.start_s)

    def times(self) -> list[datetime]:
        return [_EPOCH + timedelta(seconds=t) for t in self.start_s.tolist()]

    @classmethod
    def concat(cls, parts: list[SeasonHours]) -> SeasonHours:
        cat = np.concatenate
        return cls(cat([h.start_s for h in parts]), cat([h.day for h in parts]), cat([h.o2 for h in parts]),
                   {p: cat([h.zs[p] for h in parts]) for p in POLLUTANTS}, cat([h.flag for h in parts]),
                   {p: cat([h.limits[p] for h in parts]) for p in POLLUTANTS}, cat([h.ref_o2 for h in parts]),
                   [x for h in parts for x in h.limit_set])


def _day_facts(ctx, scenario: Scenario, days: list[int]) -> dict[int, tuple]:
    """Beijing day [days since the epoch] -> (in service and online, limit set, reference O2, limits, month)."""
    out = {}
    for d in days:
        day = _EPOCH_DAY + timedelta(days=d)
        limit_set, ref_o2 = ctx.limits_on(day)
        on = facts_at(ctx.facts, day).in_service and not any(a <= day <= b for a, b in scenario.offline)
        out[d] = (on, limit_set, ref_o2, {p: limit_set.limit(p) for p in POLLUTANTS} if limit_set else {}, day.month)
    return out


def _draw(days: list[int], facts: dict[int, tuple], scenario: Scenario, k: int, rng: random.Random
          ) -> tuple[list[int], list[bool], dict[tuple[int, str], float]]:
    """The seeded draws of a season's hours, hour by hour in time order (the stream of ``rng`` depends on each
    draw): which hours have data (1 % of the hours the link was down), the scenario's departures (converted
    values by (kept hour, pollutant)) and the maintenance hours (1 %)."""
    rand, unif = rng.random, rng.uniform
    kept: list[int] = []
    maintenance: list[bool] = []
    over: dict[tuple[int, str], float] = {}
    for i, d in enumerate(days):
        on, _ls, ref_o2, limits, month = facts[d]
        if not on or rand() < 0.01 or ref_o2 is None:
            continue
        j = len(kept)
        kept.append(i)
        lim = limits.get
        if scenario.nox_share and lim("a21002") and rand() < scenario.nox_share:
            over[j, "a21002"] = lim("a21002") * unif(1.1, 1.5)
        if k in scenario.pm_seasons and lim("a34013") and rand() < scenario.pm_share:
            over[j, "a34013"] = lim("a34013") * unif(1.1, 2.0)
        if k == scenario.late_season and month <= 4 and rand() < scenario.late_share:
            for p in ("a21026", "a21002"):
                if lim(p):
                    over[j, p] = lim(p) * unif(1.1, 1.6)
        maintenance.append(rand() < 0.01)
    return kept, maintenance, over


def _season_hours(ctx, model, scenario: Scenario, k: int, first: date, last: date, rng: random.Random,
                  now: datetime) -> SeasonHours:
    """The hours with data in one season (one sample of the stack model per hour, the scenario's departures,
    maintenance hours flagged M)."""
    lo = int(datetime(first.year, first.month, first.day, tzinfo=CHINA_TZ).timestamp())
    hi = int((datetime(last.year, last.month, last.day, tzinfo=CHINA_TZ) + timedelta(days=1)).timestamp())
    starts = np.arange(lo, hi, _HOUR_S, dtype=np.int64)
    starts = starts[starts < now.timestamp()]
    days = (starts + _OFFSET_S) // _DAY_S
    facts = _day_facts(ctx, scenario, np.unique(days).tolist())
    kept, maintenance, over = _draw(days.tolist(), facts, scenario, k, rng)
    idx = np.array(kept, dtype=np.int64)
    o2, zs, flag = replace(model, exceedance_rate=scenario.exceedance_rate).hour_samples(starts[idx])
    for (j, p), value in over.items():
        zs[p][j] = value
    kept_days = days[idx].tolist()
    limits = {p: np.array([_nan_if_none(facts[d][3].get(p)) for d in kept_days], dtype=float) for p in POLLUTANTS}
    return SeasonHours(starts[idx], days[idx], o2, zs, np.where(np.array(maintenance, dtype=bool), "M", flag),
                       limits, np.array([facts[d][2] for d in kept_days], dtype=float),
                       [facts[d][1].id if facts[d][1] else None for d in kept_days])


def _nan_if_none(x: float | None) -> float:
    return np.nan if x is None else x


def _history(session: Session, point: MonitoringPoint, model, scenario: Scenario, rng: random.Random,
             table: LimitTable, rules: Rules, mw_per_t_h_value: float) -> int:
    """Evaluated hours, days and exceedance events of the programme seasons, computed with the rules of live
    data (one sample per hour stands in for its 60 minutes; the device's hourly value is the basis)."""
    ctx = point_context(session, point, table, mw_per_t_h_value)
    now = utcnow()
    h = SeasonHours.concat([_season_hours(ctx, model, scenario, k, first, last, rng, now)
                            for k, (first, last) in enumerate(HISTORY)])
    measured = {p: h.zs[p] * (21 - h.o2) / (21 - model.ref_o2_pct) for p in POLLUTANTS}
    evaluated = {p: evaluate_device_hours(measured[p], h.o2, h.flag, ref_o2_pct=h.ref_o2, limit_mg_m3=h.limits[p],
                                          rules=rules) for p in POLLUTANTS}
    times = h.times()
    conn = session.connection()
    n = bulk_insert_columns(conn, HourValue.__table__, _hour_columns(point.id, h, times, measured, evaluated, now))
    _days_and_events(session, point, h, times, evaluated, rules)
    if scenario.bag_filter:
        bulk_insert(conn, Reading.__table__, _bag_filter_days(point, scenario, rng, now))
    session.flush()
    return n


def _by_hour(per_pollutant: list[np.ndarray]) -> np.ndarray:
    """Arrays of the pollutants interleaved: hour by hour, the pollutants in :data:`POLLUTANTS` order."""
    return np.column_stack(per_pollutant).ravel()


def _hour_columns(point_id: int, h: SeasonHours, times: list[datetime], measured: dict, evaluated: dict,
                  now: datetime) -> dict[str, list]:
    """The rows of ``emissions_hours`` (hour by hour, each pollutant), column by column."""
    k = len(POLLUTANTS)
    n = len(h) * k

    def each(values: list) -> list:  # one value per hour, repeated for each pollutant
        return [v for v in values for _ in range(k)]

    ev = [evaluated[p] for p in POLLUTANTS]
    return {"point_id": [point_id] * n, "ts": each(times), "pollutant": list(POLLUTANTS) * len(h),
            "conc_mg_m3": _by_hour([measured[p] for p in POLLUTANTS]).tolist(), "o2_pct": each(h.o2.tolist()),
            "conc_zs_mg_m3": none_for_nan(_by_hour([e.conc_zs_mg_m3 for e in ev])),
            "device_zs_mg_m3": _by_hour([h.zs[p] for p in POLLUTANTS]).tolist(),
            "limit_mg_m3": none_for_nan(_by_hour([h.limits[p] for p in POLLUTANTS])),
            "ref_o2_pct": each(h.ref_o2.tolist()), "limit_set": each(h.limit_set),
            "valid": _by_hour([e.valid for e in ev]).tolist(), "exceeded": _by_hour([e.exceeded for e in ev]).tolist(),
            "valid_minutes": [None] * n, "minutes_received": [None] * n, "flag": each(h.flag.tolist()),
            "basis": ["device"] * n, "reason": _by_hour([e.reason for e in ev]).tolist(), "computed_at": [now] * n}


def _days_and_events(session: Session, point: MonitoringPoint, h: SeasonHours, times: list[datetime],
                     evaluated: dict, rules: Rules) -> None:
    """The days of each pollutant (rows in (day, pollutant) order) and its exceedance events."""
    rows = []
    stamp = utcnow()
    for p in POLLUTANTS:
        ev = evaluated[p]
        dv = evaluate_days(h.day, ev.valid, ev.conc_zs_mg_m3, ev.exceeded, h.limits[p], rules)
        rows += zip(h.day[dv.first].tolist(), [p] * len(dv.first), dv.valid_hours.tolist(), dv.valid.tolist(),
                    none_for_nan(dv.conc_zs_mg_m3), none_for_nan(dv.max_zs_mg_m3), dv.exceeded_hours.tolist(),
                    none_for_nan(dv.limit_mg_m3), dv.judged_hours.tolist(), dv.data_hours.tolist(), strict=True)
    rows.sort(key=lambda r: (r[0], r[1]))
    cols = ("day", "pollutant", "valid_hours", "valid", "conc_zs_mg_m3", "max_zs_mg_m3", "exceeded_hours",
            "limit_mg_m3", "judged_hours", "data_hours")
    columns: dict[str, list] = {"point_id": [point.id] * len(rows)}
    columns |= {c: list(v) for c, v in zip(cols, zip(*rows, strict=True), strict=True)} if rows else {}
    columns["day"] = [_EPOCH_DAY + timedelta(days=d) for d in columns.get("day", [])]
    columns["computed_at"] = [stamp] * len(rows)
    bulk_insert_columns(session.connection(), DayValue.__table__, columns)
    events = []
    for p in POLLUTANTS:
        ev = evaluated[p]
        hit = np.flatnonzero(ev.exceeded).tolist()
        zs, lim = ev.conc_zs_mg_m3, h.limits[p]
        for run in exceedance_runs([(times[i], True, float(zs[i]), float(lim[i])) for i in hit]):
            events.append({"point_id": point.id, "pollutant": p, "start_ts": run.start, "end_ts": run.end,
                           "hours": run.hours, "max_zs_mg_m3": run.max_zs_mg_m3, "limit_mg_m3": run.limit_mg_m3,
                           "active": False, "note": "合成演示数据 / synthetic demo data"})
    if events:
        session.execute(insert(Exceedance.__table__), events)


def _bag_filter_days(point: MonitoringPoint, scenario: Scenario, rng: random.Random, now: datetime) -> list[dict]:
    """Daily bag-filter differential pressure [Pa]: 900-1400 Pa in order; torn bags (the failing scenario's
    seasons) drop it to 150-350 Pa."""
    rows = []
    for k, (first, last) in enumerate(HISTORY):
        torn = k in scenario.pm_seasons
        d = first
        while d <= last:
            ts = datetime(d.year, d.month, d.day, tzinfo=CHINA_TZ).astimezone(UTC)
            if ts >= now:
                break
            mean = rng.uniform(150, 350) if torn else rng.uniform(900, 1400)
            rows.append({"point_id": point.id, "interval": "day", "ts": ts, "factor": BAG_FILTER_DP,
                         "avg": round(mean, 1), "min": round(mean * 0.85, 1), "max": round(mean * 1.15, 1),
                         "cou": None, "zs_avg": None, "zs_min": None, "zs_max": None, "flag": "N"})
            d += timedelta(days=1)
    return rows


def _live(point: MonitoringPoint, model, hours: int, now: datetime) -> list[IngestRecord]:
    """The last ``hours`` hourly packets of a point (2025 edition), as the receiver would store them."""
    m = replace(model, flag=9)  # HJ 212-2025 version bits, data answer requested
    end = now.replace(minute=0, second=0, microsecond=0)
    starts = [end - timedelta(hours=k) for k in range(hours, 0, -1)]
    out = []
    for start, packet in zip(starts, m.hour_packets(starts, every_min=5), strict=True):
        frame = encode(packet)
        p = parse_frame(frame)
        out.append(IngestRecord(received_at=start + timedelta(hours=1, seconds=20), raw=frame, ok=True,
                                peer="192.0.2.10:50000", point_id=point.id, mn=p.mn, cn=p.cn, qn=p.qn,
                                data_time=start, readings=readings_from_packet(p)))
    return out


def load_demo(session: Session, settings: Settings) -> str:
    from cleanheat.demo_accounts import ensure_demo_accounts

    ensure_demo_accounts(session)  # the bureau's and the companies' demo logins (idempotent, shared)
    orgs = {o.code: o.id for o in session.scalars(select(Organisation).where(Organisation.code.in_(COMPANIES)))}
    if not orgs:
        return "no demo heat companies (load the programme first); nothing done"
    mw_per_t_h_value = mw_per_t_h(settings.city_dir)
    chosen = _choose(session, _ensure_sources(session, orgs), mw_per_t_h_value)
    known = {p.source_id for p in session.scalars(select(MonitoringPoint))}
    new_points: list[tuple[MonitoringPoint, Scenario]] = []
    for i, (src, scenario) in enumerate(chosen, start=1):
        if src.id in known:
            continue
        mn = _mn(i)
        if session.scalar(select(MonitoringPoint).where(MonitoringPoint.mn == mn)) is not None:
            continue
        point = MonitoringPoint(mn=mn, password_hash=hash_password(f"dm{i:04d}"), source_id=src.id,
                                name_zh=f"{src.name_zh} 排放口1", stack_no="1",
                                note=f"合成演示数据 / synthetic demo data ({scenario.role})")
        session.add(point)
        new_points.append((point, scenario))
    session.flush()
    if not new_points:
        return "demo monitoring points exist already; nothing added"
    table = read_limit_table(limits_path(settings.data_dir))
    rules = read_rules(settings.data_dir)
    now = utcnow()
    rng = random.Random(2019)
    n_hist = 0
    records: list[IngestRecord] = []
    # the last 7 days, or the month so far when longer (so the month-to-date compliance report has its month)
    month_start = now.astimezone(CHINA_TZ).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    live_hours = max(24 * 7, int((now - month_start).total_seconds() // 3600))
    # the history and the archive are over a million rows: their foreign keys are checked once, at the end
    restore_foreign_keys = suspend_foreign_keys(session.connection(), ("emissions_hours", "emissions_days"))
    for point, scenario in new_points:
        ctx = point_context(session, point, table, mw_per_t_h_value)
        model = model_for(ctx.limits_on(now.date()), point.mn, synthetic_password(point.mn), seed=point.id,
                          exceedance_rate=0.004)
        n_hist += _history(session, point, model, scenario, rng, table, rules, mw_per_t_h_value)
        records += _live(point, replace(model, exceedance_rate=0.03), live_hours, now)
    session.flush()
    # a few malformed packets as a real receiver keeps them
    sample = records[0].raw
    bad_crc = sample[:-6] + b"0000\r\n"
    records += [
        IngestRecord(received_at=now - timedelta(minutes=30), raw=bad_crc, ok=False, peer="192.0.2.11:50001",
                     mn=records[0].mn, cn="2061", reason="bad_crc", error="CRC 0000 does not match the data segment"),
        IngestRecord(received_at=now - timedelta(minutes=20), raw=b"\x00\x13AT+CSQ\r\n", ok=False,
                     peer="192.0.2.12:50002", reason="garbage", error="bytes outside any frame (10 bytes)"),
    ]
    BulkWriter(session.get_bind()).write(records, connection=session.connection())
    stats = run_maintenance(session, now=now, rules=rules, table=table, mw_per_t_h_value=mw_per_t_h_value)
    for point, scenario in new_points:
        if scenario.bag_filter:  # the plan's bag filter (方案 §四(五)), registered with the source
            src = session.get(HeatSource, point.source_id)
            src.extra = {**(src.extra or {}), "bag_filter": True}
    n_arch, n_days, n_unmon = add_archive(
        session, supervision=read_supervision(supervision_path(settings.data_dir)), table=table, rules=rules,
        history=HISTORY, now=now, first_mn=ARCHIVE_FIRST_MN, mn_of=_mn, mw_per_t_h_value=mw_per_t_h_value)
    restore_foreign_keys()
    session.flush()
    audit(session, Actor.system("demo"), "create", "emissions_point", "",
          {"points": len(new_points), "history_hours": n_hist, "packets": len(records), "archive_points": n_arch,
           "archive_days": n_days},
          summary=f"演示：{len(new_points) + n_arch} 个监测点及数据 / demo monitoring points and data")
    return (f"{len(new_points)} monitoring points; {n_hist} evaluated history hours (2019-2021); "
            f"{len(records)} packets of the last {live_hours // 24} days; "
            f"{stats.hours} hours evaluated, {stats.events} exceedance "
            f"events, {stats.alarms_raised} alarms; {n_arch} archive points with {n_days} daily values, "
            f"{n_unmon} required sources left unmonitored")
