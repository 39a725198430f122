"""Use cases of the emissions area. Every function takes a session and the acting user; none commits.

Who may do what:

* see monitoring data: the ecology bureau, the programme office and administrators see every source; a heat
  company sees its own sources only (``assets_heat_sources.org_id``); other roles see nothing;
* register and change monitoring points, acknowledge exceedances and alarms, read raw packets (which carry the
  device passwords): the ecology bureau and administrators.

Every write is recorded in the audit log.
"""

from __future__ import annotations

import functools
import re
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path

from sqlalchemy import and_, case, func, or_, select, union_all
from sqlalchemy.orm import Session

from cleanheat.assets.tables import HeatSource
from cleanheat.auth.roles import Role
from cleanheat.auth.service import Actor, audit
from cleanheat.auth.tables import Organisation
from cleanheat.emissions.compliance import ComplianceSummary, PollutantStats, month_bounds, window_hours
from cleanheat.emissions.hj212.codes import read_code_tables
from cleanheat.emissions.hj212.crc import CRC_VARIANT_NAMES
from cleanheat.emissions.hj212.passwords import hash_password, verify_password
from cleanheat.emissions.processing import POLLUTANTS, Rules, read_rules
from cleanheat.emissions.tables import Alarm, DayValue, Exceedance, HourValue, MonitoringPoint, RawPacket
from cleanheat.errors import ConflictError, InputError, InputIssue, NotFoundError, PermissionDeniedError
from cleanheat.store.base import utcnow

SEE_ALL_ROLES = frozenset({Role.ADMIN, Role.PROGRAMME_OFFICE, Role.ECOLOGY_BUREAU})
VIEW_ROLES = SEE_ALL_ROLES | {Role.HEAT_COMPANY}
MANAGE_ROLES = (Role.ECOLOGY_BUREAU,)  # admin always passes require_roles
#: a point is online when its last packet is younger than this
ONLINE_WITHIN = timedelta(minutes=15)
_MN_RE = re.compile(r"^[0-9A-Za-z]{1,32}$")
_COMBUSTION_FUELS = ("coal", "gas", "natural_gas", "oil", "diesel", "biomass", "lng")


def require_view(actor: Actor) -> None:
    if actor.role not in VIEW_ROLES:
        raise PermissionDeniedError(f"role {actor.role} may not see emissions monitoring data")


def sees_all(actor: Actor) -> bool:
    return actor.role in SEE_ALL_ROLES


def _scoped(q, actor: Actor):
    require_view(actor)
    if not sees_all(actor):
        q = q.where(HeatSource.org_id == actor.org_id)
    return q


def _check_point(actor: Actor, point: MonitoringPoint) -> None:
    require_view(actor)
    if not sees_all(actor) and point.source.org_id != actor.org_id:
        raise PermissionDeniedError("this monitoring point belongs to another organisation's heat source")


# --- monitoring points -------------------------------------------------------------------------------------

def get_point(session: Session, actor: Actor, point_id: int) -> MonitoringPoint:
    point = session.get(MonitoringPoint, point_id)
    if point is None:
        raise NotFoundError(f"monitoring point {point_id} not found")
    _check_point(actor, point)
    return point


def list_points(session: Session, actor: Actor, *, include_inactive: bool = True) -> list[MonitoringPoint]:
    q = _scoped(select(MonitoringPoint).join(HeatSource, MonitoringPoint.source_id == HeatSource.id), actor)
    if not include_inactive:
        q = q.where(MonitoringPoint.active.is_(True))
    return list(session.scalars(q.order_by(HeatSource.code, MonitoringPoint.stack_no, MonitoringPoint.id)))


def monitorable_sources(session: Session, actor: Actor) -> list[HeatSource]:
    """Heat sources burning a fuel that emission limits cover (candidates for a monitoring point)."""
    q = _scoped(select(HeatSource).where(HeatSource.current_fuel.in_(_COMBUSTION_FUELS)), actor)
    return list(session.scalars(q.order_by(HeatSource.code)))


