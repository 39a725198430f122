"""``cleanheat network ...``: solve district-heating networks, seasonal heat loss, renovation scenarios."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Annotated

import typer

from cleanheat.cli.common import console, err_console, load_settings, progress, reported_errors

NAME = "network"
app = typer.Typer(help="热网水力热力计算 district-heating network simulation.", no_args_is_help=True)

# GeoJSON import defaults (the DistrictHeatSim files carry no temperatures and no insulation state)
GEO_SUPPLY_C = 85.0
GEO_RETURN_C = 55.0
GEO_INSULATION = ("pre-insulated", "old")

FormatOpt = Annotated[str | None, typer.Option("--format", help="native | dhnet-bench/1 | geojson (default: guessed)")]
SupplyOpt = Annotated[float, typer.Option(help="GeoJSON import: source supply temperature (°C)")]
ReturnOpt = Annotated[float, typer.Option(help="GeoJSON import: consumer return temperature (°C)")]
InsulationOpt = Annotated[str, typer.Option(
    help="GeoJSON import: state of every pipe: pre-insulated (catalogue U') or old (old_pipe_factor x U', an old "
         "trench pipe; network/data/pipe_catalogue.yaml)")]


def _read(path: Path, fmt: str | None, supply_c: float = GEO_SUPPLY_C, return_c: float = GEO_RETURN_C,
          insulation: str = "pre-insulated"):
    from cleanheat.network.io import FORMATS, read_network

    if fmt is not None and fmt not in FORMATS:
        raise typer.BadParameter(f"--format must be one of {', '.join(FORMATS)}")
    if insulation not in GEO_INSULATION:
        raise typer.BadParameter(f"--insulation must be one of {', '.join(GEO_INSULATION)}")
    kw = {"supply_temperature_c": supply_c, "return_temperature_c": return_c, "insulation": insulation}
    if fmt == "geojson" or (fmt is None and path.suffix.lower() == ".geojson"):
        return read_network(path, "geojson", **kw), "geojson"
    net = read_network(path, fmt)
    return net, net.meta.get("format", fmt or "native")


@app.command()
def solve(
    net_path: Annotated[Path, typer.Argument(metavar="NET", help="network file")],
    output: Annotated[Path, typer.Option("-o", "--output", help="result file (.json, .geojson, or a CSV folder)")],
    fmt: FormatOpt = None,
    pandapipes_compatible: Annotated[bool, typer.Option(
        "--pandapipes-compatible",
        help="pandapipes' friction (Colebrook at all Re), water tables and cp means")] = False,
    result_format: Annotated[str | None, typer.Option(
        help="json | geojson | csv | dhnet-bench/1 (default: dhnet-bench/1 for such input, else by suffix)")] = None,
    friction_model: Annotated[str | None, typer.Option(help="colebrook_laminar | colebrook | nikuradse | swamee_jain")]
    = None,
    supply_temperature_c: SupplyOpt = GEO_SUPPLY_C,
    return_temperature_c: ReturnOpt = GEO_RETURN_C,
    insulation: InsulationOpt = "pre-insulated",
) -> None:
    """Solve the steady state of NET and write the result. ``summary.solve_s`` is the solve alone."""
    from cleanheat.network.io import write_result
    from cleanheat.network.io_bench import FORMAT_ID
    from cleanheat.network.solver import solve as run

    with reported_errors():
        net, in_fmt = _read(net_path, fmt, supply_temperature_c, return_temperature_c, insulation)
        options = {"friction_model": friction_model} if friction_model else None
        result = run(net, options, pandapipes_compatible=pandapipes_compatible)
        out_fmt = result_format or (FORMAT_ID if in_fmt == FORMAT_ID else None)
        write_result(result, output, out_fmt)
    s = result.summary()
    console.print(
        f"[bold green]solved[/] {net.name}: {s['n_nodes']} nodes, {s['n_pipes']} pipes, {s['n_consumers']} consumers "
        f"in {s['solve_s']:.3f} s ({s['iterations_coupled']} coupled / {s['iterations_hydraulic']} hydraulic "
        f"iterations)"
    )
    console.print(f"热源供热 source heat {s['source_heat_w'] / 1e6:.3f} MW, 热损失 heat loss "
                  f"{s['heat_loss_pipes_w'] / 1e3:.1f} kW ({s['heat_loss_pct_of_source']:.2f} %), 循环泵 pump "
                  f"{s['pump_power_w'] / 1e3:.1f} kW, 最小资用压差 min consumer Δp {s['min_consumer_dp_bar']:.3f} bar",
                  highlight=False)
    for w in result.warnings:
        err_console.print(f"[yellow]警告 warning[/] {w.message_zh} / {w.message_en}", highlight=False)
    console.print(f"result written to {output}")


@app.command()
def convert(
    net_path: Annotated[Path, typer.Argument(metavar="NET")],
    output: Annotated[Path, typer.Option("-o", "--output", help="native JSON file")],
    fmt: FormatOpt = None,
    supply_temperature_c: SupplyOpt = GEO_SUPPLY_C,
    return_temperature_c: ReturnOpt = GEO_RETURN_C,
    insulation: InsulationOpt = "pre-insulated",
) -> None:
    """Convert a network (GeoJSON or dhnet-bench/1) into the native JSON format."""
    from cleanheat.network.io import dump_native

    with reported_errors():
        net, _ = _read(net_path, fmt, supply_temperature_c, return_temperature_c, insulation)
        output.write_text(json.dumps(dump_native(net), ensure_ascii=False, indent=1), encoding="utf-8")
    console.print(f"{net.name}: {net.n_nodes} nodes, {len(net.pipes)} pipes -> {output}")


def _season(bin_k: float):
    from cleanheat.network.analysis import heating_season_conditions

    return heating_season_conditions(load_settings().city_dir, bin_k=bin_k)


@app.command()
def seasonal(
    net_path: Annotated[Path, typer.Argument(metavar="NET")],
    fmt: FormatOpt = None,
    output: Annotated[Path | None, typer.Option("-o", "--output", help="report JSON")] = None,
    top: Annotated[int, typer.Option(help="how many pipes to rank")] = 20,
    bin_k: Annotated[float, typer.Option(help="outdoor-temperature bin width (K)")] = 2.0,
    supply_temperature_c: SupplyOpt = GEO_SUPPLY_C,
    return_temperature_c: ReturnOpt = GEO_RETURN_C,
    insulation: InsulationOpt = "pre-insulated",
) -> None:
    """Seasonal heat loss with Harbin's hourly weather: GJ per season, per pipe, ranked per km."""
    from rich.table import Table

    from cleanheat.network.analysis import seasonal_heat_loss

    with reported_errors():
        net, _ = _read(net_path, fmt, supply_temperature_c, return_temperature_c, insulation)
        season = _season(bin_k)
        with progress() as bar:
            task = bar.add_task("solving weather bins / 逐温度区间计算", total=len(season.hours))
            loss = seasonal_heat_loss(net, season, progress=lambda k, n: bar.update(task, completed=k))
    console.print(f"{net.name}: 采暖季热损失 seasonal heat loss {loss.heat_loss_gj:,.0f} GJ "
                  f"({loss.loss_pct:.2f} % of {loss.heat_source_gj:,.0f} GJ from the sources), {loss.hours:.0f} h; "
                  f"weather: {season.source}", highlight=False)
    table = Table("pipe", "DN", "length m", "GJ/season", "GJ/km")
    for row in loss.ranking(net, top):
        table.add_row(row["pipe"], str(row["dn"]), f"{row['length_m']:.0f}", f"{row['loss_gj']:.1f}",
                      f"{row['loss_gj_per_km']:.1f}")
    console.print(table)
    if output:
        output.write_text(json.dumps(loss.as_dict(net, top), ensure_ascii=False, indent=1), encoding="utf-8")
        console.print(f"report written to {output}")


