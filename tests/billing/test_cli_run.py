"""``cleanheat billing run --company CODE --season 2020-2021 [--dry-run] --format json`` on both databases."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from cleanheat.cli.main import app
from tests.billing.conftest import SEASON


def _run(monkeypatch, settings, *args: str):
    monkeypatch.setenv("CLEANHEAT_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("CLEANHEAT_VAR_DIR", str(settings.var_dir))
    monkeypatch.setenv("CLEANHEAT_SECRET_KEY", "cli-test")
    return CliRunner().invoke(app, ["billing", *args])


def test_run_json_totals_count_and_reconciliation(monkeypatch, settings, city):
    r = _run(monkeypatch, settings, "run", "--company", "HC1", "--season", SEASON, "--kind", "prepayment",
             "--format", "json")
    assert r.exit_code == 0, r.output
    pre = json.loads(r.stdout)
    assert pre["statement_count"] == 7 and pre["total_yuan"] == "19207.30" and pre["state"] == "draft"
    assert {(t["customer_class"], t["billing_mode"], t["statements"]) for t in pre["totals"]} == {
        ("ordinary_dwelling", "metered", 3), ("ordinary_dwelling", "area", 3),
        ("energy_saving_dwelling", "metered", 1)}
    assert pre["reconciliation"]["balanced"] and pre["reconciliation"]["arrears_yuan"] == "19207.30"
    assert pre["exceptions"] == {"no_tariff": 1}
    r = _run(monkeypatch, settings, "approve", str(pre["run_id"]))
    assert r.exit_code == 0, r.output
    r = _run(monkeypatch, settings, "run", "--company", "HC1", "--season", SEASON, "--dry-run", "--format", "json")
    assert r.exit_code == 0, r.output
    dry = json.loads(r.stdout)
    assert dry["run_id"] is None and dry["kind"] == "settlement" and dry["statement_count"] == 7
    # prepaid 19207.30; refunds: A1 1418.14 and A4 (3000 kWh extrapolated at its steady rate = 10.8 GJ:
    # 90 × 19.37 + 10.8 × 39.14 = 2166.01 against 3735.00 prepaid) 1568.99; nothing paid, so every account still
    # owes: all arrears, no refund due
    rec = dry["reconciliation"]
    assert (rec["statements_yuan"], rec["arrears_yuan"], rec["refunds_due_yuan"]) == ("16220.17", "16220.17", "0.00")
    r = _run(monkeypatch, settings, "run", "--company", "HC1", "--season", SEASON)
    assert r.exit_code == 0, r.output
    assert "对账 reconciliation 平 balanced" in r.stdout and "cap_adjustment" in r.stdout


def test_an_unknown_company_or_season_is_a_clear_error(monkeypatch, settings, city):
    r = _run(monkeypatch, settings, "run", "--company", "NOPE", "--season", SEASON, "--format", "json")
    assert r.exit_code == 1 and "NOPE" in r.output
    r = _run(monkeypatch, settings, "run", "--company", "HC1", "--season", "2020-2022", "--format", "json")
    assert r.exit_code == 1 and "2020-2022" in r.output


def test_import_reads_by_meter_or_account_number_all_or_nothing(monkeypatch, settings, city, session_factory, tmp_path):
    from sqlalchemy import func, select

    from cleanheat.billing.tables import MeterRead

    def count() -> int:
        with session_factory() as s:
            return s.scalar(select(func.count()).select_from(MeterRead))

    before = count()
    good = tmp_path / "reads.csv"
    good.write_text("meter_id,timestamp,energy_kwh\n"
                    "M8,2020-10-20T00:00:00+08:00,100.5\n"  # by meter number
                    "M8,2020-11-20T00:00:00,400.25\n"       # naive: Asia/Shanghai
                    "A3,2020-10-20T00:00:00Z,7\n", encoding="utf-8")  # by account number
    r = _run(monkeypatch, settings, "import-reads", str(good), "--company", "HC1")
    assert r.exit_code == 0, r.output
    assert "3 reads of 2 meters, 3 new" in r.stdout and count() == before + 3
    r = _run(monkeypatch, settings, "import-reads", str(good), "--company", "HC1")  # again: nothing new
    assert r.exit_code == 0 and "0 new" in r.stdout and count() == before + 3
    unknown = tmp_path / "unknown.csv"
    unknown.write_text("meter_id,timestamp,energy_kwh\nM8,2020-12-20T00:00:00+08:00,700\n"
                       "NOPE9,2020-12-20T00:00:00+08:00,1\n", encoding="utf-8")
    r = _run(monkeypatch, settings, "import-reads", str(unknown), "--company", "HC1")
    assert r.exit_code == 1 and "NOPE9" in r.output and count() == before + 3  # M8's good row not stored either
    bad = tmp_path / "bad.csv"
    bad.write_text("meter_id,timestamp,energy_kwh\nM8,2020-12-20T00:00:00+08:00,700\nM8,not a time,1\n",
                   encoding="utf-8")
    r = _run(monkeypatch, settings, "import-reads", str(bad), "--company", "HC1")
    assert r.exit_code == 1 and "bad.csv" in r.output and count() == before + 3