@dataclass(frozen=True)
class PointInput:
    mn: str
    password: str
    source_code: str
    name_zh: str = ""
    stack_no: str = ""
    crc_variant: str = "hj212"
    ref_o2_pct: float | None = None
    active: bool = True
    note: str = ""

    def issues(self) -> list[InputIssue]:
        out = []
        if not _MN_RE.match(self.mn or ""):
            out.append(InputIssue("MN 须为 1–32 位字母数字 / MN must be 1-32 letters or digits", field="mn"))
        if not self.password or len(self.password) > 64 or any(c in self.password for c in ";=,&"):
            out.append(InputIssue("访问密码须为 1–64 个字符且不含 ; = , & / password must be 1-64 characters "
                                  "without ; = , &", field="password"))
        if self.crc_variant not in CRC_VARIANT_NAMES:
            out.append(InputIssue(f"CRC 类型须为 {'/'.join(CRC_VARIANT_NAMES)}", field="crc_variant"))
        if self.ref_o2_pct is not None and not (0 <= self.ref_o2_pct < 21):
            out.append(InputIssue("基准氧含量须在 0–21% 之间 / reference O2 must be in [0, 21) %",
                                  field="ref_o2_pct"))
        return out


def register_point(session: Session, actor: Actor, data: PointInput) -> MonitoringPoint:
    """Register a monitoring point (stack CEMS) for a heat source."""
    actor.require_roles(*MANAGE_ROLES)
    issues = data.issues()
    source = session.scalar(select(HeatSource).where(HeatSource.code == data.source_code))
    if source is None:
        issues.append(InputIssue(f"热源 {data.source_code!r} 未登记 / heat source not registered",
                                 field="source_code"))
    if issues:
        raise InputError("监测点信息有误 / invalid monitoring point", issues)
    if session.scalar(select(MonitoringPoint).where(MonitoringPoint.mn == data.mn)) is not None:
        raise ConflictError(f"MN {data.mn} 已登记 / is already registered")
    point = MonitoringPoint(mn=data.mn, password_hash=hash_password(data.password), crc_variant=data.crc_variant,
                            source_id=source.id,
                            name_zh=data.name_zh or f"{source.name_zh} 排放口{data.stack_no or ''}".strip(),
                            stack_no=data.stack_no, ref_o2_pct=data.ref_o2_pct, active=data.active, note=data.note)
    session.add(point)
    session.flush()
    audit(session, actor, "create", "emissions_point", point.id,
          {"mn": data.mn, "source": data.source_code, "crc_variant": data.crc_variant},
          summary=f"登记监测点 {data.mn} → {source.name_zh}")
    return point


def set_password(session: Session, actor: Actor, mn: str, password: str) -> MonitoringPoint:
    """Rotate the HJ 212 password of the point with this MN (only its hash is stored; a running receiver picks
    the change up at its next directory refresh, within ``directory_refresh_s``)."""
    actor.require_roles(*MANAGE_ROLES)
    point_id = session.scalar(select(MonitoringPoint.id).where(MonitoringPoint.mn == mn))
    if point_id is None:
        raise NotFoundError(f"MN {mn} 未登记 / is not registered")
    return update_point(session, actor, point_id, password=password)


def update_point(session: Session, actor: Actor, point_id: int, *, password: str | None = None,
                 crc_variant: str | None = None, active: bool | None = None, ref_o2_pct: float | None = None,
                 clear_ref_o2: bool = False, note: str | None = None) -> MonitoringPoint:
    actor.require_roles(*MANAGE_ROLES)
    point = get_point(session, actor, point_id)
    changes: dict[str, object] = {}
    probe = PointInput(mn=point.mn, password="unchanged" if password is None else password,
                       source_code=point.source.code,
                       crc_variant=crc_variant or point.crc_variant, ref_o2_pct=ref_o2_pct)
    issues = [i for i in probe.issues() if i.field != "mn"]
    if issues:
        raise InputError("监测点信息有误 / invalid monitoring point", issues)
    if password is not None and not verify_password(password, point.password_hash):
        point.password_hash = hash_password(password)  # only the hash is stored
        changes["password"] = "changed"
    if crc_variant is not None and crc_variant != point.crc_variant:
        changes["crc_variant"] = [point.crc_variant, crc_variant]
        point.crc_variant = crc_variant
    if active is not None and active != point.active:
        changes["active"] = [point.active, active]
        point.active = active
    if clear_ref_o2 or (ref_o2_pct is not None and ref_o2_pct != point.ref_o2_pct):
        new = None if clear_ref_o2 else ref_o2_pct
        changes["ref_o2_pct"] = [point.ref_o2_pct, new]
        point.ref_o2_pct = new
    if note is not None and note != point.note:
        point.note = note
        changes["note"] = "changed"
    if changes:
        audit(session, actor, "update", "emissions_point", point.id, changes, summary=f"修改监测点 {point.mn}")
    return point


