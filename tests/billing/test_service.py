"""Billing runs on both databases: a small company billed through prepayment, payments and settlement, with
hand-computed amounts, the Decimal path per household, immutability, notes and the reconciliation."""

from __future__ import annotations

from datetime import date
from decimal import Decimal as D

import pytest
from sqlalchemy import select, text

from cleanheat.auth.roles import OrgKind, Role
from cleanheat.auth.service import Actor
from cleanheat.auth.tables import AuditLog
from cleanheat.billing import service as svc
from cleanheat.billing import settlement, views
from cleanheat.billing.tables import BillingRun, MeterRead, RunException, Statement, StatementLine
from cleanheat.billing.tariffs import read_billing_rules, read_tariffs
from cleanheat.errors import ConflictError, NotFoundError
from tests.billing.conftest import SEASON, START


def _totals(s, run_id) -> dict[int, D]:
    return dict(s.execute(select(Statement.account_id, Statement.total_yuan).where(Statement.run_id == run_id)).all())


def _lines(s, run_id, account_id) -> list[tuple]:
    return s.execute(select(StatementLine.code, StatementLine.quantity, StatementLine.amount_yuan,
                            StatementLine.estimate_method)
                     .join(Statement, Statement.id == StatementLine.statement_id)
                     .where(Statement.run_id == run_id, Statement.account_id == account_id)
                     .order_by(StatementLine.seq)).all()


def test_a_season_billed_end_to_end(settings, session_factory, city):
    actor, acc = city["actor"], city["acc"]
    dirs = {"city_dir": settings.city_dir, "data_dir": settings.data_dir}
    with session_factory() as s:
        pre = svc.run_billing(s, actor, "HC1", SEASON, "prepayment", **dirs)
        s.commit()
        t = _totals(s, pre.run_id)
        # 80 × 41.5; 100 × 41.5; 60.5 × 41.5 = 2510.75; 报停 50 × 41.5 × 0.30 = 622.50;
        # 70 × 41.5 × 110 / 183 = 1746.174.. (1 Jan to 20 Apr: 110 of 183 days); 75.25 × 41.5 = 3122.875 → .88
        assert t == {acc[1]: D("3320.00"), acc[2]: D("4150.00"), acc[3]: D("2510.75"), acc[4]: D("3735.00"),
                     acc[5]: D("622.50"), acc[6]: D("1746.17"), acc[8]: D("3122.88")}
        assert pre.exception_counts == {"no_tariff": 1}  # the public building: no non-residential price
        assert pre.reconciliation.balanced and pre.reconciliation.arrears_yuan == sum(t.values())
        svc.check_reconciliation(svc.reconcile(s, actor, "HC1", SEASON, pre.run_id))
        assert s.scalar(select(Statement.number).where(Statement.run_id == pre.run_id)) is None  # draft
        svc.approve_run(s, actor, pre.run_id)
        s.commit()
        numbers = s.scalars(select(Statement.number).where(Statement.run_id == pre.run_id)
                            .order_by(Statement.id)).all()
        assert numbers[0] == "HC1-2020P-00000001" and len(set(numbers)) == 7
        svc.record_payment(s, actor, acc[1], SEASON, D("3320.00"), START)
        svc.record_payment(s, actor, acc[3], SEASON, D("2000.00"), START)
        s.commit()

        dry = svc.run_billing(s, actor, "HC1", SEASON, "settlement", dry_run=True, **dirs)
        assert dry.run_id is None and s.scalar(select(BillingRun.id).where(BillingRun.kind == "settlement")) is None
        run = svc.run_billing(s, actor, "HC1", SEASON, "settlement", **dirs)
        s.commit()
        assert (run.total_yuan, run.statement_count) == (dry.total_yuan, dry.statement_count)
        t = _totals(s, run.run_id)
        # A1: 2500 kWh = 9 GJ: 80 × 19.37 + 9 × 39.14 = 1549.60 + 352.26 = 1901.86; refund 3320 − 1901.86
        assert t[acc[1]] == D("-1418.14")
        assert _lines(s, run.run_id, acc[1]) == [("base_fee", D("80"), D("1549.60"), None),
                                                 ("metered_energy", D("9"), D("352.26"), None),
                                                 ("prepaid", D("1"), D("-3320.00"), None)]
        # A2: 30000 kWh = 108 GJ: 100 × 16.54 + 108 × 44.41 = 6450.28 > 4150: capped at the area fee
        assert t[acc[2]] == D("0.00")
        assert [x[0] for x in _lines(s, run.run_id, acc[2])] == ["base_fee", "metered_energy", "cap_adjustment",
                                                                 "prepaid"]
        assert _lines(s, run.run_id, acc[2])[2][2] == D("-2300.28")
        # A4: no read at the season's end: extrapolated, flagged on the line and as an exception
        assert _lines(s, run.run_id, acc[4])[1][3] == "extrapolated"
        assert t[acc[3]] == t[acc[5]] == t[acc[6]] == D("0.00")  # area fee = prepaid; 报停 = prepaid
        assert t[acc[8]] == D("0.00")  # no reads: settled at the area fee
        assert run.exception_counts["missing_reads"] == 1 and run.exception_counts["estimated"] == 1
        kinds = set(s.scalars(select(RunException.kind).where(RunException.run_id == run.run_id)))
        assert {"missing_reads", "estimated", "no_tariff", "rollback"} <= kinds
        rec = svc.reconcile(s, actor, "HC1", SEASON, run.run_id)
        svc.check_reconciliation(rec)
        assert rec == run.reconciliation
        # payments 5320; A1 is owed 1418.14, A3 still owes 510.75, the rest 0 + prepayments unpaid
        assert rec.payments_yuan == D("5320.00") and rec.refunds_due_yuan == D("-1418.14")
        svc.approve_run(s, actor, run.run_id)
        s.commit()
        with pytest.raises(ConflictError):
            svc.run_billing(s, actor, "HC1", SEASON, "settlement", **dirs)
        st = s.scalar(select(Statement).where(Statement.run_id == run.run_id, Statement.account_id == acc[3]))
        note = svc.issue_note(s, actor, st.id, D("-10.00"), "抄表错误 meter misread")
        s.commit()
        assert note.number == "HC1-2020C-00000001" and note.kind == "credit_note"
        svc.check_reconciliation(svc.reconcile(s, actor, "HC1", SEASON))
        assert s.scalar(select(AuditLog.id).where(AuditLog.entity == "billing_run", AuditLog.action == "approve"))


