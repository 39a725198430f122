"""Demo data of the emissions area (``cleanheat init --demo``; synthetic, labelled so).

* Monitoring points for the demo heat companies' combustion sources (htjt, veolia, huaneng, suibao). When the
  registry has no source of those companies yet, demo sources coded ``DEMO-CEMS-*`` are created first.
* Evaluated hours for the programme's heating seasons 2019-2020, 2020-2021 and 2021 up to 31 December (so that
  the programme evaluation has monitoring evidence); one coal boiler of suibao runs with frequent NOx
  exceedances in the 2020-2021 season and so fails the compliance threshold.
* The last seven days (or the month so far, when longer) as real HJ 212 hourly packets (2025 edition), stored and evaluated through the
  same path as the receiver's, plus a few malformed packets; so the pages are alive after ``make run``.

Idempotent: points are keyed by MN, sources by code; a point that already exists gets no new data.
"""

from __future__ import annotations

import random
from collections import defaultdict
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from cleanheat.assets.tables import HeatSource, HeatSourceEvent
from cleanheat.auth.service import Actor, audit
from cleanheat.auth.tables import Organisation
from cleanheat.config import Settings
from cleanheat.emissions.hj212.codec import CHINA_TZ, encode, parse_frame
from cleanheat.emissions.hj212.passwords import hash_password
from cleanheat.emissions.ingest import BulkWriter, IngestRecord, bulk_insert
from cleanheat.emissions.limits import read_limit_table
from cleanheat.emissions.processing import (
    POLLUTANTS,
    Sample,
    evaluate_day,
    evaluate_hour,
    exceedance_runs,
    read_rules,
    readings_from_packet,
)
from cleanheat.emissions.processing import HourValue as HV
from cleanheat.emissions.rollup import local_day, point_context, run_maintenance
from cleanheat.emissions.simstacks import model_for, synthetic_password
from cleanheat.emissions.tables import DayValue, Exceedance, HourValue, MonitoringPoint
from cleanheat.store.base import utcnow

ORDER = 50
COMPANIES = ("htjt", "veolia", "huaneng", "suibao")
PREFIX = "DEMO-CEMS-"
#: code suffix, company, kind, fuel, class, t/h, MW, served m2, unit, area type, events, name
DEMO_SOURCES = [
    ("VEOLIA-1", "veolia", "coal_chp", "coal", "ultra_low", 410.0, None, 8_000_000.0, "daoli", "urban",
     [("commissioned", date(2006, 11, 1)), ("ultra_low_retrofitted", date(2018, 9, 20))], "威立雅热电厂 #1 机组（演示）"),
    ("HUANENG-1", "huaneng", "coal_chp", "coal", "ultra_low", 670.0, None, 9_500_000.0, "nangang", "urban",
     [("commissioned", date(2004, 10, 1)), ("ultra_low_retrofitted", date(2018, 8, 30))], "华能热电厂 #2 机组（演示）"),
    ("HTJT-1", "htjt", "coal_boiler", "coal", "ultra_low", None, 116.0, 2_600_000.0, "xiangfang", "urban",
     [("commissioned", date(2010, 10, 1)), ("ultra_low_retrofitted", date(2019, 8, 15))], "哈投供热 116MW 热水锅炉（演示）"),
    ("HTJT-2", "htjt", "gas_boiler", "gas", "ordinary", None, 70.0, 1_100_000.0, "daoli", "urban",
     [("commissioned", date(2019, 10, 10))], "哈投供热 燃气调峰锅炉（演示）"),
    ("SUIBAO-1", "suibao", "coal_boiler", "coal", "ultra_low", None, 58.0, 1_500_000.0, "hulan", "county_fringe",
     [("commissioned", date(2012, 10, 1)), ("ultra_low_retrofitted", date(2019, 9, 30))], "岁宝热电 58MW 锅炉（演示）"),
    ("SUIBAO-2", "suibao", "biomass_boiler", "biomass", "ordinary", 20.0, None, 320_000.0, "hulan", "county_fringe",
     [("commissioned", date(2019, 10, 5))], "岁宝热电 生物质锅炉（演示）"),
]
#: seasons of the programme with evaluated history: (first day, last day inclusive)
HISTORY = [(date(2019, 10, 20), date(2020, 4, 20)), (date(2020, 10, 20), date(2021, 4, 20)),
           (date(2021, 10, 20), date(2021, 12, 31))]
COMBUSTION = ("coal", "gas", "biomass", "oil")
#: monitored sources per company when the registry already holds the companies' sources
PER_COMPANY = 2


