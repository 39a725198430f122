"""Shared set-up of the telemetry benchmarks (not a benchmark itself: make bench runs bench_*.py only).

A fresh database (SQLite file or a new PostgreSQL database), migrated, with the programme's organisations and a
registry of N station controllers x 10 points for the demo company ``htjt``; a web server or an MQTT broker in
subprocesses, as in production.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import create_engine, select, text

from cleanheat.assets.tables import Device, Point
from cleanheat.auth import service as auth_service
from cleanheat.auth.service import Actor
from cleanheat.config import Settings
from cleanheat.programme.bootstrap import load_reference
from cleanheat.store import migrate
from cleanheat.store.engine import make_engine, make_sessionmaker, session_scope
from cleanheat.telemetry.tokens import issue_device_token
from cleanheat.twin.city import STATION_POINTS, CityConfig, ensure_city, make_city

REPO = Path(__file__).resolve().parents[1]
PG_ADMIN = os.environ.get("CLEANHEAT_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def fresh_database(backend: str):
    """A new, migrated database URL; removed afterwards."""
    if backend == "sqlite":
        d = Path(tempfile.mkdtemp(prefix="cleanheat-bench-"))
        url = f"sqlite:///{d / 'bench.db'}"
        try:
            migrate.upgrade(url)
            yield url
        finally:
            shutil.rmtree(d, ignore_errors=True)
        return
    name = f"cleanheat_bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f'CREATE DATABASE "{name}"'))
    url = PG_ADMIN.rsplit("/", 1)[0] + "/" + name
    try:
        migrate.upgrade(url)
        yield url
    finally:
        with admin.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def setup_registry(url: str, stations: int, prefix: str = "BX") -> dict:
    """Organisations, ``stations`` station controllers with the 10 station points, tokens and an API user."""
    settings = Settings(database_url=url, var_dir=Path(tempfile.gettempdir()) / "cleanheat-bench-var",
                        secret_key="bench")
    engine = make_engine(url)
    sessions = make_sessionmaker(engine)
    spec = make_city(CityConfig(prefix=prefix, stations=stations, buildings_per_station=0,
                                households_per_building=0))
    with session_scope(sessions) as s:
        load_reference(s, settings)
        ensure_city(s, Actor.system("bench"), spec, "htjt", data_dir=settings.data_dir)
        org_token = issue_device_token(s, Actor.system("bench"), org_code="htjt", name="bench")
        user = auth_service.create_user(s, Actor.system("bench"), username="bench-op", password="bench-password-1",
                                        role="heat_company", org_code="htjt")
        api_token = auth_service.issue_token(s, user)
    with sessions() as s:
        points = {(d, k): pid for pid, d, k in s.execute(select(Point.id, Device.code, Point.key).join(Device))}
        station_ids = [sid for (sid,) in s.execute(text("SELECT id FROM assets_stations ORDER BY id"))]
    engine.dispose()
    devices = [f"{st.code}-C" for st in spec.stations]
    return {"settings": settings, "devices": devices, "keys": list(STATION_POINTS), "points": points,
            "org_token": org_token, "api_token": api_token, "station_ids": station_ids}


def iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat().replace("+00:00", "Z")


def snapshot_values(i_device: int, i_ts: int, keys: list[str]) -> dict[str, float]:
    """Plausible, varying values (the benchmark is about throughput, not physics)."""
    base = 40.0 + (i_device % 17) + 0.01 * (i_ts % 100)
    return {k: round(base + j * 3.1, 2) if k != "heat_energy_gj" else 1000.0 + i_ts * 0.1
            for j, k in enumerate(keys)}


def server_env(url: str) -> dict:
    return os.environ | {"CLEANHEAT_DATABASE_URL": url, "CLEANHEAT_SECRET_KEY": "bench",
                         "CLEANHEAT_VAR_DIR": str(Path(tempfile.gettempdir()) / "cleanheat-bench-var"),
                         "CLEANHEAT_TELEMETRY_JOBS_IN_WEB": "false", "CLEANHEAT_TELEMETRY_DEMO_LIVE": "false",
                         "PYTHONPATH": str(REPO / "src")}


@contextmanager
def web_server(url: str):
    """uvicorn serving the app in a subprocess; yields its base URL."""
    import httpx

    port = free_port()
    code = ("import uvicorn; from cleanheat.config import Settings; from cleanheat.web.app import create_app; "
            f"uvicorn.run(create_app(Settings()), host='127.0.0.1', port={port}, log_level='warning')")
    proc = subprocess.Popen([sys.executable, "-c", code], env=server_env(url))
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 30
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.time() > deadline or proc.poll() is not None:
                raise RuntimeError("the web server did not start")
            time.sleep(0.2)
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=20)


@contextmanager
def mqtt_broker():
    """A private mosquitto (no queue limit, as PITFALLS.md says); yields its URL."""
    port = free_port()
    d = Path(tempfile.mkdtemp(prefix="cleanheat-mqtt-"))
    conf = d / "mosquitto.conf"
    conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\nmax_queued_messages 0\n"
                    f"max_inflight_messages 1000\npersistence true\npersistence_location {d}/\n")
    exe = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    proc = subprocess.Popen([exe, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if time.time() > deadline:
                    raise RuntimeError("mosquitto did not start") from None
                time.sleep(0.05)
        yield f"mqtt://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        shutil.rmtree(d, ignore_errors=True)


def stored_count(engine) -> int:
    with engine.connect() as c:
        return c.execute(text("SELECT coalesce(sum(inserted), 0) FROM telemetry_ingest_batches")).scalar()


def report(figures: dict) -> None:
    """The figures, last, as name=value lines."""
    print(json.dumps({"note": "shared 2-core machine unless stated otherwise"}))
    for k, v in figures.items():
        print(f"{k}={v}")
