"""Use cases of billing: accounts, reads, billing runs (prepayment, settlement), approval, notes, payments, the
reconciliation, and what the pages show (statements, monthly consumption, building averages, metering by unit).

Every function takes a session and an :class:`~cleanheat.auth.service.Actor`, never commits, and audits its writes.

A run is set-based (one company's season at once, millions of households): the accounts and their consumption
come from SQL aggregates (the register at the season's first and last instant, and the register's falls, per
account), the amounts from :mod:`cleanheat.billing.fen` over integer arrays (exactly ``settlement.py``'s Decimal
amounts, rounded once), and the statements and lines are written with ``COPY`` on PostgreSQL. Accounts the
aggregate cannot settle (no read at a season boundary, a falling register, a part-season connection) go one by one
through :mod:`cleanheat.billing.validation` (findings become the run's exceptions; a gap is estimated with
``estimate_consumption`` and the line names the method); 报停 and room-temperature refunds use
``settlement.stop_heating`` and ``settlement.shortfall_refund`` per account (they are few).
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from contextlib import suppress
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import numpy as np
from sqlalchemy import Date, bindparam, delete, event, func, insert, inspect, select, text
from sqlalchemy.orm import Session

from cleanheat.auth.roles import OrgKind, Role
from cleanheat.auth.service import Actor, audit
from cleanheat.auth.tables import Organisation
from cleanheat.billing import fen, settlement, validation
from cleanheat.billing.tables import (
    BILLING_MODES,
    CUSTOMER_CLASSES,
    READ_SOURCES,
    BillingAccount,
    BillingRun,
    MeterRead,
    Payment,
    RunException,
    Statement,
    StatementLine,
    StopHeatingApplication,
)
from cleanheat.billing.tariffs import BillingRules, Tariff, TariffNotFoundError, read_billing_rules, read_tariffs
from cleanheat.climate import read_heating_season
from cleanheat.errors import CleanheatError, ConflictError, InputError, InputIssue, NotFoundError
from cleanheat.store.base import UTCDateTime, utcnow
from cleanheat.timeutil import CHINA_TZ

#: at most this many metered accounts of a run are validated in full (every read through validation.py) besides
#: those the SQL screen sends there; above it only the screened ones are (a performance limit, not a rule)
FULL_VALIDATION_MAX_METERS = 20_000
#: reads this long before and after the season are loaded for an account settled one by one (extrapolation)
CONTEXT_DAYS = 62
#: the exceptions kept per run (all are counted)
MAX_EXCEPTIONS = 100_000
KIND_LETTERS = {"prepayment": "P", "settlement": "S", "credit_note": "C", "debit_note": "D"}
FEN = Decimal("0.01")


class BillingError(CleanheatError):
    """Base of the billing service's own errors."""


class ReconciliationError(BillingError):
    """The figures of a reconciliation do not add up (every figure in the message)."""


# --- statements are immutable ------------------------------------------------------------------------------

@event.listens_for(Session, "before_flush")
def guard_statements(session: Session, _context, _instances) -> None:
    """Refuse, before the database does (its triggers), to change or delete a numbered statement or its lines."""
    for obj in list(session.dirty) + list(session.deleted):
        if isinstance(obj, Statement):
            number = inspect(obj).attrs.number.history
            was = (number.deleted or number.unchanged or [None])[0]
            if was is not None and (obj in session.deleted or session.is_modified(obj)):
                raise ConflictError(f"账单 {was} 已编号，不能修改；请开贷项或借项通知 / statement {was} is numbered: "
                                    "it is never changed (issue a credit or debit note)")
        elif isinstance(obj, StatementLine) and (obj in session.deleted or session.is_modified(obj)):
            st = session.get(Statement, obj.statement_id)
            if st is not None and st.number is not None:
                raise ConflictError(f"账单 {st.number} 已编号，不能修改 / statement {st.number} is numbered: its "
                                    "lines are never changed")


# --- seasons and companies ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Season:
    """A heating season by label (``2020-2021``): first and last heated local day, and the instants [aware] the
    season's registers are read at (local midnight before the first day and after the last)."""

    label: str
    first: date
    last: date

    @property
    def days(self) -> int:
        return settlement.season_days(self.first, self.last)

    @property
    def start_at(self) -> datetime:
        return datetime.combine(self.first, time(0), CHINA_TZ)

    @property
    def end_at(self) -> datetime:
        return datetime.combine(self.last + timedelta(days=1), time(0), CHINA_TZ)


def season_of(city_dir: Path, label: str) -> Season:
    """The season ``label`` (``YYYY-YYYY``) of the city's heating-season dates (climate.yaml)."""
    m = re.fullmatch(r"(\d{4})-(\d{4})", label or "")
    if not m:
        raise InputError(f"供暖期须写作 2020-2021 / the season is written like 2020-2021: {label!r}",
                         [InputIssue("season", field="season")])
    first, last = read_heating_season(city_dir).season_starting(int(m[1]))
    if f"{first.year}-{last.year}" != label:
        raise InputError(f"供暖期 {label} 不存在（{first} 至 {last}）/ no season {label}",
                         [InputIssue("season", field="season")])
    return Season(label, first, last)


def _company(session: Session, actor: Actor, code: str) -> Organisation:
    org = session.scalar(select(Organisation).where(Organisation.code == code))
    if org is None or org.kind != OrgKind.HEAT_COMPANY or not actor.can_access_org(org.id):
        raise NotFoundError(f"没有供热企业 {code!r} / no heat company {code!r}")
    return org


def _writer(actor: Actor, org_id: int) -> None:
    actor.require_roles(Role.HEAT_COMPANY)
    actor.require_org(org_id)


def _dirs(city_dir: Path | None, data_dir: Path | None) -> tuple[Path, Path]:
    if city_dir is None or data_dir is None:
        from cleanheat.config import Settings

        s = Settings()
        return city_dir or s.city_dir, data_dir or s.data_dir
    return city_dir, data_dir


# --- accounts, 报停, reads, payments --------------------------------------------------------------------------

def open_account(session: Session, actor: Actor, *, building_id: int, account_no: str, customer_class: str,
                 billing_mode: str, area_m2: Decimal, household_id: int | None = None, meter_no: str = "",
                 device_id: int | None = None, connected_from: date | None = None,
                 connected_to: date | None = None, dwelling: dict | None = None) -> BillingAccount:
    """A heating account of a building's household (or of the building itself: ``household_id`` None)."""
    from cleanheat.assets.tables import Building, Household

    building = session.get(Building, building_id)
    if building is None or not actor.can_access_org(building.org_id):
        raise NotFoundError(f"no building {building_id}")
    _writer(actor, building.org_id)
    issues = []
    if customer_class not in CUSTOMER_CLASSES:
        issues.append(InputIssue(f"未知的用户类别 unknown class {customer_class!r}", field="customer_class"))
    if billing_mode not in BILLING_MODES:
        issues.append(InputIssue(f"计费方式须为 {BILLING_MODES} / billing mode", field="billing_mode"))
    area = Decimal(area_m2)
    if not area.is_finite() or area < 0 or area != area.quantize(FEN):
        issues.append(InputIssue("面积须为非负、至多两位小数 / area: >= 0, at most 2 decimals", field="area_m2"))
    if billing_mode == "metered" and not meter_no:
        issues.append(InputIssue("计量用户须有表号 / a metered account needs its meter", field="meter_no"))
    unknown = set(dwelling or {}) - set(settlement.Dwelling.__dataclass_fields__)
    if unknown:
        issues.append(InputIssue(f"未知的住宅情况 unknown dwelling facts {sorted(unknown)}", field="dwelling"))
    if household_id is not None:
        hh = session.get(Household, household_id)
        if hh is None or hh.building_id != building_id:
            issues.append(InputIssue("住户不在该楼 / the household is not in this building", field="household_id"))
    if issues:
        raise InputError("账户有误 / account invalid", issues)
    acc = BillingAccount(org_id=building.org_id, household_id=household_id, building_id=building_id,
                         account_no=account_no, customer_class=customer_class, billing_mode=billing_mode,
                         area_m2=area, meter_no=meter_no, device_id=device_id, connected_from=connected_from,
                         connected_to=connected_to, dwelling=dict(dwelling or {}))
    session.add(acc)
    session.flush()
    audit(session, actor, "create", "billing_account", acc.id,
          {"account_no": account_no, "class": customer_class, "mode": billing_mode, "area_m2": str(area)})
    return acc


def _account(session: Session, actor: Actor, account_id: int) -> BillingAccount:
    acc = session.get(BillingAccount, account_id)
    if acc is None or not actor.can_access_org(acc.org_id):
        raise NotFoundError(f"no billing account {account_id}")
    return acc


def apply_stop_heating(session: Session, actor: Actor, account_id: int, season: str, applied_on: date,
                       note: str = "") -> StopHeatingApplication:
    """Record a 报停 application (decided when the season is billed)."""
    acc = _account(session, actor, account_id)
    _writer(actor, acc.org_id)
    if not re.fullmatch(r"\d{4}-\d{4}", season):
        raise InputError("season", [InputIssue("season like 2020-2021", field="season")])
    if session.scalar(select(StopHeatingApplication.id).where(StopHeatingApplication.account_id == acc.id,
                                                              StopHeatingApplication.season == season)):
        raise ConflictError(f"该账户 {season} 已申请报停 / already applied for {season}")
    app = StopHeatingApplication(org_id=acc.org_id, account_id=acc.id, season=season, applied_on=applied_on,
                                 note=note, created_by=actor.actor)
    session.add(app)
    session.flush()
    audit(session, actor, "create", "billing_stop_heating", app.id, {"account": acc.account_no, "season": season,
                                                                     "applied_on": applied_on.isoformat()})
    return app


