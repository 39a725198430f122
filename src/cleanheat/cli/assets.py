"""``cleanheat assets``: import, export and list the network registry."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from cleanheat.cli.common import console, db_session, load_settings, reported_errors

NAME = "assets"
app = typer.Typer(help="Network registry: networks, stations, buildings, households, devices, points.",
                  no_args_is_help=True)


@app.command("import")
def import_cmd(
    file: Annotated[Path, typer.Argument(help=".xlsx (a sheet per kind) or .csv (one kind).", exists=True)],
    kind: Annotated[str | None, typer.Option(help="Kind of a CSV file (default: from its name).")] = None,
) -> None:
    """Import registry records, all or nothing (every problem is listed with sheet, row and column)."""
    from cleanheat.assets import io as assets_io
    from cleanheat.assets import service
    from cleanheat.auth.service import Actor

    settings = load_settings()
    with reported_errors(), db_session(settings) as session:
        rows = assets_io.read_assets_file(file.read_bytes(), file.name, kind)
        summary = service.import_rows(session, Actor.system(), rows, file=file.name, data_dir=settings.data_dir)
    console.print(f"imported {file.name}: {summary.text()}")


@app.command("export")
def export_cmd(
    out: Annotated[Path, typer.Argument(help="Output file: .xlsx, .json, or a directory for CSV files.")],
    org: Annotated[str | None, typer.Option(help="Only this heat company's records.")] = None,
) -> None:
    """Export the registry in the import format."""
    from cleanheat.assets import io as assets_io
    from cleanheat.assets import service
    from cleanheat.assets.schemas import KIND_ORDER
    from cleanheat.auth.roles import Role
    from cleanheat.auth.service import Actor, get_org_by_code

    with reported_errors(), db_session() as session:
        actor = Actor.system()
        if org:
            o = get_org_by_code(session, org)
            actor = Actor(actor="system:cli", role=Role.HEAT_COMPANY, org_id=o.id, org_code=o.code)
        tables = service.export_rows(session, actor)
    if out.suffix == ".xlsx":
        out.write_bytes(assets_io.write_assets_xlsx(tables))
    elif out.suffix == ".json":
        out.write_text(assets_io.write_assets_json(tables), encoding="utf-8")
    else:
        out.mkdir(parents=True, exist_ok=True)
        for k in KIND_ORDER:
            (out / f"{k}.csv").write_text(assets_io.write_assets_csv(tables, k), encoding="utf-8")
    console.print(f"exported {sum(len(v) for v in tables.values())} records to {out}")


@app.command("list")
def list_cmd(kind: Annotated[str, typer.Argument(help="networks | stations | buildings | households | devices")]
             = "stations") -> None:
    """List records of one kind."""
    from cleanheat.assets import service
    from cleanheat.auth.service import Actor

    if kind not in service.MODELS:
        raise typer.BadParameter(f"one of {', '.join(service.MODELS)}")
    table = Table("code", "name", "org")
    with db_session() as session:
        for r in service.list_records(session, Actor.system(), kind):
            table.add_row(r.code, getattr(r, "name_zh", "") or "", str(r.org_id))
    console.print(table)
