"""``cleanheat planner ...``: solve scenarios, appraise areas, inspect the option catalogue, make area files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from cleanheat.cli.common import console, err_console, load_settings, reported_errors

NAME = "planner"
app = typer.Typer(help="清洁取暖方式规划 — option appraisal and city pathway optimisation (HiGHS).",
                  no_args_is_help=True)


def _inputs():
    from cleanheat.planner.engine import load_inputs

    settings = load_settings()
    return load_inputs(settings.data_dir, settings.city)


def _read_scenario(path: Path, inputs):
    from cleanheat.errors import InputIssue
    from cleanheat.planner.engine import parse
    from cleanheat.planner.errors import ScenarioError

    if not path.exists():
        raise ScenarioError(f"scenario file not found: {path}", [InputIssue("文件不存在", file=str(path))])
    return parse(path.read_text(encoding="utf-8"), str(path), inputs)


def _write_json(data: dict, out: Path) -> None:
    text = json.dumps(data, ensure_ascii=False, indent=1, default=str)
    if str(out) == "-":
        print(text)
    else:
        out.write_text(text, encoding="utf-8")


@app.command()
def solve(
    scenario: Annotated[Path, typer.Argument(help="Scenario YAML file.")],
    output: Annotated[Path, typer.Option("-o", "--output", help="Where to write RESULT.json ('-' = stdout).")],
    areas: Annotated[Path | None, typer.Option("--areas", help="Area file (CSV/XLSX); overrides the scenario's.")]
    = None,
) -> None:
    """Solve a scenario: the least-cost pathway that meets the clean-heating-rate targets under the limits."""
    from cleanheat.cli.common import progress
    from cleanheat.planner.engine import appraisal_for, resolve_file_areas, result_json
    from cleanheat.planner.pathway import optimise

    labels = {"build": "建模 building the LP", "solve": "求解 solving",
              "explain": "解释不可行 explaining infeasibility",
              "interpret": "整理结果 collecting the result"}
    with reported_errors(), progress() as bar:
        task = bar.add_task("读取输入 reading inputs", total=6)
        inputs = _inputs()
        sc = _read_scenario(scenario, inputs)
        area_set = resolve_file_areas(sc, inputs, areas_path=areas, base_dir=scenario.parent)
        bar.update(task, advance=1, description="评估 appraisal")
        ap = appraisal_for(sc, inputs, area_set)

        def on_stage(name: str, model) -> None:
            size = f" ({model.n_col:,} columns, {model.n_row:,} rows)" if model is not None and name == "solve" else ""
            bar.update(task, advance=1, description=labels[name] + size)

        res = optimise(ap, sc, on_stage)
        bar.update(task, completed=5, description="写出 writing")
        _write_json(result_json(res, area_set, inputs), output)
        bar.update(task, completed=6)
    colour = "green" if res.status == "optimal" else "red"
    err_console.print(f"[{colour}]{res.status}[/]  total cost {float(res.total_cost_yuan) / 1e8:,.2f} 亿元  "
                      f"({res.solver['columns']:,} columns, {res.solver['solve_s']:.2f} s) → {output}")
    if res.infeasibility:
        err_console.print(res.infeasibility["summary_zh"], highlight=False, markup=False)
        raise typer.Exit(2)


@app.command()
def check(scenario: Annotated[Path, typer.Argument(help="Scenario YAML file.")],
          areas: Annotated[Path | None, typer.Option("--areas", help="Area file to check as well.")] = None) -> None:
    """Check a scenario (and an area file) without solving; every problem is listed with its location."""
    from cleanheat.planner.engine import resolve_file_areas

    with reported_errors():
        inputs = _inputs()
        sc = _read_scenario(scenario, inputs)
        area_set = resolve_file_areas(sc, inputs, areas_path=areas, base_dir=scenario.parent)
    console.print(f"ok: {sc.name} ({sc.years[0]}–{sc.years[-1]}), {len(area_set)} areas")


@app.command()
def sensitivity(
    scenario: Annotated[Path, typer.Argument(help="Scenario YAML file.")],
    output: Annotated[Path, typer.Option("-o", "--output", help="Where to write the JSON ('-' = stdout).")],
    areas: Annotated[Path | None, typer.Option("--areas", help="Area file (CSV/XLSX).")] = None,
) -> None:
    """Solve the scenario under each sensitivity case (prices and COPs at the ends of their stated ranges)."""
    from cleanheat.planner.engine import resolve_file_areas, run_sensitivity

    with reported_errors(), console.status("求解 solving the sensitivity cases"):
        inputs = _inputs()
        sc = _read_scenario(scenario, inputs)
        area_set = resolve_file_areas(sc, inputs, areas_path=areas, base_dir=scenario.parent)
        out = run_sensitivity(sc, inputs, area_set)
    _write_json(out, output)
    table = Table(title=f"敏感性 sensitivity — {sc.name}")
    for col in ("case", "status", "total cost 亿元", "Δ 亿元"):
        table.add_column(col)
    for c in [out["base"], *out["cases"]]:
        table.add_row(c["name"], c["status"], f"{c['total_cost_yuan'] / 1e8:,.2f}",
                      f"{c.get('cost_delta_yuan', 0) / 1e8:+,.2f}")
    err_console.print(table)


@app.command()
def appraise(
    area: Annotated[str, typer.Argument(help="Area code, e.g. daoli-U01.")],
    areas: Annotated[Path | None, typer.Option("--areas", help="Area file (default: the synthetic set).")] = None,
    scenario: Annotated[Path | None, typer.Option("--scenario", help="Apply a scenario's overrides.")] = None,
) -> None:
    """Appraise every option in one area: LCOH, household cost, upfront cost, emissions, rank, Pareto front."""
    from cleanheat.planner.appraisal import area_view
    from cleanheat.planner.engine import appraisal_for, parse, resolve_file_areas

    with reported_errors():
        inputs = _inputs()
        sc = _read_scenario(scenario, inputs) if scenario else parse("name: appraisal\n", "<default>", inputs)
        area_set = resolve_file_areas(sc, inputs, areas_path=areas, base_dir=scenario.parent if scenario else None)
        try:
            a = area_set.index(area)
        except KeyError:
            err_console.print(f"[red]no area {area!r}[/] (e.g. {', '.join(area_set.codes[:3])})")
            raise typer.Exit(1) from None
        rows = area_view(appraisal_for(sc, inputs, area_set), a)
    t = Table(title=f"{area_set.names[a]} ({area}) — {area_set.heated_area_m2[a] / 1e4:,.1f} 万m², "
                    f"{int(area_set.households[a]):,} 户")
    for col in ("方式 option", "清洁", "可用", "LCOH 元/GJ", "元/户·季", "投资 元/户",
                "CO2 t", "PM kg", "排名", "Pareto",
                "成本主因 driver"):
        t.add_column(col)
    for r in sorted(rows, key=lambda r: (not r.available, r.lcoh_yuan_gj)):
        t.add_row(r.name_zh, "✓" if r.clean else "", "✓" if r.available else r.reason_zh, f"{r.lcoh_yuan_gj:,.2f}",
                  f"{r.household_cost_yuan:,.2f}", f"{r.upfront_per_household_yuan:,.0f}",
                  f"{r.emissions['co2_t']:,.0f}", f"{r.emissions['pm_kg']:,.0f}", str(r.rank or ""),
                  "★" if r.pareto else "", f"{r.cost_driver} {r.cost_driver_share:.0%}")
    console.print(t)


@app.command()
def catalogue() -> None:
    """List the option catalogue (values with confidence; see data/planner/catalogue.yaml for sources)."""
    with reported_errors():
        inputs = _inputs()
    cat = inputs.catalogue
    t = Table(title=f"取暖方式目录 option catalogue {cat.version}")
    for col in ("code", "名称", "clean", "η/COP", "capex 元/m²", "capex 元/户", "life", "fuel 元/GJ"):
        t.add_column(col)
    for o in cat.options:
        eff = (f"SCOP {inputs.climate.seasonal_cop(o.cop_curve):.2f}" if o.cop_curve else
               f"{(o.cop or o.efficiency).value:g}")
        t.add_row(o.code, o.name_zh, "✓" if o.clean else "", eff, f"{o.capex_yuan_m2.value:g}",
                  f"{o.capex_yuan_household.value:g}", f"{o.lifetime_years.value:g}",
                  f"{cat.fuel_of(o).price_yuan_per_gj:.1f}")
    console.print(t)


@app.command("synthetic-areas")
def synthetic_areas(
    output: Annotated[Path, typer.Option("-o", "--output", help="CSV file to write.")],
    seed: Annotated[int, typer.Option(help="Random seed.")] = 2019,
    count: Annotated[int | None, typer.Option(help="About this many areas (default: the 414-area demo set).")]
    = None,
    all_resources: Annotated[bool, typer.Option(help="Gas and every local resource everywhere (benchmarks).")]
    = False,
) -> None:
    """Write the SYNTHETIC Harbin area set (consistent with the plan's 2018 baseline) as CSV."""
    from cleanheat.planner.areas import write_areas_csv
    from cleanheat.planner.synthetic import COMMENT, parts_for, synthetic_harbin

    with reported_errors():
        inputs = _inputs()
        s = synthetic_harbin(inputs.plan, inputs.catalogue, seed=seed, parts=parts_for(count) if count else None,
                             all_resources=all_resources)
        output.write_text(write_areas_csv(s, inputs.catalogue, COMMENT.format(seed=seed)), encoding="utf-8")
    console.print(f"{len(s)} synthetic areas → {output}")


@app.command()
def results(
    scenario_id: Annotated[int | None, typer.Option("--scenario", help="Only the results of this scenario id.")]
    = None,
) -> None:
    """Stored results (solved in the web app or by ``init --demo``), newest first: the ids ``propose`` takes."""
    from cleanheat.auth.service import Actor
    from cleanheat.cli.common import db_session
    from cleanheat.planner import service

    table = Table("id", "scenario", "kind", "status", "total cost 亿元", "solved at (UTC)", title="规划结果 Results")
    with reported_errors(), db_session(load_settings()) as session:
        for r in service.list_results(session, Actor.system(), scenario_id):
            cost = f"{float(r.total_cost_yuan) / 1e8:,.2f}" if r.total_cost_yuan is not None else "–"
            table.add_row(str(r.id), f"{r.scenario_id} {r.scenario.name}", r.kind, r.status, cost,
                          r.created_at.strftime("%Y-%m-%d %H:%M"))
    console.print(table)


@app.command()
def propose(
    result_id: Annotated[int, typer.Argument(help="Id of an optimal pathway result (see ``planner results``).")],
    title: Annotated[str, typer.Option(help="Title of the proposal.")],
    note: Annotated[str, typer.Option(help="Note for the programme office.")] = "",
) -> None:
    """Store a solved pathway as a proposal (rate targets, technology areas, builds), as the result page's
    "propose" button does; then ``export-proposal`` writes it as targets.yaml / tasks.yaml."""
    from cleanheat.auth.service import Actor
    from cleanheat.cli.common import db_session
    from cleanheat.planner import service

    with reported_errors(), db_session(load_settings()) as session:
        p = service.propose(session, Actor.system(), result_id, title=title, note=note)
        pid, n_rates = p.id, len(p.rate_targets)
    console.print(f"proposal {pid} from result {result_id}: {n_rates} rate targets → "
                  f"cleanheat planner export-proposal {pid} -o targets.yaml", highlight=False)


@app.command()
def proposals() -> None:
    """Stored proposals, newest first."""
    from cleanheat.auth.service import Actor
    from cleanheat.cli.common import db_session
    from cleanheat.planner import service

    table = Table("id", "title", "scenario", "result", "status", "total cost 亿元", title="规划建议 Proposals")
    with reported_errors(), db_session(load_settings()) as session:
        for p in service.list_proposals(session, Actor.system()):
            cost = f"{float(p.total_cost_yuan) / 1e8:,.2f}" if p.total_cost_yuan is not None else "–"
            table.add_row(str(p.id), p.title, p.scenario_name, str(p.result_id or "–"), p.status, cost)
    console.print(table)


@app.command("export-proposal")
def export_proposal(
    proposal_id: Annotated[int, typer.Argument(help="Proposal id (see ``planner proposals``).")],
    output: Annotated[Path, typer.Option("-o", "--output", help="YAML file to write ('-' = stdout).")],
    kind: Annotated[str, typer.Option(help="targets (targets.yaml shape) or tasks (tasks.yaml shape).")]
    = "targets",
) -> None:
    """Export a stored proposal in the shape of data/<city>/targets.yaml (or tasks.yaml) for adoption."""
    from cleanheat.auth.service import Actor
    from cleanheat.cli.common import db_session
    from cleanheat.planner import service

    settings = load_settings()
    with reported_errors(), db_session(settings) as session:
        text = service.export_proposal_yaml(session, Actor.system(), proposal_id, kind=kind, settings=settings)
    if str(output) == "-":
        print(text)
    else:
        output.write_text(text, encoding="utf-8")
        console.print(f"proposal {proposal_id} ({kind}) → {output}")