@dataclass(frozen=True)
class ReadIn:
    """A billing read to record: the account, time [aware], register [kWh], source, estimate method or None."""

    account_id: int
    read_at: datetime
    energy_kwh: Decimal
    source: str = "import"
    estimate_method: str | None = None


def record_reads(session: Session, actor: Actor, reads: Iterable[ReadIn]) -> int:
    """Store reads, idempotent on (account, time): a read already there is kept. All-or-nothing; the number
    stored is returned."""
    rows = list(reads)
    accounts = {a.id: a for a in session.scalars(select(BillingAccount).where(
        BillingAccount.id.in_({r.account_id for r in rows})))} if rows else {}
    issues = []
    for i, r in enumerate(rows, start=1):
        acc = accounts.get(r.account_id)
        if acc is None or not actor.can_access_org(acc.org_id):
            issues.append(InputIssue(f"no account {r.account_id}", row=i, field="account_id"))
        elif r.read_at.tzinfo is None:
            issues.append(InputIssue("时间须带时区 / time must be aware", row=i, field="read_at"))
        elif r.source not in READ_SOURCES:
            issues.append(InputIssue(f"source must be one of {READ_SOURCES}", row=i, field="source"))
        elif not Decimal(r.energy_kwh).is_finite() or Decimal(r.energy_kwh) < 0:
            issues.append(InputIssue("寄存器须为非负数 / register >= 0", row=i, field="energy_kwh"))
    if issues:
        raise InputError("读数有误 / reads invalid", issues)
    for org_id in {a.org_id for a in accounts.values()}:
        _writer(actor, org_id)
    have = set()
    for acc_id in accounts:
        times = [r.read_at for r in rows if r.account_id == acc_id]
        have |= {(acc_id, t) for t in session.scalars(select(MeterRead.read_at).where(
            MeterRead.account_id == acc_id, MeterRead.read_at.in_(times)))}
    new, seen = [], set()
    for r in rows:
        key = (r.account_id, r.read_at.astimezone(CHINA_TZ).timestamp())
        if (r.account_id, r.read_at) in have or key in seen:
            continue
        seen.add(key)
        acc = accounts[r.account_id]
        new.append({"org_id": acc.org_id, "account_id": acc.id, "meter_no": acc.meter_no, "read_at": r.read_at,
                    "energy_kwh": Decimal(r.energy_kwh).quantize(Decimal("0.001")), "source": r.source,
                    "estimated": r.estimate_method is not None, "estimate_method": r.estimate_method})
    if new:
        session.execute(insert(MeterRead), new)
        audit(session, actor, "import", "billing_meter_reads", "", {"stored": len(new), "given": len(rows)})
    return len(new)


def import_reads(session: Session, actor: Actor, company_code: str, series: dict[str, validation.Series], *,
                 file: str = "") -> tuple[int, int]:
    """Store a reads file's registers (``reads.read_reads_csv``) for a company's accounts, each file meter id
    matched to an account by its meter number, else by its account number. All-or-nothing: an id matching no
    account of the company is an error naming it, and nothing is stored. Returns (reads given, reads stored);
    reads already stored (same account and time) are kept as they are."""
    org = _company(session, actor, company_code)
    by_meter, by_account = {}, {}
    for acc_id, meter_no, account_no in session.execute(select(
            BillingAccount.id, BillingAccount.meter_no, BillingAccount.account_no)
            .where(BillingAccount.org_id == org.id)):
        if meter_no:
            by_meter[meter_no] = acc_id
        by_account[account_no] = acc_id
    unknown = [m for m in series if m not in by_meter and m not in by_account]
    if unknown:
        shown = unknown[:100]
        raise InputError(f"{file}: {len(unknown)} 个表号不属于 {company_code} 的任何账户，未导入任何读数 / "
                         f"{len(unknown)} meter id(s) match no account of {company_code}; nothing was imported",
                         [InputIssue(f"表号 {m} 无对应账户 / meter id {m}: no such meter or account", file=file,
                                     column="meter_id") for m in shown])
    reads = [ReadIn(by_meter.get(m, by_account.get(m)), datetime.fromtimestamp(int(t), UTC),
                    Decimal(repr(float(e))).quantize(Decimal("0.001")))
             for m, sr in series.items() for t, e in zip(sr.ts_s, sr.energy_kwh, strict=True)]
    return len(reads), record_reads(session, actor, reads)


def record_payment(session: Session, actor: Actor, account_id: int, season: str, amount_yuan: Decimal,
                   paid_at: datetime, *, method: str = "bank", reference: str = "",
                   statement_id: int | None = None) -> Payment:
    """Money received (positive) or a refund paid out (negative) [元, to the fen]."""
    acc = _account(session, actor, account_id)
    _writer(actor, acc.org_id)
    amount = Decimal(amount_yuan)
    if not amount.is_finite() or amount != amount.quantize(FEN) or amount == 0:
        raise InputError("金额须为非零、到分 / amount: non-zero, to the fen", [InputIssue("amount", field="amount")])
    p = Payment(org_id=acc.org_id, account_id=acc.id, season=season, statement_id=statement_id, paid_at=paid_at,
                amount_yuan=amount, method=method, reference=reference, created_by=actor.actor)
    session.add(p)
    session.flush()
    audit(session, actor, "create", "billing_payment", p.id, {"account": acc.account_no, "season": season,
                                                              "amount_yuan": str(amount)})
    return p


# --- the run's computation ----------------------------------------------------------------------------------

@dataclass
class _Lines:
    """Statement lines as columns (one block per line kind; strings shared per block or given per line)."""

    pos: list[np.ndarray] = field(default_factory=list)  # the account's position in the run
    seq: list[np.ndarray] = field(default_factory=list)
    fen: list[np.ndarray] = field(default_factory=list)
    qty: list[np.ndarray] = field(default_factory=list)  # integers at ``scale`` decimals
    meta: list[tuple] = field(default_factory=list)  # (code, unit, scale, rate str|None, method, uncertain, note)

    def add(self, pos, seq, fen_, qty, code, unit, scale, rate, method=None, uncertain="", note=None) -> None:
        pos = np.asarray(pos, dtype=np.int64)
        if not len(pos):
            return
        self.pos.append(pos)
        self.seq.append(np.broadcast_to(np.asarray(seq, dtype=np.int64), pos.shape).copy())
        self.fen.append(np.asarray(fen_).astype(np.int64))
        self.qty.append(np.broadcast_to(np.asarray(qty).astype(np.int64), pos.shape).copy())
        self.meta.append((code, unit, scale, rate, method, uncertain, note))

    def count(self) -> int:
        return sum(len(p) for p in self.pos)

    def total_fen(self) -> int:
        return int(sum(int(f.sum()) for f in self.fen))

    def per_account(self, n: int) -> np.ndarray:
        out = np.zeros(n, dtype=np.int64)
        for p, f in zip(self.pos, self.fen, strict=True):
            out[p] += f  # an account has at most one line per block
        return out


@dataclass
class _Run:
    """What a run computed, before it is stored."""

    org: Organisation
    season: Season
    kind: str
    rules: BillingRules
    acc_id: np.ndarray
    cls: np.ndarray  # customer class per account (str objects)
    mode: np.ndarray
    area_c: np.ndarray
    tariff_of: dict[str, Tariff]
    heat_wh: dict[int, int]  # position -> metered heat [Wh] (settlement of metered accounts)
    lines: _Lines
    exceptions: list[tuple[int | None, str, datetime | None, str]]
    exception_counts: Counter
    estimated: int = 0
    #: the season's numbered statements and payments per account (``_season_sums``)
    sums: tuple = ()

    @property
    def n(self) -> int:
        return len(self.acc_id)


def _date_param(name: str):
    return bindparam(name, type_=Date())


def _days_sql(dialect: str) -> str:
    if dialect == "postgresql":
        return ("(LEAST(:last, COALESCE(a.connected_to, :last)) - GREATEST(:first, COALESCE(a.connected_from, "
                ":first)) + 1)")
    return ("(CAST(julianday(MIN(:last, COALESCE(a.connected_to, :last))) - julianday(MAX(:first, "
            "COALESCE(a.connected_from, :first))) AS INTEGER) + 1)")


_CLASS_NAMES = np.array(CUSTOMER_CLASSES, dtype=object)
_MODE_NAMES = np.array(("area", "metered"), dtype=object)
#: estimate methods of stored reads as small codes in the SQL screen (0: read)
_METHODS = ("", "linear", "degree_day", "extrapolated", "manual")


_PGCOPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + b"\x00" * 8


def _pg_sql(session: Session, q, params: dict) -> str:
    """``q`` (a ``text()`` with ``:name`` parameters) with its parameters inlined by psycopg (for COPY)."""
    import psycopg

    raw = session.connection().connection.driver_connection
    sql = re.sub(r"(?<![:\w]):(\w+)", r"%(\1)s", str(q.text if hasattr(q, "text") else q).replace("%", "%%"))
    return psycopg.ClientCursor(raw).mogrify(sql, params)


