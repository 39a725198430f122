"""The demo city's heat billing for ``cleanheat init --demo`` (synthetic, labelled so).

For the demo heat company ``htjt`` and its demo city (``twin.demo``, buildings ``HB-S..-B..``), idempotently:

* the city's buildings are placed in two districts (stations 1–2: 道里区 daoli, 3–4: 南岗区 nangang) when they have
  no administrative unit, and three public buildings (a school, a district office, a clinic) are added;
* every household gets a heating account (energy-saving dwelling for 65 %/75 % buildings, ordinary otherwise) on
  its usable area; 40 % of them — the resident's own among them — are billed by meter (their ``-M`` heat meter),
  the others by area; two of the three public buildings are metered;
* the metered accounts get monthly register reads for the 2020-2021 season (at the season's first and last
  instant and on the 1st of each month), made from the twin's heat model: the building's design heat index × the
  household's area × the relative load of each day's mean outdoor temperature in Harbin's typical year
  (``twin.model.relative_load``, the CSWD weather file), times a fixed per-household factor — deterministic;
* a few realistic anomalies: a missing January read (gap), a register that dips for one read (rollback), a meter
  stuck for three months, an unrecorded meter replacement, a meter without reads after 1 March (the season's end
  is estimated), a household connected only from 15 December (pro-rated), a metered household without any read
  (billed at the area fee), and two 报停 applications (one inside the window, one refused: top floor);
* the season is billed: the prepayment run, approved; prepayments paid by all but three accounts (arrears); the
  settlement run, approved. The public buildings have no tariff in ``data/harbin/tariffs.yaml`` (none was found),
  so each run lists them as ``no_tariff`` exceptions instead of billing them at an invented price.
"""

from __future__ import annotations

import hashlib
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from cleanheat.auth.service import Actor, audit
from cleanheat.auth.tables import Organisation
from cleanheat.config import Settings
from cleanheat.timeutil import CHINA_TZ

ORDER = 70  # after the demo city (twin.demo, 60)
DEMO_ORG = "htjt"
PREFIX = "HB"
SEASON = "2020-2021"
#: share of households billed by meter
METERED_SHARE = 0.4
#: stations -> administrative unit of the demo city's buildings (synthetic placement)
UNITS = {"S01": "daoli", "S02": "daoli", "S03": "nangang", "S04": "nangang"}
#: (code suffix, name, unit, area m², metered) of the demo's public buildings
PUBLIC = (("P01", "演示第十七中学（合成）", "daoli", 8200.0, True),
          ("P02", "演示道里区政府办公楼（合成）", "daoli", 12500.0, True),
          ("P03", "演示南岗社区医院（合成）", "nangang", 5600.0, False))


def _unit_hash(text: str) -> float:
    """A fixed number in [0, 1) from a text (the same on every machine and run)."""
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big") / 2**64


def _daily_temps(data_dir) -> dict[tuple[int, int], float]:
    """(month, day) -> daily mean outdoor temperature [°C] of Harbin's typical year."""
    from cleanheat.weather.epw import harbin_epw_path, read_epw

    w = read_epw(harbin_epw_path(data_dir))
    means = w.daily_mean_c()
    start = date(2021, 1, 1)  # a non-leap year: 365 days
    return {((start + timedelta(days=i)).month, (start + timedelta(days=i)).day): float(means[i])
            for i in range(min(365, len(means)))}


def _read_times(first: date, last: date) -> list[datetime]:
    """The season's read instants: its first local midnight, the 1st of each month inside, its end."""
    out = [datetime.combine(first, time(0), CHINA_TZ)]
    d = date(first.year, first.month, 1)
    while True:
        d = date(d.year + (d.month == 12), d.month % 12 + 1, 1)
        if d > last:
            break
        out.append(datetime.combine(d, time(0), CHINA_TZ))
    out.append(datetime.combine(last + timedelta(days=1), time(0), CHINA_TZ))
    return out


def _register(times: list[datetime], daily_kwh: dict[date, float], start_kwh: float) -> list[float]:
    """The register [kWh] at each time: ``start_kwh`` plus the days' heat before it."""
    out, acc, t0 = [], start_kwh, times[0]
    days = sorted(daily_kwh)
    i = 0
    for t in times:
        while i < len(days) and datetime.combine(days[i], time(0), CHINA_TZ) + timedelta(days=1) <= t:
            if datetime.combine(days[i], time(0), CHINA_TZ) >= t0:
                acc += daily_kwh[days[i]]
            i += 1
        out.append(round(acc, 3))
    return out


