"""``cleanheat telemetry``: the MQTT ingest worker, background jobs, device tokens, CSV backfill, counters."""

from __future__ import annotations

import logging
import signal
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from cleanheat.cli.common import (
    console,
    db_session,
    load_settings,
    progress,
    reported_errors,
    require_current_schema,
)

NAME = "telemetry"
app = typer.Typer(help="Telemetry: MQTT ingest worker, jobs, device tokens, CSV backfill.", no_args_is_help=True)


def _engine():
    from cleanheat.store.engine import make_engine

    settings = load_settings()
    require_current_schema(settings)
    return make_engine(settings.database_url)


@app.command()
def worker(
    client_id: Annotated[str, typer.Option(help="MQTT client id; keep it stable so the session survives restarts.")]
    = "cleanheat-ingest-1",
    mqtt_url: Annotated[str | None, typer.Option(help="Broker (default CLEANHEAT_TELEMETRY_MQTT_URL).")] = None,
    shared: Annotated[bool, typer.Option(help="Join the MQTT 5 shared subscription ($share/<group>/...).")] = True,
    jobs: Annotated[bool, typer.Option(help="Also run rollups, availability, alarms and webhooks.")] = False,
    clock: Annotated[str, typer.Option(help="Time for the jobs: wall (real time) or data (newest reading).")] = "wall",
) -> None:
    """Consume readings from the MQTT broker until interrupted (SIGINT/SIGTERM stop it cleanly)."""
    from cleanheat.telemetry.config import TelemetryConfig
    from cleanheat.telemetry.jobs import JobRunner, Jobs, data_clock, wall_clock_ms
    from cleanheat.telemetry.mqtt import MqttIngestWorker

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    settings = load_settings()
    config = TelemetryConfig()
    if mqtt_url:
        config = config.model_copy(update={"mqtt_url": mqtt_url})
    engine = _engine()
    w = MqttIngestWorker(engine, config, client_id=client_id, shared=shared)
    runner = None
    if jobs:
        runner = JobRunner(Jobs(engine, config, city_dir=settings.city_dir),
                           data_clock(engine) if clock == "data" else wall_clock_ms, config.jobs_interval_s)
        runner.start()
    signal.signal(signal.SIGTERM, lambda *_: w.stop())
    console.print(f"ingest worker {client_id} on {config.mqtt_url} (shared: {shared})")
    try:
        w.run()
    except KeyboardInterrupt:
        pass
    finally:
        w.close()
        if runner is not None:
            runner.stop()
        t = w.pipeline.totals
        console.print(f"stopped: {t.messages} messages, {t.inserted} stored, {t.duplicates} duplicates, "
                      f"{t.quarantined} quarantined")


@app.command("retire-worker")
def retire_worker(
    client_id: Annotated[str, typer.Argument(help="The MQTT client id of a worker that will not run again.")],
    mqtt_url: Annotated[str | None, typer.Option(help="Broker (default CLEANHEAT_TELEMETRY_MQTT_URL).")] = None,
    idle_s: Annotated[float, typer.Option(help="Done when no queued message arrived for this long (s).")] = 5.0,
) -> None:
    """Retire a worker id for good: ingest every message the broker queued for it, then end its session.

    Stop the worker with this id first. The broker keeps a stopped worker's session (and, with the shared
    subscription, keeps giving it its share of the messages) until the session expires; after this command
    the remaining workers get all messages. Nothing is lost; running it twice is harmless."""
    from cleanheat.telemetry.config import TelemetryConfig
    from cleanheat.telemetry.mqtt import MqttIngestWorker, RetireError

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    config = TelemetryConfig()
    if mqtt_url:
        config = config.model_copy(update={"mqtt_url": mqtt_url})
    w = MqttIngestWorker(_engine(), config, client_id=client_id)
    try:
        res = w.retire(idle_s=idle_s)
    except (RetireError, ConnectionError) as exc:
        w.close()
        console.print(f"[red]not retired:[/red] {exc}")
        raise typer.Exit(1) from None
    t = w.pipeline.totals
    if not res.session_present:
        console.print(f"{client_id}: the broker had no session for this id; nothing was queued (nothing to retire)")
        return
    console.print(f"retired {client_id}: {t.messages} queued messages ingested ({t.inserted} stored, "
                  f"{t.duplicates} duplicates, {t.quarantined} quarantined); the broker has forgotten its session")


