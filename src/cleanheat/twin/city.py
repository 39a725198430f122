"""A demo city: its specification (deterministic from a seed) and its records in the registry.

Codes: network ``<P>-N1``, weather station ``<P>-WX``, stations ``<P>-S01``, buildings ``<P>-S01-B01``,
households ``<P>-S01-B01-H01``; devices add ``-C`` (station controller), ``-M`` (heat meter), ``-T`` (room sensor).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from cleanheat.assets import service as assets
from cleanheat.assets.schemas import BuildingIn, DeviceIn, HouseholdIn, NetworkIn, PointIn, StationIn
from cleanheat.assets.tables import Building, Device, Household, Network, Station
from cleanheat.auth.service import Actor

STATION_POINTS = ("p_supply_temp_c", "p_return_temp_c", "s_supply_temp_c", "s_return_temp_c", "p_flow_kg_s",
                  "s_flow_kg_s", "s_supply_pressure_kpa", "s_return_pressure_kpa", "heat_power_kw",
                  "heat_energy_gj")
BUILDING_METER_POINTS = ("supply_temp_c", "return_temp_c", "flow_kg_s", "heat_power_kw", "heat_energy_gj")
ROOM_POINTS = ("room_temp_c",)
HOUSEHOLD_METER_POINTS = ("heat_energy_kwh",)
WEATHER_POINTS = ("outdoor_temp_c",)

# building stock of a Harbin-like district: (energy standard, typical years, design heat index W/m²) [K]
_STOCK = (("none", (1975, 1995), 62.0), ("30%", (1990, 2000), 55.0), ("50%", (1998, 2008), 48.0),
          ("65%", (2008, 2016), 40.0), ("75%", (2016, 2021), 34.0))


@dataclass(frozen=True)
class CityConfig:
    prefix: str = "HB"
    stations: int = 4
    buildings_per_station: int = 4
    households_per_building: int = 6
    seed: int = 2019
    #: share of stations serving floor heating (45/35 °C) instead of radiators (75/50 °C)
    floor_share: float = 0.25
    station_interval_s: int = 60
    building_meter_interval_s: int = 300
    room_interval_s: int = 600
    household_meter_interval_s: int = 900
    weather_interval_s: int = 300
    #: Harbin's urban core, for map positions
    lon: float = 126.62
    lat: float = 45.75


@dataclass(frozen=True)
class StationSpec:
    index: int
    code: str
    name_zh: str
    emitter: str
    s_supply_design_c: float
    s_return_design_c: float
    p_supply_design_c: float
    p_return_design_c: float
    area_m2: float
    design_load_kw: float
    lon: float
    lat: float


@dataclass(frozen=True)
class BuildingSpec:
    index: int
    station_index: int
    code: str
    name_zh: str
    area_m2: float
    heat_index_w_m2: float
    year_built: int
    energy_standard: str
    floors: int
    #: emitter output factor of the building (hydraulic balance) [-]
    phi: float


@dataclass(frozen=True)
class HouseholdSpec:
    index: int
    building_index: int
    code: str
    unit_no: str
    room_no: str
    floor: int
    area_m2: float
    #: emitter output factor relative to the building (position: top floor and end walls are colder) [-]
    phi: float
    account_no: str


@dataclass(frozen=True)
class CitySpec:
    config: CityConfig
    stations: tuple[StationSpec, ...]
    buildings: tuple[BuildingSpec, ...]
    households: tuple[HouseholdSpec, ...]
    codes: dict = field(default_factory=dict, compare=False)

    @property
    def network_code(self) -> str:
        return f"{self.config.prefix}-N1"

    @property
    def weather_device(self) -> str:
        return f"{self.config.prefix}-WX"

    def devices(self) -> list[tuple[str, str, tuple[str, ...], int]]:
        """(device code, kind, point keys, sampling interval [s]) of every device."""
        c = self.config
        out = [(self.weather_device, "weather_station", WEATHER_POINTS, c.weather_interval_s)]
        out += [(f"{s.code}-C", "station_controller", STATION_POINTS, c.station_interval_s) for s in self.stations]
        out += [(f"{b.code}-M", "heat_meter", BUILDING_METER_POINTS, c.building_meter_interval_s)
                for b in self.buildings]
        for h in self.households:
            out.append((f"{h.code}-T", "room_sensor", ROOM_POINTS, c.room_interval_s))
            out.append((f"{h.code}-M", "heat_meter", HOUSEHOLD_METER_POINTS, c.household_meter_interval_s))
        return out

    def point_count(self) -> int:
        return sum(len(d[2]) for d in self.devices())


def make_city(config: CityConfig = CityConfig()) -> CitySpec:
    """The city of ``config`` (the same config, the same city)."""
    rng = np.random.default_rng(config.seed)
    stations, buildings, households = [], [], []
    n_floor = round(config.stations * config.floor_share)
    for si in range(config.stations):
        emitter = "floor" if si >= config.stations - n_floor else "radiator"
        s_code = f"{config.prefix}-S{si + 1:02d}"
        b_specs = []
        for bj in range(config.buildings_per_station):
            bi = len(buildings)
            std, (y0, y1), q = _STOCK[int(rng.integers(0, len(_STOCK)))] if emitter == "radiator" else _STOCK[-1]
            floors = int(rng.integers(6, 19))
            area = float(round(rng.uniform(4000, 12000), -1))
            b = BuildingSpec(bi, si, f"{s_code}-B{bj + 1:02d}", f"{si + 1}号站{bj + 1}号楼", area,
                             float(round(q * rng.uniform(0.9, 1.1), 1)), int(rng.integers(y0, y1 + 1)), std, floors,
                             float(round(rng.uniform(0.92, 1.12), 3)))
            buildings.append(b)
            b_specs.append(b)
            for hk in range(config.households_per_building):
                floor = 1 + (hk * floors) // max(1, config.households_per_building)
                edge = floor in (1, floors) or hk % 4 == 0
                phi = float(round(rng.normal(1.0, 0.04) - (0.07 if edge else 0.0), 3))
                households.append(HouseholdSpec(
                    len(households), bi, f"{b.code}-H{hk + 1:02d}", str(1 + hk % 3), f"{floor}0{1 + hk % 2}",
                    floor, float(round(rng.uniform(55, 130), 1)), phi,
                    f"{config.prefix}{si + 1:02d}{bj + 1:02d}{hk + 1:03d}"))
        area = sum(b.area_m2 for b in b_specs)
        load_kw = sum(b.area_m2 * b.heat_index_w_m2 for b in b_specs) / 1000 * 1.05
        sup, ret = (45.0, 35.0) if emitter == "floor" else (75.0, 50.0)
        stations.append(StationSpec(si, s_code, f"{si + 1}号换热站", emitter, sup, ret, 130.0, 70.0, area,
                                    round(load_kw, 1), round(config.lon + rng.uniform(-0.06, 0.06), 5),
                                    round(config.lat + rng.uniform(-0.04, 0.04), 5)))
    return CitySpec(config, tuple(stations), tuple(buildings), tuple(households))


def ensure_city(session: Session, actor: Actor, spec: CitySpec, org_code: str, *,
                heat_source_code: str | None = None, data_dir: Path | None = None,
                resident_username: str | None = None) -> dict[str, int]:
    """Create the city's records that do not exist yet (idempotent: a second call adds nothing)."""
    created = {"networks": 0, "stations": 0, "buildings": 0, "households": 0, "devices": 0}
    c = spec.config

    def exists(model, code: str) -> bool:
        return session.scalar(select(model.id).where(model.code == code)) is not None

    if not exists(Network, spec.network_code):
        assets.upsert(session, actor, "networks", NetworkIn(
            code=spec.network_code, name_zh=f"{c.prefix} 演示热网（合成）", name_en="Demo network (synthetic)",
            org_code=org_code, heat_source_code=heat_source_code), data_dir=data_dir)
        created["networks"] += 1
    for s in spec.stations:
        if not exists(Station, s.code):
            assets.upsert(session, actor, "stations", StationIn(
                code=s.code, name_zh=s.name_zh, org_code=org_code, network_code=spec.network_code,
                design_load_kw=s.design_load_kw, served_area_m2=s.area_m2, emitter=s.emitter,
                secondary_design_supply_c=s.s_supply_design_c, secondary_design_return_c=s.s_return_design_c,
                primary_design_supply_c=s.p_supply_design_c, primary_design_return_c=s.p_return_design_c,
                lon=s.lon, lat=s.lat, note="合成演示数据 synthetic demo data"), data_dir=data_dir)
            created["stations"] += 1
    for b in spec.buildings:
        if not exists(Building, b.code):
            assets.upsert(session, actor, "buildings", BuildingIn(
                code=b.code, name_zh=b.name_zh, org_code=org_code, station_code=spec.stations[b.station_index].code,
                area_m2=b.area_m2, floors=b.floors, year_built=b.year_built, energy_standard=b.energy_standard,
                design_heat_index_w_m2=b.heat_index_w_m2), data_dir=data_dir)
            created["buildings"] += 1
    for h in spec.households:
        if not exists(Household, h.code):
            assets.upsert(session, actor, "households", HouseholdIn(
                code=h.code, org_code=org_code, building_code=spec.buildings[h.building_index].code,
                unit_no=h.unit_no, room_no=h.room_no, floor=h.floor, area_m2=h.area_m2, account_no=h.account_no,
                meter_no=f"{h.code}-M", resident_username=resident_username if h.index == 0 else None),
                data_dir=data_dir)
            created["households"] += 1
    parents = {f"{s.code}-C": ("station_code", s.code) for s in spec.stations}
    parents |= {f"{b.code}-M": ("building_code", b.code) for b in spec.buildings}
    parents |= {f"{h.code}-{x}": ("household_code", h.code) for h in spec.households for x in ("T", "M")}
    parents[spec.weather_device] = ("network_code", spec.network_code)
    for code, kind, keys, interval in spec.devices():
        if exists(Device, code):
            continue
        fld, parent = parents[code]
        assets.upsert_device_with_points(
            session, actor, DeviceIn(code=code, kind=kind, org_code=org_code, name_zh=code, **{fld: parent}),
            [PointIn(device_code=code, key=k, sampling_interval_s=interval) for k in keys], data_dir=data_dir)
        created["devices"] += 1
    return created