def _pick(session: Session, sources: list[HeatSource], orgs: dict[str, int]) -> list[HeatSource]:
    """A few sources per company from a larger registry: its largest CHP or earliest ultra-low coal unit, and
    a gas or biomass boiler when it has one (else a second coal unit)."""
    retrofits = dict(session.execute(
        select(HeatSourceEvent.source_id, HeatSourceEvent.effective_date)
        .where(HeatSourceEvent.event == "ultra_low_retrofitted")).all())
    far = date(9999, 1, 1)

    def key(s: HeatSource) -> tuple:
        return ("chp" not in s.kind, retrofits.get(s.id, far), -(s.capacity_t_h or (s.capacity_mw or 0) / 0.7),
                s.code)

    chosen = []
    for company in COMPANIES:
        own = [s for s in sources if s.org_id == orgs.get(company)]
        coal = sorted((s for s in own if s.current_fuel == "coal"), key=key)
        other = sorted((s for s in own if s.current_fuel != "coal"), key=key)
        chosen += (coal[:1] + other[:1] + coal[1:2])[:PER_COMPANY]
    return chosen


def _ensure_sources(session: Session, orgs: dict[str, int]) -> list[HeatSource]:
    """The companies' combustion sources to monitor; demo ones are created when the registry has none."""
    existing = list(session.scalars(select(HeatSource).where(HeatSource.org_id.in_(orgs.values()),
                                                             HeatSource.current_fuel.in_(COMBUSTION))
                                    .order_by(HeatSource.code)))
    if existing:
        return _pick(session, existing, orgs)
    made = []
    for suffix, company, kind, fuel, klass, cap_t, cap_mw, area, unit, area_type, events, name in DEMO_SOURCES:
        src = HeatSource(code=PREFIX + suffix, name_zh=name, plant_name=name.split(" ")[0], org_id=orgs[company],
                         admin_unit_code=unit, area_type=area_type, kind=kind, fuel=fuel, current_fuel=fuel,
                         capacity_t_h=cap_t, capacity_mw=cap_mw, emission_class=klass, vintage="existing",
                         served_area_m2=area, status="in_service", note="合成演示数据 / synthetic demo data")
        src.events = [HeatSourceEvent(event=e, effective_date=d, note="demo", recorded_by="system:demo")
                      for e, d in events]
        session.add(src)
        made.append(src)
    session.flush()
    return made


def _mn(i: int) -> str:
    return f"0100DE{i:018d}"


def _history(session: Session, point: MonitoringPoint, model, bad_season: int | None,
             rng: random.Random) -> int:
    """Evaluated hours, days and exceedance events of the programme seasons, computed with the same pure
    functions as live data (one sample per hour stands in for its 60 minutes)."""
    ctx = point_context(session, point, read_limit_table())
    rules = read_rules()
    hours: list[dict] = []
    now = utcnow()
    for k, (first, last) in enumerate(HISTORY):
        m = replace(model, exceedance_rate=0.09 if k == bad_season else model.exceedance_rate)
        t = datetime(first.year, first.month, first.day, tzinfo=CHINA_TZ).astimezone(UTC)
        end = datetime(last.year, last.month, last.day, tzinfo=CHINA_TZ).astimezone(UTC) + timedelta(days=1)
        while t < end and t < now:
            limit_set, ref_o2 = ctx.limits_on(local_day(t))
            if rng.random() >= 0.01 and ref_o2 is not None:  # 1 % of the hours the link was down: no data
                o2, zs_by_p, flag = m.hour_sample(t)
                maintenance = rng.random() < 0.01
                for p in POLLUTANTS:
                    meas = zs_by_p[p] * (21 - o2) / (21 - m.ref_o2_pct)
                    h = evaluate_hour(p, [], Sample(meas, o2, "M" if maintenance else flag, zs_by_p[p]),
                                      ref_o2_pct=ref_o2, limit_mg_m3=limit_set.limit(p) if limit_set else None,
                                      rules=rules)
                    hours.append({"point_id": point.id, "ts": t, "pollutant": p, "conc_mg_m3": h.conc_mg_m3,
                                      "o2_pct": h.o2_pct, "conc_zs_mg_m3": h.conc_zs_mg_m3,
                                      "device_zs_mg_m3": h.device_zs_mg_m3, "limit_mg_m3": h.limit_mg_m3, "ref_o2_pct": ref_o2,
                                      "limit_set": limit_set.id if limit_set else None, "valid": h.valid,
                                      "exceeded": h.exceeded, "valid_minutes": None, "minutes_received": None, "flag": h.flag,
                                      "basis": "device", "reason": h.reason, "computed_at": now})
            t += timedelta(hours=1)
    conn = session.connection()
    bulk_insert(conn, HourValue.__table__, hours)
    by_day: dict[tuple, list] = defaultdict(list)
    by_p: dict[str, list] = defaultdict(list)
    for h in hours:
        v = HV(h["pollutant"], None, None, h["conc_zs_mg_m3"], None, h["valid"], None, None, None, "", "",
               h["limit_mg_m3"], h["exceeded"])
        by_day[(local_day(h["ts"]), h["pollutant"])].append(v)
        by_p[h["pollutant"]].append((h["ts"], h["exceeded"], h["conc_zs_mg_m3"], h["limit_mg_m3"]))
    days = []
    for (d, p), vals in sorted(by_day.items()):
        dv = evaluate_day(p, vals, limit_mg_m3=vals[0].limit_mg_m3, rules=rules)
        days.append({"point_id": point.id, "day": d, "pollutant": p, "valid_hours": dv.valid_hours, "valid": dv.valid,
                         "conc_zs_mg_m3": dv.conc_zs_mg_m3, "max_zs_mg_m3": dv.max_zs_mg_m3,
                         "exceeded_hours": dv.exceeded_hours, "limit_mg_m3": dv.limit_mg_m3})
    bulk_insert(conn, DayValue.__table__, days)
    for p, vals in by_p.items():
        for run in exceedance_runs(vals):
            session.add(Exceedance(point_id=point.id, pollutant=p, start_ts=run.start, end_ts=run.end,
                                   hours=run.hours, max_zs_mg_m3=run.max_zs_mg_m3, limit_mg_m3=run.limit_mg_m3,
                                   active=False, note="合成演示数据 / synthetic demo data"))
    session.flush()
    return len(hours)


