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


def test_results_propose_and_export_from_the_command_line(settings, session_factory, monkeypatch, tmp_path):
    """The documented sequence: ``planner results`` → ``planner propose ID --title`` → ``export-proposal``."""
    import yaml
    from sqlalchemy import select

    from cleanheat.auth.service import Actor
    from cleanheat.auth.tables import AuditLog, User
    from cleanheat.planner import service
    from cleanheat.store.engine import session_scope
    from tests.helpers import bootstrap

    bootstrap(settings)
    with session_scope(session_factory) as s:
        office = Actor.for_user(s.scalar(select(User).where(User.username == "office")))
        ok = service.solve_scenario(s, office, settings, service.save_scenario(
            s, office, settings, (SCEN / "harbin_2019_2021.yaml").read_text(encoding="utf-8")).id).id
        bad = service.solve_scenario(s, office, settings, service.save_scenario(
            s, office, settings, (SCEN / "harbin_tight_limits.yaml").read_text(encoding="utf-8")).id).id
    monkeypatch.setenv("CLEANHEAT_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("CLEANHEAT_VAR_DIR", str(settings.var_dir))
    run = CliRunner().invoke
    wide = {"COLUMNS": "300"}

    listed = run(app, ["planner", "results"], env=wide)
    assert listed.exit_code == 0, listed.output
    assert any(line.split("│")[1].strip() == str(ok) and "optimal" in line for line in listed.output.splitlines()
               if "│" in line)
    assert run(app, ["planner", "export-proposal", "1", "-o", "-"]).exit_code == 1  # none proposed yet

    refused = run(app, ["planner", "propose", str(bad), "--title", "tight"], env=wide)
    assert refused.exit_code == 1 and "infeasible" in refused.output
    made = run(app, ["planner", "propose", str(ok), "--title", "基准路径", "--note", "from the CLI"], env=wide)
    assert made.exit_code == 0, made.output
    with session_scope(session_factory) as s:
        [p] = service.list_proposals(s, Actor.system())
        pid = p.id
        assert (p.result_id, p.title, p.note) == (ok, "基准路径", "from the CLI")
        assert s.scalar(select(AuditLog).where(AuditLog.action == "propose")) is not None
    assert f"proposal {pid} from result {ok}" in made.output
    assert "基准路径" in run(app, ["planner", "proposals"], env=wide).output

    out = tmp_path / "targets.yaml"
    exported = run(app, ["planner", "export-proposal", str(pid), "-o", str(out)])
    assert exported.exit_code == 0, exported.output
    assert {r["area_type"] for r in yaml.safe_load(out.read_text(encoding="utf-8"))["rate_targets"]} == {
        "urban", "county_fringe", "rural"}
