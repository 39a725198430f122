"""Tables of the billing area: accounts, meter reads, billing runs, immutable statements, payments.

* ``billing_accounts`` — one heating account per household (or per public / commercial building without
  households): the customer class (tariff), metered or area-billed, the billed area [m² of the tariff's area
  basis], the meter, the connected span, and the dwelling's facts that decide a 报停 application.
* ``billing_stop_heating`` — 报停 applications, one per account and season (decided when the season is billed).
* ``billing_meter_reads`` — the energy register [kWh, exact ``Numeric``] of an account's meter at a time (UTC),
  with its source and, for an estimated value, the method.
* ``billing_runs`` / ``billing_run_exceptions`` — a run of a company's season (prepayment or settlement),
  ``draft`` then ``approved``; what the run found (validation findings, missing reads, estimates) as exceptions.
  A dry run is never stored.
* ``billing_statements`` / ``billing_statement_lines`` — statements with their lines. A draft run's statements
  have no number and are replaced when the run is made again; approval numbers them, and a numbered statement
  and its lines are never updated nor deleted (triggers in migration ``billing_0001`` on both databases, and
  :func:`cleanheat.billing.service.guard_statements` in the session). Corrections are credit / debit notes:
  statements of their own (``kind`` ``credit_note`` | ``debit_note``) pointing at the statement they correct.
* ``billing_payments`` — money received (positive) or refunds paid out (negative) on an account for a season.
  Arrears and refunds due are derived: an account's season balance = its statements − its payments.

Money is ``Numeric`` yuan with two decimals (each amount rounded once to the fen before it is stored); every row
carries (or inherits through its statement) the company's ``org_id``.

The bulk tables (statements, lines) have no FOREIGN KEY constraints on their run, account and statement columns:
a run of 3,000,000 households writes about 13 million rows, and PostgreSQL checks a foreign key with a trigger per
row (3 million lines: 16 s without, 42 s with, on the shared 2-core machine; bench/RESULTS.md). The service writes a
statement and its lines in one transaction and deletes a draft's lines with its statements.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.sql import text

from cleanheat.store.base import Base, UTCDateTime, utcnow

#: a 64-bit key on PostgreSQL (millions of statements and reads); SQLite's rowid is 64-bit already
BigKey = BigInteger().with_variant(Integer, "sqlite")

CUSTOMER_CLASSES = ("energy_saving_dwelling", "ordinary_dwelling", "public_building", "commercial")
BILLING_MODES = ("metered", "area")
READ_SOURCES = ("import", "concentrator", "twin", "manual")
RUN_KINDS = ("prepayment", "settlement")
RUN_STATES = ("draft", "approved")
STATEMENT_KINDS = ("prepayment", "settlement", "credit_note", "debit_note")


def _in(col: str, values: tuple[str, ...]) -> str:
    return f"{col} IN ({', '.join(repr(v) for v in values)})"


class BillingAccount(Base):
    """A heating account (供热账户): who is billed, by which tariff class, metered or by area."""

    __tablename__ = "billing_accounts"
    __table_args__ = (
        CheckConstraint(_in("customer_class", CUSTOMER_CLASSES), name="customer_class"),
        CheckConstraint(_in("billing_mode", BILLING_MODES), name="billing_mode"),
        CheckConstraint("area_m2 >= 0", name="area_m2"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    #: the household billed (NULL: a public or commercial building billed as one customer)
    household_id: Mapped[int | None] = mapped_column(
        ForeignKey("assets_households.id"), nullable=True, unique=True)
    building_id: Mapped[int] = mapped_column(ForeignKey("assets_buildings.id"), index=True)
    account_no: Mapped[str] = mapped_column(String(64), unique=True)
    #: energy_saving_dwelling | ordinary_dwelling | public_building | commercial (data/<city>/tariffs.yaml)
    customer_class: Mapped[str] = mapped_column(String(32))
    #: metered (two-part tariff, settled at season end) | area (area tariff only)
    billing_mode: Mapped[str] = mapped_column(String(16), default="area")
    #: billed area [m² of the tariff's area basis; Harbin: usable area 使用面积]
    area_m2: Mapped[Decimal] = mapped_column(Numeric(12, 2))
    #: the heat meter whose reads bill the account ('' when area-billed)
    meter_no: Mapped[str] = mapped_column(String(64), default="")
    #: the meter as a telemetry device (kind heat_meter), when it is one
    device_id: Mapped[int | None] = mapped_column(ForeignKey("assets_devices.id", ondelete="SET NULL"),
                                                  nullable=True)
    #: first and last connected day [local dates; NULL: before / after every season]
    connected_from: Mapped[date | None] = mapped_column(Date, nullable=True)
    connected_to: Mapped[date | None] = mapped_column(Date, nullable=True)
    #: the dwelling's facts deciding 报停 (settlement.Dwelling fields: individually_piped, valve_inside_dwelling,
    #: in_warranty, first_floor, top_floor, end_wall, harms_neighbours); missing keys take Dwelling's defaults
    dwelling: Mapped[dict] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class StopHeatingApplication(Base):
    """A 报停 application for one season; accepted or refused when the season is billed (settlement.stop_heating)."""

    __tablename__ = "billing_stop_heating"
    __table_args__ = (UniqueConstraint("account_id", "season"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("billing_accounts.id", ondelete="CASCADE"))
    #: the heating season, ``2020-2021``
    season: Mapped[str] = mapped_column(String(9))
    applied_on: Mapped[date] = mapped_column(Date)
    note: Mapped[str] = mapped_column(Text, default="")
    created_by: Mapped[str] = mapped_column(String(100), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class MeterRead(Base):
    """One register reading of an account's heat meter for billing (idempotent on account and time)."""

    __tablename__ = "billing_meter_reads"
    __table_args__ = (
        UniqueConstraint("account_id", "read_at"),
        CheckConstraint(_in("source", READ_SOURCES), name="source"),
    )

    id: Mapped[int] = mapped_column(BigKey, primary_key=True)
    org_id: Mapped[int] = mapped_column(Integer)
    account_id: Mapped[int] = mapped_column(ForeignKey("billing_accounts.id", ondelete="CASCADE"))
    meter_no: Mapped[str] = mapped_column(String(64))
    read_at: Mapped[datetime] = mapped_column(UTCDateTime)
    #: the energy register [kWh], exact to the Wh
    energy_kwh: Mapped[Decimal] = mapped_column(Numeric(16, 3))
    #: import | concentrator | twin | manual
    source: Mapped[str] = mapped_column(String(16))
    estimated: Mapped[bool] = mapped_column(Boolean, default=False)
    #: how an estimated value was made (linear | degree_day | extrapolated | manual), NULL when read
    estimate_method: Mapped[str | None] = mapped_column(String(16), nullable=True)