# --- status of the sources ---------------------------------------------------------------------------------

@dataclass
class PollutantNow:
    pollutant: str
    conc_zs_mg_m3: float | None
    limit_mg_m3: float | None
    valid: bool
    exceeded: bool
    flag: str | None


@dataclass
class PointStatus:
    point: MonitoringPoint
    company: str
    online: bool
    last_hour: datetime | None
    latest: dict[str, PollutantNow]
    open_alarms: int
    active_exceedances: int
    month: ComplianceSummary | None

    @functools.cached_property
    def state(self) -> str:
        """normal | exceeding | missing | offline | inactive (fixed once the status is built)"""
        if not self.point.active:
            return "inactive"
        if self.active_exceedances or any(v.exceeded for v in self.latest.values()):
            return "exceeding"
        if self.open_alarms:
            return "missing"
        if not self.online:
            return "offline"
        return "normal"


def is_online(point: MonitoringPoint, now: datetime | None = None) -> bool:
    """The point's data logger sent a packet within :data:`ONLINE_WITHIN`."""
    return point.last_packet_at is not None and (now or utcnow()) - point.last_packet_at <= ONLINE_WITHIN


def point_statuses(session: Session, actor: Actor, *, threshold: float, rules: Rules,
                   now: datetime | None = None) -> list[PointStatus]:
    """Each visible point's state and month-to-date compliance (``threshold`` [0..1]: the settings';
    ``rules``: ``read_rules(settings.data_dir)``)."""
    now = now or utcnow()
    points = list_points(session, actor)
    if not points:
        return []
    ids = [p.id for p in points]
    companies = dict(session.execute(select(Organisation.id, Organisation.name_zh)).all())
    latest: dict[int, dict[str, PollutantNow]] = defaultdict(dict)
    shown = {p.id: _complete_hour(p.last_hour_ts, now) for p in points if p.last_hour_ts is not None}
    keys = list(shown.items())
    for pid, ts in keys:
        for h in session.scalars(select(HourValue).where(HourValue.point_id == pid, HourValue.ts == ts)):
            latest[pid][h.pollutant] = PollutantNow(h.pollutant, h.conc_zs_mg_m3, h.limit_mg_m3, h.valid,
                                                    h.exceeded, h.flag)
    alarms = dict(session.execute(select(Alarm.point_id, func.count()).where(
        Alarm.point_id.in_(ids), Alarm.cleared_at.is_(None)).group_by(Alarm.point_id)).all())
    active = dict(session.execute(select(Exceedance.point_id, func.count()).where(
        Exceedance.point_id.in_(ids), Exceedance.active.is_(True)).group_by(Exceedance.point_id)).all())
    local_now = now.astimezone(_china())
    lo, hi = month_bounds(local_now.year, local_now.month)
    months = compliance_summaries(session, ids, lo, min(hi, _next_hour(now)), threshold=threshold, rules=rules)
    out = []
    for p in points:
        out.append(PointStatus(
            point=p, company=companies.get(p.source.org_id, ""),
            online=is_online(p, now),
            last_hour=shown.get(p.id), latest=latest.get(p.id, {}), open_alarms=alarms.get(p.id, 0),
            active_exceedances=active.get(p.id, 0), month=months.get(p.id)))
    return out


def _complete_hour(ts: datetime, now: datetime) -> datetime:
    """The newest evaluated hour that has ended: the hour still running (its minutes still arriving, so judged
    invalid for now) gives way to the one before."""
    return ts - timedelta(hours=1) if ts + timedelta(hours=1) > now else ts


def _china():
    from cleanheat.emissions.hj212.codec import CHINA_TZ

    return CHINA_TZ


