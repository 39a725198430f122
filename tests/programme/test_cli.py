"""The programme CLI on a real database: template, import (errors and exit codes), evaluate, report."""

import json
import shutil
import subprocess

import pytest
from typer.testing import CliRunner

from cleanheat.cli.main import app
from tests.helpers import bootstrap
from tests.programme.conftest import DAOLI_AREAS, fill_template, reporter_for_unit

runner = CliRunner()


@pytest.fixture
def env(settings, monkeypatch):
    bootstrap(settings)
    monkeypatch.setenv("CLEANHEAT_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("CLEANHEAT_VAR_DIR", str(settings.var_dir))
    return settings


def test_template_import_evaluate_report(env, plan, tmp_path, monkeypatch):
    out = tmp_path / "t.xlsx"
    r = runner.invoke(app, ["programme", "template", "--unit", "道里区", "--period", "2020Q4", "-o", str(out)])
    assert r.exit_code == 0, r.output
    assert out.stat().st_size > 5000
    filled = tmp_path / "daoli-2020Q4.xlsx"
    filled.write_bytes(fill_template(plan, reporter_for_unit(plan, "daoli"), "2020Q4", areas=DAOLI_AREAS))
    r = runner.invoke(app, ["programme", "import", str(filled), "--accept"])
    assert r.exit_code == 0, r.output
    assert "道里区人民政府 2020Q4" in r.output
    r = runner.invoke(app, ["programme", "evaluate", "--year", "2020", "--format", "json"])
    assert r.exit_code == 0, r.output
    data = json.loads(r.output)
    for key in ("urban", "county_fringe", "rural", "city"):
        assert {"actual", "target", "status", "gap_m2"} <= set(data["rates"][key])
    assert data["rates"]["urban"]["actual"] == pytest.approx(3100 / 4600)
    assert "technologies" in data and "tasks" in data
    r = runner.invoke(app, ["programme", "evaluate", "--year", "2020", "--period", "2020Q4", "--format", "table"])
    assert r.exit_code == 0 and "城市城区" in r.output
    for fmt in ("xlsx", "html"):
        target = tmp_path / f"r.{fmt}"
        r = runner.invoke(app, ["programme", "report", "--period", "2020Q4", "--format", fmt, "-o", str(target)])
        assert r.exit_code == 0, r.output
        assert target.stat().st_size > 1000
    # without -o the file is named after the period and the format
    monkeypatch.chdir(tmp_path)
    r = runner.invoke(app, ["programme", "report", "--period", "2020Q4", "--format", "xlsx"])
    assert r.exit_code == 0, r.output
    assert (tmp_path / "report-2020Q4.xlsx").read_bytes()[:2] == b"PK"


def test_import_errors_exit_non_zero_with_locations_and_import_nothing(env, plan, tmp_path):
    areas = dict(DAOLI_AREAS)
    areas[("urban", "gas")] = "很多"
    bad = tmp_path / "bad.xlsx"
    bad.write_bytes(fill_template(plan, reporter_for_unit(plan, "daoli"), "2020Q4", areas=areas))
    r = runner.invoke(app, ["programme", "import", str(bad)])
    assert r.exit_code == 1
    assert "工作表 取暖面积 / 第 6 行 / 列 D" in r.output
    assert "nothing imported" in r.output
    r = runner.invoke(app, ["programme", "list"])
    assert "bad.xlsx" not in r.output
    r = runner.invoke(app, ["programme", "template", "--unit", "火星区", "--period", "2020Q4",
                            "-o", str(tmp_path / "x")])
    assert r.exit_code == 1 and "未知的填报单位" in r.output
    r = runner.invoke(app, ["programme", "template", "--unit", "道里区", "--period", "2024Q1",
                            "-o", str(tmp_path / "x")])
    assert r.exit_code == 1 and "不在方案期" in r.output


@pytest.mark.skipif(shutil.which("pdftotext") is None, reason="poppler-utils (pdftotext) not installed")
def test_pdf_report_renders_chinese(env, plan, tmp_path):
    filled = tmp_path / "d.xlsx"
    filled.write_bytes(fill_template(plan, reporter_for_unit(plan, "daoli"), "2021Q4", areas=DAOLI_AREAS))
    assert runner.invoke(app, ["programme", "import", str(filled), "--accept"]).exit_code == 0
    pdf = tmp_path / "r.pdf"
    r = runner.invoke(app, ["programme", "report", "--period", "2021", "--format", "pdf", "-o", str(pdf)])
    assert r.exit_code == 0, r.output
    text = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    assert "哈尔滨市冬季清洁取暖年度评价报告（2021年）" in text.replace("\n", "").replace(" ", "")
    assert "道里区" in text and "城市城区" in text
    fonts = subprocess.run(["pdffonts", str(pdf)], capture_output=True, text=True, check=True).stdout
    assert "CJK" in fonts  # the Noto CJK font is embedded