@app.command()
def renovate(
    net_path: Annotated[Path, typer.Argument(metavar="NET")],
    fmt: FormatOpt = None,
    pipes: Annotated[str | None, typer.Option(help="comma-separated pipe ids to replace with pre-insulated pipe")]
    = None,
    worst: Annotated[int, typer.Option(help="replace the N pipes with the highest loss per km")] = 0,
    supply_offset_k: Annotated[float, typer.Option(help="change of the supply temperature (K)")] = 0.0,
    price_yuan_per_gj: Annotated[str | None, typer.Option(help="value of heat [元/GJ] (default: data file)")] = None,
    output: Annotated[Path | None, typer.Option("-o", "--output", help="report JSON")] = None,
    bin_k: Annotated[float, typer.Option(help="outdoor-temperature bin width (K)")] = 2.0,
    supply_temperature_c: SupplyOpt = GEO_SUPPLY_C,
    return_temperature_c: ReturnOpt = GEO_RETURN_C,
    insulation: InsulationOpt = "pre-insulated",
) -> None:
    """Renovation scenario: GJ and yuan saved per season.

    Replacing a pipe saves heat only where its U' is above the pre-insulated catalogue value; pipes already
    at it are named in the output."""
    from cleanheat.network.analysis import renovation, seasonal_heat_loss

    if not pipes and not worst and not supply_offset_k:
        raise typer.BadParameter("choose --pipes, --worst or --supply-offset-k")
    with reported_errors():
        net, _ = _read(net_path, fmt, supply_temperature_c, return_temperature_c, insulation)
        season = _season(bin_k)
        base = seasonal_heat_loss(net, season)
        chosen = [p.strip() for p in pipes.split(",") if p.strip()] if pipes else []
        if worst:
            chosen += [r["pipe"] for r in base.ranking(net, worst) if r["pipe"] not in chosen]
        price = Decimal(price_yuan_per_gj) if price_yuan_per_gj else None
        res = renovation(net, season, replace=chosen, supply_offset_k=supply_offset_k, price_yuan_per_gj=price,
                         base=base)
    d = res.as_dict()
    console.print(f"{d['description']}: 节约 saves {d['saved_gj']:,.1f} GJ/season = {d['saved_yuan']} 元 "
                  f"(at {d['price_yuan_per_gj']} 元/GJ); heat loss {d['base_heat_loss_gj']:,.0f} -> "
                  f"{d['scenario_heat_loss_gj']:,.0f} GJ", highlight=False)
    if res.already_preinsulated:
        k, n = len(res.already_preinsulated), len(res.replaced)
        what = f"the {n} worst pipes" if worst and not pipes else f"the {n} pipes to replace"
        verb = "is" if k == 1 else "are"
        names = ", ".join(res.already_preinsulated[:10]) + (" …" if k > 10 else "")
        console.print(f"[yellow]注意 note[/] {res.note_zh} / {k} of {what} {verb} already pre-insulated "
                          f"(U' at the catalogue value); no saving from replacing {'it' if k == 1 else 'them'}: "
                          f"{names}", highlight=False)
        if k == n and net.meta.get("format") == "geojson" and insulation == "pre-insulated":
            console.print("A GeoJSON import takes every pipe as pre-insulated; for a network of old trench "
                              "pipes give --insulation old.", highlight=False)
    if output:
        output.write_text(json.dumps(d | {"pipes": chosen}, ensure_ascii=False, indent=1), encoding="utf-8")
