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