class BillingRun(Base):
    """A billing run of a company's season: ``draft`` (statements without numbers, may be made again) then
    ``approved`` (statements numbered, final)."""

    __tablename__ = "billing_runs"
    __table_args__ = (
        Index("ix_billing_runs_org_season", "org_id", "season", "kind"),
        CheckConstraint(_in("kind", RUN_KINDS), name="kind"),
        CheckConstraint(_in("state", RUN_STATES), name="state"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    season: Mapped[str] = mapped_column(String(9))
    #: prepayment | settlement
    kind: Mapped[str] = mapped_column(String(16))
    #: draft | approved
    state: Mapped[str] = mapped_column(String(16), default="draft")
    #: the billing rule set and tariffs used (ids in data/<city>/billing_rules.yaml, tariffs.yaml)
    rules_id: Mapped[str] = mapped_column(String(64), default="")
    tariff_ids: Mapped[list] = mapped_column(JSON, default=list)
    statement_count: Mapped[int] = mapped_column(Integer, default=0)
    total_yuan: Mapped[Decimal] = mapped_column(Numeric(16, 2), default=Decimal(0))
    exception_count: Mapped[int] = mapped_column(Integer, default=0)
    #: the run's figures: totals per tariff and class, reconciliation (amounts as text, exact)
    summary: Mapped[dict] = mapped_column(JSON, default=dict)
    created_by: Mapped[str] = mapped_column(String(100), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    approved_by: Mapped[str] = mapped_column(String(100), default="")
    approved_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class RunException(Base):
    """What a run found: a validation finding, missing reads, an estimated consumption, a refused 报停 ..."""

    __tablename__ = "billing_run_exceptions"

    id: Mapped[int] = mapped_column(BigKey, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("billing_runs.id", ondelete="CASCADE"), index=True)
    org_id: Mapped[int] = mapped_column(Integer)
    account_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    #: rollback | reset | replacement | gap | spike | stuck | implausible (validation) | missing_reads |
    #: estimated | stop_heating_refused | no_prepayment | no_tariff
    kind: Mapped[str] = mapped_column(String(32))
    at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    detail: Mapped[str] = mapped_column(Text, default="")


class Statement(Base):
    """A statement (账单): prepayment invoice, season-end settlement, or a credit / debit note correcting one.

    ``total_yuan`` = the sum of its lines [元]; positive: the customer owes it, negative: owed to the customer.
    Numbered (``number``) when its run is approved (notes: when issued); a numbered statement never changes."""

    __tablename__ = "billing_statements"
    __table_args__ = (
        Index("ix_billing_statements_account", "account_id", "season"),
        Index("uq_billing_statements_number", "number", unique=True,
              postgresql_where=text("number IS NOT NULL"), sqlite_where=text("number IS NOT NULL")),
        CheckConstraint(_in("kind", STATEMENT_KINDS), name="kind"),
    )

    id: Mapped[int] = mapped_column(BigKey, primary_key=True)
    org_id: Mapped[int] = mapped_column(Integer)
    #: the run (no FOREIGN KEY on this bulk table: see the module's note; the service keeps it)
    run_id: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)
    account_id: Mapped[int] = mapped_column(Integer)
    season: Mapped[str] = mapped_column(String(9))
    #: prepayment | settlement | credit_note | debit_note
    kind: Mapped[str] = mapped_column(String(16))
    #: ``<company>-<season start year><P|S|C|D>-<sequence>``, set on approval (NULL while draft; unique when set)
    number: Mapped[str | None] = mapped_column(String(48), nullable=True)
    issued_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    total_yuan: Mapped[Decimal] = mapped_column(Numeric(14, 2))
    customer_class: Mapped[str] = mapped_column(String(32))
    billing_mode: Mapped[str] = mapped_column(String(16))
    tariff_id: Mapped[str] = mapped_column(String(64), default="")
    area_m2: Mapped[Decimal] = mapped_column(Numeric(12, 2))
    #: metered heat of the season [GJ] (settlement of a metered account), NULL otherwise
    heat_gj: Mapped[Decimal | None] = mapped_column(Numeric(18, 7), nullable=True)
    #: a note's statement it corrects
    corrects_id: Mapped[int | None] = mapped_column(ForeignKey("billing_statements.id"), nullable=True)
    reason: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class StatementLine(Base):
    """One line of a statement: what (``code``), how much (``quantity`` ``unit``), at what rate, the amount [元]."""

    __tablename__ = "billing_statement_lines"

    #: the statement (no FOREIGN KEY on this bulk table: see the module's note; the service keeps it)
    statement_id: Mapped[int] = mapped_column(BigKey, primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    #: area_fee | base_fee | metered_energy | cap_adjustment | stop_heating | prepaid | shortfall_refund |
    #: correction
    code: Mapped[str] = mapped_column(String(32))
    #: exact: GJ to 7 decimals (a Wh is 0.0000036 GJ), m² to 2, days whole
    quantity: Mapped[Decimal] = mapped_column(Numeric(18, 7))
    #: m2 | GJ | d | 1
    unit: Mapped[str] = mapped_column(String(8))
    #: the rate [元 per unit], NULL for lines that carry an amount only
    rate: Mapped[Decimal | None] = mapped_column(Numeric(12, 4), nullable=True)
    amount_yuan: Mapped[Decimal] = mapped_column(Numeric(14, 2))
    #: how an estimated quantity was made (linear | degree_day | extrapolated | area_fee), NULL when measured
    estimate_method: Mapped[str | None] = mapped_column(String(16), nullable=True)
    #: the rules and prices this line rests on that are unconfirmed (K), comma separated; shown on the bill
    uncertain: Mapped[str | None] = mapped_column(Text, nullable=True)
    note: Mapped[str | None] = mapped_column(Text, nullable=True)


class Payment(Base):
    """Money received on an account for a season (positive), or a refund paid out (negative) [元]."""

    __tablename__ = "billing_payments"
    __table_args__ = (Index("ix_billing_payments_account", "account_id", "season"),)

    id: Mapped[int] = mapped_column(BigKey, primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("billing_accounts.id"))
    season: Mapped[str] = mapped_column(String(9))
    statement_id: Mapped[int | None] = mapped_column(ForeignKey("billing_statements.id"), nullable=True)
    paid_at: Mapped[datetime] = mapped_column(UTCDateTime)
    amount_yuan: Mapped[Decimal] = mapped_column(Numeric(14, 2))
    #: bank | cash | wechat | alipay | refund | other
    method: Mapped[str] = mapped_column(String(16), default="bank")
    reference: Mapped[str] = mapped_column(String(100), default="")
    created_by: Mapped[str] = mapped_column(String(100), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
