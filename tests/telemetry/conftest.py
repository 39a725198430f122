"""A small registry on a fresh database (both backends): two heat companies, a station, rooms, a meter, tokens."""

from __future__ import annotations

from dataclasses import dataclass, field

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
