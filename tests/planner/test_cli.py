"""``cleanheat planner solve SCENARIO.yaml -o RESULT.json [--areas FILE]``."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from cleanheat.cli.main import app
from cleanheat.config import REPO_ROOT

SCEN = REPO_ROOT / "data" / "planner" / "scenarios"


def test_solve_writes_the_documented_json(tmp_path):
    out = tmp_path / "result.json"
    r = CliRunner().invoke(app, ["planner", "solve", str(SCEN / "harbin_2019_2021.yaml"), "-o", str(out)])
    assert r.exit_code == 0, r.output
    d = json.loads(out.read_text(encoding="utf-8"))
    assert d["status"] == "optimal" and d["total_cost_yuan"] > 0
    assert set(d["rates"]) >= {"urban", "county_fringe", "rural", "city"}
    assert set(d["emissions"]["2021"]) == {"co2_t", "pm_kg", "so2_kg", "nox_kg"}
    assert set(d["shadow_prices"]) >= {"gas", "grid", "budget"}
    a = d["areas"][0]
    assert set(a["years"]) == {"2019", "2020", "2021"}
    assert abs(sum(o["share"] for o in a["years"]["2021"]) - 1) < 1e-4


def test_solve_with_areas_file_and_infeasible_exit_code(tmp_path):
    areas = tmp_path / "areas.csv"
    lines = (REPO_ROOT / "data" / "planner" / "harbin_areas_synthetic.csv").read_text(encoding="utf-8").splitlines()
    areas.write_text("\n".join(lines[:2] + [x for x in lines[2:] if x.startswith("daoli-U")]) + "\n",
                     encoding="utf-8")
    out = tmp_path / "r.json"
    r = CliRunner().invoke(app, ["planner", "solve", str(SCEN / "harbin_tight_limits.yaml"), "-o", str(out),
                                 "--areas", str(areas)])
    d = json.loads(out.read_text(encoding="utf-8"))
    assert d["area_set"]["areas"] == 15
    assert r.exit_code in (0, 2) and (d["status"] == "infeasible") == (r.exit_code == 2)


def test_scenario_error_is_printed_with_location(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\noptions:\n  exclude: [heat_pipe]\n", encoding="utf-8")
    r = CliRunner().invoke(app, ["planner", "solve", str(bad), "-o", str(tmp_path / "o.json")])
    assert r.exit_code == 1
    out = " ".join(r.output.split())  # rich wraps long lines at the terminal width
    assert "第 3 行" in out and "options.exclude.0" in out and "heat_pipe" in out
