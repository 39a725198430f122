"""``cleanheat sources``: the heat-source registry (templates, import, listing)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from cleanheat.auth.service import Actor
from cleanheat.cli.common import console, db_session, load_settings, reported_errors

NAME = "sources"
app = typer.Typer(help="热源登记 — heat-source registry: template, import (Excel/CSV), list.", no_args_is_help=True)


@app.command()
def template(output: Annotated[Path, typer.Option("-o", "--output")] = Path("heat-sources.xlsx")) -> None:
    """Write an empty registry workbook (sheets 热源 and 状态变化)."""
    from cleanheat.assets.heat_source_import import registry_template

    output.write_bytes(registry_template())
    console.print(f"written {output}")


@app.command("import")
def import_(file: Annotated[Path, typer.Argument(exists=True, dir_okay=False)]) -> None:
    """Import heat sources and status events (all or nothing; errors with sheet, row and column)."""
    from cleanheat.assets.heat_source_import import import_registry
    from cleanheat.assets.heat_sources import mw_per_t_h
    from cleanheat.programme.plan_store import load_plan

    settings = load_settings()
    with reported_errors(), db_session(settings) as session:
        result = import_registry(session, Actor.system("cli"), file.read_bytes(), file.name, load_plan(session).units,
                                 mw_per_t_h(settings.city_dir))
    console.print(f"导入成功 imported: {result}")


@app.command("list")
def list_(unit: Annotated[str | None, typer.Option(help="Administrative unit code.")] = None,
          status: Annotated[str | None, typer.Option()] = None,
          limit: Annotated[int, typer.Option()] = 50) -> None:
    """List registered heat sources."""
    from cleanheat.assets.heat_sources import list_sources

    with reported_errors(), db_session() as session:
        rows = list_sources(session, Actor.system("cli"), admin_unit_code=unit, status=status, limit=limit)
        t = Table("编码 code", "名称 name", "区县 unit", "类型 kind", "燃料 fuel",
                  "蒸吨 t/h", "排放 class", "状态 status")
        for s in rows:
            t.add_row(s.code, s.name_zh, s.admin_unit_code, s.kind, s.current_fuel,
                      f"{s.capacity_t_h:.1f}" if s.capacity_t_h else "", s.emission_class, s.status)
        console.print(t)
