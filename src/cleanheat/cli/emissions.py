"""``cleanheat emissions ...``: the HJ 212 receiver, the CEMS simulator, packet parsing, reports, points."""

from __future__ import annotations

import asyncio
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from cleanheat.cli.common import (
    console,
    db_session,
    err_console,
    load_settings,
    reported_errors,
    require_current_schema,
)

NAME = "emissions"
app = typer.Typer(help="排放在线监测 Emissions monitoring: HJ 212 receiver, simulator, parser, reports.",
                  no_args_is_help=True)
points_app = typer.Typer(help="Monitoring points (MN, password, CRC variant, heat source).", no_args_is_help=True)
app.add_typer(points_app, name="points")


# --- receiver --------------------------------------------------------------------------------------------

@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Bind address (0.0.0.0 to accept data loggers from the network).")]
    = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 9212,
    max_connections: Annotated[int | None, typer.Option(help="Connections accepted at once "
                                                              "(default CLEANHEAT_HJ212_MAX_CONNECTIONS).")] = None,
    max_connections_per_address: Annotated[int | None, typer.Option(
        help="Connections accepted at once from one address (default "
             "CLEANHEAT_HJ212_MAX_CONNECTIONS_PER_ADDRESS).")] = None,
    idle_timeout: Annotated[float | None, typer.Option(help="Close a connection silent for this long (s) "
                                                            "(default CLEANHEAT_HJ212_IDLE_TIMEOUT_S).")] = None,
    login_timeout: Annotated[float | None, typer.Option(
        help="Close a connection without a valid packet of a registered point after this long (s) "
             "(default CLEANHEAT_HJ212_LOGIN_TIMEOUT_S).")] = None,
    max_bad_per_minute: Annotated[int | None, typer.Option(help="Close a connection sending more malformed "
                                                                "frames than this per minute.")] = None,
    maintenance_interval: Annotated[float, typer.Option(help="Evaluate hours and check alarms every N s.")] = 60.0,
    stats_interval: Annotated[float, typer.Option(help="Print counters every N s (0: never).")] = 30.0,
    use_uvloop: Annotated[bool, typer.Option("--uvloop/--no-uvloop", help="Use uvloop when installed.")] = True,
    workers: Annotated[int, typer.Option(help="Receiver processes sharing the port (SO_REUSEPORT); use more "
                                              "than one on a multi-core machine.")] = 1,
    reuse_port: Annotated[bool, typer.Option(hidden=True)] = False,
) -> None:
    """Receive HJ 212 packets over TCP, store them (malformed ones too, with the reason) and evaluate them.

    A packet is answered only after it is committed to the database. Connection limits and timeouts are the
    CLEANHEAT_HJ212_* settings (docs/emissions.md); the counters (refused, closed, dropped bytes, withheld
    answers) are printed every --stats-interval seconds."""
    from cleanheat.emissions.hj212.config import ReceiverConfig
    from cleanheat.emissions.hj212.server import ReceiverOptions
    from cleanheat.emissions.receiver import ServeOptions
    from cleanheat.emissions.receiver import serve as run

    if workers > 1:
        _serve_workers(workers, sys.argv)
        return
    settings = load_settings()
    require_current_schema(settings)
    cfg = ReceiverConfig()
    given = {"max_connections": max_connections, "max_connections_per_address": max_connections_per_address,
             "idle_timeout_s": idle_timeout, "login_timeout_s": login_timeout,
             "max_bad_per_minute": max_bad_per_minute}
    limits = cfg.model_dump() | {k: v for k, v in given.items() if v is not None}
    opts = ServeOptions(receiver=ReceiverOptions(host=host, port=port, reuse_port=reuse_port, **limits),
                        maintenance_interval_s=maintenance_interval, stats_interval_s=stats_interval)

    def ready(receiver) -> None:
        console.print(f"[bold green]HJ 212 receiver[/] listening on {host}:{receiver.server.port} · "
                      f"{len(receiver.directory.points)} monitoring points · database {settings.database_url}")

    _run(run(settings, opts, on_stats=_show_stats, ready=ready), use_uvloop)


