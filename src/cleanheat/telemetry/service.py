"""Queries and use cases behind the telemetry pages, API and CLI (scoped to the caller's organisation)."""

from __future__ import annotations

import functools
import json
import re
import threading
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import yaml
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cleanheat.assets import service as assets_service
from cleanheat.assets.tables import Building, Device, Household, Point, Station
from cleanheat.auth.roles import Role
from cleanheat.auth.service import Actor, audit
from cleanheat.auth.tables import Organisation, User
from cleanheat.config import _default_data_dir
from cleanheat.errors import ConflictError, InputError, InputIssue, NotFoundError
from cleanheat.store.base import utcnow
from cleanheat.telemetry.availability import is_fresh
from cleanheat.telemetry.rollups import pick_resolution, read_series
from cleanheat.telemetry.tables import (
    Alarm,
    DeviceStatus,
    IngestBatch,
    Latest,
    Quarantine,
    Reading,
    ResidentRequest,
)

READ_ROLES = (Role.HEAT_COMPANY, Role.PROGRAMME_OFFICE)
STATION_KEYS = ("p_supply_temp_c", "p_return_temp_c", "s_supply_temp_c", "s_return_temp_c", "p_flow_kg_s",
                "s_flow_kg_s", "s_supply_pressure_kpa", "s_return_pressure_kpa", "heat_power_kw", "heat_energy_gj")


def now_ms() -> int:
    return int(time.time() * 1000)


@dataclass
class PointValue:
    point_id: int
    key: str
    name_zh: str
    unit: str
    value: float | None
    ts_ms: int | None
    fresh: bool

    def as_dict(self) -> dict:
        return {"point_id": self.point_id, "key": self.key, "name_zh": self.name_zh, "unit": self.unit,
                "value": self.value, "ts_ms": self.ts_ms, "fresh": self.fresh}


def _latest_by_point(session: Session, point_ids: list[int]) -> dict[int, tuple[int, float]]:
    out = {}
    for i in range(0, len(point_ids), 900):
        chunk = point_ids[i:i + 900]
        out.update({pid: (ts, v) for pid, ts, v in session.execute(
            select(Latest.point_id, Latest.ts_ms, Latest.value).where(Latest.point_id.in_(chunk)))})
    return out


def point_values(session: Session, points: list[Point], now: int, stale_factor: float = 3.0,
                 latest: dict[int, tuple[int, float]] | None = None) -> list[PointValue]:
    """The latest value of each point and whether it is fresh; ``latest`` (from ``_latest_by_point``) when the
    caller has read it already for more points."""
    latest = _latest_by_point(session, [p.id for p in points]) if latest is None else latest
    out = []
    for p in points:
        ts, v = latest.get(p.id, (None, None))
        out.append(PointValue(p.id, p.key, p.name_zh, p.unit, v, ts,
                              is_fresh(ts, now, p.sampling_interval_s, stale_factor)))
    return out


# --- network overview -------------------------------------------------------------------------------------

def overview(session: Session, actor: Actor, now: int | None = None) -> list[dict]:
    """Every visible station with its controller's latest values, availability and open alarms.

    Plain column rows in three queries (not ORM objects): an overview of 200 stations touches 2,000 points."""
    actor.require_roles(*READ_ROLES)
    now = now or now_ms()
    q_st = select(Station.id, Station.code, Station.name_zh).order_by(Station.code)
    q_pts = (select(Device.station_id, Device.id, Point.id, Point.key, Point.name_zh, Point.unit,
                    Point.sampling_interval_s, Latest.ts_ms, Latest.value)
             .join(Point, Point.device_id == Device.id).outerjoin(Latest, Latest.point_id == Point.id)
             .where(Device.kind == "station_controller", Device.status == "active", Device.station_id.is_not(None)))
    q_status = (select(DeviceStatus.device_id, DeviceStatus.available).join(Device)
                .where(Device.kind == "station_controller"))
    q_alarms = (select(Alarm.station_id, func.count()).where(Alarm.state != "cleared", Alarm.station_id.is_not(None))
                .group_by(Alarm.station_id))
    if not actor.city_wide:
        q_st = q_st.where(Station.org_id == actor.org_id)
        q_pts = q_pts.where(Device.org_id == actor.org_id)
        q_status = q_status.where(Device.org_id == actor.org_id)
        q_alarms = q_alarms.where(Alarm.org_id == actor.org_id)
    stations = session.execute(q_st).all()
    device_of: dict[int, int] = {}
    values: dict[int, dict[str, PointValue]] = defaultdict(dict)
    for st_id, dev_id, pid, key, name, unit, interval, ts, v in session.execute(q_pts):
        device_of.setdefault(st_id, dev_id)
        values[st_id][key] = PointValue(pid, key, name, unit, v, ts, is_fresh(ts, now, interval))
    status = dict(session.execute(q_status).all())
    alarms = dict(session.execute(q_alarms).all())
    out = []
    for s in stations:
        dev = device_of.get(s.id)
        vals = {k: values[s.id].get(k) for k in STATION_KEYS} if dev else {}
        online = bool(status.get(dev)) and any(v and v.fresh for v in vals.values())
        n_alarms = alarms.get(s.id, 0)
        out.append({"station": s, "device": dev, "values": vals, "online": online,
                    "last_ms": max((v.ts_ms for v in vals.values() if v and v.ts_ms), default=None),
                    "alarms": n_alarms,
                    "state": "alarm" if n_alarms else ("ok" if online else ("offline" if dev else "no_device"))})
    return out


