"""``cleanheat programme``: report templates, imports, review, evaluation and published reports."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from cleanheat.auth.service import Actor
from cleanheat.cli.common import console, db_session, load_settings, reported_errors
from cleanheat.errors import InputError, InputIssue
from cleanheat.programme.model import AREA_TYPE_LABELS, Period

NAME = "programme"
app = typer.Typer(help="清洁取暖方案台账 — programme ledger: templates, reports, evaluation, publication.",
                  no_args_is_help=True)

STATUS_ZH = {"met": "达标", "lagging": "滞后", "missed": "未达标", "no_data": "无数据", None: "—"}


def _period(text: str) -> Period:
    try:
        return Period.parse(text)
    except ValueError as exc:
        raise InputError(str(exc), [InputIssue(f"报告期“{text}”格式有误，应为 YYYYQn，如 2020Q4",
                                               field="period")]) from exc


@app.command()
def template(
    unit: Annotated[str, typer.Option("--unit", help="Reporting unit: district/county name or code, or company code.")],
    period: Annotated[str, typer.Option("--period", help="Quarter, e.g. 2020Q4.")],
    output: Annotated[Path, typer.Option("-o", "--output", help="Output .xlsx file.")],
) -> None:
    """Write the quarterly report template (Chinese headers, areas in 万m²) for a unit and period."""
    from cleanheat.programme import service
    from cleanheat.programme.plan_store import load_plan
    from cleanheat.programme.reports_io import write_template

    with reported_errors(), db_session() as session:
        plan = load_plan(session)
        p = _period(period)
        if not plan.contains_period(p):
            raise InputError("period outside the programme",
                             [InputIssue(f"{p} 不在方案期 {plan.start_year}–{plan.end_year} 内", field="period")])
        reporter = service.reporter_for(session, plan, unit)
        previous = service.last_accepted(session, Actor.system(), plan, reporter, p)
        output.write_bytes(write_template(plan, reporter, p, previous=previous))
    console.print(f"模板已写入 template written: {output} ({reporter.name_zh}, {p})")


@app.command("import")
def import_(
    file: Annotated[Path, typer.Argument(help="A filled template (.xlsx) or CSV.", exists=True, dir_okay=False)],
    correction: Annotated[str | None, typer.Option(help="Reason: this report corrects an accepted one.")] = None,
    accept: Annotated[bool, typer.Option(
        help="Accept at once (programme office importing on a unit's behalf).")] = False,
) -> None:
    """Import a quarterly report (all or nothing; every error with sheet, row and column)."""
    from cleanheat.programme import service
    from cleanheat.programme.plan_store import load_plan
    from cleanheat.programme.reports_io import parse_report

    with reported_errors(), db_session() as session:
        plan = load_plan(session)
        parsed = parse_report(file.read_bytes(), file.name, plan, service.reporters(session, plan))
        actor = Actor.system("cli")
        report = service.submit_report(session, actor, plan, parsed, correction_reason=correction)
        if accept:
            service.review_report(session, actor, report.id, "accept", "imported and accepted from the CLI")
        console.print(f"导入成功 imported: {parsed.org_name} {parsed.period} version {report.version} "
                      f"({len(parsed.areas)} area lines, {len(parsed.tasks)} task lines), status {report.status}")


@app.command()
def review(
    report_id: int,
    decision: Annotated[str, typer.Argument(help="accept | return")],
    comment: Annotated[str, typer.Option(help="Required when returning.")] = "",
) -> None:
    """Accept or return a submitted report."""
    from cleanheat.programme import service

    with reported_errors(), db_session() as session:
        r = service.review_report(session, Actor.system("cli"), report_id, decision, comment)
        console.print(f"report {r.id} ({r.period} v{r.version}): {r.status}")


@app.command("list")
def list_(period: Annotated[str | None, typer.Option(help="Only this quarter.")] = None,
          status: Annotated[str | None, typer.Option(
              help="submitted | accepted | returned | superseded")] = None) -> None:
    """List progress reports."""
    from cleanheat.auth.service import org_names
    from cleanheat.programme import service

    with reported_errors(), db_session() as session:
        rows = service.list_reports(session, Actor.system("cli"), period=period, status=status, limit=5000)
        names = org_names(session, Actor.system("cli"))
        table = Table("id", "单位 unit", "报告期 period", "版本 v", "状态 status", "提交 by", "文件 file")
        for r in rows:
            table.add_row(str(r.id), names.get(r.org_id, "?"), r.period, str(r.version), r.status, r.submitted_by,
                          r.source_filename)
        console.print(table)


@app.command()
def evaluate(
    year: Annotated[int, typer.Option(help="Programme year evaluated against its targets.")],
    period: Annotated[str | None, typer.Option(help="Quarter (default: the year's Q4 = annual evaluation).")] = None,
    format: Annotated[str, typer.Option("--format", help="json | table")] = "table",
    output: Annotated[Path | None, typer.Option("-o", "--output", help="Write JSON here instead of stdout.")] = None,
) -> None:
    """Clean-heating rates by area type, per unit and city-wide; technologies; tasks — each against its target."""
    from cleanheat.programme import service
    from cleanheat.programme.plan_store import load_plan

    if format not in ("json", "table"):
        raise typer.BadParameter("--format must be json or table")
    settings = load_settings()
    with reported_errors(), db_session(settings) as session:
        plan = load_plan(session)
        ev = service.evaluate(session, Actor.system("cli"), plan, year=year,
                              period=_period(period) if period else None, settings=settings)
        data = service.evaluation_to_dict(ev)
    if format == "json":
        text = json.dumps(data, ensure_ascii=False, indent=2)
        if output:
            output.write_text(text, encoding="utf-8")
        else:
            print(text)
        return
    t = Table(title=f"清洁取暖率 Clean-heating rate — {data['period']} (reports from {data['units_reporting']}/"
                    f"{data['units_total']} units)")
    for col in ("区域类型 area type", "取暖面积 万m²", "清洁面积 万m²", "实际 actual", "目标 target", "状态 status",
                "缺口 gap 万m²"):
        t.add_column(col, justify="right" if "m²" in col or col.startswith(("实际", "目标")) else "left")
    for key, r in data["rates"].items():
        t.add_row(AREA_TYPE_LABELS[key][0], f"{r['heated_area_m2'] / 1e4:,.0f}", f"{r['clean_area_m2'] / 1e4:,.0f}",
                  f"{(r['actual'] or 0) * 100:.1f}%", f"{(r['target'] or 0) * 100:.1f}%" if r["target"] else "—",
                  STATUS_ZH[r["status"]], f"{(r['gap_m2'] or 0) / 1e4:,.0f}")
    console.print(t)
    tt = Table(title="任务 Tasks")
    for col in ("任务 task", "目标 target", "完成 actual", "来源 source", "状态 status"):
        tt.add_column(col)
    for task in data["tasks"]:
        unit = task["unit_zh"]
        scale = 1e4 if task["measure"] == "area_m2" else (0.01 if task["measure"] == "share" else 1)
        tgt = f"{task['target'] / scale:,.1f} {unit} ({task['target_year']})" if task["target"] is not None else "—"
        tt.add_row(task["name_zh"], tgt, f"{task['actual'] / scale:,.1f}", task["source"], STATUS_ZH[task["status"]])
    console.print(tt)


@app.command()
def report(
    period: Annotated[str, typer.Option(help="A quarter (2020Q4) or a year (2021) for the annual report.")],
    format: Annotated[str, typer.Option("--format", help="pdf | xlsx | html")] = "pdf",
    output: Annotated[Path | None, typer.Option("-o", "--output",
                                                help="Output file (default: report-PERIOD.FORMAT).")] = None,
) -> None:
    """Render the published evaluation report (summary, rates vs targets with charts, technology mix, unit
    ranking, task progress, units behind target)."""
    from cleanheat.programme import publish
    from cleanheat.programme.plan_store import load_plan

    if format not in ("pdf", "xlsx", "html"):
        raise typer.BadParameter("--format must be pdf, xlsx or html")
    settings = load_settings()
    with reported_errors(), db_session(settings) as session:
        plan = load_plan(session)
        p, annual = publish.parse_report_period(period)
        with console.status("rendering / 生成报告"):
            content = publish.render(session, Actor.system("cli"), plan, p, annual=annual, fmt=format,
                                     settings=settings)
    output = output or Path(f"report-{period}.{format}")
    output.write_bytes(content)
    console.print(f"报告已写入 report written: {output} ({len(content):,} bytes)")


@app.command()
def reload(city: Annotated[str | None, typer.Option(help="City directory under data/ (default CLEANHEAT_CITY).")] = None
           ) -> None:
    """Reload the programme data (targets, tasks, units) from data/<city>/ after editing it."""
    from cleanheat.programme.bootstrap import load_reference

    settings = load_settings()
    if city:
        settings = settings.model_copy(update={"city": city})
    with reported_errors(), db_session(settings) as session:
        console.print(load_reference(session, settings))