def _show_stats(receiver) -> None:
    """The receiver's counters: what an operator watches (refusals, closures, drops, withheld answers)."""
    st = receiver.server.stats
    console.print(f"[dim]{datetime.now():%H:%M:%S}[/] connections {st.connections_open} · ok {st.frames_ok} · "
                  f"malformed {sum(st.frames_bad.values())} {dict(st.frames_bad) or ''} · written "
                  f"{receiver.sink.stats.written} · refused by the database {receiver.sink.stats.db_rejected} · "
                  f"write errors {receiver.sink.stats.errors} · backlog {receiver.sink.backlog} · answers "
                  f"withheld {st.replies_withheld} · connections refused {st.connections_refused} (per "
                  f"address {st.connections_refused_address}) · closed idle {st.closed_idle} / no login "
                  f"{st.closed_login} / abuse {st.closed_abuse} · dropped {st.bytes_dropped} bytes in "
                  f"{st.records_dropped} pieces", highlight=False)


def _serve_workers(workers: int, argv: list[str]) -> None:
    """Start ``workers`` receiver processes on one port; only the first evaluates hours and alarms.
    SIGINT / SIGTERM are passed on to each worker (by its process id), which flushes and stops."""
    import signal
    import subprocess

    args = [a for a in argv[1:]]
    cleaned, skip = [], False
    for a in args:  # drop --workers N (set per worker); a repeated option's last value wins
        if skip:
            skip = False
            continue
        if a == "--workers":
            skip = True
            continue
        if a.startswith("--workers="):
            continue
        cleaned.append(a)
    base = [sys.executable, "-m", "cleanheat.cli.main", *cleaned, "--workers", "1", "--reuse-port"]
    procs = [subprocess.Popen(base + (["--maintenance-interval", "0"] if i else [])) for i in range(workers)]

    def forward(signum, _frame) -> None:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signum)

    signal.signal(signal.SIGINT, forward)
    signal.signal(signal.SIGTERM, forward)
    codes = [p.wait() for p in procs]
    if any(codes):
        raise typer.Exit(1)


def _run(coro, use_uvloop: bool):
    if use_uvloop:
        try:
            import uvloop

            return uvloop.run(coro)
        except ImportError:
            pass
    return asyncio.run(coro)


