"""What the billing pages read (read-only; the writes go through :mod:`cleanheat.billing.service`).

Every function takes a session and an :class:`~cleanheat.auth.service.Actor` and scopes what it returns: a heat
company sees its own organisation's runs, statements and accounts; the programme office and admins the whole city;
a resident only the numbered statements and reads of the household linked to their login.

* the company's pages: :func:`companies`, :func:`runs`, :func:`run_of`, :func:`run_exceptions`,
  :func:`run_statements`, :func:`statement_of`;
* the resident's page: :func:`resident_bill` (statements with lines, consumption by month, the building's average);
* the programme office: :func:`metering_by_unit` and :func:`metering_task` (the plan's 2021 task
  ``public_building_metered_share`` computed from billing accounts and reads).
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cleanheat.auth.roles import OrgKind, Role
from cleanheat.auth.service import Actor
from cleanheat.auth.tables import Organisation
from cleanheat.billing.tables import (
    BillingAccount,
    BillingRun,
    MeterRead,
    RunException,
    Statement,
    StatementLine,
    StopHeatingApplication,
)
from cleanheat.errors import NotFoundError
from cleanheat.timeutil import CHINA_TZ

#: the customer classes the plan's public-building metering task counts (§三(三)2: 政府机关企事业用房、学校、商业用房、
#: 医院等单体公共建筑)
PUBLIC_CLASSES = ("public_building", "commercial")
#: kJ per kWh / GJ: 1 kWh = 0.0036 GJ
GJ_PER_KWH = Decimal("0.0036")

CLASS_LABELS = {"energy_saving_dwelling": ("节能居民住宅", "Energy-saving dwelling"),
                "ordinary_dwelling": ("普通居民住宅", "Ordinary dwelling"),
                "public_building": ("公共建筑", "Public building"), "commercial": ("商业", "Commercial")}
MODE_LABELS = {"metered": ("计量", "Metered"), "area": ("按面积", "By area")}
RUN_KIND_LABELS = {"prepayment": ("预交", "Prepayment"), "settlement": ("季末结算", "Settlement")}
STATE_LABELS = {"draft": ("草稿", "Draft"), "approved": ("已批准", "Approved")}
STATEMENT_KIND_LABELS = {"prepayment": ("预交账单", "Prepayment"),
                         "settlement": ("结算账单", "Settlement"),
                         "credit_note": ("贷项通知（退）", "Credit note"),
                         "debit_note": ("借项通知（补）", "Debit note")}
LINE_LABELS = {"area_fee": ("面积热费", "Area fee"), "base_fee": ("基础热费", "Base fee"),
               "metered_energy": ("计量热费", "Metered heat"), "cap_adjustment": ("封顶调整", "Cap adjustment"),
               "stop_heating": ("报停费", "Stop-heating fee"), "prepaid": ("已预交", "Prepaid"),
               "shortfall_refund": ("室温不达标退费", "Room-temperature refund"), "correction": ("更正", "Correction")}
EXCEPTION_LABELS = {"rollback": ("读数回退", "Register rollback"), "reset": ("读数归零", "Register reset"),
                    "replacement": ("换表", "Meter replacement"), "gap": ("读数中断", "Gap in reads"),
                    "spike": ("读数突增", "Spike"), "stuck": ("表停走", "Stuck meter"),
                    "implausible": ("读数不合理", "Implausible"), "missing_reads": ("缺读数", "Missing reads"),
                    "estimated": ("估算账单", "Estimated bill"),
                    "stop_heating_refused": ("报停被拒", "报停 refused"),
                    "no_prepayment": ("无预交", "No prepayment"), "no_tariff": ("无热价", "No tariff")}
METHOD_LABELS = {"linear": ("按时间线性插值", "linear in time"),
                 "degree_day": ("按采暖度时插值", "by heating degree-hours"),
                 "extrapolated": ("按近30天平均速率外推", "extrapolated at the last 30 days' rate"),
                 "area_fee": ("无读数，按面积热费", "no reads: the area fee"),
                 "bridged": ("换表或归零处按平均用热速率补齐",
                             "bridged at the mean rate across a meter exchange or reset"),
                 "manual": ("人工估算", "manual")}


#: what the unconfirmed (K) rule and price names on a statement line mean
UNCERTAIN_LABELS = {"prorate_by_days": ("中途接入或停止按天数折算", "pro-rating a part season by days"),
                    "area_yuan_m2": ("面积热价", "area tariff"), "base_yuan_m2": ("基础热价", "base price"),
                    "metered_yuan_gj": ("计量热价", "metered price"),
                    "stop_heating_fee_share": ("报停收费比例", "stop-heating fee share"),
                    "metered_cap_at_area_fee": ("计量热费以面积热费封顶", "metered fee capped at the area fee"),
                    "metered_refund_below_area_fee": ("低于面积热费退差额", "refund below the area fee"),
                    "shortfall_refund_from": ("室温不达标退费起算时间", "when a shortfall refund starts"),
                    "shortfall_refund_days_rounding": ("不足一日按一日计", "part days counted as days")}


def uncertain_label(name: str) -> tuple[str, str]:
    """(zh, en) of an unconfirmed rule or price name (``tariff-id.price`` or a rule name)."""
    key = name.rsplit(".", 1)[-1]
    return UNCERTAIN_LABELS.get(key, (name, name))


def label(table: dict, key: str | None) -> tuple[str, str]:
    """(zh, en) of ``key`` in one of the label tables (the key itself when unknown)."""
    return table.get(key or "", (key or "", key or ""))


# --- companies and runs ----------------------------------------------------------------------------------------

def companies(session: Session, actor: Actor) -> list[Organisation]:
    """The heat companies the actor may bill or look at (a company: itself)."""
    actor.require_roles(Role.HEAT_COMPANY, Role.PROGRAMME_OFFICE)
    q = select(Organisation).where(Organisation.kind == OrgKind.HEAT_COMPANY).order_by(Organisation.code)
    return [o for o in session.scalars(q) if actor.can_access_org(o.id)]


def seasons(session: Session, actor: Actor, org_ids: list[int]) -> list[str]:
    """Seasons with reads, 报停 applications or runs of these companies, newest first."""
    out: set[str] = set()
    if not org_ids:
        return []
    out |= set(session.scalars(select(BillingRun.season).where(BillingRun.org_id.in_(org_ids)).distinct()))
    out |= set(session.scalars(select(StopHeatingApplication.season)
                               .where(StopHeatingApplication.org_id.in_(org_ids)).distinct()))
    lo, hi = session.execute(select(func.min(MeterRead.read_at), func.max(MeterRead.read_at))
                             .where(MeterRead.org_id.in_(org_ids))).one()
    if lo is not None and hi is not None:
        for y in range(_season_year(lo), _season_year(hi) + 1):
            out.add(f"{y}-{y + 1}")
    if out:  # and the season after the newest: its prepayment is billed before it starts
        y = max(int(x[:4]) for x in out) + 1
        out.add(f"{y}-{y + 1}")
    return sorted(out, reverse=True)


def _season_year(t: datetime) -> int:
    """The first year of the heating season a time belongs to (July to June)."""
    d = t.astimezone(CHINA_TZ)
    return d.year if d.month >= 7 else d.year - 1


def all_seasons(session: Session) -> list[str]:
    """Season labels with a billing run anywhere in the city (labels only, no data), newest first."""
    return sorted(set(session.scalars(select(BillingRun.season).distinct())), reverse=True)


def runs(session: Session, actor: Actor, org_id: int | None = None) -> list[BillingRun]:
    """The runs the actor may see (of one company when ``org_id``), newest first."""
    actor.require_roles(Role.HEAT_COMPANY, Role.PROGRAMME_OFFICE)
    q = select(BillingRun).order_by(BillingRun.season.desc(), BillingRun.id.desc())
    if org_id is not None:
        q = q.where(BillingRun.org_id == org_id)
    if not actor.city_wide:
        q = q.where(BillingRun.org_id == actor.org_id)
    return list(session.scalars(q))


def run_of(session: Session, actor: Actor, run_id: int) -> BillingRun:
    actor.require_roles(Role.HEAT_COMPANY, Role.PROGRAMME_OFFICE)
    run = session.get(BillingRun, run_id)
    if run is None or not actor.can_access_org(run.org_id):
        raise NotFoundError(f"没有开账批次 {run_id} / no billing run {run_id}")
    return run


@dataclass
class ExceptionRow:
    kind: str
    account_id: int | None
    account_no: str
    at: datetime | None
    detail: str


def run_exceptions(session: Session, actor: Actor, run_id: int, *, kind: str | None = None, limit: int = 200
                   ) -> tuple[dict[str, int], list[ExceptionRow]]:
    """({kind: count}, the first ``limit`` exceptions [of ``kind``]) of a run."""
    run = run_of(session, actor, run_id)
    counts = dict(session.execute(select(RunException.kind, func.count()).where(RunException.run_id == run.id)
                                  .group_by(RunException.kind)).all())
    q = (select(RunException, BillingAccount.account_no)
         .outerjoin(BillingAccount, BillingAccount.id == RunException.account_id)
         .where(RunException.run_id == run.id).order_by(RunException.kind, RunException.id).limit(limit))
    if kind:
        q = q.where(RunException.kind == kind)
    rows = [ExceptionRow(e.kind, e.account_id, no or "", e.at, _no_server_paths(e.detail))
            for e, no in session.execute(q)]
    return counts, rows


#: an absolute path of the server up to the repository's data folder (a message naming a rule file)
_SERVER_PATH = re.compile(r"/[^\s()\"']*?/(data/[^\s()\"']+)")


def _no_server_paths(text: str) -> str:
    """A message as shown on a page: a file under the data folder named from ``data/`` on, not by the server's
    absolute path."""
    return _SERVER_PATH.sub(r"\1", text or "")


def run_statements(session: Session, actor: Actor, run_id: int, *, offset: int = 0, limit: int = 50
                   ) -> tuple[int, list[tuple[Statement, str]]]:
    """(count, [(statement, account number)]) of a run, with the notes correcting them, in number / id order."""
    run = run_of(session, actor, run_id)
    total = session.scalar(select(func.count()).select_from(Statement).where(Statement.run_id == run.id)) or 0
    q = (select(Statement, BillingAccount.account_no).join(BillingAccount, BillingAccount.id == Statement.account_id)
         .where(Statement.run_id == run.id).order_by(Statement.id).offset(offset).limit(limit))
    return total, [(st, no) for st, no in session.execute(q)]


@dataclass
class StatementView:
    statement: Statement
    lines: list[StatementLine]
    account: BillingAccount
    notes: list[Statement] = field(default_factory=list)
    #: the K-tagged (unconfirmed) rules and prices its lines rest on
    uncertain: list[str] = field(default_factory=list)


def _view(session: Session, st: Statement, account: BillingAccount, *, numbered_notes: bool) -> StatementView:
    lines = list(session.scalars(select(StatementLine).where(StatementLine.statement_id == st.id)
                                 .order_by(StatementLine.seq)))
    nq = select(Statement).where(Statement.corrects_id == st.id).order_by(Statement.id)
    if numbered_notes:
        nq = nq.where(Statement.number.is_not(None))
    unc = sorted({u.strip() for ln in lines for u in (ln.uncertain or "").split(",") if u.strip()})
    return StatementView(st, lines, account, list(session.scalars(nq)), unc)


def statement_of(session: Session, actor: Actor, statement_id: int) -> StatementView:
    """One statement with its lines and the notes correcting it (company and office)."""
    actor.require_roles(Role.HEAT_COMPANY, Role.PROGRAMME_OFFICE)
    st = session.get(Statement, statement_id)
    if st is None or not actor.can_access_org(st.org_id):
        raise NotFoundError(f"没有账单 {statement_id} / no statement {statement_id}")
    return _view(session, st, session.get(BillingAccount, st.account_id), numbered_notes=False)


# --- the resident --------------------------------------------------------------------------------------------

@dataclass
class MonthUse:
    #: the local month the interval starts in, "2020-11"
    month: str
    start: datetime
    end: datetime
    heat_kwh: Decimal
    #: the interval spans more than one month (a missing read between)
    months: int
    estimated: bool
    method: str | None


@dataclass
class BuildingAverage:
    building_id: int
    accounts: int
    area_m2: Decimal
    heat_gj: Decimal
    heat_gj_m2: Decimal | None


@dataclass
class ResidentBill:
    household_id: int | None
    account: BillingAccount | None = None
    season: str | None = None
    statements: list[StatementView] = field(default_factory=list)
    months: list[MonthUse] = field(default_factory=list)
    own_gj_m2: Decimal | None = None
    building: BuildingAverage | None = None
    balance: Balance | None = None


def season_span(label_: str, city_dir=None) -> tuple[datetime, datetime]:
    """A season label's register instants [aware]: local midnight before its first heated day and after its last
    (the city's heating season, ``climate.yaml``; the configured city when ``city_dir`` is None)."""
    from cleanheat.billing.service import season_of
    from cleanheat.config import Settings

    if not re.fullmatch(r"\d{4}-\d{4}", label_ or ""):
        raise NotFoundError(f"no season {label_!r}")
    sea = season_of(city_dir or Settings().city_dir, label_)
    return sea.start_at, sea.end_at


def monthly_use(session: Session, account_id: int, season: str, city_dir=None) -> list[MonthUse]:
    """The account's consumption between consecutive reads of the season, labelled by the month each interval
    starts in (an interval longer than 40 days spans a missing read and says how many months it covers). A falling
    register (rollback, replacement) gives no interval: its consumption is on the bill, not guessed here."""
    lo, hi = season_span(season, city_dir)
    reads = list(session.execute(select(MeterRead.read_at, MeterRead.energy_kwh, MeterRead.estimated,
                                        MeterRead.estimate_method)
                                 .where(MeterRead.account_id == account_id, MeterRead.read_at >= lo,
                                        MeterRead.read_at <= hi).order_by(MeterRead.read_at)))
    out = []
    for (t0, e0, est0, m0), (t1, e1, est1, m1) in zip(reads, reads[1:], strict=False):
        if e1 < e0:
            continue
        days = (t1 - t0).total_seconds() / 86400
        out.append(MonthUse(t0.astimezone(CHINA_TZ).strftime("%Y-%m"), t0, t1, Decimal(e1) - Decimal(e0),
                            max(1, round(days / 30.4)) if days > 40 else 1, bool(est0 or est1), m1 or m0))
    return out


def building_average(session: Session, building_id: int, season: str) -> BuildingAverage:
    """Heat per m² of the building's metered accounts that have a numbered settlement of the season."""
    q = (select(func.count(), func.coalesce(func.sum(Statement.area_m2), 0),
                func.coalesce(func.sum(Statement.heat_gj), 0))
         .join(BillingAccount, BillingAccount.id == Statement.account_id)
         .where(BillingAccount.building_id == building_id, Statement.season == season,
                Statement.kind == "settlement", Statement.number.is_not(None), Statement.heat_gj.is_not(None),
                Statement.billing_mode == "metered"))
    n, area, gj = session.execute(q).one()
    area, gj = Decimal(area), Decimal(gj)
    return BuildingAverage(building_id, int(n), area, gj, (gj / area).quantize(Decimal("0.0001")) if area else None)


def resident_bill(session: Session, actor: Actor, season: str | None = None, city_dir=None) -> ResidentBill:
    """The resident's household: its numbered statements (newest first, with the numbered notes correcting them),
    its consumption by month in the season of the newest statement, and the building's average GJ/m²."""
    from cleanheat.assets.tables import Household

    actor.require_roles(Role.RESIDENT)
    hh = session.scalar(select(Household).where(Household.resident_user_id == actor.user_id)) \
        if actor.user_id is not None else None
    if hh is None:
        return ResidentBill(None)
    acc = session.scalar(select(BillingAccount).where(BillingAccount.household_id == hh.id))
    out = ResidentBill(hh.id, acc)
    if acc is None:
        return out
    sts = list(session.scalars(select(Statement).where(Statement.account_id == acc.id, Statement.number.is_not(None),
                                                       Statement.corrects_id.is_(None))
                               .order_by(Statement.season.desc(), Statement.issued_at.desc(), Statement.id.desc())))
    out.statements = [_view(session, s, acc, numbered_notes=True) for s in sts]
    out.season = season or (sts[0].season if sts else None)
    if out.season is None:
        return out
    out.months = monthly_use(session, acc.id, out.season, city_dir)
    settled = next((s for s in sts if s.season == out.season and s.kind == "settlement" and s.heat_gj is not None),
                   None)
    if settled is not None and settled.area_m2:
        out.own_gj_m2 = (Decimal(settled.heat_gj) / Decimal(settled.area_m2)).quantize(Decimal("0.0001"))
    out.building = building_average(session, acc.building_id, out.season)
    out.balance = account_balance(session, acc.id, out.season)
    return out


# --- the programme office ---------------------------------------------------------------------------------------

@dataclass
class UnitMetering:
    unit_code: str
    accounts: int
    billed_area_m2: Decimal
    metered_accounts: int
    metered_area_m2: Decimal
    public_buildings: int
    metered_public_buildings: int
    #: public buildings whose season was settled by meter (a numbered settlement statement in metered mode)
    settled_public_buildings: int = 0

    @property
    def metered_area_share(self) -> float | None:
        return float(self.metered_area_m2 / self.billed_area_m2) if self.billed_area_m2 else None

    @property
    def public_metered_share(self) -> float | None:
        return self.metered_public_buildings / self.public_buildings if self.public_buildings else None

    @property
    def public_settled_share(self) -> float | None:
        return self.settled_public_buildings / self.public_buildings if self.public_buildings else None


def metering_by_unit(session: Session, actor: Actor, season: str, city_dir=None) -> list[UnitMetering]:
    """Per administrative unit (``Building.admin_unit_code``): accounts connected in the season and their billed
    area, those billed by meter, public buildings (accounts of a public or commercial class) and those of them
    billed by meter. "Billed by meter" here is an account in ``metered`` mode with at least one read in the season
    — what the data shows, not what a report says. A reporting unit sees its own unit, a company its accounts."""
    from cleanheat.assets.tables import Building

    actor.require_roles(Role.PROGRAMME_OFFICE, Role.REPORTING_UNIT, Role.HEAT_COMPANY, Role.ECOLOGY_BUREAU)
    lo, hi = season_span(season, city_dir)
    first, last = lo.date(), (hi - timedelta(days=1)).date()
    has_read = (select(MeterRead.account_id).where(MeterRead.read_at >= lo, MeterRead.read_at <= hi)
                .distinct().scalar_subquery())
    settled = (select(Statement.account_id).where(Statement.season == season, Statement.kind == "settlement",
                                                  Statement.number.is_not(None), Statement.billing_mode == "metered")
               .distinct().scalar_subquery())
    q = (select(Building.admin_unit_code, BillingAccount.building_id, BillingAccount.customer_class,
                BillingAccount.billing_mode, BillingAccount.area_m2, BillingAccount.id.in_(has_read),
                BillingAccount.id.in_(settled))
         .join(Building, Building.id == BillingAccount.building_id)
         .where((BillingAccount.connected_from.is_(None)) | (BillingAccount.connected_from <= last),
                (BillingAccount.connected_to.is_(None)) | (BillingAccount.connected_to >= first)))
    if actor.role == Role.REPORTING_UNIT:
        q = q.where(Building.admin_unit_code == actor.admin_unit_code)
    elif actor.role == Role.HEAT_COMPANY:
        q = q.where(BillingAccount.org_id == actor.org_id)
    elif actor.role == Role.ECOLOGY_BUREAU:
        pass  # city-wide figures, no personal data
    units: dict[str, UnitMetering] = {}
    # public buildings counted once each (a building with several public accounts is metered when one is)
    public: dict[str, dict[int, tuple[bool, bool]]] = defaultdict(dict)
    for unit, building, cls, mode, area, read, was_settled in session.execute(q):
        u = units.setdefault(unit or "", UnitMetering(unit or "", 0, Decimal(0), 0, Decimal(0), 0, 0))
        metered = mode == "metered" and bool(read)
        u.accounts += 1
        u.billed_area_m2 += Decimal(area)
        if metered:
            u.metered_accounts += 1
            u.metered_area_m2 += Decimal(area)
        if cls in PUBLIC_CLASSES:
            m0, s0 = public[u.unit_code].get(building, (False, False))
            public[u.unit_code][building] = (m0 or metered, s0 or (metered and bool(was_settled)))
    for code, buildings in public.items():
        units[code].public_buildings = len(buildings)
        units[code].metered_public_buildings = sum(m for m, _ in buildings.values())
        units[code].settled_public_buildings = sum(x for _, x in buildings.values())
    return [units[k] for k in sorted(units)]


@dataclass
class MeteringTask:
    """The plan's task ``public_building_metered_share`` for a unit: computed from billing data, and the value
    the unit's newest accepted report typed in (None when it reported none)."""

    unit_code: str
    #: share of public buildings settled by meter this season (the task's measure: 实行供热计量收费)
    computed: float | None
    public_buildings: int
    #: metered with reads in the season (metering in place)
    metered_public_buildings: int
    #: settled by meter (a numbered metered settlement)
    settled_public_buildings: int
    reported: float | None
    reported_period: str | None
    target: float | None
    target_year: int | None


TASK_CODE = "public_building_metered_share"


def metering_task(session: Session, actor: Actor, season: str, city_dir=None) -> list[MeteringTask]:
    """The plan's public-building metering task per unit, computed from :func:`metering_by_unit` — the share of
    public buildings whose season was settled by meter — next to what the unit's newest accepted report typed in
    and the plan's target (the programme's evaluation still counts the
    reported value; this is the check from data)."""
    from cleanheat.programme.tables import Report, ReportTask, Task, TaskTarget

    rows = metering_by_unit(session, actor, season, city_dir)
    reported: dict[str, tuple[float, str]] = {}
    q = (select(Report.admin_unit_code, Report.period, ReportTask.value)
         .join(ReportTask, ReportTask.report_id == Report.id)
         .where(Report.admin_unit_code.is_not(None), Report.status == "accepted", ReportTask.task_code == TASK_CODE)
         .order_by(Report.year, Report.quarter, Report.version))
    for unit, period, value in session.execute(q):
        reported[unit] = (float(value), period)
    target = session.execute(select(TaskTarget.value, TaskTarget.year).join(Task, Task.id == TaskTarget.task_id)
                             .where(Task.code == TASK_CODE).order_by(TaskTarget.year.desc()).limit(1)).first()
    out = []
    for u in rows:
        rep = reported.get(u.unit_code)
        out.append(MeteringTask(u.unit_code, u.public_settled_share, u.public_buildings, u.metered_public_buildings,
                                u.settled_public_buildings, rep[0] if rep else None, rep[1] if rep else None,
                                target[0] if target else None, target[1] if target else None))
    return out


def recent_notes(session: Session, actor: Actor, limit: int = 20) -> list[tuple[Statement, str]]:
    """The newest credit and debit notes the actor may see, with their account numbers."""
    actor.require_roles(Role.HEAT_COMPANY, Role.PROGRAMME_OFFICE)
    q = (select(Statement, BillingAccount.account_no).join(BillingAccount, BillingAccount.id == Statement.account_id)
         .where(Statement.kind.in_(("credit_note", "debit_note"))).order_by(Statement.id.desc()).limit(limit))
    if not actor.city_wide:
        q = q.where(Statement.org_id == actor.org_id)
    return [(st, no) for st, no in session.execute(q)]


def account_statements(session: Session, actor: Actor, account_no: str
                       ) -> tuple[BillingAccount | None, list[Statement]]:
    """An account of the actor's organisation (city-wide: any) by its number, and all its statements (drafts
    too), newest first."""
    actor.require_roles(Role.HEAT_COMPANY, Role.PROGRAMME_OFFICE)
    acc = session.scalar(select(BillingAccount).where(BillingAccount.account_no == account_no))
    if acc is None or not actor.can_access_org(acc.org_id):
        return None, []
    return acc, list(session.scalars(select(Statement).where(Statement.account_id == acc.id)
                                     .order_by(Statement.season.desc(), Statement.id.desc())))


@dataclass
class Balance:
    """An account's season: numbered statements (notes included) − payments [元]; positive: owed by the customer
    (arrears), negative: owed to the customer."""

    billed_yuan: Decimal
    paid_yuan: Decimal

    @property
    def balance_yuan(self) -> Decimal:
        return self.billed_yuan - self.paid_yuan


def account_balance(session: Session, account_id: int, season: str) -> Balance:
    from cleanheat.billing.tables import Payment

    billed = session.scalar(select(func.coalesce(func.sum(Statement.total_yuan), 0)).where(
        Statement.account_id == account_id, Statement.season == season, Statement.number.is_not(None)))
    paid = session.scalar(select(func.coalesce(func.sum(Payment.amount_yuan), 0)).where(
        Payment.account_id == account_id, Payment.season == season))
    return Balance(Decimal(billed).quantize(Decimal("0.01")), Decimal(paid).quantize(Decimal("0.01")))


def account_counts(session: Session, actor: Actor, org_id: int) -> dict[str, int]:
    """Accounts of a company by billing mode (and 报停 applications), for the billing home page."""
    if not actor.can_access_org(org_id):
        raise NotFoundError("no company")
    out: dict[str, int] = defaultdict(int)
    for mode, n in session.execute(select(BillingAccount.billing_mode, func.count())
                                   .where(BillingAccount.org_id == org_id).group_by(BillingAccount.billing_mode)):
        out[mode] = int(n)
    return dict(out)