def _next_hour(t: datetime) -> datetime:
    return t.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)


# --- compliance ------------------------------------------------------------------------------------------

def compliance_summaries(session: Session, point_ids: list[int], lo: datetime, hi: datetime, *, threshold: float,
                         rules: Rules, hours_in_period: int | None = None,
                         hours_by_point: dict[int, int] | None = None,
                         windows: list[tuple[datetime, datetime]] | None = None) -> dict[int, ComplianceSummary]:
    """Per point and pollutant: statistics of the evaluated hours in [lo, hi) — or in the disjoint ``windows``
    (e.g. the heating days of a year), still one aggregate query — (no access check: callers pass visible
    points). The hours a point is measured against are ``hours_by_point[pid]`` when given, else
    ``hours_in_period``, else the length of the window(s)."""
    if not point_ids:
        return {}
    windows = list(windows) if windows else [(lo, hi)]
    judged = HourValue.valid & HourValue.limit_mg_m3.is_not(None) & HourValue.conc_zs_mg_m3.is_not(None)

    def one(cond):  # SQL: how many rows satisfy cond
        return func.sum(case((cond, 1), else_=0))

    zs_valid = case((HourValue.valid, HourValue.conc_zs_mg_m3), else_=None)
    # one range per window, each able to use the (point, ts) key; the partial sums are added up in SQL
    parts = [select(HourValue.point_id.label("pid"), HourValue.pollutant.label("pol"), func.count().label("n"),
                    one(HourValue.valid).label("valid"), one(judged).label("jud"),
                    one(judged & HourValue.exceeded).label("exc"), func.max(zs_valid).label("mx"),
                    func.sum(zs_valid).label("zsum"), func.count(zs_valid).label("zn"),
                    func.max(HourValue.limit_mg_m3).label("lim"))
             .where(HourValue.point_id.in_(point_ids), HourValue.ts >= a, HourValue.ts < b)
             .group_by(HourValue.point_id, HourValue.pollutant) for a, b in windows]
    u = (parts[0] if len(parts) == 1 else union_all(*parts)).subquery()
    rows = session.execute(
        select(u.c.pid, u.c.pol, func.sum(u.c.n), func.sum(u.c.valid), func.sum(u.c.jud), func.sum(u.c.exc),
               func.max(u.c.mx), func.sum(u.c.zsum), func.sum(u.c.zn), func.max(u.c.lim))
        .group_by(u.c.pid, u.c.pol)).all()
    n_hours = hours_in_period if hours_in_period is not None else window_hours(windows)
    events = dict(session.execute(select(Exceedance.point_id, func.count()).where(
        Exceedance.point_id.in_(point_ids),
        or_(*[and_(Exceedance.start_ts < b, Exceedance.end_ts > a) for a, b in windows]))
        .group_by(Exceedance.point_id)).all())
    stats: dict[int, dict[str, PollutantStats]] = defaultdict(dict)
    for pid, pol, n, valid, jud, exc, mx, zsum, zn, lim in rows:
        if pol not in POLLUTANTS:
            continue
        mean = float(zsum) / int(zn) if zn else None
        hours = hours_by_point.get(pid, n_hours) if hours_by_point else n_hours
        stats[pid][pol] = PollutantStats(pol, hours, int(n), int(valid or 0), int((jud or 0) - (exc or 0)),
                                         int(exc or 0), int(jud or 0), mx, float(mean) if mean is not None else None,
                                         lim)
    return {pid: ComplianceSummary(lo, hi, {p: stats[pid][p] for p in POLLUTANTS if p in stats[pid]}, threshold,
                                   rules.min_valid_hour_share, events.get(pid, 0), windows=tuple(windows))
            for pid in point_ids}