@app.command()
def simulate(
    sources: Annotated[int, typer.Option(help="Number of simulated stacks (the first registered points).")] = 50,
    host: Annotated[str, typer.Option(help="Receiver address.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Receiver port.")] = 9212,
    rate: Annotated[float, typer.Option(help="Packets per second in total (0: real time).")] = 100.0,
    minutes: Annotated[int, typer.Option(help="Simulated minutes per stack.")] = 60,
    start: Annotated[str | None, typer.Option(help="Simulated start, ISO time (default: now minus the span).")]
    = None,
    register: Annotated[bool, typer.Option(help="Register simulated heat sources and points when fewer are "
                                                "registered (codes SIM-nnnn).")] = False,
    bad_crc_rate: Annotated[float, typer.Option(help="Share of packets also sent with a wrong CRC.")] = 0.002,
    modbus_rate: Annotated[float, typer.Option(help="Share also sent with a CRC-16/MODBUS checksum.")] = 0.001,
    garbage_rate: Annotated[float, typer.Option(help="Share preceded by noise bytes.")] = 0.001,
    drop_rate: Annotated[float, typer.Option(help="Share where the link drops mid-frame (then resent).")]
    = 0.0005,
    exceedance_rate: Annotated[float, typer.Option(help="Chance per hour that an exceedance starts.")] = 0.02,
    seed: int = 1,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Send realistic CEMS traffic (2011, 2051, 2061, 2031) with faults to a receiver."""
    from cleanheat.assets.heat_sources import mw_per_t_h
    from cleanheat.emissions.limits import limits_path, read_limit_table
    from cleanheat.emissions.simstacks import stack_models
    from cleanheat.emissions.simulator import SimOptions
    from cleanheat.emissions.simulator import simulate as run

    settings = load_settings()
    with reported_errors(), db_session(settings) as session:
        models = stack_models(session, sources, table=read_limit_table(limits_path(settings.data_dir)),
                              mw_per_t_h_value=mw_per_t_h(settings.city_dir),
                              register=register, seed=seed, exceedance_rate=exceedance_rate)
    if not models:
        err_console.print("no monitoring points registered: run `cleanheat init --demo` or use --register")
        raise typer.Exit(1)
    opts = SimOptions(host=host, port=port, rate=rate, minutes=minutes,
                      start=datetime.fromisoformat(start).astimezone(UTC) if start else None,
                      bad_crc_rate=bad_crc_rate, modbus_rate=modbus_rate, garbage_rate=garbage_rate,
                      drop_rate=drop_rate, seed=seed)
    if not as_json:
        console.print(f"simulating {len(models)} stacks × {minutes} min → {host}:{port} at "
                      f"{'real time' if rate <= 0 else f'{rate:g} packets/s'}")

    def progress(st) -> None:
        if not as_json:
            console.print(f"[dim]{st.elapsed_s:6.1f} s[/] sent {st.good} · faults {dict(st.faults)} · "
                          f"answers {dict(st.answers)}", highlight=False)

    stats = _run(run(models, opts, on_progress=progress), True)
    if as_json:
        print(json.dumps(stats.as_dict(), ensure_ascii=False))
    else:
        console.print(stats.as_dict())


# --- parsing ---------------------------------------------------------------------------------------------

def _result(data: bytes, crc: str, offset: int | None = None) -> dict:
    from cleanheat.emissions.errors import HJ212Error
    from cleanheat.emissions.hj212.codec import parse_frame

    out: dict = {"ok": False}
    if offset is not None:
        out["offset"] = offset
    try:
        p = parse_frame(data, crc=crc)
    except HJ212Error as exc:
        out["error"] = {"reason": exc.reason, "message": exc.summary, "offset": exc.offset, "field": exc.field}
        try:
            out["crc_ok"] = parse_frame(data, crc="none").crc_ok
        except HJ212Error:
            out["crc_ok"] = None
        out["raw"] = data.decode("utf-8", "backslashreplace")
        return out
    out["ok"] = True
    out.update(p.as_dict())
    return out


@app.command()
def parse(
    packet: Annotated[str | None, typer.Argument(help="One packet (the trailing CRLF may be left out).")] = None,
    file: Annotated[Path | None, typer.Option("--file", "-f", help="A file with one packet per line, or a raw "
                                                                   "capture with --stream ('-' for stdin).")] = None,
    stream: Annotated[bool, typer.Option(help="De-frame the file as a raw TCP capture (garbage between frames, "
                                              "frames split anywhere).")] = False,
    crc: Annotated[str, typer.Option(help="CRC to enforce: hj212 | modbus | none.")] = "hj212",
) -> None:
    """Parse HJ 212 packets into JSON Lines (one object per packet); exit status 1 if any packet failed."""
    from cleanheat.emissions.hj212.deframer import Deframer, Frame

    if (packet is None) == (file is None):
        raise typer.BadParameter("give either PACKET or --file")
    results = []
    if packet is not None:
        data = packet.encode("utf-8")
        results.append(_result(data if data.endswith(b"\r\n") else data.rstrip(b"\r\n") + b"\r\n", crc))
    else:
        if str(file) != "-" and not file.is_file():
            raise typer.BadParameter(f"no such file: {file}", param_hint="--file")
        raw = sys.stdin.buffer.read() if str(file) == "-" else file.read_bytes()
        if stream:
            d = Deframer()
            for ev in [*d.feed(raw), *d.flush()]:
                if isinstance(ev, Frame):
                    results.append(_result(ev.data, crc, ev.offset))
                else:
                    results.append({"ok": False, "offset": ev.offset, "crc_ok": None,
                                    "error": {"reason": ev.reason, "message": ev.message, "offset": ev.offset},
                                    "raw": ev.data.decode("utf-8", "backslashreplace")})
        else:
            for n, line in enumerate(raw.splitlines(), start=1):
                if not line.strip():
                    continue
                r = _result(line.rstrip(b"\r\n") + b"\r\n", crc)
                results.append({"line": n} | r)
    for r in results:
        print(json.dumps(r, ensure_ascii=False))
    if not all(r["ok"] for r in results):
        raise typer.Exit(1)


# --- evaluation and reports --------------------------------------------------------------------------------

@app.command()
def evaluate() -> None:
    """Evaluate queued hours (hours, days, exceedances) and check missing-data alarms now."""
    from cleanheat.emissions.rollup import maintenance_rules, run_maintenance

    settings = load_settings()
    with reported_errors(), db_session(settings) as session:
        st = run_maintenance(session, **maintenance_rules(settings.data_dir, settings.city_dir))
    console.print(f"hours {st.hours} · days {st.days} · exceedance events {st.events} · alarms raised "
                  f"{st.alarms_raised} · cleared {st.alarms_cleared}")


def _month(text: str) -> tuple[int, int]:
    try:
        y, m = text.split("-")
        return int(y), int(m)
    except ValueError:
        raise typer.BadParameter(f"month {text!r} is not YYYY-MM") from None


@app.command()
def report(
    month: Annotated[str, typer.Option(help="Month YYYY-MM (Beijing time).")],
    out: Annotated[Path | None, typer.Option(help="Write .xlsx or .pdf (by suffix); default: print a table.")]
    = None,
    threshold: Annotated[float | None, typer.Option(help="Share of valid hours within limits needed "
                                                         "(default CLEANHEAT_COMPLIANCE_THRESHOLD).")] = None,
) -> None:
    """Monthly compliance report of every monitoring point."""
    from rich.table import Table

    from cleanheat.auth.service import Actor
    from cleanheat.emissions import reports, service

    settings = load_settings()
    y, m = _month(month)
    with reported_errors(), db_session(settings) as session:
        rep = service.monthly_report(session, Actor.system("report"), y, m,
                                     threshold=threshold if threshold is not None else settings.compliance_threshold,
                                     data_dir=settings.data_dir)
        if out is not None:
            if out.suffix.lower() == ".xlsx":
                from cleanheat.programme.plan_store import load_plan

                names = {u.code: u.name_zh for u in load_plan(session).units}
                out.write_bytes(reports.monthly_xlsx(rep, unit_names=names))
            elif out.suffix.lower() == ".pdf":
                out.write_bytes(reports.monthly_pdf(rep))
            else:
                raise typer.BadParameter("--out must end in .xlsx or .pdf")
            console.print(f"wrote {out} ({len(rep.rows)} monitoring points)")
            return
        table = Table(title=f"在线监测月度达标 Monthly compliance {rep.label}")
        for col in ("MN", "热源 source", "有效小时 valid h", "有效率 capture", "超标小时 over h", "达标率 share",
                    "结论 verdict"):
            table.add_column(col)
        for r in rep.rows:
            s = r.summary
            verdict = {True: "达标", False: "不达标", None: "无数据"}[s.compliant]
            table.add_row(r.point.mn, r.point.source.name_zh, str(s.valid_hours), reports._pct(s.capture),
                          str(s.judged - s.within), reports._pct(s.share_within), verdict)
        console.print(table)


@app.command()
def supervision(
    period: Annotated[str, typer.Option(help="Programme period YYYYQn, e.g. 2021Q4 (Q4 = the whole year).")],
    format: Annotated[str, typer.Option("--format", help="table | json")] = "table",
) -> None:
    """Supervision list: per registered source, whether it must be monitored (rules of
    data/emissions/supervision.yaml), its monitoring points, data capture, bag filter, per-pollutant shares and
    evidence state over the period's heating days (docs/evidence.md)."""
    from rich.table import Table

    from cleanheat.emissions.compliance import fmt_share
    from cleanheat.emissions.ledger_link import period_windows, source_verdicts
    from cleanheat.programme.model import Period
    from cleanheat.programme.plan_store import load_plan

    if format not in ("json", "table"):
        raise typer.BadParameter("--format must be json or table")
    settings = load_settings()
    try:
        per = Period.parse(period)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    with reported_errors(), db_session(settings) as session:
        vs = source_verdicts(session, load_plan(session), per, settings=settings)
    windows = period_windows([per], settings=settings)[per]
    if format == "json":
        print(json.dumps({"period": str(per),
                          "windows": [{"start": a.isoformat(), "end": b.isoformat()} for a, b in windows],
                          "sources": [{"code": v.source_code, "name_zh": v.name_zh, "unit": v.admin_unit_code,
                                       "area_type": v.area_type, "technology": v.technology, "required": v.required,
                                       "rules": list(v.rules), "points": list(v.points), "capture": v.capture,
                                       "bag_filter": v.bag_filter, "threshold": v.threshold,
                                       "evidence": v.evidence, "pollutants": {k: dict(x) for k, x in
                                                                              v.pollutants.items()},
                                       "served_area_m2": v.served_area_m2, "reason": v.reason} for v in vs]},
                         ensure_ascii=False, indent=2))
        return
    table = Table(title=f"热源监管清单 Supervision list {per} — "
                        + "; ".join(f"{a}..{b}" for a, b in windows))
    for col in ("source", "technology", "unit / area", "required", "points", "capture", "bag filter",
                "per pollutant", "evidence", "reason"):
        table.add_column(col)
    for v in vs:
        table.add_row(v.source_code, v.technology, f"{v.admin_unit_code}/{v.area_type}",
                      ("yes " + ",".join(v.rules)) if v.required else "no", ", ".join(v.points) or "–",
                      fmt_share(v.capture), {True: "yes", False: "NO", None: "–"}[v.bag_filter],
                      " ".join(f"{k} {fmt_share(x['compliant_share'])}" for k, x in v.pollutants.items()) or "–",
                      v.evidence, v.reason)
    console.print(table)


@app.command(hidden=True)
def verdicts(
    period: Annotated[str, typer.Option(help="Programme period YYYYQn, e.g. 2020Q4.")],
) -> None:
    """The evidence the programme evaluation uses for a period (same as ``supervision``)."""
    supervision(period=period, format="table")


@app.command()
def limits() -> None:
    """Print the limit table (data/emissions/limits.yaml) with each value's confidence."""
    from rich.table import Table

    from cleanheat.emissions.limits import limits_path, read_limit_table

    settings = load_settings()
    with reported_errors():
        t = read_limit_table(limits_path(settings.data_dir))
    table = Table(title="排放限值 Emission limits (mg/m³, dry, standard state, at reference O2)")
    for col in ("id", "standard", "match", "from", "O2 %", "PM", "SO2", "NOx"):
        table.add_column(col)
    def lim(s, p: str) -> str:
        return f"{s.limits[p].limit_mg_m3:g} [{s.limits[p].confidence}]" if p in s.limits else "–"

    for s in t.sets:
        match = f"{s.scope}/{','.join(sorted(s.fuel_groups))}/{s.emission_class}/{s.vintage or 'any'}"
        table.add_row(s.id, s.standard, match, str(s.valid_from), f"{s.ref_o2_pct:g} [{s.ref_o2_confidence}]",
                      lim(s, "a34013"), lim(s, "a21026"), lim(s, "a21002"))
    console.print(table)


# --- points ----------------------------------------------------------------------------------------------

@points_app.command("list")
def points_list() -> None:
    """List the monitoring points."""
    from rich.table import Table

    from cleanheat.auth.service import Actor
    from cleanheat.emissions import service

    with reported_errors(), db_session() as session:
        pts = service.list_points(session, Actor.system("cli"))
        table = Table(title="监测点 Monitoring points")
        for col in ("id", "MN", "source", "name", "CRC", "active", "last packet"):
            table.add_column(col)
        for p in pts:
            table.add_row(str(p.id), p.mn, p.source.code, p.name_zh, p.crc_variant, "yes" if p.active else "no",
                          p.last_packet_at.isoformat(timespec="seconds") if p.last_packet_at else "–")
    console.print(table)


@points_app.command("set-password")
def points_set_password(
    mn: Annotated[str, typer.Option(help="HJ 212 MN of the data logger.")],
    password: Annotated[str, typer.Option(prompt=True, hide_input=True, confirmation_prompt=True,
                                          help="The new HJ 212 access password (PW).")],
) -> None:
    """Rotate a point's HJ 212 password (PW): set the new one on the data logger and here (only a hash is
    stored). A running receiver accepts the new password after its next directory refresh (30 s by default);
    until the logger is switched over, its packets are kept as bad_password and it resends them."""
    from cleanheat.auth.service import Actor
    from cleanheat.emissions import service

    with reported_errors(), db_session() as session:
        p = service.set_password(session, Actor.system("cli"), mn, password)
        console.print(f"password of point {p.id} ({p.mn}) set")


@points_app.command("add")
def points_add(
    mn: Annotated[str, typer.Option(help="HJ 212 MN of the data logger.")],
    source: Annotated[str, typer.Option(help="Heat source code (assets registry).")],
    password: Annotated[str, typer.Option(prompt=True, hide_input=True, help="HJ 212 access password (PW).")],
    name: Annotated[str, typer.Option(help="Name of the point.")] = "",
    stack: Annotated[str, typer.Option(help="Stack / outlet number.")] = "",
    crc: Annotated[str, typer.Option(help="hj212 | modbus | none")] = "hj212",
    ref_o2: Annotated[float | None, typer.Option(help="Override of the reference O2 (%).")] = None,
) -> None:
    """Register a monitoring point for a heat source."""
    from cleanheat.auth.service import Actor
    from cleanheat.emissions import service

    with reported_errors(), db_session() as session:
        p = service.register_point(session, Actor.system("cli"), service.PointInput(
            mn=mn, password=password, source_code=source, name_zh=name, stack_no=stack, crc_variant=crc,
            ref_o2_pct=ref_o2))
        console.print(f"registered point {p.id}: {p.mn} → {source}")