def test_the_decimal_path_per_household_gives_the_same_amounts(settings, session_factory, city):
    """Every statement of a run equals settlement.py's Decimal amounts for the same household."""
    actor, acc = city["actor"], city["acc"]
    dirs = {"city_dir": settings.city_dir, "data_dir": settings.data_dir}
    first, last = date(2020, 10, 20), date(2021, 4, 20)
    rules = read_billing_rules(settings.city_dir, first)
    tariffs = read_tariffs(settings.city_dir)
    with session_factory() as s:
        pre = svc.run_billing(s, actor, "HC1", SEASON, "prepayment", **dirs)
        t = _totals(s, pre.run_id)
        from cleanheat.billing.tables import BillingAccount

        for a in s.scalars(select(BillingAccount).where(BillingAccount.id.in_(t))):
            tariff = tariffs.select(a.customer_class, first)
            want = settlement.prepayment(a.area_m2, tariff, rules, (first, last), connected_from=a.connected_from,
                                         connected_to=a.connected_to).amount_yuan
            if a.id == acc[5]:
                want = settlement.stop_heating(date(2020, 9, 25), first, want, settlement.Dwelling(), rules).fee_yuan
            assert t[a.id] == want, a.account_no
        svc.approve_run(s, actor, pre.run_id)
        run = svc.run_billing(s, actor, "HC1", SEASON, "settlement", **dirs)
        t = _totals(s, run.run_id)
        for k in (1, 2):
            a = s.get(BillingAccount, acc[k])
            reads = s.scalars(select(MeterRead.energy_kwh).where(MeterRead.account_id == a.id)
                              .order_by(MeterRead.read_at)).all()
            heat_gj = (reads[-1] - reads[0]) * D("0.0036")
            r = settlement.settle_metered(a.area_m2, heat_gj, tariffs.select(a.customer_class, first), rules,
                                          (first, last))
            assert t[a.id] == -r.refund_yuan


def test_numbered_statements_are_never_changed(session_factory, settings, city):
    actor = city["actor"]
    with session_factory() as s:
        pre = svc.run_billing(s, actor, "HC1", SEASON, "prepayment", city_dir=settings.city_dir,
                              data_dir=settings.data_dir)
        svc.approve_run(s, actor, pre.run_id)
        s.commit()
        sid = s.scalar(select(Statement.id).where(Statement.run_id == pre.run_id).limit(1))
    for sql in ("UPDATE billing_statements SET total_yuan = 1 WHERE id = :id",
                "DELETE FROM billing_statements WHERE id = :id",
                "UPDATE billing_statement_lines SET amount_yuan = 1 WHERE statement_id = :id",
                "DELETE FROM billing_statement_lines WHERE statement_id = :id"):
        with session_factory() as s, pytest.raises(Exception, match="never changed"):
            s.execute(text(sql), {"id": sid})
            s.flush()
    with session_factory() as s:
        st = s.get(Statement, sid)
        st.total_yuan = D("1.00")
        with pytest.raises(ConflictError):
            s.flush()


