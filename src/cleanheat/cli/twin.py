"""``cleanheat twin``: run the demo city (weather-driven telemetry) into the store or to an MQTT broker."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Annotated

import typer

from cleanheat.cli.common import console, db_session, load_settings, progress, reported_errors

NAME = "twin"
app = typer.Typer(help="The demo city: weather-driven telemetry of stations, buildings and households.",
                  no_args_is_help=True)

HOUR_MS = 3_600_000


def _parse_time(text: str) -> int:
    """``now``, ``now-6h``, ``now-2d`` or an ISO 8601 time with offset -> ms."""
    now = int(time.time() * 1000)
    if text.startswith("now"):
        rest = text[3:]
        if not rest:
            return now
        unit = {"h": HOUR_MS, "d": 24 * HOUR_MS, "m": 60_000}[rest[-1]]
        return now + int(float(rest[:-1]) * unit)
    dt = datetime.fromisoformat(text)
    if dt.tzinfo is None:
        raise typer.BadParameter(f"{text!r}: give a UTC offset, e.g. 2024-01-15T00:00:00+08:00")
    return int(dt.timestamp() * 1000)


def _faults(specs: list[str], start_ms: int):
    """``KIND:TARGET:START_H[:END_H]`` (hours from the start), e.g. ``leak:HB-S02:3:4``,
    ``stuck:HB-S01-C:s_supply_temp_c:1``."""
    from cleanheat.twin.sim import FAULT_KINDS, Fault

    out = []
    for s in specs:
        parts = s.split(":")
        kind = parts[0]
        if kind not in FAULT_KINDS:
            raise typer.BadParameter(f"{s!r}: kind must be one of {', '.join(FAULT_KINDS)}")
        if kind == "stuck":
            target, rest = f"{parts[1]}:{parts[2]}", parts[3:]
        else:
            target, rest = parts[1], parts[2:]
        if not rest:
            raise typer.BadParameter(f"{s!r}: give the start hour")
        t0 = start_ms + int(float(rest[0]) * HOUR_MS)
        t1 = start_ms + int(float(rest[1]) * HOUR_MS) if len(rest) > 1 else None
        out.append(Fault(kind, target, t0, t1))
    return out


@app.command()
def run(
    start: Annotated[str, typer.Option(help="Start: now, now-6h, now-2d or ISO 8601 with offset.")] = "now-6h",
    hours: Annotated[float, typer.Option(help="Simulated hours.")] = 6.0,
    speed: Annotated[float, typer.Option(help="Simulated seconds per second (0: as fast as possible).")] = 0.0,
    sink: Annotated[str, typer.Option(help="inprocess (straight into the store) or mqtt.")] = "inprocess",
    mqtt_url: Annotated[str | None, typer.Option(help="Broker for --sink mqtt (default CLEANHEAT_TELEMETRY_MQTT_URL).")]
    = None,
    org: Annotated[str, typer.Option(help="Heat company owning the city.")] = "htjt",
    prefix: Annotated[str, typer.Option(help="Code prefix of the city's records.")] = "TW",
    stations: int = 4,
    buildings: Annotated[int, typer.Option(help="Buildings per station.")] = 4,
    households: Annotated[int, typer.Option(help="Households per building.")] = 6,
    station_interval: Annotated[int, typer.Option(help="Station sampling interval (s).")] = 60,
    room_interval: Annotated[int, typer.Option(help="Room sensor sampling interval (s).")] = 600,
    weather_start: Annotated[str | None, typer.Option(help="Use the weather from this date on (MM-DD); "
                                                           "default: the same calendar dates.")] = None,
    fault: Annotated[list[str], typer.Option(help="KIND:TARGET:START_H[:END_H]; kinds stuck, leak, lost_link, "
                                                  "underheat. Repeatable.")] = [],  # noqa: B006
    jobs: Annotated[bool, typer.Option(help="In-process sink: run rollups and alarms at simulated time.")] = True,
) -> None:
    """Create the city's records (if missing) and send its readings for the simulated period."""
    from cleanheat.auth.service import Actor
    from cleanheat.store.engine import make_engine
    from cleanheat.telemetry.config import TelemetryConfig
    from cleanheat.telemetry.jobs import Jobs
    from cleanheat.telemetry.pipeline import IngestPipeline
    from cleanheat.telemetry.season import read_season
    from cleanheat.telemetry.tokens import issue_device_token
    from cleanheat.twin.city import CityConfig, ensure_city, make_city
    from cleanheat.twin.run import run_city
    from cleanheat.twin.sim import CitySim
    from cleanheat.twin.sinks import InProcessSink, MqttSink
    from cleanheat.weather.epw import harbin_epw_path, read_epw

    settings = load_settings()
    config = TelemetryConfig()
    t0 = _parse_time(start) // 60_000 * 60_000
    t1 = t0 + int(hours * HOUR_MS)
    spec = make_city(CityConfig(prefix=prefix, stations=stations, buildings_per_station=buildings,
                                households_per_building=households, station_interval_s=station_interval,
                                room_interval_s=room_interval))
    with reported_errors(), db_session(settings) as session:
        created = ensure_city(session, Actor.system("twin"), spec, org, data_dir=settings.data_dir)
        token = issue_device_token(session, Actor.system("twin"), org_code=org, name=f"twin {prefix}") \
            if sink == "mqtt" else None
    console.print(f"city {prefix}: {spec.point_count()} points on {len(spec.devices())} devices; created {created}")
    sim = CitySim(spec, read_epw(harbin_epw_path(settings.data_dir)), anchor_ms=t0, weather_start=weather_start,
                  faults=_faults(fault, t0), season=read_season(settings.city_dir))
    engine = make_engine(settings.database_url)
    on_step = None
    if sink == "mqtt":
        out = MqttSink(mqtt_url or config.mqtt_url, org, {"*": token}, prefix=config.mqtt_topic_prefix,
                       client_id=f"cleanheat-twin-{prefix}")
    else:
        out = InProcessSink(IngestPipeline(engine, config, worker=f"twin-{prefix}", source="twin"))
        if jobs:
            j = Jobs(engine, config, city_dir=settings.city_dir)

            def on_step(now: int) -> None:  # rollups and alarms every 10 simulated minutes
                if (now - t0) % (10 * 60_000) == 0:
                    j.run(now)
    with progress() as bar:
        task = bar.add_task("simulating (min)", total=(t1 - t0) // 60_000)
        stats = run_city(sim, out, t0, t1, speed=speed or None, on_step=on_step,
                         progress=lambda ms: bar.advance(task, ms // 60_000))
    out.close()
    console.print(f"{stats.readings} readings in {stats.messages} messages, {stats.wall_s:.1f} s "
                  f"({stats.readings / max(stats.wall_s, 1e-9):,.0f} readings/s)")