def segment_counts(session: Session, point_ids: list[int], segments: list[tuple[datetime, datetime]]
                   ) -> dict[tuple[int, int, str], tuple]:
    """Per (segment index, point, pollutant): (rows, valid, judged, exceeded, max zs, Σ zs, n zs, limit) of the
    evaluated hours in each of the disjoint [start, end) ``segments`` — one aggregate query for all of them (a
    trend adds up the segments of each period's windows instead of querying every period)."""
    if not point_ids or not segments:
        return {}
    judged = HourValue.valid & HourValue.limit_mg_m3.is_not(None) & HourValue.conc_zs_mg_m3.is_not(None)

    def one(cond):
        return func.sum(case((cond, 1), else_=0))

    zs_valid = case((HourValue.valid, HourValue.conc_zs_mg_m3), else_=None)
    seg = case(*[(and_(HourValue.ts >= a, HourValue.ts < b), i) for i, (a, b) in enumerate(segments)],
               else_=-1).label("seg")
    rows = session.execute(
        select(seg, HourValue.point_id, HourValue.pollutant, func.count(), one(HourValue.valid), one(judged),
               one(judged & HourValue.exceeded), func.max(zs_valid), func.sum(zs_valid), func.count(zs_valid),
               func.max(HourValue.limit_mg_m3))
        .where(HourValue.point_id.in_(point_ids), HourValue.ts >= min(a for a, _ in segments),
               HourValue.ts < max(b for _, b in segments))
        .group_by(seg, HourValue.point_id, HourValue.pollutant)).all()
    return {(int(i), pid, pol): tuple(rest) for i, pid, pol, *rest in rows if i is not None and int(i) >= 0}


def day_segment_counts(session: Session, point_ids: list[int], segments: list[tuple[datetime, datetime]]
                       ) -> dict[tuple[int, int, str], tuple]:
    """:func:`segment_counts` read from the daily values (one row per point, day and pollutant instead of 24):
    each segment must be a union of whole Beijing-time days, except that its end may cut the last day (at
    ``now``: the hours after it have not come yet). The programme evaluation reads this; the rollup keeps the
    daily values in step with the hours (``rollup.rebuild_days``)."""
    if not point_ids or not segments:
        return {}
    china = _china()
    days = [(lo.astimezone(china).date(), (hi - timedelta(microseconds=1)).astimezone(china).date())
            for lo, hi in segments]
    seg = case(*[(and_(DayValue.day >= a, DayValue.day <= b), i) for i, (a, b) in enumerate(days)],
               else_=-1).label("seg")
    limited = DayValue.limit_mg_m3.is_not(None)
    judged = func.coalesce(DayValue.judged_hours, case((limited, DayValue.valid_hours), else_=0))
    with_zs = case((DayValue.conc_zs_mg_m3.is_not(None), DayValue.valid_hours), else_=0)
    rows = session.execute(
        select(seg, DayValue.point_id, DayValue.pollutant,
               func.sum(func.coalesce(DayValue.data_hours, DayValue.valid_hours)), func.sum(DayValue.valid_hours),
               func.sum(judged), func.sum(DayValue.exceeded_hours), func.max(DayValue.max_zs_mg_m3),
               func.sum(DayValue.conc_zs_mg_m3 * DayValue.valid_hours), func.sum(with_zs),
               func.max(DayValue.limit_mg_m3))
        .where(DayValue.point_id.in_(point_ids), DayValue.day >= min(a for a, _ in days),
               DayValue.day <= max(b for _, b in days))
        .group_by(seg, DayValue.point_id, DayValue.pollutant)).all()
    return {(int(i), pid, pol): tuple(rest) for i, pid, pol, *rest in rows if i is not None and int(i) >= 0}


