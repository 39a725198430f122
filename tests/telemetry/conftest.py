"""A small registry on a fresh database (both backends): two heat companies, a station, rooms, a meter, tokens."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from sqlalchemy import select

from cleanheat.assets import service as assets
from cleanheat.assets.schemas import BuildingIn, DeviceIn, HouseholdIn, NetworkIn, StationIn
from cleanheat.assets.tables import Point
from cleanheat.auth.service import Actor
from cleanheat.store.engine import session_scope
from cleanheat.telemetry.tokens import issue_device_token
from tests.helpers import bootstrap

STATION_POINTS = ["p_supply_temp_c", "p_return_temp_c", "s_supply_temp_c", "s_return_temp_c", "p_flow_kg_s",
                  "s_flow_kg_s", "s_supply_pressure_kpa", "s_return_pressure_kpa", "heat_power_kw",
                  "heat_energy_gj"]


@dataclass
class SmallCity:
    settings: object
    engine: object
    session_factory: object
    tokens: dict[str, str] = field(default_factory=dict)
    points: dict[tuple[str, str], int] = field(default_factory=dict)


def build_small_city(session) -> dict[str, str]:
    admin = Actor.system("test")
    for org, pre in (("htjt", ""), ("veolia", "V")):
        assets.upsert(session, admin, "networks", NetworkIn(code=f"{pre}N1", name_zh="一号热网", org_code=org))
        assets.upsert(session, admin, "stations", StationIn(code=f"{pre}S1", name_zh="一号站", org_code=org,
                                                            network_code=f"{pre}N1", design_load_kw=3000,
                                                            served_area_m2=60000))
        assets.upsert_device_with_points(session, admin, DeviceIn(code=f"{pre}ST-0001", kind="station_controller",
                                                                  org_code=org, station_code=f"{pre}S1"),
                                         STATION_POINTS)
    assets.upsert(session, admin, "buildings", BuildingIn(code="B1", name_zh="1号楼", org_code="htjt",
                                                          station_code="S1", area_m2=6000))
    assets.upsert(session, admin, "households", HouseholdIn(code="H1", building_code="B1", org_code="htjt",
                                                            area_m2=80, account_no="A-0001"))
    for code in ("RS-0001", "RS-0002"):
        assets.upsert_device_with_points(session, admin, DeviceIn(code=code, kind="room_sensor", org_code="htjt",
                                                                  household_code="H1"), ["room_temp_c"])
    assets.upsert_device_with_points(session, admin, DeviceIn(code="HM-0001", kind="heat_meter", org_code="htjt",
                                                              household_code="H1"), ["heat_energy_kwh"])
    return {
        "ST-0001": issue_device_token(session, admin, device_code="ST-0001"),
        "htjt": issue_device_token(session, admin, org_code="htjt"),
        "VST-0001": issue_device_token(session, admin, device_code="VST-0001"),
    }


@pytest.fixture
def small_city(settings, engine, session_factory) -> SmallCity:
    bootstrap(settings)
    with session_scope(session_factory) as session:
        tokens = build_small_city(session)
    city = SmallCity(settings, engine, session_factory, tokens)
    with session_factory() as session:
        for p in session.scalars(select(Point)):
            city.points[(p.device.code, p.key)] = p.id
    return city


# --- a private MQTT broker and ingest worker processes ------------------------------------------------------



def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Broker:
    url: str
    port: int
    proc: subprocess.Popen


@pytest.fixture
def broker(tmp_path: Path):
    """Mosquitto on a free port, configured as PITFALLS.md says: no queue limit, persistent sessions."""
    exe = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    if not os.path.exists(exe):
        pytest.fail("mosquitto is not installed (make system-deps)")
    port = free_port()
    data = tmp_path / "mosquitto"
    data.mkdir()
    conf = data / "mosquitto.conf"
    conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\nmax_queued_messages 0\n"
                    f"max_inflight_messages 1000\npersistence true\npersistence_location {data}/\n"
                    "autosave_interval 5\n")
    log = open(data / "broker.log", "w")
    proc = subprocess.Popen([exe, "-c", str(conf)], stdout=log, stderr=subprocess.STDOUT)
    deadline = time.time() + 10
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            if time.time() > deadline or proc.poll() is not None:
                pytest.fail(f"mosquitto did not start: {(data / 'broker.log').read_text()}")
            time.sleep(0.05)
    yield Broker(f"mqtt://127.0.0.1:{port}", port, proc)
    proc.terminate()
    proc.wait(timeout=10)
    log.close()


class WorkerProc:
    """``cleanheat telemetry worker`` in a subprocess (its own interpreter, as in production)."""

    def __init__(self, settings, broker: Broker, client_id: str, log_dir: Path, shared: bool = True) -> None:
        self.log_path = log_dir / f"{client_id}-{int(time.time() * 1000)}.log"
        env = os.environ | {"CLEANHEAT_DATABASE_URL": settings.database_url, "CLEANHEAT_VAR_DIR": str(settings.var_dir),
                            "CLEANHEAT_SECRET_KEY": "x", "CLEANHEAT_TELEMETRY_BATCH_MAX_MESSAGES": "50",
                            "CLEANHEAT_TELEMETRY_BATCH_MAX_WAIT_MS": "100", "PYTHONUNBUFFERED": "1"}
        args = [sys.executable, "-m", "cleanheat.cli.main", "telemetry", "worker", "--client-id", client_id,
                "--mqtt-url", broker.url, "--shared" if shared else "--no-shared"]
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen(args, env=env, stdout=self.log, stderr=subprocess.STDOUT)

    def wait_connected(self, timeout: float = 30) -> None:
        deadline = time.time() + timeout
        while "MQTT connected" not in self.log_path.read_text():
            if self.proc.poll() is not None or time.time() > deadline:
                raise RuntimeError(f"worker did not connect:\n{self.log_path.read_text()}")
            time.sleep(0.1)

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.log.close()


def run_cli(settings, broker: Broker, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    """``cleanheat ARGS`` in a subprocess on the test database and broker."""
    env = os.environ | {"CLEANHEAT_DATABASE_URL": settings.database_url, "CLEANHEAT_VAR_DIR": str(settings.var_dir),
                        "CLEANHEAT_SECRET_KEY": "x", "CLEANHEAT_TELEMETRY_MQTT_URL": broker.url,
                        "PYTHONUNBUFFERED": "1", "COLUMNS": "200"}
    return subprocess.run([sys.executable, "-m", "cleanheat.cli.main", *args], env=env, capture_output=True,
                          text=True, timeout=timeout)