def _int_rows(session: Session, q, params: dict, width: int) -> np.ndarray:
    """An integer query's rows (every column a non-NULL integer) as an (n, width) int64 array. On PostgreSQL the
    rows come as ``COPY ... TO STDOUT (FORMAT binary)`` read straight into numpy; elsewhere in partitions."""
    if session.get_bind().dialect.name == "postgresql":
        raw = session.connection().connection.driver_connection
        sql = _pg_sql(session, q, params)
        aggs = ", ".join(f"array_agg(CAST(c{i} AS BIGINT))" for i in range(width))
        names = ", ".join(f"c{i}" for i in range(width))
        buf = bytearray()
        # one row of one array per column: a few COPY messages, not one per row
        with raw.cursor() as cur, cur.copy(f"COPY (SELECT {aggs} FROM ({sql}) AS q ({names})) TO STDOUT "
                                           "(FORMAT binary)") as cp:
            for chunk in cp:
                buf += chunk
        view, at = memoryview(buf), len(_PGCOPY_HEADER) + 2  # header, then the row's field count
        cols = []
        for i in range(width):
            size = int.from_bytes(view[at:at + 4], "big", signed=True)
            at += 4
            if size < 0:  # array_agg of no rows: NULL
                return np.zeros((0, width), dtype=np.int64)
            ndim, has_null = (int.from_bytes(view[at + k:at + k + 4], "big") for k in (0, 4))
            n = int.from_bytes(view[at + 12:at + 16], "big") if ndim else 0
            if has_null:
                raise BillingError(f"column {i} of an integer query holds NULL: {sql[:200]}")
            body = np.frombuffer(view[at + 12 + 8 * ndim:at + size], dtype=[("len", ">i4"), ("v", ">i8")], count=n)
            cols.append(body["v"].astype(np.int64))
            at += size
        return np.stack(cols, axis=1) if cols else np.zeros((0, width), dtype=np.int64)
    parts = [np.array([tuple(r) for r in part], dtype=np.int64).reshape(-1, width)
             for part in session.execute(q.execution_options(yield_per=200_000), params).partitions()]
    return np.concatenate(parts) if parts else np.zeros((0, width), dtype=np.int64)


def _accounts(session: Session, org_id: int, season: Season):
    """(ids, classes, modes, area_c, connected days) of the company's accounts connected in the season; classes
    and modes as object arrays of shared strings."""
    dialect = session.get_bind().dialect.name
    cls_case = " ".join(f"WHEN '{c}' THEN {i}" for i, c in enumerate(CUSTOMER_CLASSES))
    q = text(f"SELECT a.id, CASE a.customer_class {cls_case} END, "
             "CASE WHEN a.billing_mode = 'metered' THEN 1 ELSE 0 END, CAST(ROUND(a.area_m2 * 100) AS BIGINT), "
             f"{_days_sql(dialect)} FROM billing_accounts a WHERE a.org_id = :org "
             "AND (a.connected_from IS NULL OR a.connected_from <= :last) "
             "AND (a.connected_to IS NULL OR a.connected_to >= :first) ORDER BY a.id"
             ).bindparams(_date_param("first"), _date_param("last"))
    rows = _int_rows(session, q, {"org": org_id, "first": season.first, "last": season.last}, 5)
    if len(rows) > 1 and not (np.diff(rows[:, 0]) > 0).all():
        rows = rows[np.argsort(rows[:, 0], kind="stable")]
    return rows[:, 0].copy(), _CLASS_NAMES[rows[:, 1]], _MODE_NAMES[rows[:, 2]], rows[:, 3].copy(), \
        rows[:, 4].copy()


@dataclass(frozen=True)
class _Screen:
    """Per account position: Wh at the season's start and end (-1: no read), the estimate method code of either
    boundary read (0: read), and how often the register fell."""

    e0: np.ndarray
    e1: np.ndarray
    method: np.ndarray
    falls: np.ndarray


def _screen_rows(session: Session, org_id: int, season: Season, first_id: int = 0, last_id: int = 2**62
                 ) -> np.ndarray:
    """One aggregate over the season's reads: (account id, Wh at the start or -1, Wh at the end or -1, estimate
    method code, register falls) per account with reads."""
    m_case = " ".join(f"WHEN '{m}' THEN {i}" for i, m in enumerate(_METHODS) if m)
    q = text(
        "SELECT account_id, "
        "COALESCE(MAX(CASE WHEN read_at = :start THEN CAST(ROUND(energy_kwh * 1000) AS BIGINT) END), -1), "
        "COALESCE(MAX(CASE WHEN read_at = :end THEN CAST(ROUND(energy_kwh * 1000) AS BIGINT) END), -1), "
        f"MAX(CASE WHEN read_at IN (:start, :end) AND estimated THEN CASE estimate_method {m_case} ELSE 4 END "
        "ELSE 0 END), "
        "SUM(CASE WHEN energy_kwh < prev THEN 1 ELSE 0 END) "
        "FROM (SELECT account_id, read_at, energy_kwh, estimated, estimate_method, "
        "      LAG(energy_kwh) OVER (PARTITION BY account_id ORDER BY read_at) AS prev "
        "      FROM billing_meter_reads WHERE org_id = :org AND read_at >= :start AND read_at <= :end "
        "      AND account_id BETWEEN :first_id AND :last_id) r "
        "GROUP BY account_id"
    ).bindparams(bindparam("start", type_=UTCDateTime()), bindparam("end", type_=UTCDateTime()))
    return _int_rows(session, q, {"org": org_id, "start": season.start_at, "end": season.end_at,
                                  "first_id": first_id, "last_id": last_id}, 5)


def _register_screen(rows: np.ndarray, acc_id: np.ndarray) -> _Screen:
    """The screen's rows aligned with ``acc_id`` (sorted)."""
    n = len(acc_id)
    out = _Screen(np.full(n, -1, np.int64), np.full(n, -1, np.int64), np.zeros(n, np.int64), np.zeros(n, np.int64))
    if len(rows):
        pos = np.searchsorted(acc_id, rows[:, 0])
        ok = (pos < n) & (acc_id[np.minimum(pos, n - 1)] == rows[:, 0])
        pos, rows = pos[ok], rows[ok]
        out.e0[pos], out.e1[pos], out.method[pos], out.falls[pos] = rows[:, 1], rows[:, 2], rows[:, 3], rows[:, 4]
    return out


