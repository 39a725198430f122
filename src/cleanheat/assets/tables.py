"""Tables of the assets area: the heat-source registry.

One row of ``assets_heat_sources`` is one boiler or CHP unit (so that 台 can be counted); its status over time
is the sequence of ``assets_heat_source_events`` (commissioned, ultra-low retrofitted, converted, connected to the
network, demolished ...). The current status and fuel are kept on the source for fast queries and always follow
the newest event.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import JSON, Date, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from cleanheat.store.base import Base, UTCDateTime, utcnow


class HeatSource(Base):
    __tablename__ = "assets_heat_sources"
    __table_args__ = (Index("ix_assets_heat_sources_unit", "admin_unit_code", "area_type"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name_zh: Mapped[str] = mapped_column(String(200))
    plant_name: Mapped[str] = mapped_column(String(200), default="")
    unit_no: Mapped[str] = mapped_column(String(32), default="")
    org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    admin_unit_code: Mapped[str] = mapped_column(String(64))
    area_type: Mapped[str] = mapped_column(String(32))
    address: Mapped[str] = mapped_column(String(300), default="")
    lon: Mapped[float | None] = mapped_column(Float, nullable=True)
    lat: Mapped[float | None] = mapped_column(Float, nullable=True)
    kind: Mapped[str] = mapped_column(String(32))
    #: Fuel the source was registered with (before any conversion); ``current_fuel`` follows conversions.
    fuel: Mapped[str] = mapped_column(String(32))
    current_fuel: Mapped[str] = mapped_column(String(32))
    capacity_t_h: Mapped[float | None] = mapped_column(Float, nullable=True)
    capacity_mw: Mapped[float | None] = mapped_column(Float, nullable=True)
    #: ordinary | special | ultra_low (the limits class its emissions are held to)
    emission_class: Mapped[str] = mapped_column(String(16), default="ordinary")
    #: existing | new (GB 13271 distinguishes 在用 and 新建 boilers)
    vintage: Mapped[str] = mapped_column(String(16), default="existing")
    commissioned_year: Mapped[int | None] = mapped_column(Integer, nullable=True)
    served_area_m2: Mapped[float] = mapped_column(Float, default=0.0)
    status: Mapped[str] = mapped_column(String(32), default="in_service")
    status_date: Mapped[date | None] = mapped_column(Date, nullable=True)
    note: Mapped[str] = mapped_column(Text, default="")
    extra: Mapped[dict] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    events: Mapped[list[HeatSourceEvent]] = relationship(
        back_populates="source", order_by="HeatSourceEvent.effective_date", cascade="all, delete-orphan"
    )


class HeatSourceEvent(Base):
    __tablename__ = "assets_heat_source_events"
    __table_args__ = (Index("ix_assets_heat_source_events_event", "event", "effective_date"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source_id: Mapped[int] = mapped_column(ForeignKey("assets_heat_sources.id", ondelete="CASCADE"))
    #: commissioned | ultra_low_retrofitted | converted_gas | converted_electric | converted_biomass |
    #: connected_network | demolished
    event: Mapped[str] = mapped_column(String(32))
    effective_date: Mapped[date] = mapped_column(Date)
    note: Mapped[str] = mapped_column(Text, default="")
    recorded_by: Mapped[str] = mapped_column(String(100), default="")
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    source: Mapped[HeatSource] = relationship(back_populates="events")


# --- The network registry (telemetry helper): networks, stations, buildings, households, devices, points ---------
#
# A heat company (``org_id``) owns its networks and everything below them; ``org_id`` is repeated on every row so
# that organisation scoping is one indexed filter. Codes are unique across the installation: they are what
# devices, imports and the MQTT topic scheme use to name things.

from sqlalchemy import Boolean, UniqueConstraint  # noqa: E402 (kept with the section it serves)


class Network(Base):
    """A district-heating network (热网) fed by one or more heat sources."""

    __tablename__ = "assets_networks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name_zh: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str] = mapped_column(String(200), default="")
    org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    heat_source_id: Mapped[int | None] = mapped_column(
        ForeignKey("assets_heat_sources.id", ondelete="SET NULL"), nullable=True)
    primary_design_supply_c: Mapped[float] = mapped_column(Float, default=130.0)
    primary_design_return_c: Mapped[float] = mapped_column(Float, default=70.0)
    length_km: Mapped[float | None] = mapped_column(Float, nullable=True)
    note: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class Station(Base):
    """A heat-exchange station (换热站): primary side from the network, secondary side to its buildings."""

    __tablename__ = "assets_stations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name_zh: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str] = mapped_column(String(200), default="")
    org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    network_id: Mapped[int | None] = mapped_column(ForeignKey("assets_networks.id"), nullable=True, index=True)
    admin_unit_code: Mapped[str | None] = mapped_column(String(64), nullable=True)
    address: Mapped[str] = mapped_column(String(300), default="")
    lon: Mapped[float | None] = mapped_column(Float, nullable=True)
    lat: Mapped[float | None] = mapped_column(Float, nullable=True)
    design_load_kw: Mapped[float] = mapped_column(Float, default=0.0)
    served_area_m2: Mapped[float] = mapped_column(Float, default=0.0)
    primary_design_supply_c: Mapped[float] = mapped_column(Float, default=130.0)
    primary_design_return_c: Mapped[float] = mapped_column(Float, default=70.0)
    secondary_design_supply_c: Mapped[float] = mapped_column(Float, default=75.0)
    secondary_design_return_c: Mapped[float] = mapped_column(Float, default=50.0)
    #: radiator | floor (the emitters of its buildings; sets the weather-compensation curve)
    emitter: Mapped[str] = mapped_column(String(16), default="radiator")
    #: indirect (plate heat exchanger) | direct
    connection: Mapped[str] = mapped_column(String(16), default="indirect")
    commissioned_year: Mapped[int | None] = mapped_column(Integer, nullable=True)
    status: Mapped[str] = mapped_column(String(32), default="in_service")
    note: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class Building(Base):
    """A heated building served by one station."""

    __tablename__ = "assets_buildings"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name_zh: Mapped[str] = mapped_column(String(200))
    org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    station_id: Mapped[int | None] = mapped_column(ForeignKey("assets_stations.id"), nullable=True, index=True)
    admin_unit_code: Mapped[str | None] = mapped_column(String(64), nullable=True)
    address: Mapped[str] = mapped_column(String(300), default="")
    area_m2: Mapped[float] = mapped_column(Float, default=0.0)
    floors: Mapped[int | None] = mapped_column(Integer, nullable=True)
    year_built: Mapped[int | None] = mapped_column(Integer, nullable=True)
    #: none | 30% | 50% | 65% | 75% (the energy-saving standard it was built or retrofitted to)
    energy_standard: Mapped[str] = mapped_column(String(16), default="none")
    #: design heat load per floor area at the outdoor design temperature [W/m²]
    design_heat_index_w_m2: Mapped[float] = mapped_column(Float, default=50.0)
    lon: Mapped[float | None] = mapped_column(Float, nullable=True)
    lat: Mapped[float | None] = mapped_column(Float, nullable=True)
    note: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class Household(Base):
    """One dwelling (热用户) with its heating account and meter."""

    __tablename__ = "assets_households"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    building_id: Mapped[int] = mapped_column(ForeignKey("assets_buildings.id"), index=True)
    unit_no: Mapped[str] = mapped_column(String(16), default="")
    room_no: Mapped[str] = mapped_column(String(16), default="")
    floor: Mapped[int | None] = mapped_column(Integer, nullable=True)
    area_m2: Mapped[float] = mapped_column(Float, default=0.0)
    account_no: Mapped[str] = mapped_column(String(64), unique=True)
    meter_no: Mapped[str] = mapped_column(String(64), default="")
    #: heating | stopped (报停)
    status: Mapped[str] = mapped_column(String(16), default="heating")
    #: the resident who sees this household on /me (at most one household per user; the user's organisation is
    #: a residents organisation of this household's company, see ``assets.service.residents_owner``)
    resident_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), nullable=True, index=True, unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class Device(Base):
    """A field device that reports telemetry (station controller, room sensor, heat meter, weather station).

    It is attached to exactly one asset: a heat source, network, station, building or household.
    """

    __tablename__ = "assets_devices"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name_zh: Mapped[str] = mapped_column(String(200), default="")
    org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    #: station_controller | room_sensor | heat_meter | weather_station | source_meter | pressure_sensor
    kind: Mapped[str] = mapped_column(String(32))
    heat_source_id: Mapped[int | None] = mapped_column(
        ForeignKey("assets_heat_sources.id", ondelete="SET NULL"), nullable=True)
    network_id: Mapped[int | None] = mapped_column(ForeignKey("assets_networks.id"), nullable=True)
    station_id: Mapped[int | None] = mapped_column(ForeignKey("assets_stations.id"), nullable=True, index=True)
    building_id: Mapped[int | None] = mapped_column(ForeignKey("assets_buildings.id"), nullable=True, index=True)
    household_id: Mapped[int | None] = mapped_column(
        ForeignKey("assets_households.id"), nullable=True, index=True)
    model: Mapped[str] = mapped_column(String(100), default="")
    serial_no: Mapped[str] = mapped_column(String(100), default="")
    installed_on: Mapped[date | None] = mapped_column(Date, nullable=True)
    #: active | retired
    status: Mapped[str] = mapped_column(String(16), default="active")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    points: Mapped[list[Point]] = relationship(back_populates="device", cascade="all, delete-orphan",
                                               order_by="Point.id")


class Point(Base):
    """A measurement point of a device: one quantity, its unit, valid physical range and sampling interval."""

    __tablename__ = "assets_points"
    __table_args__ = (UniqueConstraint("device_id", "key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    device_id: Mapped[int] = mapped_column(ForeignKey("assets_devices.id", ondelete="CASCADE"))
    org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    #: the name the device uses for it (payload key), e.g. ``s_supply_temp_c``; see data/telemetry/points.yaml
    key: Mapped[str] = mapped_column(String(64))
    name_zh: Mapped[str] = mapped_column(String(200), default="")
    #: temperature | pressure | flow | power | energy | ...
    quantity: Mapped[str] = mapped_column(String(32))
    unit: Mapped[str] = mapped_column(String(16))
    #: valid physical range; readings outside it are quarantined
    min_value: Mapped[float] = mapped_column(Float)
    max_value: Mapped[float] = mapped_column(Float)
    sampling_interval_s: Mapped[int] = mapped_column(Integer, default=60)
    #: the same value for longer than this is a stuck sensor [s]; NULL: never (states, registers at rest)
    stuck_after_s: Mapped[int | None] = mapped_column(Integer, nullable=True)
    #: a cumulative register (heat meter energy): may not decrease
    cumulative: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    device: Mapped[Device] = relationship(back_populates="points")