def summaries_from_segments(counts: dict[tuple[int, int, str], tuple], seg_ids: list[int], point_ids: list[int],
                            windows: list[tuple[datetime, datetime]], *, threshold: float, rules: Rules,
                            hours_by_point: dict[int, int]) -> dict[int, ComplianceSummary]:
    """The :func:`compliance_summaries` of ``point_ids`` over the segments ``seg_ids`` (whose union is
    ``windows``), added up from :func:`segment_counts`."""
    acc: dict[tuple[int, str], list] = {}
    wanted = set(seg_ids)
    for (i, pid, pol), (n, valid, jud, exc, mx, zsum, zn, lim) in counts.items():
        if i not in wanted or pol not in POLLUTANTS:
            continue
        a = acc.setdefault((pid, pol), [0, 0, 0, 0, None, 0.0, 0, None])
        a[0] += int(n)
        a[1] += int(valid or 0)
        a[2] += int(jud or 0)
        a[3] += int(exc or 0)
        a[4] = mx if a[4] is None or (mx is not None and mx > a[4]) else a[4]
        a[5] += float(zsum or 0.0)
        a[6] += int(zn or 0)
        a[7] = lim if a[7] is None or (lim is not None and lim > a[7]) else a[7]
    lo, hi = windows[0][0], windows[-1][1]
    out = {}
    for pid in point_ids:
        stats = {}
        for pol in POLLUTANTS:
            a = acc.get((pid, pol))
            if a is None:
                continue
            stats[pol] = PollutantStats(pol, hours_by_point.get(pid, 0), a[0], a[1], a[2] - a[3], a[3], a[2], a[4],
                                        a[5] / a[6] if a[6] else None, a[7])
        out[pid] = ComplianceSummary(lo, hi, stats, threshold, rules.min_valid_hour_share, 0, windows=tuple(windows))
    return out


@dataclass
class MonthlyRow:
    point: MonitoringPoint
    company: str
    summary: ComplianceSummary


@dataclass
class MonthlyReport:
    year: int
    month: int
    threshold: float
    rows: list[MonthlyRow] = field(default_factory=list)
    generated_at: datetime = field(default_factory=utcnow)
    #: the rules the report was judged by (``rules.yaml``: valid hour, data-capture share)
    rules: Rules = field(default_factory=Rules)
    #: pollutant code -> (Chinese name, English name) (``factors.yaml``)
    pollutant_names: dict[str, tuple[str, str]] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return f"{self.year}-{self.month:02d}"


def monthly_report(session: Session, actor: Actor, year: int, month: int, *, threshold: float, data_dir: Path,
                   now: datetime | None = None) -> MonthlyReport:
    """Monthly compliance of every visible monitoring point (``threshold`` [0..1]; the rules and pollutant names
    of ``data_dir``, the settings' data directory)."""
    if not (1 <= month <= 12) or not (2000 <= year <= 2100):
        raise InputError("月份无效 / invalid month", [InputIssue(f"{year}-{month}", field="month")])
    points = list_points(session, actor)
    lo, hi = month_bounds(year, month)
    hi = min(hi, _next_hour(now or utcnow()))  # month to date
    if hi <= lo:
        raise InputError("月份尚未开始 / the month has not begun", [InputIssue(f"{year}-{month:02d}", field="month")])
    rules = read_rules(data_dir)
    factors = read_code_tables(data_dir).factors
    sums = compliance_summaries(session, [p.id for p in points], lo, hi, threshold=threshold, rules=rules)
    companies = dict(session.execute(select(Organisation.id, Organisation.name_zh)).all())
    return MonthlyReport(year, month, threshold,
                         [MonthlyRow(p, companies.get(p.source.org_id, ""), sums[p.id]) for p in points],
                         rules=rules, pollutant_names={p: (factors[p].name_zh, factors[p].name_en)
                                                       for p in POLLUTANTS if p in factors})


# --- series, days, events, alarms, packets --------------------------------------------------------------------

def hourly_series(session: Session, actor: Actor, point_id: int, lo: datetime, hi: datetime) -> list:
    """The point's evaluated hours in [lo, hi) as plain rows (the columns of ``emissions_hours`` by name; read
    only: no ORM objects on this hot path)."""
    get_point(session, actor, point_id)
    if hi <= lo or hi - lo > timedelta(days=400):
        raise InputError("时间范围无效 / invalid time range", [InputIssue("from < to, at most 400 days", field="to")])
    return list(session.execute(select(*HourValue.__table__.c).where(
        HourValue.point_id == point_id, HourValue.ts >= lo, HourValue.ts < hi).order_by(HourValue.ts)))


def daily_values(session: Session, actor: Actor, point_id: int, first: date, last: date) -> list[DayValue]:
    get_point(session, actor, point_id)
    return list(session.scalars(select(DayValue).where(DayValue.point_id == point_id, DayValue.day >= first,
                                                       DayValue.day <= last).order_by(DayValue.day.desc())))