def load_demo(session: Session, settings: Settings) -> str:
    from cleanheat.assets.tables import Building, Device, Household
    from cleanheat.billing import service
    from cleanheat.billing.tables import BillingAccount, BillingRun
    from cleanheat.twin.model import relative_load

    actor = Actor.system("demo")
    org = session.scalar(select(Organisation).where(Organisation.code == DEMO_ORG))
    if org is None:
        return f"skipped: organisation {DEMO_ORG!r} is missing"
    buildings = list(session.scalars(select(Building).where(Building.org_id == org.id,
                                                            Building.code.like(f"{PREFIX}-S%"))
                                     .order_by(Building.code)))
    if not buildings:
        return "skipped: no demo city"
    done = session.scalars(select(BillingRun.kind).where(BillingRun.org_id == org.id, BillingRun.season == SEASON,
                                                         BillingRun.state == "approved")).all()
    if set(done) >= {"prepayment", "settlement"}:
        return f"billing demo {SEASON}: present"
    if session.scalar(select(BillingAccount.id).where(BillingAccount.org_id == org.id).limit(1)) is not None:
        return "skipped: the company has billing accounts already (not the demo's)"

    # --- buildings: districts, public buildings ----------------------------------------------------------------
    placed = 0
    for b in buildings:
        if b.admin_unit_code is None:
            b.admin_unit_code = UNITS.get(b.code.split("-")[1], "daoli")
            placed += 1
    if placed:
        audit(session, actor, "update", "assets_buildings", "", {"admin_unit_code": "demo placement",
                                                                 "buildings": placed})
    station_id = buildings[0].station_id
    public = []
    for suffix, name, unit, area, metered in PUBLIC:
        code = f"{PREFIX}-{suffix}"
        b = session.scalar(select(Building).where(Building.code == code))
        if b is None:
            b = Building(code=code, name_zh=name, org_id=org.id, station_id=station_id, admin_unit_code=unit,
                         area_m2=area, floors=4, year_built=2005, energy_standard="50%",
                         design_heat_index_w_m2=55.0, note="合成演示数据 synthetic demo data")
            session.add(b)
            session.flush()
            audit(session, actor, "create", "assets_buildings", b.id, {"code": code, "demo": True})
        public.append((b, metered))

    # --- accounts ----------------------------------------------------------------------------------------------
    season = service.season_of(settings.city_dir, SEASON)
    first, last = season.first, season.last
    households = list(session.scalars(select(Household).join(Building, Building.id == Household.building_id)
                                      .where(Building.id.in_([b.id for b in buildings])).order_by(Household.code)))
    meters = dict(session.execute(select(Device.code, Device.id).where(Device.org_id == org.id,
                                                                       Device.code.like(f"{PREFIX}-%-M"))).all())
    by_id = {b.id: b for b in buildings}
    n_metered = round(len(households) * METERED_SHARE)
    # the resident's household first, then the others in a fixed shuffled order
    ranked = sorted(households, key=lambda h: (h.resident_user_id is None, _unit_hash(h.code)))
    metered_ids = {h.id for h in ranked[:n_metered]}
    # the anomalies: metered households after the resident's, in code order
    kinds = ("gap", "rollback", "stuck", "replacement", "end_missing", "late_connection", "no_reads")
    anomaly_of = dict(zip([h.id for h in households if h.id in metered_ids][1:], kinds, strict=False))
    late = date(first.year, 12, 15)
    top = {}  # building -> its highest floor with a household
    for h in households:
        top[h.building_id] = max(top.get(h.building_id, 0), h.floor or 0)
    accounts = []  # (account, household or None, building, metered)
    anomaly = {}
    for h in households:
        b = by_id[h.building_id]
        metered = h.id in metered_ids
        cls = "energy_saving_dwelling" if b.energy_standard in ("65%", "75%") else "ordinary_dwelling"
        acc = service.open_account(
            session, actor, building_id=b.id, household_id=h.id, account_no=h.account_no, customer_class=cls,
            billing_mode="metered" if metered else "area", area_m2=Decimal(str(h.area_m2)).quantize(Decimal("0.01")),
            meter_no=(h.meter_no or f"{h.code}-M") if metered else "",
            device_id=meters.get(f"{h.code}-M") if metered else None,
            connected_from=late if anomaly_of.get(h.id) == "late_connection" else None,
            dwelling={"top_floor": h.floor == top[b.id], "first_floor": h.floor == 1})
        accounts.append((acc, h, b, metered))
        if h.id in anomaly_of:
            anomaly[acc.id] = anomaly_of[h.id]
    for b, metered in public:
        acc = service.open_account(
            session, actor, building_id=b.id, account_no=f"{b.code}-A", customer_class="public_building",
            billing_mode="metered" if metered else "area", area_m2=Decimal(str(b.area_m2)).quantize(Decimal("0.01")),
            meter_no=f"{b.code}-M" if metered else "")
        accounts.append((acc, None, b, metered))

    # --- reads from the twin's heat model ----------------------------------------------------------------------
    temps = _daily_temps(settings.data_dir)
    days = [first + timedelta(days=i) for i in range((last - first).days + 1)]
    load = {d: float(relative_load(temps.get((d.month, d.day), temps.get((2, 28), -10.0)))) for d in days}
    times = _read_times(first, last)
    metered_accs = [(a, h, b) for a, h, b, m in accounts if m]
    reads = []
    for acc, _h, b in metered_accs:
        factor = 0.8 + 0.4 * _unit_hash(acc.account_no)
        w_m2 = b.design_heat_index_w_m2 * factor
        kind = anomaly.get(acc.id)
        if kind == "no_reads":  # the concentrator never delivered: billed at the area fee
            continue
        start = late if kind == "late_connection" else first
        daily = {d: float(acc.area_m2) * w_m2 * load[d] * 24 / 1000 for d in days if d >= start}
        start_kwh = round(2000 + 30000 * _unit_hash("start" + acc.account_no), 3)
        ts = times if kind != "late_connection" else (
            [datetime.combine(start, time(0), CHINA_TZ)] + [t for t in times if t.date() > start])
        values = _register(ts, daily, start_kwh)
        rows = list(zip(ts, values, strict=True))
        jan = datetime(first.year + 1, 1, 1, tzinfo=CHINA_TZ)
        feb = datetime(first.year + 1, 2, 1, tzinfo=CHINA_TZ)
        mar = datetime(first.year + 1, 3, 1, tzinfo=CHINA_TZ)
        if kind == "gap":
            rows = [(t, v) for t, v in rows if t != jan]
        elif kind == "rollback":
            dip = dict(rows)[jan] - 180.0  # February reads below January; March recovers
            rows = [(t, dip if t == feb else v) for t, v in rows]
        elif kind == "stuck":
            dec = datetime(first.year, 12, 1, tzinfo=CHINA_TZ)
            held = dict(rows)[dec]
            lost = dict(rows)[mar] - held
            rows = [(t, held if dec <= t <= mar else (v - lost if t > mar else v)) for t, v in rows]
        elif kind == "replacement":
            base = dict(rows)[feb]
            rows = [(t, v if t < feb else round(800.0 + v - base, 3)) for t, v in rows]  # new meter at 800 kWh
        elif kind == "end_missing":
            rows = [(t, v) for t, v in rows if t <= mar]
        reads += [service.ReadIn(acc.id, t, Decimal(str(v)), source="twin") for t, v in rows]
    stored = service.record_reads(session, actor, reads)

    # --- 报停: one accepted (in the window), one refused (top floor) ------------------------------------------
    area_hh = [(a, h, b) for a, h, b, m in accounts if not m and h is not None]
    stop_ok = next(x for x in area_hh if not x[0].dwelling.get("top_floor") and not x[0].dwelling.get("first_floor"))
    stop_refused = next(x for x in area_hh if x[0].dwelling.get("top_floor"))
    service.apply_stop_heating(session, actor, stop_ok[0].id, SEASON, date(first.year, 9, 24),
                               note="外出过冬 / away for the winter (demo)")
    service.apply_stop_heating(session, actor, stop_refused[0].id, SEASON, date(first.year, 9, 26),
                               note="顶层住户申请 / top-floor flat (demo)")
    session.flush()

    # --- the season billed ---------------------------------------------------------------------------------------
    pre = service.run_billing(session, actor, DEMO_ORG, SEASON, "prepayment", city_dir=settings.city_dir,
                              data_dir=settings.data_dir)
    service.approve_run(session, actor, pre.run_id)
    from cleanheat.billing.tables import Statement

    unpaid = {a.id for a, *_ in accounts[2::31]}  # three accounts leave the prepayment unpaid (arrears)
    paid_at = datetime(first.year, 10, 15, 10, tzinfo=CHINA_TZ)
    for st in session.scalars(select(Statement).where(Statement.run_id == pre.run_id).order_by(Statement.id)):
        if st.account_id not in unpaid and st.total_yuan > 0:
            service.record_payment(session, actor, st.account_id, SEASON, st.total_yuan, paid_at,
                                   method="bank", reference=f"DEMO-{st.number}", statement_id=st.id)
    post = service.run_billing(session, actor, DEMO_ORG, SEASON, "settlement", city_dir=settings.city_dir,
                               data_dir=settings.data_dir)
    service.approve_run(session, actor, post.run_id)
    return (f"billing demo {SEASON}: {len(accounts)} accounts ({len(metered_accs)} metered), {stored} reads, "
            f"prepayment {pre.statement_count} statements {pre.total_yuan} yuan, settlement {post.statement_count} "
            f"statements {post.total_yuan} yuan ({sum(post.exception_counts.values())} exceptions)")
