"""The billing pages on the demo city's billed season (both stores): the billing demo's data, the company's run →
approve → note through the forms (the run as a job), the resident's bill, the office's metering task, and scoping."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from cleanheat.auth.tables import AuditLog
from cleanheat.billing import demo as billing_demo
from cleanheat.billing import views
from cleanheat.billing.tables import BillingAccount, BillingRun, RunException, Statement, StatementLine
from cleanheat.demo_accounts import demo_password
from cleanheat.store.engine import session_scope
from cleanheat.twin import demo as twin_demo
from cleanheat.web.app import create_app
from tests.helpers import bootstrap, csrf_of, finish_jobs, login


@pytest.fixture
def world(settings, session_factory):
    """The programme, the test users, the demo city and its billed 2020-2021 season."""
    bootstrap(settings)
    with session_scope(session_factory) as s:
        twin_demo.load_demo(s, settings)
    with session_scope(session_factory) as s:
        summary = billing_demo.load_demo(s, settings)
    return settings, session_factory, summary


def _client(settings) -> TestClient:
    return TestClient(create_app(settings, background=False))


def _resident(settings) -> tuple[TestClient, str]:
    c = _client(settings)
    r = c.post("/login", data={"username": "resident", "password": demo_password(), "next": "/"},
               follow_redirects=False)
    assert r.status_code == 303, r.text
    return c, csrf_of(c)


def _text(html: str) -> str:
    html = re.sub(r"<script.*?</script>|<style.*?</style>", "", html, flags=re.S)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def test_demo_bills_a_season_with_its_anomalies(world):
    settings, sessions, summary = world
    assert "99 accounts (40 metered)" in summary, summary
    with sessions() as s:
        runs = s.scalars(select(BillingRun).order_by(BillingRun.id)).all()
        assert [(r.kind, r.state) for r in runs] == [("prepayment", "approved"), ("settlement", "approved")]
        assert all(r.summary["reconciliation"]["balanced"] for r in runs)
        kinds = set(s.scalars(select(RunException.kind).where(RunException.run_id == runs[1].id)))
        assert {"gap", "rollback", "stuck", "replacement", "estimated", "missing_reads", "stop_heating_refused",
                "no_tariff"} <= kinds, kinds
        # the meter exchanged without a record is billed for its heat, bridged across the exchange (not zero)
        replaced = s.scalar(select(RunException.account_id).where(RunException.run_id == runs[1].id,
                                                                 RunException.kind == "replacement"))
        line = s.execute(select(StatementLine.quantity, StatementLine.estimate_method)
                         .join(Statement, Statement.id == StatementLine.statement_id)
                         .where(Statement.account_id == replaced, Statement.run_id == runs[1].id,
                                StatementLine.code == "metered_energy")).one()
        assert line.quantity > 1 and line.estimate_method == "bridged", line
        # the pro-rating rule (K) is named on part-season statements only: the demo resident's full season has none
        flagged = dict(s.execute(select(BillingAccount.account_no, StatementLine.uncertain)
                                 .join(Statement, Statement.id == StatementLine.statement_id)
                                 .join(BillingAccount, BillingAccount.id == Statement.account_id)
                                 .where(Statement.run_id == runs[1].id, StatementLine.code == "base_fee")).all())
        part = set(s.scalars(select(BillingAccount.account_no).where(
            (BillingAccount.connected_from.is_not(None)) | (BillingAccount.connected_to.is_not(None)))))
        assert "prorate_by_days" not in (flagged["HB0101001"] or "")
        assert {a for a, u in flagged.items() if "prorate_by_days" in (u or "")} == part & set(flagged)
        # every statement is numbered; the accepted 报停 is billed at its share
        assert s.scalar(select(func.count()).select_from(Statement).where(Statement.number.is_(None))) == 0
        assert s.scalar(select(func.count()).select_from(BillingAccount)
                        .where(BillingAccount.billing_mode == "metered")) == 40
    with session_scope(sessions) as s:  # loading again adds nothing
        assert billing_demo.load_demo(s, settings) == "billing demo 2020-2021: present"


def test_company_runs_approves_and_corrects(world):
    settings, sessions, _ = world
    c = _client(settings)
    csrf = login(c, "htjt")
    page = c.get("/billing")
    assert page.status_code == 200 and 'action="/billing/runs"' in page.text and "2021-2022" in page.text
    # a refused form: nothing queued
    r = c.post("/billing/runs", data={"csrf_token": csrf, "company": "veolia", "season": "2021-2022",
                                      "kind": "prepayment"}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/billing"
    # the next season's prepayment as a job, then its page, then approval
    r = c.post("/billing/runs", data={"csrf_token": csrf, "company": "htjt", "season": "2021-2022",
                                      "kind": "prepayment"}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/jobs/"), r.text
    job = finish_jobs(c, r.headers["location"])
    assert job["state"] == "done", job
    run_id = job["result"]["run_id"]
    page = c.get(f"/billing/runs/{run_id}")
    assert page.status_code == 200 and 'id="approve-form"' in page.text and "草稿" in page.text
    assert "无热价" in page.text  # the public buildings without a tariff are named, not billed
    assert "data/harbin/tariffs.yaml" in page.text and str(settings.data_dir) not in page.text  # no server path
    r = c.post(f"/billing/runs/{run_id}/approve", data={"csrf_token": csrf}, follow_redirects=False)
    assert r.status_code == 303
    page = c.get(f"/billing/runs/{run_id}")
    assert 'id="approve-form"' not in page.text and "htjt-2021P-00000001" in page.text
    # approving again is refused with a message, not an error
    r = c.post(f"/billing/runs/{run_id}/approve", data={"csrf_token": csrf}, follow_redirects=True)
    assert r.status_code == 200 and "未批准" in r.text
    # a credit note on the resident's settlement statement
    with sessions() as s:
        st = s.scalar(select(Statement).join(BillingAccount, BillingAccount.id == Statement.account_id)
                      .where(BillingAccount.account_no == "HB0101001", Statement.kind == "settlement"))
        audits = s.scalar(select(func.count()).select_from(AuditLog))
    page = c.get(f"/billing/statements/{st.id}")
    assert page.status_code == 200 and 'id="note-form"' in page.text
    r = c.post(f"/billing/statements/{st.id}/notes", data={"csrf_token": csrf, "direction": "credit",
                                                           "amount_yuan": "12.5x", "reason": "x"},
               follow_redirects=True)
    assert "请填写正的金额" in r.text
    r = c.post(f"/billing/statements/{st.id}/notes", data={"csrf_token": csrf, "direction": "credit",
                                                           "amount_yuan": "12.50", "reason": "抄表更正 demo"},
               follow_redirects=True)
    assert "htjt-2020C-00000001" in r.text, _text(r.text)[:800]
    with sessions() as s:
        note = s.scalar(select(Statement).where(Statement.corrects_id == st.id))
        assert note.total_yuan == Decimal("-12.50") and note.kind == "credit_note"
        assert s.scalar(select(func.count()).select_from(AuditLog)) > audits
    # the company finds it among the newest notes and under the account
    home = c.get("/billing").text
    assert re.search(r'id="notes-table".*htjt-2020C-00000001', home, flags=re.S)
    found = c.get("/billing?account=HB0101001").text
    assert 'id="account-statements"' in found and "htjt-2020C-00000001" in found and st.number in found
    # the resident sees the note with the statement, and it changes what is owed back
    rc, _ = _resident(settings)
    assert 'href="/me/bill?season=2020-2021"' in rc.get("/me/bill").text  # the newest season is 2021-2022 now
    page = rc.get("/me/bill?season=2020-2021").text
    assert "htjt-2020C-00000001" in page
    owed = Decimal(re.search(r'id="balance-value">([0-9.,]+)<', page).group(1).replace(",", ""))
    assert owed == -(st.total_yuan - Decimal("12.50"))


def test_resident_reads_the_statement(world):
    settings, sessions, _ = world
    c, _ = _resident(settings)
    page = c.get("/me/bill")
    assert page.status_code == 200
    text = _text(page.text)
    assert "htjt-2020S-00000001" in text and "htjt-2020P-00000001" in text
    assert "基础热费" in text and "计量热费" in text and "已预交" in text
    assert "尚未经原文核实" in text  # the K-tagged prices are named on the bill
    with sessions() as s:
        settled = s.scalar(select(Statement.total_yuan).join(BillingAccount, BillingAccount.id == Statement.account_id)
                           .where(BillingAccount.account_no == "HB0101001", Statement.kind == "settlement"))
    # prepaid in full: what is owed back is the settlement's refund
    assert settled < 0 and f'id="balance-value">{-settled:,.2f}<' in page.text and "应退还您" in text
    assert 'id="month-data"' in page.text and 'src="/static/js/billing-me.js"' in page.text
    assert "<script>" not in page.text  # data in a JSON block, code in a file
    m = re.search(r'id="building-gj-m2">\s*([0-9.]+) GJ/m', page.text)
    assert m and float(m.group(1)) > 0
    # only the resident's own household: another account's statement number is not on the page
    with sessions() as s:
        other = s.scalar(select(Statement.number).join(BillingAccount, BillingAccount.id == Statement.account_id)
                         .where(BillingAccount.account_no == "HB0101002", Statement.kind == "settlement"))
    assert other and other not in page.text
    assert c.get("/billing").status_code == 403
    assert c.get("/me").text.count('href="/me/bill"') >= 1


def test_monthly_use_and_building_average(world):
    _settings, sessions, _ = world
    with sessions() as s:
        gap = s.scalar(select(RunException.account_id).where(RunException.kind == "gap"))
        months = views.monthly_use(s, gap, "2020-2021")
        assert [m.months for m in months].count(2) == 1  # the missing January read: one bar over two months
        acc = s.scalar(select(BillingAccount).where(BillingAccount.account_no == "HB0101001"))
        months = views.monthly_use(s, acc.id, "2020-2021")
        assert [m.month for m in months] == ["2020-10", "2020-11", "2020-12", "2021-01", "2021-02", "2021-03",
                                             "2021-04"]
        settled = s.scalar(select(Statement).where(Statement.account_id == acc.id, Statement.kind == "settlement"))
        assert abs(sum(m.heat_kwh for m in months) * views.GJ_PER_KWH - settled.heat_gj) < Decimal("0.001")
        avg = views.building_average(s, acc.building_id, "2020-2021")
        assert avg.accounts >= 1 and avg.heat_gj_m2 > 0


def test_office_sees_the_metering_task_from_data(world):
    settings, _sessions, _ = world
    c = _client(settings)
    login(c, "office")
    page = c.get("/billing/metering?season=2020-2021")
    assert page.status_code == 200
    rows = dict(re.findall(r'<tr data-unit="(\w+)">(.*?)</tr>', page.text, flags=re.S)[:2])
    assert set(rows) == {"daoli", "nangang"}
    cells = [_text(x).strip() for x in re.findall(r"<td[^>]*>(.*?)</td>", rows["daoli"], flags=re.S)]
    # two public buildings metered with reads, none settled (no public-building tariff): 0 % billed by meter
    assert cells[1:5] == ["2", "2", "0", "0.0 %"], cells
    assert "未达标" in rows["daoli"]
    # a district sees its own unit only; a heat company and a resident are refused
    d = _client(settings)
    login(d, "daoli")
    assert 'data-unit="nangang"' not in d.get("/billing/metering").text
    h = _client(settings)
    login(h, "htjt")
    assert h.get("/billing/metering").status_code == 403


def test_other_company_is_refused(world):
    settings, sessions, _ = world
    c = _client(settings)
    csrf = login(c, "veolia")
    with sessions() as s:
        run = s.scalar(select(BillingRun.id).order_by(BillingRun.id))
        st = s.scalar(select(Statement.id).order_by(Statement.id))
        before = s.scalar(select(func.count()).select_from(Statement))
    assert c.get(f"/billing/runs/{run}").status_code == 404
    assert c.get(f"/billing/statements/{st}").status_code == 404
    assert c.post(f"/billing/statements/{st}/notes", data={"csrf_token": csrf, "direction": "credit",
                                                          "amount_yuan": "1.00", "reason": "x"}).status_code == 404
    assert c.post(f"/billing/runs/{run}/approve", data={"csrf_token": csrf}).status_code == 404
    assert "htjt" not in _text(c.get("/billing").text).split("开账批次")[-1]
    assert 'id="account-not-found"' in c.get("/billing?account=HB0101001").text
    with sessions() as s:
        assert s.scalar(select(func.count()).select_from(Statement)) == before


def test_programme_counts_the_metering_task_from_billing(world):
    """Like the boiler tasks from the registry: with a settled season, the evaluation counts the public-building
    metering share from billing (the reported value beside it); before any settled season, from the reports."""
    from cleanheat.auth.service import Actor
    from cleanheat.programme import service as programme
    from cleanheat.programme.plan_store import load_plan

    settings, sessions, _ = world
    with sessions() as s:
        plan = load_plan(s)
        ev = programme.evaluate(s, Actor.system("test"), plan, year=2021, settings=settings)
        task = next(t for t in ev.tasks if t.code == "public_building_metered_share")
        # the city has no public-building tariff (none found, DOMAIN.md §4.2): billing cannot say whether public
        # buildings are billed by meter, so the reports count
        assert task.source == "reports"
        before = programme.evaluate(s, Actor.system("test"), plan, year=2020, settings=settings)
        assert next(t for t in before.tasks if t.code == "public_building_metered_share").source == "reports"
        other = next(t for t in ev.tasks if t.code == "existing_building_retrofit_area")
        assert other.source == "reports"


def test_with_a_public_building_tariff_the_metering_task_comes_from_billing(world, tmp_path):
    """A city whose tariffs price public buildings: the settled season's public buildings are counted (the demo
    settled none of its three by meter, its runs having had no such tariff: 0 of 3)."""
    import shutil

    import yaml

    from cleanheat.billing import programme_link

    settings, sessions, _ = world
    city = tmp_path / "city"
    shutil.copytree(settings.city_dir, city)
    doc = yaml.safe_load((city / "tariffs.yaml").read_text(encoding="utf-8"))
    row = dict(next(t for t in doc["tariffs"] if t["customer_class"] == "ordinary_dwelling"),
               id="test-public", customer_class="public_building", source="test tariff (not a real price)")
    doc["tariffs"].append(row)
    (city / "tariffs.yaml").write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    from datetime import date

    with sessions() as s:
        assert programme_link.task_values(s, date(2021, 12, 31), settings.city_dir) is None
        assert programme_link.task_values(s, date(2021, 12, 31), city) == {programme_link.TASK: 0.0}
        assert programme_link.task_values(s, date(2020, 12, 31), city) is None  # no settled 2019-2020 season