def _season_sums(session: Session, org_id: int, season: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per account [fen], sorted by account: account ids, numbered prepayment statements (with the notes
    correcting them), and an (n, 2) array of all numbered statements and payments of the season. The rows are
    read as they are and summed in numpy (one statement per account and run: no aggregate on the server)."""
    p = {"org": org_id, "season": season}
    st = _int_rows(session, text(
        "SELECT account_id, CASE WHEN kind = 'prepayment' THEN 1 ELSE 0 END, CAST(ROUND(total_yuan * 100) AS BIGINT) "
        "FROM billing_statements WHERE org_id = :org AND season = :season AND number IS NOT NULL "
        "AND run_id IS NOT NULL"), p, 3)
    notes = _int_rows(session, text(
        "SELECT s.account_id, CASE WHEN c.kind = 'prepayment' THEN 1 ELSE 0 END, "
        "CAST(ROUND(s.total_yuan * 100) AS BIGINT) FROM billing_statements s "
        "JOIN billing_statements c ON c.id = s.corrects_id "
        "WHERE s.org_id = :org AND s.season = :season AND s.number IS NOT NULL AND s.run_id IS NULL"), p, 3)
    pay = _int_rows(session, text(
        "SELECT account_id, CAST(ROUND(amount_yuan * 100) AS BIGINT) FROM billing_payments "
        "WHERE org_id = :org AND season = :season"), p, 2)
    st = np.concatenate([st, notes])
    ids = np.union1d(st[:, 0], pay[:, 0])
    prepaid = np.zeros(len(ids), dtype=np.int64)
    billed_paid = np.zeros((len(ids), 2), dtype=np.int64)
    if len(st):
        i = np.searchsorted(ids, st[:, 0])
        _add_sorted(prepaid, i[st[:, 1] == 1], st[st[:, 1] == 1, 2])
        _add_sorted(billed_paid[:, 0], i, st[:, 2])
    if len(pay):
        _add_sorted(billed_paid[:, 1], np.searchsorted(ids, pay[:, 0]), pay[:, 1])
    return ids, prepaid, billed_paid


def _add_sorted(out: np.ndarray, idx: np.ndarray, values: np.ndarray) -> None:
    """``out[idx] += values`` with repeated indices summed (exact integers; faster than ``np.add.at``)."""
    if not len(idx):
        return
    order = np.argsort(idx, kind="stable")
    idx, values = idx[order], values[order]
    starts = np.flatnonzero(np.r_[True, idx[1:] != idx[:-1]])
    out[idx[starts]] += np.add.reduceat(values, starts)


def _aligned(ids: np.ndarray, values: np.ndarray, acc_id: np.ndarray) -> np.ndarray:
    """``values`` (of sorted ``ids``) at each of ``acc_id`` (0 where absent)."""
    out = np.zeros(len(acc_id), dtype=np.int64)
    if len(ids):
        pos = np.minimum(np.searchsorted(ids, acc_id), len(ids) - 1)
        hit = ids[pos] == acc_id
        out[hit] = values[pos[hit]]
    return out


def _uncertain(tariff: Tariff, rules: BillingRules, prices: Iterable[str], names: Iterable[str]) -> str:
    out = [f"{tariff.id}.{k}" for k in prices if getattr(tariff, k).confidence == "K"]
    return ",".join(out + rules.uncertain(*names))


def _local_midnight(d: date) -> datetime:
    return datetime.combine(d, time(0), CHINA_TZ)


def _one_by_one(session: Session, run: _Run, positions: list[int], vrules, heating_season,
                span: dict[int, tuple[date, date]]) -> dict[int, tuple[int | None, str]]:
    """Validate and settle accounts one by one: {position: (heat Wh or None when no read, method)}; findings and
    estimates become exceptions."""
    out: dict[int, tuple[int | None, str]] = {}
    pos_of = {int(run.acc_id[p]): p for p in positions}
    ids = list(pos_of)
    lo = run.season.start_at - timedelta(days=CONTEXT_DAYS)
    hi = run.season.end_at + timedelta(days=CONTEXT_DAYS)
    for i in range(0, len(ids), 500):
        chunk = ids[i:i + 500]
        reads: dict[int, list] = defaultdict(list)
        for acc, ts, kwh in session.execute(
                select(MeterRead.account_id, MeterRead.read_at, MeterRead.energy_kwh)
                .where(MeterRead.account_id.in_(chunk), MeterRead.read_at >= lo, MeterRead.read_at <= hi)
                .order_by(MeterRead.account_id, MeterRead.read_at)):
            reads[acc].append(validation.Read(str(acc), ts, float(kwh)))
        for acc in chunk:
            p = pos_of[acc]
            rs = reads.get(acc, [])
            first, last = span[p]
            if not rs:
                out[p] = (None, "missing")
                run.exceptions.append((acc, "missing_reads", None, "本供暖期无读数，按面积热费结算 / no reads in "
                                                                  "the season: settled at the area fee"))
                continue
            s = validation.series_of(str(acc), rs)
            for f in validation.validate_meter(s, vrules, season=heating_season):
                run.exceptions.append((acc, f.kind, f.ts, f.detail))
            s, bridged = validation.bridged(s, vrules)  # across a reset or an unrecorded replacement: estimated
            est = validation.estimate_consumption(s, _local_midnight(first),
                                                  _local_midnight(last + timedelta(days=1)))
            if bridged:
                est = replace(est, method="bridged", estimated=True)
            out[p] = (int(round(est.energy_kwh * 1000)), est.method)
            if est.estimated:
                run.estimated += 1
                run.exceptions.append((acc, "estimated", None, f"用量为估算（{est.method}）：{est.energy_kwh:.3f} "
                                                              f"kWh / estimated consumption ({est.method})"))
    return out


def _stop_heating(session: Session, run: _Run, full_fen: np.ndarray) -> dict[int, settlement.StopHeatingDecision]:
    """{position: decision} of the season's 报停 applications."""
    pos_of = {int(a): i for i, a in enumerate(run.acc_id)}
    out = {}
    rows = session.execute(select(StopHeatingApplication.account_id, StopHeatingApplication.applied_on,
                                  BillingAccount.dwelling)
                           .join(BillingAccount, BillingAccount.id == StopHeatingApplication.account_id)
                           .where(StopHeatingApplication.org_id == run.org.id,
                                  StopHeatingApplication.season == run.season.label))
    for acc, applied_on, dwelling in rows:
        p = pos_of.get(acc)
        if p is None:
            continue
        d = settlement.stop_heating(applied_on, run.season.first, fen.fen_to_yuan(full_fen[p]),
                                    settlement.Dwelling(**(dwelling or {})), run.rules)
        out[p] = d
        if not d.accepted:
            run.exceptions.append((acc, "stop_heating_refused", None, "；".join(d.messages)))
    return out


def _shortfalls(session: Session, run: _Run, full_fen: np.ndarray, skip: set[int]) -> dict[int, tuple]:
    """{position: (refund fen, days, uncertain)} from residents' reports of cold rooms (the evidence: a request
    with the room's temperature below the rule's minimum, reported in the season, and when it was closed)."""
    from cleanheat.telemetry.tables import ResidentRequest

    pos_of = {int(a): i for i, a in enumerate(run.acc_id)}
    eps: dict[int, list] = defaultdict(list)
    rows = session.execute(
        select(BillingAccount.id, ResidentRequest.created_at, ResidentRequest.closed_at, ResidentRequest.room_temp_c)
        .join(BillingAccount, BillingAccount.household_id == ResidentRequest.household_id)
        .where(BillingAccount.org_id == run.org.id, ResidentRequest.kind.in_(("warmer", "fault")),
               ResidentRequest.room_temp_c.is_not(None),
               ResidentRequest.room_temp_c < float(run.rules.shortfall_min_room_temp_c),
               ResidentRequest.created_at >= run.season.start_at, ResidentRequest.created_at < run.season.end_at))
    for acc, reported, closed, temp in rows:
        p = pos_of.get(acc)
        if p is not None and p not in skip:
            eps[p].append(settlement.ShortfallEpisode(reported, closed, Decimal(str(temp))))
    out = {}
    for p, episodes in eps.items():
        r = settlement.shortfall_refund(episodes, fen.fen_to_yuan(full_fen[p]), (run.season.first, run.season.last),
                                        run.rules)
        if r.days:
            out[p] = (fen.yuan_to_fen(r.refund_yuan), r.days, ",".join(r.uncertain))
    return out


def _background(session: Session, fn, *args) -> Callable[[], np.ndarray] | None:
    """On PostgreSQL, ``fn(other_session, *args)`` on a connection of its own in a thread (a read of committed
    data, overlapping the run's other reads); returns the function that waits for it. None elsewhere."""
    if session.get_bind().dialect.name != "postgresql":
        return None
    from concurrent.futures import ThreadPoolExecutor

    pool = ThreadPoolExecutor(1, thread_name_prefix="billing-screen")
    engine = session.get_bind()

    def job():
        with Session(engine) as other, other.begin():
            other.execute(text("SET LOCAL work_mem = '256MB'"))
            return fn(other, *args)

    future = pool.submit(job)
    pool.shutdown(wait=False)
    return future.result


def _compute(session: Session, org: Organisation, season: Season, kind: str, city_dir: Path, data_dir: Path,
             progress: Callable[[str], None]) -> _Run:
    rules = read_billing_rules(city_dir, season.first)
    table = read_tariffs(city_dir)
    screen = None
    if kind == "settlement" and session.get_bind().dialect.name == "postgresql":
        lo, hi = session.execute(text("SELECT COALESCE(MIN(id), 0), COALESCE(MAX(id), 0) FROM billing_accounts "
                                      "WHERE org_id = :org"), {"org": org.id}).one()
        mid = (lo + hi) // 2  # two halves of the accounts, read at once on two connections (two cores)
        halves = [_background(session, _screen_rows, org.id, season, a, b) for a, b in ((lo, mid), (mid + 1, hi))]

        def screen() -> np.ndarray:
            return np.concatenate([h() for h in halves])
    progress("accounts")
    acc_id, cls, mode, area_c, days = _accounts(session, org.id, season)
    n_days = season.days
    if not rules.prorate_by_days:
        days = np.where(days > 0, n_days, 0)
    run = _Run(org, season, kind, rules, acc_id, cls, mode, area_c, {}, {}, _Lines(), [], Counter())
    run.sums = _season_sums(session, org.id, season.label)
    # tariffs by class; accounts of a class without one are left out, each an exception
    keep = np.ones(len(acc_id), dtype=bool)
    for c in sorted(set(cls.tolist())):
        try:
            run.tariff_of[c] = table.select(c, season.first)
        except TariffNotFoundError as exc:
            for p in np.flatnonzero(cls == c):
                keep[p] = False
                run.exceptions.append((int(acc_id[p]), "no_tariff", None, str(exc)))
    if not keep.all():
        run.acc_id, run.cls, run.mode, run.area_c = acc_id[keep], cls[keep], mode[keep], area_c[keep]
        days = days[keep]
    n = run.n
    prices = {c: fen.Prices.of(t) for c, t in run.tariff_of.items()}
    area_fen = np.zeros(n, dtype=np.int64)
    full_fen = np.zeros(n, dtype=np.int64)
    for c, pr in prices.items():
        m = run.cls == c
        area_fen[m] = fen.area_fee_fen(run.area_c[m], days[m], n_days, pr)
        full_fen[m] = fen.area_fee_fen(run.area_c[m], np.full(int(m.sum()), n_days), n_days, pr)
    progress("rules")
    stops = _stop_heating(session, run, full_fen)
    accepted = np.zeros(n, dtype=bool)
    stop_fee = np.zeros(n, dtype=np.int64)
    for p, d in stops.items():
        if d.accepted:
            accepted[p] = True
            stop_fee[p] = fen.yuan_to_fen(d.fee_yuan)
    part = days < n_days
    L = run.lines
    rate_area = {c: str(t.area_yuan_m2.value) for c, t in run.tariff_of.items()}

    def area_lines(sel: np.ndarray, seq: int, note_of_part: bool = True) -> None:
        for c, t in run.tariff_of.items():
            for is_part in (False, True):
                m = sel & (run.cls == c) & (part == is_part)
                pos = np.flatnonzero(m)
                if not len(pos):
                    continue
                unc = _uncertain(t, rules, ["area_yuan_m2"], ["prorate_by_days"] if is_part else [])
                note = None
                if is_part and note_of_part:
                    note = np.array([f"接入 {d} / {n_days} 天 connected {d} of {n_days} days" for d in days[pos]],
                                    dtype=object)
                L.add(pos, seq, area_fen[pos], run.area_c[pos], "area_fee", "m2", 2, rate_area[c], None, unc, note)

    def stop_lines(seq: int) -> None:
        pos = np.flatnonzero(accepted)
        if len(pos):
            unc = ",".join(rules.uncertain("stop_heating_fee_share"))
            share = str(rules.stop_heating_fee_share)
            L.add(pos, seq, stop_fee[pos], run.area_c[pos], "stop_heating", "m2", 2, None, None, unc,
                  f"报停，收全额热费的 {share} / stopped heating: {share} of the full fee")

    if kind == "prepayment":
        progress("amounts")
        area_lines(~accepted, 1)
        stop_lines(1)
        run.exception_counts = Counter(e[1] for e in run.exceptions)
        return run
    # --- settlement -------------------------------------------------------------------------------------------
    progress("reads")
    sum_ids, sum_prepaid, _ = run.sums
    if not sum_prepaid.any():
        run.exceptions.append((None, "no_prepayment", None, f"{season.label} 无已批准的预交账单，已预交按 0 计 / no "
                                                            "approved prepayment: prepaid counted as 0"))
    prepaid = _aligned(sum_ids, sum_prepaid, run.acc_id)
    metered = (run.mode == "metered") & ~accepted
    heat_wh = np.zeros(n, dtype=np.int64)
    method = np.full(n, None, dtype=object)
    if metered.any():
        sc = _register_screen(screen() if screen is not None else _screen_rows(session, org.id, season),
                              run.acc_id)
        fast = metered & (sc.e0 >= 0) & (sc.e1 >= 0) & (sc.falls == 0) & ~part
        heat_wh[fast] = np.maximum(sc.e1[fast] - sc.e0[fast], 0)
        est = fast & (sc.method > 0)
        method[est] = np.array(_METHODS, dtype=object)[sc.method[est]]
        for p in np.flatnonzero(est):
            run.estimated += 1
            run.exceptions.append((int(run.acc_id[p]), "estimated", None,
                                   f"季初或季末读数为估算（{method[p]}）/ a boundary read is estimated ({method[p]})"))
        slow = np.flatnonzero(metered & ~fast).tolist()
    else:
        slow = []
    progress("validation")
    vrules = validation.read_validation_rules(data_dir, season.first)
    heating = read_heating_season(city_dir)
    slow_set = set(slow)
    full_check = slow + ([int(p) for p in np.flatnonzero(metered) if int(p) not in slow_set]
                         if int(metered.sum()) <= FULL_VALIDATION_MAX_METERS else [])
    spans = {}
    connected: dict[int, tuple] = {}
    slow_ids = [int(run.acc_id[p]) for p in slow]
    for i in range(0, len(slow_ids), 500):
        connected.update({a: (f, t) for a, f, t in session.execute(
            select(BillingAccount.id, BillingAccount.connected_from, BillingAccount.connected_to)
            .where(BillingAccount.id.in_(slow_ids[i:i + 500])))})
    for p in full_check:
        cf, ct = connected.get(int(run.acc_id[p]), (None, None))
        spans[p] = (max(season.first, cf or season.first), min(season.last, ct or season.last))
    found = _one_by_one(session, run, full_check, vrules, heating, spans)
    missing = np.zeros(n, dtype=bool)
    for p in slow:
        wh, meth = found[p]
        if wh is None:
            missing[p] = True
        else:
            heat_wh[p] = wh
            method[p] = None if meth == "actual" else meth
    progress("amounts")
    metered_ok = metered & ~missing
    shortfall = _shortfalls(session, run, full_fen, set(np.flatnonzero(accepted).tolist()))
    # metered: base + energy (+ cap)
    for c, t in run.tariff_of.items():
        m = metered_ok & (run.cls == c)
        pos = np.flatnonzero(m)
        if not len(pos):
            continue
        r = fen.settle_metered_fen(run.area_c[pos], heat_wh[pos], days[pos], n_days, prices[c],
                                   cap=rules.metered_cap_at_area_fee, refund=True)
        charge_p = r.charge_fen
        if not rules.metered_refund_below_area_fee:
            charge_p = np.maximum(charge_p, prepaid[pos])
        for is_part in (False, True):  # the pro-rating rule is named only on part-season statements
            sel = part[pos] == is_part
            L.add(pos[sel], 1, r.base_fen[sel], run.area_c[pos][sel], "base_fee", "m2", 2, str(t.base_yuan_m2.value),
                  None, _uncertain(t, rules, ["base_yuan_m2"], ["prorate_by_days"] if is_part else []))
        for meth in sorted({x for x in method[pos] if x is not None}) + [None]:
            sel = np.array([x == meth for x in method[pos]], dtype=bool)
            if sel.any():
                q = heat_wh[pos][sel] * 36  # GJ at 7 decimals: Wh × 0.0000036
                L.add(pos[sel], 2, r.metered_fen[sel] - r.base_fen[sel], q, "metered_energy", "GJ", 7,
                      str(t.metered_yuan_gj.value), meth, _uncertain(t, rules, ["metered_yuan_gj"], []),
                      None if meth is None else f"用量为估算（{meth}）/ estimated ({meth})")
        adj = charge_p - r.metered_fen
        sel = adj != 0
        if sel.any():
            L.add(pos[sel], 3, adj[sel], 1, "cap_adjustment", "1", 0, None, None,
                  ",".join(rules.uncertain("metered_cap_at_area_fee", "metered_refund_below_area_fee")),
                  "计量热费高于面积热费，按面积热费收取 / metered fee above the area fee: the area fee is charged")
        run.heat_wh.update({int(p): int(heat_wh[p]) for p in pos})
    # area-billed (and metered without reads): the area fee; 报停: the stop-heating fee
    area_lines(~accepted & ~metered_ok, 1)  # metered without reads: the area fee (the exception says why)
    stop_lines(1)
    # prepaid and refunds
    sel = prepaid != 0
    if sel.any():
        L.add(np.flatnonzero(sel), 8, -prepaid[sel], 1, "prepaid", "1", 0, None, None, "",
              "已预交 / prepaid")
    if shortfall:
        pos = np.array(sorted(shortfall), dtype=np.int64)
        L.add(pos, 9, np.array([-shortfall[p][0] for p in pos]), np.array([shortfall[p][1] for p in pos]),
              "shortfall_refund", "d", 0, None, None, shortfall[int(pos[0])][2],
              "室温不达标退费 / room-temperature shortfall refund")
    run.exception_counts = Counter(e[1] for e in run.exceptions)
    return run


# --- writing a run ------------------------------------------------------------------------------------------

#: a numeric in PostgreSQL's binary format with a fixed layout (five base-10000 digits, the first of weight 2:
#: up to 999 999 999 999.99999999; the server strips the leading and trailing zero digits), its length first
_PG_NUMERIC = np.dtype([("len", ">i4"), ("ndigits", ">i2"), ("weight", ">i2"), ("sign", ">u2"), ("dscale", ">i2"),
                        ("digits", ">i2", (5,))])
_PG_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
#: rows per part of a COPY: the parts go in key order, the rows of one part grouped by their layout
_COPY_PART = 16_384


def _pg_numeric(v: np.ndarray, scale: int, dscale: int) -> np.ndarray:
    """Integers ``v`` at ``scale`` decimals as binary numerics of ``dscale`` decimals (exact, no text made)."""
    v = np.asarray(v, dtype=np.int64)
    a = np.abs(v)
    ip, fr = a // 10 ** scale, (a % 10 ** scale) * 10 ** (8 - scale)
    if len(ip) and int(ip.max()) >= 10 ** 12:
        raise BillingError(f"an amount is beyond 10^12: {int(ip.max())}")
    out = np.empty(len(v), dtype=_PG_NUMERIC)
    out["len"], out["ndigits"], out["weight"], out["dscale"] = 18, 5, 2, dscale
    out["sign"] = np.where(v < 0, 0x4000, 0)
    d = out["digits"]
    d[:, 0], d[:, 1], d[:, 2] = ip // 10 ** 8, ip // 10 ** 4 % 10 ** 4, ip % 10 ** 4
    d[:, 3], d[:, 4] = fr // 10 ** 4, fr % 10 ** 4
    return out


def _pg_const(v: str | int | Decimal | datetime | None, kind: str = "text", scale: int = 0) -> bytes:
    """One field's bytes in COPY's binary format, its length first (``kind``: text, int4, int8, numeric,
    timestamptz); None: NULL."""
    if v is None:
        return b"\xff\xff\xff\xff"
    if kind == "numeric":
        whole = int(Decimal(v).scaleb(scale).to_integral_value(ROUND_HALF_UP))
        return _pg_numeric(np.array([whole]), scale, scale).tobytes()
    if kind == "timestamptz":
        us = (v - _PG_EPOCH) // timedelta(microseconds=1)
        return (8).to_bytes(4, "big") + int(us).to_bytes(8, "big", signed=True)
    if kind in ("int4", "int8"):
        size = 4 if kind == "int4" else 8
        return size.to_bytes(4, "big") + int(v).to_bytes(size, "big", signed=True)
    b = str(v).encode()
    return len(b).to_bytes(4, "big") + b


def _pg_rows(n: int, fields: list) -> bytes:
    """``n`` rows in COPY's binary format: ``fields`` in column order, each bytes (the same for every row, from
    :func:`_pg_const`), an int array with its kind (``(array, '>i8' | '>i4')``), or binary numerics
    (:func:`_pg_numeric`)."""
    parts: list[tuple] = [("c", "V2")]
    values: list = [len(fields).to_bytes(2, "big")]
    for i, f in enumerate(fields):
        if isinstance(f, bytes):
            if isinstance(values[-1], bytes):  # constants run together (the field count first)
                values[-1] += f
                parts[-1] = (parts[-1][0], f"V{len(values[-1])}")
            else:
                parts.append((f"c{i}", f"V{len(f)}"))
                values.append(f)
        elif isinstance(f, tuple):
            parts.append((f"c{i}", [("len", ">i4"), ("v", f[1])]))
            values.append(f)
        else:
            parts.append((f"c{i}", _PG_NUMERIC))
            values.append(f)
    rec = np.empty(n, dtype=np.dtype(parts))
    for (name, _), v in zip(parts, values, strict=True):
        if isinstance(v, bytes):
            rec[name] = np.frombuffer(v, dtype=f"V{len(v)}")[0]
        elif isinstance(v, tuple):
            rec[name]["len"] = np.dtype(v[1]).itemsize
            rec[name]["v"] = v[0]
        else:
            rec[name] = v
    return rec.tobytes()


def _write_pg(session: Session, run: _Run, run_id: int, base: int, totals: np.ndarray, now: datetime,
              progress) -> None:
    """Statements and lines straight into their tables with binary ``COPY`` (numerics encoded from the integer
    amounts with numpy: no text, no staging table), part by part in key order."""
    raw = session.connection().connection.driver_connection
    n = run.n
    wait_lines = _lines_beside(session, run.lines, base, n)
    try:
        _write_statements_pg(raw, run, run_id, base, totals, now)
    except BaseException:
        with suppress(Exception):
            wait_lines()
        raise
    progress("statements")
    wait_lines()
    progress("lines")


def _lines_beside(session: Session, L: _Lines, base: int, n: int) -> Callable[[], None]:
    """The lines written on a connection of their own in a thread (the server writes them on the second core
    while the statements are written on the run's connection), committed when done; returns the function that
    waits for it. Committed before the statements, the lines are out of sight until the run's transaction
    commits (lines are found through their statement only, and these statement ids are reserved for this run:
    a sequence never hands them out again); if the run's transaction ends without a commit (rolled back,
    or the session closed), they are deleted."""
    from concurrent.futures import ThreadPoolExecutor

    engine = session.get_bind()
    state = {"open": True}

    def job() -> None:
        with engine.begin() as conn:
            _write_lines_pg(conn.connection.driver_connection, L, base, n)

    def after_commit(_session) -> None:
        state["open"] = False

    def after_transaction_end(_session, transaction) -> None:
        if transaction.parent is None and state["open"]:  # rolled back or closed without a commit
            state["open"] = False
            with engine.begin() as conn:
                conn.execute(text("DELETE FROM billing_statement_lines WHERE statement_id BETWEEN :a AND :b"),
                             {"a": base, "b": base + max(n, 1) - 1})
        if transaction.parent is None:  # settled either way (the listeners stay, idle: removing them while
            state["open"] = False           # the session dispatches its events is not allowed)

    event.listen(session, "after_commit", after_commit)
    event.listen(session, "after_transaction_end", after_transaction_end)
    pool = ThreadPoolExecutor(1, thread_name_prefix="billing-lines")
    future = pool.submit(job)
    pool.shutdown(wait=False)
    return future.result


def _write_statements_pg(raw, run: _Run, run_id: int, base: int, totals: np.ndarray, now: datetime) -> None:
    n = run.n
    classes = list(run.tariff_of)
    cls_idx = np.zeros(n, dtype=np.int64)
    for i, c in enumerate(classes):
        cls_idx[run.cls == c] = i
    metered = (run.mode == "metered").astype(np.int64)
    heat = np.full(n, -1, dtype=np.int64)
    for p, wh in run.heat_wh.items():
        heat[p] = wh
    layout = (cls_idx * 2 + metered) * 2 + (heat >= 0)
    head = [_pg_const(run.org.id, "int4"), _pg_const(run_id, "int4")]
    mid = [_pg_const(run.season.label), _pg_const(run.kind)]
    tail = [_pg_const(""), _pg_const(now, "timestamptz")]
    kinds = {k: [_pg_const(classes[k // 4]), _pg_const("metered" if k // 2 % 2 else "area"),
                 _pg_const(run.tariff_of[classes[k // 4]].id)] for k in np.unique(layout).tolist()}
    null = _pg_const(None)
    with raw.cursor() as cur, cur.copy(
            "COPY billing_statements (id, org_id, run_id, account_id, season, kind, total_yuan, customer_class, "
            "billing_mode, tariff_id, area_m2, heat_gj, reason, created_at) FROM STDIN (FORMAT binary)") as cp:
        cp.write(_PGCOPY_HEADER)
        for a in range(0, n, _COPY_PART):
            b = min(a + _COPY_PART, n)
            lay = layout[a:b]
            for k in np.unique(lay).tolist():
                p = np.flatnonzero(lay == k) + a
                cp.write(_pg_rows(len(p), [
                    (p + base, ">i8"), *head, (run.acc_id[p], ">i4"), *mid, _pg_numeric(totals[p], 2, 2),
                    kinds[k][0], kinds[k][1], kinds[k][2], _pg_numeric(run.area_c[p], 2, 2),
                    _pg_numeric(heat[p] * 36, 7, 7) if k % 2 else null, *tail]))
        cp.write(b"\xff\xff")


def _write_lines_pg(raw, L: _Lines, base: int, n: int) -> None:
    """The lines in key order (statement, seq) part by part: each block's rows of the part's statements."""
    blocks = []
    for pos, seq, f, q, (code, unit, scale, rate, method, unc, note) in zip(
            L.pos, L.seq, L.fen, L.qty, L.meta, strict=True):
        if len(pos) > 1 and not (np.diff(pos) > 0).all():
            order = np.argsort(pos, kind="stable")
            pos, seq, f, q = pos[order], seq[order], f[order], q[order]
            note = note[order] if isinstance(note, np.ndarray) else note
        const = [_pg_const(code), _pg_const(unit), _pg_const(rate, "numeric", 4)]
        rest = [_pg_const(method), _pg_const(unc or None)]
        blocks.append((pos, seq, f, q, scale, const, rest, note))
    with raw.cursor() as cur, cur.copy(
            "COPY billing_statement_lines (statement_id, seq, code, quantity, unit, rate, amount_yuan, "
            "estimate_method, uncertain, note) FROM STDIN (FORMAT binary)") as cp:
        cp.write(_PGCOPY_HEADER)
        for a in range(0, n, _COPY_PART):
            for pos, seq, f, q, scale, const, rest, note in blocks:
                i, j = np.searchsorted(pos, [a, a + _COPY_PART])
                if i == j:
                    continue
                groups = [(np.arange(i, j), note)] if not isinstance(note, np.ndarray) else [
                    (np.flatnonzero(note[i:j] == x) + i, x) for x in dict.fromkeys(note[i:j].tolist())]
                for s, x in groups:  # a block with a note per line: its rows grouped by note
                    cp.write(_pg_rows(len(s), [
                        (pos[s] + base, ">i8"), (seq[s], ">i4"), const[0], _pg_numeric(q[s], scale, 7), const[1],
                        const[2], _pg_numeric(f[s], 2, 2), *rest, _pg_const(x or None)]))
        cp.write(b"\xff\xff")


def _reserve_ids(session: Session, n: int) -> int:
    """The first of ``n`` consecutive new statement ids (the table is locked until the transaction ends)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("LOCK TABLE billing_statements IN SHARE ROW EXCLUSIVE MODE"))
        seq = "pg_get_serial_sequence('billing_statements', 'id')"
        last = session.execute(text(f"SELECT setval({seq}, nextval({seq}) + :n - 1)"), {"n": max(n, 1)}).scalar_one()
        return int(last) - max(n, 1) + 1
    return int(session.execute(text("SELECT COALESCE(MAX(id), 0) FROM billing_statements")).scalar_one()) + 1


def _write(session: Session, run: _Run, run_id: int, totals: np.ndarray, progress) -> None:
    n = run.n
    base = _reserve_ids(session, n)
    tariff_id = np.full(n, "", dtype=object)
    for c, t in run.tariff_of.items():
        tariff_id[run.cls == c] = t.id
    heat = {p: wh * 36 for p, wh in run.heat_wh.items()}
    now = utcnow()
    if session.get_bind().dialect.name == "postgresql":
        _write_pg(session, run, run_id, base, totals, now, progress)
        return
    rows = [{"id": base + p, "org_id": run.org.id, "run_id": run_id, "account_id": int(run.acc_id[p]),
             "season": run.season.label, "kind": run.kind, "total_yuan": fen.fen_to_yuan(totals[p]),
             "customer_class": run.cls[p], "billing_mode": run.mode[p], "tariff_id": tariff_id[p],
             "area_m2": fen.fen_to_yuan(run.area_c[p]),
             "heat_gj": Decimal(heat[p]).scaleb(-7) if p in heat else None, "reason": "", "created_at": now}
            for p in range(n)]
    for i in range(0, len(rows), 5000):
        session.execute(insert(Statement), rows[i:i + 5000])
    progress("statements")
    lines = []
    for pos, seq, f, q, (code, unit, scale, rate, method, unc, note) in zip(
            run.lines.pos, run.lines.seq, run.lines.fen, run.lines.qty, run.lines.meta, strict=True):
        for k in range(len(pos)):
            lines.append({"statement_id": base + int(pos[k]), "seq": int(seq[k]), "code": code,
                          "quantity": Decimal(int(q[k])).scaleb(-scale), "unit": unit,
                          "rate": Decimal(rate) if rate is not None else None,
                          "amount_yuan": fen.fen_to_yuan(f[k]), "estimate_method": method,
                          "uncertain": unc or None,
                          "note": (str(note[k]) if isinstance(note, np.ndarray) else note) or None})
    for i in range(0, len(lines), 5000):
        session.execute(insert(StatementLine), lines[i:i + 5000])
    progress("lines")


# --- reports ------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Reconciliation:
    """Every yuan of a company's season accounted for [元, exact]: statements = lines = payments + arrears +
    refunds due (``refunds_due_yuan`` <= 0: owed back to customers); ``mismatched`` statements whose total is not
    the sum of their lines."""

    statements: int
    statements_yuan: Decimal
    lines_yuan: Decimal
    payments_yuan: Decimal
    arrears_yuan: Decimal
    refunds_due_yuan: Decimal
    mismatched: int = 0

    @property
    def balanced(self) -> bool:
        return (self.mismatched == 0 and self.statements_yuan == self.lines_yuan
                == self.payments_yuan + self.arrears_yuan + self.refunds_due_yuan)

    def as_dict(self) -> dict:
        return {"statements": self.statements, "statements_yuan": str(self.statements_yuan),
                "lines_yuan": str(self.lines_yuan), "payments_yuan": str(self.payments_yuan),
                "arrears_yuan": str(self.arrears_yuan), "refunds_due_yuan": str(self.refunds_due_yuan),
                "mismatched_statements": self.mismatched, "balanced": self.balanced}


def check_reconciliation(rec: Reconciliation) -> None:
    """Fail loudly unless statements = lines = payments + arrears + refunds due, exactly, and every statement's
    total is the sum of its lines."""
    if not rec.balanced:
        raise ReconciliationError(
            "对账不平 / reconciliation does not balance: "
            f"statements {rec.statements_yuan} ({rec.statements}), lines {rec.lines_yuan}, payments "
            f"{rec.payments_yuan} + arrears {rec.arrears_yuan} + refunds due {rec.refunds_due_yuan} = "
            f"{rec.payments_yuan + rec.arrears_yuan + rec.refunds_due_yuan}; statements whose total is not the sum "
            f"of their lines: {rec.mismatched}")


@dataclass(frozen=True)
class RunReport:
    """What a run computed (stored or dry): totals per tariff, class and mode, per line code, exceptions by kind,
    and the reconciliation of the company's season with this run's statements."""

    run_id: int | None
    company: str
    season: str
    kind: str
    dry_run: bool
    state: str
    statement_count: int
    total_yuan: Decimal
    totals: list[dict]
    line_totals: dict[str, str]
    exception_counts: dict[str, int]
    estimated: int
    reconciliation: Reconciliation

    def as_dict(self) -> dict:
        return {"run_id": self.run_id, "company": self.company, "season": self.season, "kind": self.kind,
                "dry_run": self.dry_run, "state": self.state, "statement_count": self.statement_count,
                "total_yuan": str(self.total_yuan), "totals": self.totals, "line_totals": self.line_totals,
                "exceptions": self.exception_counts, "estimated": self.estimated,
                "reconciliation": self.reconciliation.as_dict()}


def _existing_lines_fen(session: Session, org_id: int, season: str) -> int:
    """The lines of the season's numbered statements [fen]: approved runs' totals (their statements equal their
    lines: checked in SQL when they were approved) and the notes' lines."""
    runs = session.execute(select(func.sum(BillingRun.total_yuan)).where(
        BillingRun.org_id == org_id, BillingRun.season == season, BillingRun.state == "approved")).scalar()
    note_ids = session.scalars(select(Statement.id).where(
        Statement.org_id == org_id, Statement.season == season, Statement.run_id.is_(None),
        Statement.number.is_not(None))).all()
    notes = 0
    for i in range(0, len(note_ids), 500):  # notes are few: their lines by key, never a scan of all lines
        notes += int(session.scalar(select(func.sum(func.round(StatementLine.amount_yuan * 100))).where(
            StatementLine.statement_id.in_(note_ids[i:i + 500]))) or 0)
    return fen.yuan_to_fen(Decimal(runs or 0)) + int(notes or 0)


def _report(session: Session, run: _Run, totals: np.ndarray, run_id: int | None, dry_run: bool) -> RunReport:
    n = run.n
    groups = []
    keys = Counter()
    for c, t in run.tariff_of.items():
        for m in BILLING_MODES:
            sel = (run.cls == c) & (run.mode == m)
            if sel.any():
                keys[(t.id, c, m)] = int(sel.sum())
                groups.append({"tariff_id": t.id, "customer_class": c, "billing_mode": m,
                               "statements": int(sel.sum()), "amount_yuan": str(fen.fen_to_yuan(totals[sel].sum()))})
    by_code: dict[str, int] = defaultdict(int)
    for f, meta in zip(run.lines.fen, run.lines.meta, strict=True):
        by_code[meta[0]] += int(f.sum())
    ids, _, billed_paid = run.sums
    all_ids = np.union1d(ids, run.acc_id)
    bal = np.zeros(len(all_ids), dtype=np.int64)
    if len(ids):  # ids and acc_id are each unique: plain indexed additions
        bal[np.searchsorted(all_ids, ids)] += billed_paid[:, 0] - billed_paid[:, 1]
    bal[np.searchsorted(all_ids, run.acc_id)] += totals
    statements_fen = int(billed_paid[:, 0].sum()) + int(totals.sum())
    lines_fen = _existing_lines_fen(session, run.org.id, run.season.label) + run.lines.total_fen()
    n_existing = (session.scalar(select(func.sum(BillingRun.statement_count)).where(
        BillingRun.org_id == run.org.id, BillingRun.season == run.season.label, BillingRun.state == "approved"))
        or 0) + (session.scalar(select(func.count(Statement.id)).where(
            Statement.org_id == run.org.id, Statement.season == run.season.label, Statement.run_id.is_(None),
            Statement.number.is_not(None))) or 0)
    rec = Reconciliation(n_existing + n, fen.fen_to_yuan(statements_fen), fen.fen_to_yuan(lines_fen),
                         fen.fen_to_yuan(int(billed_paid[:, 1].sum())), fen.fen_to_yuan(int(bal[bal > 0].sum())),
                         fen.fen_to_yuan(int(bal[bal < 0].sum())))
    return RunReport(run_id, run.org.code, run.season.label, run.kind, dry_run, "dry_run" if dry_run else "draft",
                     n, fen.fen_to_yuan(int(totals.sum())), groups,
                     {k: str(fen.fen_to_yuan(v)) for k, v in sorted(by_code.items())},
                     dict(sorted(run.exception_counts.items())), run.estimated, rec)


def run_billing(session: Session, actor: Actor, company_code: str, season: str, kind: str, dry_run: bool = False,
                *, city_dir: Path | None = None, data_dir: Path | None = None,
                progress: Callable[[str], None] | None = None) -> RunReport:
    """Bill a company's season: ``kind`` prepayment (the area fee, pro-rated by connected days; 报停 at its share)
    or settlement (metered: base + metered GJ capped at the area fee, the difference refunded; area-billed: the
    area fee; 报停; room-temperature refunds; less what was prepaid). ``dry_run``: computed and reported, nothing
    stored. Otherwise a draft run replaces the season's earlier draft of the same kind; an approved one of the same
    kind stops it (corrections are notes). ``progress(stage)`` is called as the stages pass."""
    if kind not in ("prepayment", "settlement"):
        raise InputError(f"kind must be prepayment or settlement: {kind!r}", [InputIssue("kind", field="kind")])
    city_dir, data_dir = _dirs(city_dir, data_dir)
    org = _company(session, actor, company_code)
    sea = season_of(city_dir, season)
    if not dry_run:
        _writer(actor, org.id)
    else:
        actor.require_roles(Role.HEAT_COMPANY, Role.PROGRAMME_OFFICE)
    prog = progress or (lambda _stage: None)
    runs = session.scalars(select(BillingRun).where(BillingRun.org_id == org.id, BillingRun.season == sea.label,
                                                    BillingRun.kind == kind)).all()
    if not dry_run and any(r.state == "approved" for r in runs):
        raise ConflictError(f"{org.code} {sea.label} 的{kind}已批准；更正请开贷项或借项通知 / the {kind} run of this "
                            "season is approved: correct it with credit or debit notes")
    if session.get_bind().dialect.name == "postgresql":  # the register screen's sort and the aggregates in memory
        session.execute(text("SET LOCAL work_mem = '256MB'"))
    run = _compute(session, org, sea, kind, city_dir, data_dir, prog)
    totals = run.lines.per_account(run.n)
    if dry_run:
        report = _report(session, run, totals, None, True)
        prog("done")
        return report
    for old in runs:  # drafts of the same kind are replaced
        _delete_draft(session, old)
    row = BillingRun(org_id=org.id, season=sea.label, kind=kind, state="draft", rules_id=run.rules.id,
                     tariff_ids=sorted(t.id for t in run.tariff_of.values()), created_by=actor.actor)
    session.add(row)
    session.flush()
    _write(session, run, row.id, totals, prog)
    exc = [{"run_id": row.id, "org_id": org.id, "account_id": a, "kind": k, "at": at, "detail": d}
           for a, k, at, d in run.exceptions[:MAX_EXCEPTIONS]]
    for i in range(0, len(exc), 5000):
        session.execute(insert(RunException), exc[i:i + 5000])
    report = _report(session, run, totals, row.id, False)
    row.statement_count, row.total_yuan = report.statement_count, report.total_yuan
    row.exception_count = sum(report.exception_counts.values())
    row.summary = {k: v for k, v in report.as_dict().items() if k not in ("run_id",)}
    audit(session, actor, "run", "billing_run", row.id,
          {"company": org.code, "season": sea.label, "kind": kind, "statements": report.statement_count,
           "total_yuan": str(report.total_yuan), "exceptions": row.exception_count})
    prog("done")
    return report


def _delete_draft(session: Session, run: BillingRun) -> None:
    if run.state != "draft":
        raise ConflictError(f"run {run.id} is {run.state}")
    ids = select(Statement.id).where(Statement.run_id == run.id).scalar_subquery()
    session.execute(delete(StatementLine).where(StatementLine.statement_id.in_(ids)))
    session.execute(delete(Statement).where(Statement.run_id == run.id))
    session.execute(delete(RunException).where(RunException.run_id == run.id))
    session.delete(run)
    session.flush()


def _run(session: Session, actor: Actor, run_id: int) -> BillingRun:
    run = session.get(BillingRun, run_id)
    if run is None or not actor.can_access_org(run.org_id):
        raise NotFoundError(f"no billing run {run_id}")
    return run


def reconcile(session: Session, actor: Actor, company_code: str, season: str, run_id: int | None = None
              ) -> Reconciliation:
    """The company's season from the stored rows: numbered statements (and, with ``run_id``, that draft's)."""
    org = _company(session, actor, company_code)
    p = {"org": org.id, "season": season, "run": run_id if run_id is not None else -1}
    scope = ("WITH st AS (SELECT id, account_id, CAST(ROUND(total_yuan * 100) AS BIGINT) AS t "
             "FROM billing_statements WHERE org_id = :org AND season = :season "
             "AND (number IS NOT NULL OR run_id = :run)), "
             "ls AS (SELECT l.statement_id, SUM(CAST(ROUND(l.amount_yuan * 100) AS BIGINT)) AS f "
             "FROM billing_statement_lines l JOIN st ON st.id = l.statement_id GROUP BY l.statement_id) ")
    cnt, st_fen, ln_fen, bad = session.execute(text(
        scope + "SELECT COUNT(*), SUM(st.t), SUM(COALESCE(ls.f, 0)), "
        "SUM(CASE WHEN st.t <> COALESCE(ls.f, 0) THEN 1 ELSE 0 END) FROM st LEFT JOIN ls ON ls.statement_id = st.id"),
        p).one()
    pay = session.execute(text("SELECT SUM(CAST(ROUND(amount_yuan * 100) AS BIGINT)) FROM billing_payments "
                               "WHERE org_id = :org AND season = :season"), p).scalar()
    arrears, refunds = session.execute(text(
        scope + "SELECT SUM(CASE WHEN b > 0 THEN b ELSE 0 END), SUM(CASE WHEN b < 0 THEN b ELSE 0 END) FROM "
        "(SELECT a, SUM(f) AS b FROM (SELECT st.account_id AS a, ls.f AS f FROM st JOIN ls ON ls.statement_id = st.id "
        "UNION ALL SELECT account_id, -CAST(ROUND(amount_yuan * 100) AS BIGINT) FROM billing_payments "
        "WHERE org_id = :org AND season = :season) x GROUP BY a) y"), p).one()
    y = fen.fen_to_yuan
    return Reconciliation(int(cnt or 0), y(st_fen or 0), y(ln_fen or 0), y(pay or 0), y(arrears or 0),
                          y(refunds or 0), int(bad or 0))


def approve_run(session: Session, actor: Actor, run_id: int) -> BillingRun:
    """Approve a draft run: its statements get their numbers and are final (the reconciliation must balance)."""
    run = _run(session, actor, run_id)
    _writer(actor, run.org_id)
    if run.state != "draft":
        raise ConflictError(f"批次 {run_id} 已批准 / run {run_id} is already approved")
    org = session.get(Organisation, run.org_id)
    if session.scalar(select(BillingRun.id).where(BillingRun.org_id == run.org_id, BillingRun.season == run.season,
                                                  BillingRun.kind == run.kind, BillingRun.state == "approved")):
        raise ConflictError("本供暖期同类批次已批准 / a run of this kind is approved for the season")
    check_reconciliation(reconcile(session, actor, org.code, run.season, run.id))
    prefix = f"{org.code}-{run.season[:4]}{KIND_LETTERS[run.kind]}-"
    offset = session.scalar(select(func.count(Statement.id)).where(Statement.number.like(
        prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%", escape="\\"))) or 0
    base = session.scalar(select(func.min(Statement.id)).where(Statement.run_id == run.id)) or 0
    pad = ("lpad(CAST(id - :base + 1 + :offset AS TEXT), 8, '0')"
           if session.get_bind().dialect.name == "postgresql" else "printf('%08d', id - :base + 1 + :offset)")
    now = utcnow()
    session.execute(text(f"UPDATE billing_statements SET number = :prefix || {pad}, issued_at = :now "
                         "WHERE run_id = :run").bindparams(bindparam("now", type_=UTCDateTime())),
                    {"prefix": prefix, "base": base, "offset": offset, "now": now, "run": run.id})
    run.state, run.approved_by, run.approved_at = "approved", actor.actor, now
    audit(session, actor, "approve", "billing_run", run.id, {"statements": run.statement_count,
                                                             "total_yuan": str(run.total_yuan)})
    session.flush()
    return run


def issue_note(session: Session, actor: Actor, statement_id: int, amount_yuan: Decimal, reason: str) -> Statement:
    """A credit (``amount_yuan`` < 0) or debit (> 0) note correcting a numbered statement, numbered at once."""
    orig = session.get(Statement, statement_id)
    if orig is None or not actor.can_access_org(orig.org_id):
        raise NotFoundError(f"no statement {statement_id}")
    _writer(actor, orig.org_id)
    amount = Decimal(amount_yuan)
    if orig.number is None:
        raise ConflictError("草稿账单不能更正，请重新开账 / a draft statement is not corrected: run again")
    if not amount.is_finite() or amount == 0 or amount != amount.quantize(FEN) or not reason.strip():
        raise InputError("更正须有非零金额（到分）与原因 / a note needs a non-zero amount to the fen and a reason",
                         [InputIssue("amount / reason", field="amount_yuan")])
    kind = "credit_note" if amount < 0 else "debit_note"
    org = session.get(Organisation, orig.org_id)
    prefix = f"{org.code}-{orig.season[:4]}{KIND_LETTERS[kind]}-"
    count = session.scalar(select(func.count(Statement.id)).where(Statement.number.like(
        prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%", escape="\\"))) or 0
    note = Statement(org_id=orig.org_id, run_id=None, account_id=orig.account_id, season=orig.season, kind=kind,
                     number=f"{prefix}{count + 1:08d}", issued_at=utcnow(), total_yuan=amount,
                     customer_class=orig.customer_class, billing_mode=orig.billing_mode, tariff_id=orig.tariff_id,
                     area_m2=orig.area_m2, corrects_id=orig.id, reason=reason.strip())
    session.add(note)
    session.flush()
    session.add(StatementLine(statement_id=note.id, seq=1, code="correction", quantity=Decimal(1), unit="1",
                              rate=None, amount_yuan=amount, note=f"更正 {orig.number} / corrects {orig.number}"))
    audit(session, actor, "create", "billing_statement", note.id, {"kind": kind, "corrects": orig.number,
                                                                   "amount_yuan": str(amount), "reason": reason})
    session.flush()
    return note


# --- what the pages show ------------------------------------------------------------------------------------

def list_runs(session: Session, actor: Actor, company_code: str | None = None, season: str | None = None
              ) -> list[BillingRun]:
    """Runs of a company (the actor's own when None), newest first."""
    q = select(BillingRun).order_by(BillingRun.id.desc())
    if company_code is not None:
        q = q.where(BillingRun.org_id == _company(session, actor, company_code).id)
    elif not actor.city_wide:
        q = q.where(BillingRun.org_id == actor.org_id)
    if season is not None:
        q = q.where(BillingRun.season == season)
    return list(session.scalars(q.limit(500)))


@dataclass(frozen=True)
class RunDetail:
    """A run, its first exceptions, all exceptions counted by kind, its figures and its reconciliation."""

    run: BillingRun
    exceptions: list[RunException]
    exception_counts: dict[str, int]
    summary: dict
    reconciliation: Reconciliation


def run_detail(session: Session, actor: Actor, run_id: int, *, limit: int = 500, kind: str | None = None
               ) -> RunDetail:
    run = _run(session, actor, run_id)
    q = select(RunException).where(RunException.run_id == run.id)
    if kind is not None:
        q = q.where(RunException.kind == kind)
    excs = list(session.scalars(q.order_by(RunException.id).limit(limit)))
    counts = dict(session.execute(select(RunException.kind, func.count()).where(RunException.run_id == run.id)
                                  .group_by(RunException.kind).order_by(RunException.kind)).all())
    org = session.get(Organisation, run.org_id)
    rec = reconcile(session, actor, org.code, run.season, run.id if run.state == "draft" else None)
    return RunDetail(run, excs, counts, dict(run.summary or {}), rec)