def overview_json(rows: list[dict]) -> list[dict]:
    return [{"station_id": r["station"].id, "code": r["station"].code, "name_zh": r["station"].name_zh,
             "state": r["state"], "online": r["online"], "alarms": r["alarms"], "last_ms": r["last_ms"],
             "values": {k: (v.value if v and v.fresh else None) for k, v in r["values"].items()}} for r in rows]


# --- station detail ---------------------------------------------------------------------------------------

def station_detail(session: Session, actor: Actor, station_id: int, now: int | None = None) -> dict:
    actor.require_roles(*READ_ROLES)
    now = now or now_ms()
    tree = assets_service.station_tree(session, actor, station_id)
    devices = tree["devices"]
    # one read of the latest values for every point of the station (a station has hundreds of room sensors)
    latest = _latest_by_point(session, [p.id for d in devices for p in d.points])
    values = {d.id: point_values(session, list(d.points), now, latest=latest) for d in devices}
    status = {s.device_id: s for s in session.scalars(select(DeviceStatus).where(
        DeviceStatus.device_id.in_([d.id for d in devices] or [-1])))}
    controller = next((d for d in devices if d.kind == "station_controller"), None)
    hh_building = {h.id: h.building_id for h in tree["households"]}
    b_rows = {b.id: {"building": b, "meter": {}, "rooms": []} for b in tree["buildings"]}
    for d in devices:
        if d.building_id in b_rows and d.kind == "heat_meter":
            b_rows[d.building_id]["meter"] = {v.key: v for v in values[d.id]}
        elif d.household_id in hh_building and d.kind == "room_sensor":
            b_rows[hh_building[d.household_id]]["rooms"] += [(d, v) for v in values[d.id] if v.key == "room_temp_c"]
    for row in b_rows.values():
        fresh = [v.value for _, v in row["rooms"] if v.fresh and v.value is not None]
        row["room_mean_c"] = sum(fresh) / len(fresh) if fresh else None
        row["room_min_c"] = min(fresh) if fresh else None
        row["rooms_fresh"] = len(fresh)
    return tree | {"values": values, "status": status, "controller": controller, "now_ms": now,
                   "building_rows": list(b_rows.values())}


def station_live_values(session: Session, actor: Actor, station_id: int, now: int | None = None
                        ) -> dict[str, list]:
    """``"<device code>.<point key>" -> [value, ts_ms, fresh]`` for every point of the station's devices (its
    controller, its buildings' meters and their households' room sensors): what a live page's stream sends,
    read as plain rows in one query (``station_detail`` builds the whole tree for the page itself)."""
    station = assets_service.get_record(session, actor, "stations", station_id)
    now = now or now_ms()
    rows = session.execute(
        select(Device.code, Point.key, Point.sampling_interval_s, Latest.value, Latest.ts_ms)
        .join(Point, Point.device_id == Device.id).outerjoin(Latest, Latest.point_id == Point.id)
        .where(assets_service.station_devices(station.id)).order_by(Device.code, Point.id))
    return {f"{code}.{key}": [value, ts, is_fresh(ts, now, interval_s)]
            for code, key, interval_s, value, ts in rows}


#: station trends shared by every viewer of a station in this process for a few seconds: the rollups they are
#: read from change once per jobs round, and a dispatch room has many screens on the same stations
SERIES_SHARE_MS = 15_000
_SERIES: dict[tuple, tuple[float, bytes]] = {}
_SERIES_LOCK = threading.Lock()