@app.command("jobs")
def jobs_cmd(
    once: Annotated[bool, typer.Option(help="One round, then exit.")] = False,
    clock: Annotated[str, typer.Option(help="wall (real time) or data (newest reading).")] = "wall",
) -> None:
    """Rollups, availability, alarms, webhooks and retention (without an ingest worker)."""
    from cleanheat.telemetry.config import TelemetryConfig
    from cleanheat.telemetry.jobs import JobRunner, Jobs, data_clock, wall_clock_ms

    settings = load_settings()
    engine = _engine()
    config = TelemetryConfig()
    jobs = Jobs(engine, config, city_dir=settings.city_dir)
    clk = data_clock(engine) if clock == "data" else wall_clock_ms
    if once:
        now = clk()
        if now is None:
            console.print("no readings yet")
            return
        r = jobs.run(now)
        console.print(f"rollups: {r.rollups.windows} windows; availability changes: {len(r.transitions)}; "
                      f"alarms raised {len(r.alarms.raised)}, cleared {len(r.alarms.cleared)}; "
                      f"webhooks sent {r.webhooks_sent}")
        return
    runner = JobRunner(jobs, clk, config.jobs_interval_s)
    runner.start()
    console.print("jobs running; Ctrl-C stops")
    try:
        signal.pause()
    except KeyboardInterrupt:
        pass
    finally:
        runner.stop()


token_app = typer.Typer(help="Device ingest tokens.", no_args_is_help=True)
app.add_typer(token_app, name="token")


@token_app.command("issue")
def token_issue(
    device: Annotated[str | None, typer.Option(help="Device code (a token for this device only).")] = None,
    org: Annotated[str | None, typer.Option(help="Organisation code (a token for all its devices).")] = None,
    name: str = "",
    days: Annotated[int | None, typer.Option(help="Expires after this many days (default: never).")] = None,
) -> None:
    """Issue an ingest token (printed once; only its hash is stored)."""
    from cleanheat.auth.service import Actor
    from cleanheat.telemetry.tokens import issue_device_token

    if not device and not org:
        raise typer.BadParameter("give --device or --org")
    with reported_errors(), db_session() as session:
        print(issue_device_token(session, Actor.system(), device_code=device, org_code=org, name=name,
                                 max_age_days=days))


@token_app.command("list")
def token_list() -> None:
    from cleanheat.auth.service import Actor
    from cleanheat.telemetry.tokens import list_device_tokens

    table = Table("id", "name", "prefix", "org", "device", "revoked", "last used")
    with db_session() as session:
        for t in list_device_tokens(session, Actor.system()):
            table.add_row(str(t.id), t.name, t.prefix, str(t.org_id), str(t.device_id or "*"), str(t.revoked),
                          str(t.last_used_at or ""))
    console.print(table)


@token_app.command("revoke")
def token_revoke(token_id: int) -> None:
    from cleanheat.auth.service import Actor
    from cleanheat.telemetry.tokens import revoke_device_token

    with reported_errors(), db_session() as session:
        revoke_device_token(session, Actor.system(), token_id)
    console.print(f"token {token_id} revoked")


@app.command("backfill")
def backfill_cmd(
    file: Annotated[Path, typer.Argument(
        help="CSV (UTF-8 or GBK) or Excel file with columns device, point, ts, value.", exists=True)],
    org: Annotated[str | None, typer.Option(help="Accept only devices of this organisation.")] = None,
) -> None:
    """Load historical readings from a CSV or Excel file (invalid rows are quarantined with their row number)."""
    from cleanheat.auth.service import get_org_by_code
    from cleanheat.telemetry.files import backfill, read_readings_file
    from cleanheat.telemetry.pipeline import IngestPipeline

    with reported_errors():
        rows = read_readings_file(file.read_bytes(), file.name)
        engine = _engine()
        org_id = None
        if org:
            with db_session() as session:
                org_id = get_org_by_code(session, org).id
        pipe = IngestPipeline(engine, worker="cli-backfill", source="csv")
        with progress() as bar:
            task = bar.add_task(f"backfill {file.name}", total=len(rows))
            res = backfill(pipe, rows, file=file.name, org_id=org_id, progress=lambda n: bar.advance(task, n))
    c = res.counts
    console.print(f"{c.readings} rows: {c.inserted} stored, {c.duplicates} already stored, {c.quarantined} "
                  f"quarantined {dict(res.reasons) if res.reasons else ''}")


@app.command("rollup")
def rollup_cmd() -> None:
    """Recompute the rollups of every window changed since the last run."""
    from cleanheat.telemetry.rollups import process_all_dirty

    s = process_all_dirty(_engine())
    console.print(f"{s.windows} windows: {s.minutes} minutes, {s.hours} hours, {s.days} days rebuilt")


@app.command("stats")
def stats_cmd() -> None:
    """Readings stored, quarantined by reason, and batches per worker."""
    from cleanheat.auth.service import Actor
    from cleanheat.telemetry import service

    with db_session() as session:
        actor = Actor.system()
        n = service.reading_count(session, actor)
        console.print(f"readings stored: {n}")
        q = service.quarantine_counts(session, actor)
        console.print(f"quarantined: {sum(q.values())} {q}")
        table = Table("worker", "source", "batches", "messages", "readings", "stored", "duplicates", "quarantined")
        for r in service.ingest_stats(session, actor):
            table.add_row(*(str(r[k]) for k in ("worker", "source", "batches", "messages", "readings", "inserted",
                                                "duplicates", "quarantined")))
        console.print(table)