def test_a_company_sees_only_its_own_billing(session_factory, settings, city):
    other = Actor("hc2", Role.HEAT_COMPANY, org_id=city["org"] + 1, org_kind=OrgKind.HEAT_COMPANY, org_code="HC2")
    with session_factory() as s:
        with pytest.raises(NotFoundError):
            svc.run_billing(s, other, "HC1", SEASON, "prepayment", dry_run=True, city_dir=settings.city_dir,
                            data_dir=settings.data_dir)
        assert views.account_statements(s, other, "A1") == (None, [])


def test_a_draft_is_replaced_when_run_again(session_factory, settings, city):
    actor = city["actor"]
    dirs = {"city_dir": settings.city_dir, "data_dir": settings.data_dir}
    with session_factory() as s:
        a = svc.run_billing(s, actor, "HC1", SEASON, "prepayment", **dirs)
        s.commit()
        b = svc.run_billing(s, actor, "HC1", SEASON, "prepayment", **dirs)
        s.commit()
        assert s.scalars(select(BillingRun.id)).all() == [b.run_id] and a.statement_count == b.statement_count == 7
        assert s.scalar(text("SELECT COUNT(*) FROM billing_statements")) == 7
        assert s.scalar(text("SELECT COUNT(*) FROM billing_statement_lines")) == 7


def test_pages_views(session_factory, settings, city):
    actor = city["actor"]
    dirs = {"city_dir": settings.city_dir, "data_dir": settings.data_dir}
    with session_factory() as s:
        pre = svc.run_billing(s, actor, "HC1", SEASON, "prepayment", **dirs)
        svc.approve_run(s, actor, pre.run_id)
        run = svc.run_billing(s, actor, "HC1", SEASON, "settlement", **dirs)
        svc.approve_run(s, actor, run.run_id)
        s.commit()
        assert [r.id for r in svc.list_runs(s, actor, "HC1")] == [run.run_id, pre.run_id]
        d = svc.run_detail(s, actor, run.run_id)
        assert d.exception_counts["missing_reads"] == 1 and d.reconciliation.balanced
        acc, statements = views.account_statements(s, actor, "A1")
        assert [st.kind for st in statements] == ["settlement", "prepayment"]
        shown = views.statement_of(s, actor, statements[0].id)
        assert sum(ln.amount_yuan for ln in shown.lines) == shown.statement.total_yuan
        months = views.monthly_use(s, acc.id, SEASON, settings.city_dir)
        assert sum(m.heat_kwh for m in months) == D("2500.000") and not any(m.estimated for m in months)
        avg = views.building_average(s, city["building"], SEASON)
        # A1 9 GJ / 80 m², A2 108 GJ / 100 m², A4 extrapolated: (9 + 108 + A4) / 270
        assert avg.accounts == 3 and avg.area_m2 == D("270.00")
        units = views.metering_by_unit(s, actor, SEASON, settings.city_dir)
        # PB1 is billed by meter but has no reads this season: not counted as metered
        assert [(u.unit_code, u.public_buildings, u.metered_public_buildings) for u in units] == [("daoli", 1, 0)]
        assert svc.run_detail(s, actor, run.run_id).run.state == "approved"


def test_a_run_rolled_back_leaves_no_lines(session_factory, settings, city):
    """On PostgreSQL the lines are written and committed on a connection of their own while the statements are
    written: a run whose transaction is rolled back (or never committed) leaves neither."""
    actor = city["actor"]
    dirs = {"city_dir": settings.city_dir, "data_dir": settings.data_dir}
    with session_factory() as s:
        svc.run_billing(s, actor, "HC1", SEASON, "prepayment", **dirs)
        s.rollback()
        assert s.scalar(text("SELECT COUNT(*) FROM billing_statements")) == 0
        assert s.scalar(text("SELECT COUNT(*) FROM billing_statement_lines")) == 0
    with session_factory() as s:
        svc.run_billing(s, actor, "HC1", SEASON, "settlement", **dirs)
    with session_factory() as s:  # closed without a commit
        assert s.scalar(text("SELECT COUNT(*) FROM billing_statements")) == 0
        assert s.scalar(text("SELECT COUNT(*) FROM billing_statement_lines")) == 0
        kept = svc.run_billing(s, actor, "HC1", SEASON, "prepayment", **dirs)
        s.commit()
        assert s.scalar(text("SELECT COUNT(*) FROM billing_statement_lines")) == kept.statement_count == 7