def list_exceedances(session: Session, actor: Actor, *, point_id: int | None = None, since: datetime | None = None,
                     active_only: bool = False, unacknowledged: bool = False, limit: int = 500) -> list[Exceedance]:
    q = _scoped(select(Exceedance).join(MonitoringPoint, Exceedance.point_id == MonitoringPoint.id)
                .join(HeatSource, MonitoringPoint.source_id == HeatSource.id), actor)
    if point_id is not None:
        q = q.where(Exceedance.point_id == point_id)
    if since is not None:
        q = q.where(Exceedance.end_ts > since)
    if active_only:
        q = q.where(Exceedance.active.is_(True))
    if unacknowledged:
        q = q.where(Exceedance.acknowledged_at.is_(None))
    return list(session.scalars(q.order_by(Exceedance.start_ts.desc()).limit(limit)))


def acknowledge_exceedance(session: Session, actor: Actor, event_id: int, note: str = "") -> Exceedance:
    actor.require_roles(*MANAGE_ROLES)
    ev = session.get(Exceedance, event_id)
    if ev is None:
        raise NotFoundError(f"exceedance {event_id} not found")
    _check_point(actor, ev.point)
    if ev.acknowledged_at is not None:
        raise ConflictError("该超标事件已确认 / already acknowledged")
    ev.acknowledged_at, ev.acknowledged_by, ev.note = utcnow(), actor.actor, note[:2000]
    audit(session, actor, "acknowledge", "emissions_exceedance", ev.id, {"note": note[:200]},
          summary=f"确认超标 {ev.point.mn} {ev.pollutant}")
    return ev


def list_alarms(session: Session, actor: Actor, *, open_only: bool = False, point_id: int | None = None,
                since: datetime | None = None, limit: int = 500) -> list[Alarm]:
    q = _scoped(select(Alarm).join(MonitoringPoint, Alarm.point_id == MonitoringPoint.id)
                .join(HeatSource, MonitoringPoint.source_id == HeatSource.id), actor)
    if open_only:
        q = q.where(Alarm.cleared_at.is_(None))
    if since is not None:
        q = q.where((Alarm.cleared_at.is_(None)) | (Alarm.cleared_at > since))
    if point_id is not None:
        q = q.where(Alarm.point_id == point_id)
    return list(session.scalars(q.order_by(Alarm.started_at.desc()).limit(limit)))


def acknowledge_alarm(session: Session, actor: Actor, alarm_id: int) -> Alarm:
    actor.require_roles(*MANAGE_ROLES)
    alarm = session.get(Alarm, alarm_id)
    if alarm is None:
        raise NotFoundError(f"alarm {alarm_id} not found")
    _check_point(actor, alarm.point)
    if alarm.acknowledged_at is None:
        alarm.acknowledged_at, alarm.acknowledged_by = utcnow(), actor.actor
        audit(session, actor, "acknowledge", "emissions_alarm", alarm.id, summary=f"确认报警 {alarm.point.mn}")
    return alarm


def list_packets(session: Session, actor: Actor, *, ok: bool | None = None, point_id: int | None = None,
                 reason: str | None = None, limit: int = 200) -> list[RawPacket]:
    """Received packets, newest first (the raw bytes carry device passwords: bureau and admins only)."""
    actor.require_roles(*MANAGE_ROLES)
    q = select(RawPacket)
    if ok is not None:
        q = q.where(RawPacket.ok.is_(ok))
    if point_id is not None:
        q = q.where(RawPacket.point_id == point_id)
    if reason:
        q = q.where(RawPacket.reason == reason)
    return list(session.scalars(q.order_by(RawPacket.id.desc()).limit(min(limit, 5000))))


def packet_counts(session: Session, actor: Actor, since: datetime) -> dict[str, int]:
    """Packets received since ``since`` by outcome: ``ok`` and each malformed reason."""
    actor.require_roles(*MANAGE_ROLES)
    rows = session.execute(select(RawPacket.ok, RawPacket.reason, func.count())
                           .where(RawPacket.received_at >= since).group_by(RawPacket.ok, RawPacket.reason)).all()
    out: dict[str, int] = defaultdict(int)
    for ok, reason, n in rows:
        out["ok" if ok else (reason or "unknown")] += n
    return dict(out)