def station_series_json(session: Session, actor: Actor, station_id: int, *, hours: float = 24.0,
                        band: bool = False) -> bytes:
    """``station_series`` up to now as JSON bytes, shared by the viewers of the station for up to
    ``SERIES_SHARE_MS`` (the window ends at the next multiple of it, so the newest bucket is in). The actor's
    right to see the station is checked on every call."""
    station = assets_service.get_record(session, actor, "stations", station_id)
    end = -(-now_ms() // SERIES_SHARE_MS) * SERIES_SHARE_MS
    key = (str(session.get_bind().url), station.id, float(hours), bool(band), end)
    hit = _SERIES.get(key)
    if hit is not None:
        return hit[1]
    data = station_series(session, actor, station.id, hours=hours, end_ms=end, band=band)
    body = json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode()
    with _SERIES_LOCK:
        now = time.monotonic()
        for k in [k for k, v in _SERIES.items() if now - v[0] > 2 * SERIES_SHARE_MS / 1000]:
            _SERIES.pop(k, None)
        _SERIES[key] = (now, body)
    return body


def station_series(session: Session, actor: Actor, station_id: int, *, hours: float = 24.0,
                   end_ms: int | None = None, keys: tuple[str, ...] = STATION_KEYS, band: bool = False) -> dict:
    """Trends of the station controller's points from the rollups (resolution chosen from the span):
    ``[bucket_ms, mean]`` per bucket, or ``[bucket_ms, mean, min, max]`` with ``band``."""
    actor.require_roles(*READ_ROLES)
    station = assets_service.get_record(session, actor, "stations", station_id)
    end = end_ms or now_ms()
    start = end - int(hours * 3_600_000)
    res = pick_resolution(end - start)
    points = list(session.scalars(select(Point).join(Device).where(
        Device.station_id == station.id, Device.kind == "station_controller", Point.key.in_(keys))))
    series = read_series(session.connection(), [p.id for p in points], start, end, res)
    return {"resolution": res, "start_ms": start, "end_ms": end,
            "series": {p.key: {"name_zh": p.name_zh, "unit": p.unit,
                               "data": series[p.id] if band else [r[:2] for r in series[p.id]]}
                       for p in points}}


def point_series(session: Session, actor: Actor, point_id: int, start_ms: int, end_ms: int,
                 resolution: str | None = None) -> dict:
    actor.require_roles(*READ_ROLES, Role.RESIDENT)
    p = session.get(Point, point_id)
    if p is None or not _may_see_point(session, actor, p):
        raise NotFoundError(f"point {point_id} not found")
    if end_ms <= start_ms:
        raise InputError("end must be after start", [InputIssue("empty range", field="end")])
    res = resolution or pick_resolution(end_ms - start_ms)
    if res == "raw":
        rows = session.execute(select(Reading.ts_ms, Reading.value).where(
            Reading.point_id == p.id, Reading.ts_ms >= start_ms, Reading.ts_ms < end_ms).order_by(Reading.ts_ms)
            .limit(100_000)).all()
        data = [[ts, v] for ts, v in rows]
    else:
        data = [[b, m, lo, hi] for b, m, lo, hi in read_series(session.connection(), [p.id], start_ms, end_ms,
                                                                res)[p.id]]
    return {"point_id": p.id, "key": p.key, "unit": p.unit, "resolution": res, "data": data}


def _may_see_point(session: Session, actor: Actor, p: Point) -> bool:
    if actor.role == Role.RESIDENT:
        hh = assets_service.household_of_user(session, actor)
        dev = session.get(Device, p.device_id)
        return hh is not None and dev is not None and dev.household_id == hh.id
    return actor.can_access_org(p.org_id)


# --- room-temperature compliance (室温达标率) --------------------------------------------------------------

def compliance(session: Session, actor: Actor, *, start_ms: int, end_ms: int, limit_c: float) -> dict:
    """Per building: measured rooms, rooms whose mean over the period is at least ``limit_c`` [°C] (the statutory
    minimum of climate.yaml; 达标户数/测温户数), and the share of measured room-hours at or above it; from the hourly
    rollups."""
    actor.require_roles(*READ_ROLES)
    q = (select(Point.id, Household.building_id).join(Device, Point.device_id == Device.id)
         .join(Household, Device.household_id == Household.id).where(Point.key == "room_temp_c"))
    if not actor.city_wide:
        q = q.where(Point.org_id == actor.org_id)
    room_building = dict(session.execute(q).all())
    if not room_building:
        return {"buildings": [], "total": None, "limit_c": limit_c}
    conn = session.connection()
    p = "?" if conn.dialect.name == "sqlite" else "%s"
    per_room: dict[int, list[float]] = defaultdict(list)
    ids = list(room_building)
    for i in range(0, len(ids), 900):
        chunk = ids[i:i + 900]
        rows = conn.exec_driver_sql(
            "SELECT point_id, sum_value / n FROM telemetry_rollup_1h "
            f"WHERE point_id IN ({', '.join([p] * len(chunk))}) "
            f"AND bucket_ms >= {p} AND bucket_ms < {p}", (*chunk, start_ms, end_ms))
        for pid, mean in rows:
            per_room[pid].append(mean)
    buildings = {b.id: b for b in session.scalars(select(Building).where(Building.id.in_(set(room_building.values()))))}
    stations = {s.id: s for s in session.scalars(select(Station).where(
        Station.id.in_({b.station_id for b in buildings.values() if b.station_id})))}
    agg: dict[int, dict] = {}
    for pid, bid in room_building.items():
        a = agg.setdefault(bid, {"rooms": 0, "measured": 0, "compliant": 0, "hours": 0, "ok_hours": 0,
                                 "sum": 0.0, "min": None})
        a["rooms"] += 1
        hours = per_room.get(pid)
        if not hours:
            continue
        mean = sum(hours) / len(hours)
        a["measured"] += 1
        a["compliant"] += mean >= limit_c
        a["hours"] += len(hours)
        a["ok_hours"] += sum(1 for h in hours if h >= limit_c)
        a["sum"] += mean
        a["min"] = mean if a["min"] is None else min(a["min"], mean)
    out = []
    for bid, a in sorted(agg.items(), key=lambda kv: buildings[kv[0]].code):
        b = buildings[bid]
        out.append({"building": b, "station": stations.get(b.station_id), "rooms": a["rooms"],
                    "measured": a["measured"], "compliant": a["compliant"],
                    "rate": a["compliant"] / a["measured"] if a["measured"] else None,
                    "hour_rate": a["ok_hours"] / a["hours"] if a["hours"] else None,
                    "mean_c": a["sum"] / a["measured"] if a["measured"] else None, "min_c": a["min"]})
    measured = sum(r["measured"] for r in out)
    total = {"measured": measured, "compliant": sum(r["compliant"] for r in out),
             "rate": sum(r["compliant"] for r in out) / measured if measured else None}
    return {"buildings": out, "total": total, "limit_c": limit_c, "start_ms": start_ms, "end_ms": end_ms}


# --- quarantine and ingest counters -----------------------------------------------------------------------

def reading_count(session: Session, actor: Actor) -> int:
    """Readings stored, all companies (city-wide roles only)."""
    actor.require_roles(Role.PROGRAMME_OFFICE)
    return session.scalar(select(func.count()).select_from(Reading)) or 0


def quarantine_counts(session: Session, actor: Actor) -> dict[str, int]:
    actor.require_roles(*READ_ROLES)
    q = select(Quarantine.reason, func.count()).group_by(Quarantine.reason)
    if not actor.city_wide:
        q = q.where(Quarantine.org_id == actor.org_id)
    return dict(session.execute(q).all())


def list_quarantine(session: Session, actor: Actor, *, reason: str | None = None, limit: int = 200) -> list[Quarantine]:
    actor.require_roles(*READ_ROLES)
    q = select(Quarantine).order_by(Quarantine.id.desc()).limit(limit)
    if not actor.city_wide:
        q = q.where(Quarantine.org_id == actor.org_id)
    if reason:
        q = q.where(Quarantine.reason == reason)
    return list(session.scalars(q))


def ingest_stats(session: Session, actor: Actor) -> list[dict]:
    """Counters per worker and source (city-wide roles only: workers serve every company)."""
    actor.require_roles(Role.PROGRAMME_OFFICE)
    rows = session.execute(select(IngestBatch.worker, IngestBatch.source, func.count(), func.sum(IngestBatch.messages),
                                  func.sum(IngestBatch.readings), func.sum(IngestBatch.inserted),
                                  func.sum(IngestBatch.duplicates), func.sum(IngestBatch.quarantined),
                                  func.max(IngestBatch.at))
                           .group_by(IngestBatch.worker, IngestBatch.source).order_by(IngestBatch.worker)).all()
    keys = ("worker", "source", "batches", "messages", "readings", "inserted", "duplicates", "quarantined", "last_at")
    return [dict(zip(keys, r, strict=True)) for r in rows]


# --- residents ---------------------------------------------------------------------------------------------

def resident_home(session: Session, actor: Actor, now: int | None = None) -> dict:
    """A resident's household: its room temperature now and over the last day, and its requests."""
    actor.require_roles(Role.RESIDENT)
    now = now or now_ms()
    found = assets_service.household_of_user_with_building(session, actor)
    if found is None:
        return {"household": None}
    hh, building, company = found
    room_row = session.execute(
        select(Point, Latest.ts_ms, Latest.value).join(Device).outerjoin(Latest, Latest.point_id == Point.id)
        .where(Device.household_id == hh.id, Point.key == "room_temp_c")).first()
    room, value, series = (room_row[0] if room_row else None), None, []
    if room is not None:
        value = point_values(session, [room], now, latest={room.id: (room_row[1], room_row[2])})[0]
        series = [[b, round(m, 2)] for b, m, _, _ in read_series(session.connection(), [room.id], now - 86_400_000,
                                                                  now, "1h")[room.id]]
    requests = list(session.scalars(select(ResidentRequest).where(ResidentRequest.household_id == hh.id)
                                    .order_by(ResidentRequest.id.desc()).limit(20)))
    phone = next((r.contact_phone for r in requests if r.contact_phone), "")
    return {"household": hh, "building": building, "room": room, "value": value, "series": series,
            "requests": requests, "band": request_band(company.code if company else None), "last_phone": phone,
            "open_kinds": {r.kind for r in requests if r.status == "open"}}


REQUEST_KINDS = ("warmer", "cooler", "fault")
#: a contact phone: digits, spaces, +, - and parentheses, 5 to 20 characters
_PHONE = re.compile(r"^[0-9+\-() ]{5,20}$")


@dataclass(frozen=True)
class TempBand:
    min_c: float
    max_c: float
    suggested_c: float
    source: str


def request_band(org_code: str | None, data_dir: Path | None = None) -> TempBand:
    """The room temperatures a resident of ``org_code``'s households may ask for
    (data/telemetry/resident_requests.yaml: the company's own band, else the default)."""
    doc = _request_rules(str(data_dir or _default_data_dir()))
    entry = (doc.get("companies") or {}).get(org_code or "", doc["default"])
    band = entry["desired_temp_c"]
    return TempBand(float(band["min"]), float(band["max"]), float(band.get("suggested", band["min"])),
                    str(entry.get("source", "")))


@functools.lru_cache(maxsize=4)
def _request_rules(data_dir: str) -> dict:
    return yaml.safe_load((Path(data_dir) / "telemetry" / "resident_requests.yaml").read_text(encoding="utf-8"))


def household_address(building: Building | None, hh: Household) -> str:
    """Building address (or name), unit and room, as a heat company writes it."""
    where = (building.address or building.name_zh) if building else ""
    unit = f" {hh.unit_no}单元" if hh.unit_no else ""
    room = f" {hh.room_no}室" if hh.room_no else ""
    return f"{where}{unit}{room}".strip()


def create_request(session: Session, actor: Actor, kind: str, message: str = "", *,
                   desired_temp_c: float | None = None, contact_phone: str = "",
                   data_dir: Path | None = None) -> ResidentRequest:
    """A resident's request. Warmer / cooler ask for a temperature within the company's band; a second open
    request of the same kind (a fault: with the same description) is refused (ConflictError)."""
    actor.require_roles(Role.RESIDENT)
    if kind not in REQUEST_KINDS:
        raise InputError("unknown request", [InputIssue(f"kind must be one of {', '.join(REQUEST_KINDS)}",
                                                        field="kind")])
    message = message.strip()[:2000]
    contact_phone = contact_phone.strip()
    issues = []
    if kind == "fault" and not message:
        issues.append(InputIssue("请描述故障 / describe the fault", field="message"))
    if contact_phone and not _PHONE.match(contact_phone):
        issues.append(InputIssue("联系电话只能含数字、空格、+、-，5-20位 / "
                                 "a phone number has 5-20 digits, spaces, + or -",
                                 field="contact_phone"))
    hh = assets_service.household_of_user(session, actor)
    if hh is None:
        raise NotFoundError("no household is linked to this account")
    if kind in ("warmer", "cooler"):
        company = session.get(Organisation, hh.org_id)
        band = request_band(company.code if company else None, data_dir)
        if desired_temp_c is None:
            issues.append(InputIssue(f"请填写希望的室温 / "
                                     f"give the temperature you want ({band.min_c:g}–{band.max_c:g} ℃)",
                                     field="desired_temp_c"))
        elif not band.min_c <= desired_temp_c <= band.max_c:
            issues.append(InputIssue(f"希望室温须在 {band.min_c:g}–{band.max_c:g} ℃ 之间 / the temperature must be "
                                     f"between {band.min_c:g} and {band.max_c:g} °C", field="desired_temp_c"))
    else:
        desired_temp_c = None
    if issues:
        raise InputError("request not valid", issues)
    same = select(ResidentRequest.id).where(ResidentRequest.household_id == hh.id, ResidentRequest.kind == kind,
                                            ResidentRequest.status == "open")
    if kind == "fault":
        same = same.where(ResidentRequest.message == message)
    if session.scalar(same.limit(1)) is not None:
        raise ConflictError("您已有一条相同的待处理诉求，供热企业处理后会回复 / "
                            "you already have the same request open; "
                            "the heating company will reply when it has dealt with it")
    room = session.scalar(select(Point).join(Device).where(Device.household_id == hh.id, Point.key == "room_temp_c"))
    latest = session.get(Latest, room.id) if room else None
    req = ResidentRequest(household_id=hh.id, org_id=hh.org_id, user_id=actor.user_id, kind=kind,
                          message=message, room_temp_c=latest.value if latest else None,
                          desired_temp_c=desired_temp_c, contact_phone=contact_phone)
    session.add(req)
    session.flush()
    audit(session, actor, "create", "resident_request", req.id, {"kind": kind, "household": hh.code,
                                                                 "desired_temp_c": desired_temp_c})
    return req


@dataclass
class RequestRow:
    """A request as the heat company sees it: with the household's address and the resident's name and phone."""
    request: ResidentRequest
    household: Household
    address: str
    resident_name: str
    phone: str


def list_requests(session: Session, actor: Actor, *, open_only: bool = True) -> list[RequestRow]:
    actor.require_roles(*READ_ROLES)
    q = (select(ResidentRequest, Household, Building, User)
         .join(Household, ResidentRequest.household_id == Household.id)
         .join(Building, Household.building_id == Building.id, isouter=True)
         .join(User, ResidentRequest.user_id == User.id, isouter=True)
         .order_by(ResidentRequest.id.desc()).limit(200))
    if not actor.city_wide:
        q = q.where(ResidentRequest.org_id == actor.org_id)
    if open_only:
        q = q.where(ResidentRequest.status == "open")
    # the resident's name and phone are for the company that heats the household (and administrators), not
    # for the programme office's city-wide view
    personal = actor.role in (Role.HEAT_COMPANY, Role.ADMIN)
    return [RequestRow(r, h, household_address(b, h), ((u.display_name or u.username) if u else "") if personal
                       else "", r.contact_phone if personal else "")
            for r, h, b, u in session.execute(q)]


def close_request(session: Session, actor: Actor, request_id: int, reply: str = "") -> ResidentRequest:
    """Close a request with a reply to the resident (required)."""
    actor.require_roles(Role.HEAT_COMPANY)
    req = session.get(ResidentRequest, request_id)
    if req is None or not actor.can_access_org(req.org_id):
        raise NotFoundError(f"request {request_id} not found")
    reply = reply.strip()[:2000]
    if not reply:
        raise InputError("reply missing",
                         [InputIssue("请填写给居民的答复 / write a reply to the resident", field="reply")])
    if req.status != "open":
        raise ConflictError(f"request {request_id} is already closed")
    req.status, req.closed_at, req.closed_by, req.reply = "closed", utcnow(), actor.actor, reply
    audit(session, actor, "close", "resident_request", req.id, {"reply": reply})
    return req


def demo_weather_note(session: Session) -> str:
    """The running demo twin's weather note ("01-15" when it simulates 15 January outside the heating season;
    "" when it simulates today or no process runs it)."""
    from cleanheat.jobs.coordination import service_status

    status = service_status(session, "twin.live")
    return str((status or {}).get("weather_note", ""))
