"""Create/update and public schemas of the network registry.

Input schemas refer to other records by **code** (what people and import files use); public schemas add ids.
The same input schemas validate JSON API bodies and rows of CSV/Excel imports.
"""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Code = str


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    code: Code = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")
    #: owning heat company; defaults to the caller's organisation
    org_code: str | None = None


class NetworkIn(_In):
    name_zh: str = Field(min_length=1, max_length=200)
    name_en: str = ""
    heat_source_code: str | None = None
    primary_design_supply_c: float = Field(130.0, ge=40, le=200)
    primary_design_return_c: float = Field(70.0, ge=10, le=150)
    length_km: float | None = Field(None, ge=0)
    note: str = ""


class StationIn(_In):
    name_zh: str = Field(min_length=1, max_length=200)
    name_en: str = ""
    network_code: str | None = None
    admin_unit_code: str | None = None
    address: str = ""
    lon: float | None = Field(None, ge=-180, le=180)
    lat: float | None = Field(None, ge=-90, le=90)
    design_load_kw: float = Field(0.0, ge=0)
    served_area_m2: float = Field(0.0, ge=0)
    primary_design_supply_c: float = Field(130.0, ge=40, le=200)
    primary_design_return_c: float = Field(70.0, ge=10, le=150)
    secondary_design_supply_c: float = Field(75.0, ge=20, le=130)
    secondary_design_return_c: float = Field(50.0, ge=10, le=120)
    emitter: Literal["radiator", "floor"] = "radiator"
    connection: Literal["indirect", "direct"] = "indirect"
    commissioned_year: int | None = Field(None, ge=1900, le=2100)
    status: Literal["in_service", "planned", "retired"] = "in_service"
    note: str = ""

    @model_validator(mode="after")
    def _supply_above_return(self) -> StationIn:
        if self.primary_design_supply_c <= self.primary_design_return_c:
            raise ValueError("primary design supply must be above the return")
        if self.secondary_design_supply_c <= self.secondary_design_return_c:
            raise ValueError("secondary design supply must be above the return")
        return self


class BuildingIn(_In):
    name_zh: str = Field(min_length=1, max_length=200)
    station_code: str | None = None
    admin_unit_code: str | None = None
    address: str = ""
    area_m2: float = Field(gt=0)
    floors: int | None = Field(None, ge=1, le=200)
    year_built: int | None = Field(None, ge=1800, le=2100)
    energy_standard: Literal["none", "30%", "50%", "65%", "75%"] = "none"
    design_heat_index_w_m2: float = Field(50.0, gt=0, le=200)
    lon: float | None = Field(None, ge=-180, le=180)
    lat: float | None = Field(None, ge=-90, le=90)
    note: str = ""


class HouseholdIn(_In):
    building_code: str
    unit_no: str = ""
    room_no: str = ""
    floor: int | None = Field(None, ge=-5, le=200)
    area_m2: float = Field(gt=0, le=10000)
    account_no: str = Field(min_length=1, max_length=64)
    meter_no: str = ""
    status: Literal["heating", "stopped"] = "heating"
    #: username of the resident who may see this household on /me
    resident_username: str | None = None


class DeviceIn(_In):
    name_zh: str = ""
    kind: Literal["station_controller", "room_sensor", "heat_meter", "weather_station", "source_meter",
                  "pressure_sensor"]
    heat_source_code: str | None = None
    network_code: str | None = None
    station_code: str | None = None
    building_code: str | None = None
    household_code: str | None = None
    model: str = ""
    serial_no: str = ""
    installed_on: date | None = None
    status: Literal["active", "retired"] = "active"

    @model_validator(mode="after")
    def _one_parent(self) -> DeviceIn:
        given = [k for k in ("heat_source_code", "network_code", "station_code", "building_code", "household_code")
                 if getattr(self, k)]
        if len(given) != 1:
            raise ValueError("a device is attached to exactly one of heat_source_code, network_code, station_code, "
                             f"building_code, household_code (given: {', '.join(given) or 'none'})")
        return self


class PointIn(BaseModel):
    """A measurement point; fields left empty take the catalogue defaults of ``key`` (data/telemetry/points.yaml)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    device_code: str = Field(min_length=1)
    key: str = Field(min_length=1, max_length=64, pattern=r"^[a-z][a-z0-9_]*$")
    name_zh: str | None = None
    quantity: str | None = None
    unit: str | None = None
    min_value: float | None = None
    max_value: float | None = None
    sampling_interval_s: int = Field(60, ge=1, le=86400)
    stuck_after_s: int | None = Field(None, ge=60)
    cumulative: bool | None = None

    @model_validator(mode="after")
    def _range(self) -> PointIn:
        if self.min_value is not None and self.max_value is not None and self.min_value >= self.max_value:
            raise ValueError("min_value must be below max_value")
        return self


class DeviceWithPointsIn(DeviceIn):
    """A device with its points in one body (JSON API); point keys alone take the catalogue defaults."""

    points: list[str | dict] = Field(default_factory=list)


KIND_SCHEMAS: dict[str, type[BaseModel]] = {
    "networks": NetworkIn,
    "stations": StationIn,
    "buildings": BuildingIn,
    "households": HouseholdIn,
    "devices": DeviceIn,
    "points": PointIn,
}
#: Import and write order (references point backwards only).
KIND_ORDER = ("networks", "stations", "buildings", "households", "devices", "points")


# --- public ------------------------------------------------------------------------------------------------

class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class NetworkOut(_Out):
    id: int
    code: str
    name_zh: str
    name_en: str
    org_id: int
    heat_source_id: int | None
    primary_design_supply_c: float
    primary_design_return_c: float
    length_km: float | None


class StationOut(_Out):
    id: int
    code: str
    name_zh: str
    org_id: int
    network_id: int | None
    admin_unit_code: str | None
    address: str
    lon: float | None
    lat: float | None
    design_load_kw: float
    served_area_m2: float
    primary_design_supply_c: float
    primary_design_return_c: float
    secondary_design_supply_c: float
    secondary_design_return_c: float
    emitter: str
    connection: str
    status: str


class BuildingOut(_Out):
    id: int
    code: str
    name_zh: str
    org_id: int
    station_id: int | None
    area_m2: float
    floors: int | None
    year_built: int | None
    energy_standard: str
    design_heat_index_w_m2: float


class HouseholdOut(_Out):
    id: int
    code: str
    org_id: int
    building_id: int
    unit_no: str
    room_no: str
    floor: int | None
    area_m2: float
    account_no: str
    meter_no: str
    status: str


class PointOut(_Out):
    id: int
    key: str
    name_zh: str
    quantity: str
    unit: str
    min_value: float
    max_value: float
    sampling_interval_s: int
    stuck_after_s: int | None
    cumulative: bool


class DeviceOut(_Out):
    id: int
    code: str
    name_zh: str
    org_id: int
    kind: str
    heat_source_id: int | None
    network_id: int | None
    station_id: int | None
    building_id: int | None
    household_id: int | None
    status: str
    points: list[PointOut] = []
