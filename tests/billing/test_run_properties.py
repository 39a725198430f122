"""Properties of whole billing runs on random companies (hypothesis): every statement is the sum of its lines,
the season reconciles to the fen (statements = lines = payments + arrears + refunds due), a metered settlement is
settlement.py's (cap, refund), and the prepayment is pro-rated by connected days like settlement.py."""

from __future__ import annotations

import itertools
from datetime import date, timedelta
from decimal import Decimal as D

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select, text

from cleanheat.assets.tables import Building
from cleanheat.auth.roles import OrgKind, Role
from cleanheat.auth.service import Actor
from cleanheat.auth.tables import Organisation
from cleanheat.billing import service as svc
from cleanheat.billing import settlement
from cleanheat.billing.tables import BillingAccount, Statement
from cleanheat.billing.tariffs import read_billing_rules, read_tariffs
from tests.billing.conftest import END, SEASON, START

FIRST, LAST = date(2020, 10, 20), date(2021, 4, 20)
_codes = itertools.count()

account = st.tuples(
    st.sampled_from(["ordinary_dwelling", "energy_saving_dwelling"]),
    st.booleans(),  # metered
    st.decimals(min_value=D("20"), max_value=D("300"), places=2),  # area
    st.integers(min_value=0, max_value=60_000_000),  # season heat [Wh]
    st.one_of(st.none(), st.integers(min_value=1, max_value=180)),  # connected from day k of the season
    st.one_of(st.none(), st.decimals(min_value=D("0.01"), max_value=D("9000"), places=2)),  # a payment
)


@pytest.fixture(params=["sqlite"])
def database_url(request, tmp_path, sqlite_template):  # one backend: each example makes a company
    import shutil

    target = tmp_path / "test.db"
    shutil.copyfile(sqlite_template, target)
    return f"sqlite:///{target}"


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(account, min_size=1, max_size=8))
def test_random_companies_reconcile_and_match_settlement_py(session_factory, settings, accounts):
    code = f"P{next(_codes)}"
    dirs = {"city_dir": settings.city_dir, "data_dir": settings.data_dir}
    rules = read_billing_rules(settings.city_dir, FIRST)
    tariffs = read_tariffs(settings.city_dir)
    with session_factory() as s:
        org = Organisation(code=code, name_zh=code, kind=OrgKind.HEAT_COMPANY)
        s.add(org)
        s.flush()
        b = Building(code=f"{code}-B", name_zh="b", org_id=org.id, area_m2=1000)
        s.add(b)
        s.flush()
        actor = Actor(code, Role.HEAT_COMPANY, org_id=org.id, org_kind=OrgKind.HEAT_COMPANY, org_code=code)
        ids = []
        for i, (cls, metered, area, wh, from_day, _) in enumerate(accounts):
            cf = FIRST + timedelta(days=from_day) if from_day else None
            a = svc.open_account(s, actor, building_id=b.id, account_no=f"{code}-{i}", customer_class=cls,
                                 billing_mode="metered" if metered else "area", area_m2=area,
                                 meter_no=f"{code}-M{i}" if metered else "", connected_from=cf)
            ids.append(a.id)
            if metered:
                at = START + timedelta(days=from_day) if from_day else START
                svc.record_reads(s, actor, [svc.ReadIn(a.id, at, D(1000)),
                                            svc.ReadIn(a.id, END, D(1000) + D(wh) / 1000)])
        pre = svc.run_billing(s, actor, code, SEASON, "prepayment", **dirs)
        svc.approve_run(s, actor, pre.run_id)
        for a_id, (*_, pay) in zip(ids, accounts, strict=True):
            if pay is not None:
                svc.record_payment(s, actor, a_id, SEASON, pay, START)
        run = svc.run_billing(s, actor, code, SEASON, "settlement", **dirs)
        rec = svc.reconcile(s, actor, code, SEASON, run.run_id)
        svc.check_reconciliation(rec)
        assert rec == run.reconciliation
        assert rec.statements_yuan == rec.payments_yuan + rec.arrears_yuan + rec.refunds_due_yuan
        bad = s.scalar(text(
            "SELECT COUNT(*) FROM billing_statements s WHERE ROUND(s.total_yuan * 100) <> (SELECT "
            "SUM(ROUND(amount_yuan * 100)) FROM billing_statement_lines l WHERE l.statement_id = s.id)"))
        assert bad == 0
        totals = {k: dict(s.execute(select(Statement.account_id, Statement.total_yuan)
                                    .where(Statement.run_id == r)).all()) for k, r in (("pre", pre.run_id),
                                                                                       ("set", run.run_id))}
        for a_id, (cls, metered, area, wh, _, _) in zip(ids, accounts, strict=True):
            acc = s.get(BillingAccount, a_id)
            tariff = tariffs.select(cls, FIRST)
            p = settlement.prepayment(area, tariff, rules, (FIRST, LAST), connected_from=acc.connected_from)
            assert totals["pre"][a_id] == p.amount_yuan  # pro-rated by connected days
            if metered:
                m = settlement.settle_metered(area, D(wh) / 1000 * D("0.0036"), tariff, rules, (FIRST, LAST),
                                              connected_from=acc.connected_from, prepaid_yuan=p.amount_yuan)
                assert totals["set"][a_id] == -m.refund_yuan  # the cap and the refund as settlement.py
                assert m.charge_yuan <= m.area_fee_yuan
            else:
                assert totals["set"][a_id] == D("0.00")