def _live(point: MonitoringPoint, model, hours: int, now: datetime) -> list[IngestRecord]:
    """The last ``hours`` hourly packets of a point (2025 edition), as the receiver would store them."""
    m = replace(model, flag=9)  # HJ 212-2025 version bits, data answer requested
    end = now.replace(minute=0, second=0, microsecond=0)
    out = []
    for k in range(hours, 0, -1):
        start = end - timedelta(hours=k)
        frame = encode(m.hour_packet(start, every_min=5))
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
    sources = _ensure_sources(session, orgs)
    known = {p.source_id for p in session.scalars(select(MonitoringPoint))}
    new_points = []
    for i, src in enumerate(sources, start=1):
        if src.id in known:
            continue
        mn = _mn(i)
        if session.scalar(select(MonitoringPoint).where(MonitoringPoint.mn == mn)) is not None:
            continue
        point = MonitoringPoint(mn=mn, password_hash=hash_password(f"dm{i:04d}"), source_id=src.id, name_zh=f"{src.name_zh} 排放口1",
                                stack_no="1", note="合成演示数据 / synthetic demo data")
        session.add(point)
        new_points.append(point)
    session.flush()
    if not new_points:
        return "demo monitoring points exist already; nothing added"
    table = read_limit_table()
    now = utcnow()
    rng = random.Random(2019)
    n_hist = 0
    records: list[IngestRecord] = []
    coal_boilers = [p for p in new_points if p.source.current_fuel == "coal" and "chp" not in p.source.kind]
    bad_point = next((p for p in coal_boilers if p.source.org_id == orgs.get("suibao")), None) or \
        (coal_boilers[-1] if coal_boilers else None)
    # the last 7 days, or the month so far when longer (so the month-to-date compliance report has its month)
    month_start = now.astimezone(CHINA_TZ).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    live_hours = max(24 * 7, int((now - month_start).total_seconds() // 3600))
    for point in new_points:
        ctx = point_context(session, point, table)
        model = model_for(ctx.limits_on(now.date()), point.mn, synthetic_password(point.mn), seed=point.id,
                          exceedance_rate=0.004)
        n_hist += _history(session, point, model, 1 if point is bad_point else None, rng)
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
    stats = run_maintenance(session, now=now)
    audit(session, Actor.system("demo"), "create", "emissions_point", "",
          {"points": len(new_points), "history_hours": n_hist, "packets": len(records)},
          summary=f"演示：{len(new_points)} 个监测点及数据 / demo monitoring points and data")
    return (f"{len(new_points)} monitoring points; {n_hist} evaluated history hours (seasons 2019-2021); "
            f"{len(records)} packets of the last {live_hours // 24} days; {stats.hours} hours evaluated, {stats.events} exceedance "
            f"events, {stats.alarms_raised} alarms")
