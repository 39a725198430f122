"""``cleanheat billing``: heat metering and billing (validate meter reads, billing runs)."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from cleanheat.cli.common import console, load_settings, progress, reported_errors
from cleanheat.timeutil import CHINA_TZ

NAME = "billing"
app = typer.Typer(help="计量收费 Heat metering and billing: validate meter reads, bill a season.", no_args_is_help=True)


class Format(StrEnum):
    table = "table"
    json = "json"


def _utc(ts: datetime) -> str:
    """An aware time as ISO 8601 UTC (``2020-11-01T00:00:00Z``)."""
    return ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _print_json(findings) -> None:
    out = sys.stdout
    for f in findings:
        out.write(json.dumps({"meter_id": f.meter_id, "timestamp": _utc(f.ts), "kind": f.kind, "detail": f.detail},
                             ensure_ascii=False) + "\n")


def _print_table(findings, meters: int) -> None:
    table = Table(title=f"读数校验 Register validation: {len(findings)} 项发现 findings, {meters} 块表 meters")
    for col in ("表号 meter", "时间 time (UTC)", "类型 kind", "说明 detail"):
        table.add_column(col)
    for f in findings:
        table.add_row(f.meter_id, _utc(f.ts), f.kind, f.detail)
    console.print(table)


@app.command("validate-reads")
def validate_reads_cmd(
    reads: Annotated[Path, typer.Argument(
        help="CSV: meter_id,timestamp,energy_kwh [,volume_m3,flow_m3_h,supply_temp_c,return_temp_c,serial]; "
             "timestamps ISO 8601, naive = Asia/Shanghai.", exists=True, dir_okay=False)],
    fmt: Annotated[Format, typer.Option("--format", help="table (for people) or json (one object per line).")]
    = Format.table,
    max_mb: Annotated[int, typer.Option(min=1, help="Refuse a file larger than this [MB] before reading it.")] = 1024,
    meters: Annotated[Path | None, typer.Option(
        help="CSV/Excel meter_id,qp_m3_h: nominal flows (size) for the flow and power limits.", exists=True,
        dir_okay=False)] = None,
    replacements: Annotated[Path | None, typer.Option(
        help="CSV/Excel meter_id,timestamp,old_final_kwh,new_initial_kwh[,old_serial,new_serial]: recorded "
             "meter exchanges.", exists=True, dir_okay=False)] = None,
) -> None:
    """校验热表读数 Check heat-meter registers: rollback, reset, replacement, gap, spike, stuck, implausible."""
    from cleanheat.billing.reads import read_meter_facts, read_reads_csv, read_replacements
    from cleanheat.billing.validation import read_validation_rules, utc_of, validate_reads
    from cleanheat.climate import read_climate

    settings = load_settings()
    limit = max_mb * 1024 * 1024
    with reported_errors(), progress() as bar:
        facts = read_meter_facts(meters, limit) if meters is not None else {}
        exchanges = read_replacements(replacements, limit) if replacements is not None else []
        task = bar.add_task(f"读取 reading {reads.name}", total=reads.stat().st_size)
        series = read_reads_csv(reads, limit, lambda pos: bar.update(task, completed=pos))
        bar.update(task, completed=reads.stat().st_size)
        newest = max((int(s.ts_s[-1]) for s in series.values() if len(s)), default=None)
        on = (utc_of(newest) if newest is not None else datetime.now(CHINA_TZ)).astimezone(CHINA_TZ).date()
        rules = read_validation_rules(settings.data_dir, on)
        season = read_climate(settings.city_dir).season
        check = bar.add_task("校验 checking", total=len(series))
        findings = validate_reads(series, rules, facts=facts, replacements=exchanges, season=season,
                                  progress=lambda n: bar.advance(check, n))
    if fmt is Format.json:
        _print_json(findings)
    else:
        _print_table(findings, len(series))


class RunKind(StrEnum):
    prepayment = "prepayment"
    settlement = "settlement"


#: the stages of a run, in order (the progress bar's steps)
RUN_STAGES = ("accounts", "rules", "reads", "validation", "amounts", "statements", "lines", "done")


def _print_run_table(rep: dict) -> None:
    title = (f"{'试算 dry run' if rep['dry_run'] else '开账 run ' + str(rep['run_id'])}: {rep['company']} "
             f"{rep['season']} {rep['kind']} — {rep['statement_count']} 张账单 statements, "
             f"合计 total {rep['total_yuan']} 元")
    table = Table(title=title)
    for col in ("热价 tariff", "类别 class", "方式 mode", "账单 statements", "金额 amount (元)"):
        table.add_column(col, justify="right" if col.startswith(("账单", "金额")) else "left")
    for t in rep["totals"]:
        table.add_row(t["tariff_id"], t["customer_class"], t["billing_mode"], str(t["statements"]), t["amount_yuan"])
    console.print(table)
    lines = Table(title="按项目 by line")
    lines.add_column("项目 code")
    lines.add_column("金额 amount (元)", justify="right")
    for code, amount in rep["line_totals"].items():
        lines.add_row(code, amount)
    console.print(lines)
    rec = rep["reconciliation"]
    recon = Table(title="对账 reconciliation " + ("平 balanced" if rec["balanced"] else "不平 NOT BALANCED"))
    recon.add_column("项 figure")
    recon.add_column("元 yuan", justify="right")
    for k in ("statements_yuan", "lines_yuan", "payments_yuan", "arrears_yuan", "refunds_due_yuan"):
        recon.add_row(k, rec[k])
    recon.add_row("statements", str(rec["statements"]))
    console.print(recon)
    if rep["exceptions"]:
        exc = Table(title="例外 exceptions")
        exc.add_column("类型 kind")
        exc.add_column("数量 count", justify="right")
        for k, v in rep["exceptions"].items():
            exc.add_row(k, str(v))
        console.print(exc)


@app.command("run")
def run_cmd(
    company: Annotated[str, typer.Option("--company", help="The heat company's organisation code.")],
    season: Annotated[str, typer.Option("--season", help="The heating season, e.g. 2020-2021.")],
    kind: Annotated[RunKind, typer.Option("--kind", help="prepayment (area fee) or settlement (season end).")]
    = RunKind.settlement,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Compute and report; store nothing.")] = False,
    fmt: Annotated[Format, typer.Option("--format", help="table (for people) or json.")] = Format.table,
) -> None:
    """开账 Bill a company's season: totals per tariff and class, statement count, reconciliation figures.

    A stored run is a draft (statements without numbers) until approved; the reconciliation must balance."""
    from cleanheat.auth.service import Actor
    from cleanheat.billing import service
    from cleanheat.cli.common import db_session

    settings = load_settings()
    with reported_errors(), progress() as bar, db_session(settings) as session:
        task = bar.add_task(f"开账 billing {company} {season}", total=len(RUN_STAGES))

        def step(stage: str) -> None:
            bar.update(task, completed=RUN_STAGES.index(stage) + 1, description=f"开账 billing: {stage}")

        rep = service.run_billing(session, Actor.system("cli"), company, season, kind.value, dry_run,
                                  city_dir=settings.city_dir, data_dir=settings.data_dir, progress=step)
        service.check_reconciliation(rep.reconciliation)
    out = rep.as_dict()
    if fmt is Format.json:
        sys.stdout.write(json.dumps(out, ensure_ascii=False, indent=1) + "\n")
    else:
        _print_run_table(out)


@app.command("import-reads")
def import_reads_cmd(
    reads_file: Annotated[Path, typer.Argument(help="READS.csv: meter_id,timestamp,energy_kwh (see validate-reads).",
                                               exists=True, dir_okay=False)],
    company: Annotated[str, typer.Option("--company", help="The heat company's organisation code.")],
    max_mb: Annotated[float, typer.Option("--max-mb", help="Refuse a larger file [MB].")] = 1024.0,
) -> None:
    """导入抄表读数 Import meter reads for billing: each meter id is a meter number (or an account number) of the
    company's accounts. All-or-nothing: a bad row or an unknown meter stores nothing."""
    from cleanheat.auth.service import Actor
    from cleanheat.billing import service
    from cleanheat.billing.reads import read_reads_csv
    from cleanheat.cli.common import db_session

    with reported_errors():
        series = read_reads_csv(reads_file, int(max_mb * 1024 * 1024))
        with db_session() as session:
            given, stored = service.import_reads(session, Actor.system("cli"), company, series,
                                                 file=reads_file.name)
    console.print(f"导入 imported {reads_file.name}: {given} reads of {len(series)} meters, {stored} new "
                  f"({given - stored} already stored)")


@app.command("approve")
def approve_cmd(run_id: Annotated[int, typer.Argument(help="The draft run to approve.")]) -> None:
    """批准开账 Approve a draft run: its statements are numbered and final."""
    from cleanheat.auth.service import Actor
    from cleanheat.billing import service
    from cleanheat.cli.common import db_session

    with reported_errors(), db_session() as session:
        run = service.approve_run(session, Actor.system("cli"), run_id)
        console.print(f"批准 approved run {run.id}: {run.statement_count} statements, {run.total_yuan} 元")
