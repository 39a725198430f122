"""``cleanheat billing``: heat metering and billing (validate meter reads)."""

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
app = typer.Typer(help="计量收费 Heat metering and billing: validate meter reads.", no_args_is_help=True)


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
