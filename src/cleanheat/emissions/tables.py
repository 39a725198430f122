"""Tables of the emissions area.

* ``emissions_points``      monitoring points (one stack CEMS = one HJ 212 MN), linked to a registered heat source;
* ``emissions_packets``     every packet received, well-formed or not (raw bytes kept; malformed ones with reason);
* ``emissions_readings``    values as uploaded (real-time, minute, hour, day), idempotent on
                            (point, interval, ts, factor);
* ``emissions_dirty_hours`` hours with new data waiting to be evaluated;
* ``emissions_hours``       evaluated hours per pollutant (validity, converted mean, limit, exceeded);
* ``emissions_days``        evaluated days per pollutant (Beijing-time days);
* ``emissions_exceedances`` exceedance events (consecutive exceeded hours);
* ``emissions_alarms``      alarms (missing hourly data), from raise to clear.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import ClassVar

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

import cleanheat.auth.tables  # noqa: F401 - the organisations table the heat sources refer to
from cleanheat.assets.tables import HeatSource
from cleanheat.store.base import Base, UTCDateTime, utcnow

BigId = BigInteger().with_variant(Integer(), "sqlite")


class MonitoringPoint(Base):
    __tablename__ = "emissions_points"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    #: HJ 212 MN (24 hex chars in 2017; 14 in 2005)
    mn: Mapped[str] = mapped_column(String(32), unique=True)
    #: hash of the HJ 212 access password (PW), which the device sends in clear on every packet; the password
    #: itself is not stored (hj212/passwords.py: salted PBKDF2-SHA256)
    password_hash: Mapped[str] = mapped_column(String(128))
    #: hj212 | modbus | none (some devices compute the wrong CRC; see hj212/crc.py)
    crc_variant: Mapped[str] = mapped_column(String(8), default="hj212")
    source_id: Mapped[int] = mapped_column(ForeignKey("assets_heat_sources.id", ondelete="CASCADE"), index=True)
    name_zh: Mapped[str] = mapped_column(String(200))
    stack_no: Mapped[str] = mapped_column(String(32), default="")
    #: overrides the reference O2 of the source's limit set (e.g. ultra-low boilers at 6 %)
    ref_o2_pct: Mapped[float | None] = mapped_column(Float, nullable=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    note: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_packet_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_peer: Mapped[str] = mapped_column(String(64), default="")
    #: start of the newest hour with hourly data (evaluated)
    last_hour_ts: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    source: Mapped[HeatSource] = relationship(lazy="joined")


class RawPacket(Base):
    __tablename__ = "emissions_packets"
    __table_args__ = (
        Index("ix_emissions_packets_point_time", "point_id", "received_at"),
        Index("ix_emissions_packets_ok_time", "ok", "received_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)
    point_id: Mapped[int | None] = mapped_column(ForeignKey("emissions_points.id", ondelete="SET NULL"),
                                                 nullable=True)
    mn: Mapped[str | None] = mapped_column(String(64), nullable=True)
    cn: Mapped[str | None] = mapped_column(String(8), nullable=True)
    qn: Mapped[str | None] = mapped_column(String(32), nullable=True)
    data_time: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    ok: Mapped[bool] = mapped_column(Boolean)
    #: reason code of a malformed or rejected packet (errors.REASONS)
    reason: Mapped[str | None] = mapped_column(String(24), nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    peer: Mapped[str] = mapped_column(String(64), default="")
    #: stream offset of the frame on its connection [bytes]
    stream_offset: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    raw: Mapped[bytes] = mapped_column(LargeBinary)


class Reading(Base):
    __tablename__ = "emissions_readings"
    __table_args__: ClassVar[dict] = {"sqlite_with_rowid": False}

    point_id: Mapped[int] = mapped_column(ForeignKey("emissions_points.id", ondelete="CASCADE"), primary_key=True)
    #: rtd | minute | hour | day
    interval: Mapped[str] = mapped_column(String(8), primary_key=True)
    ts: Mapped[datetime] = mapped_column(UTCDateTime, primary_key=True)
    factor: Mapped[str] = mapped_column(String(16), primary_key=True)
    avg: Mapped[float | None] = mapped_column(Float, nullable=True)  # -Avg (or -Rtd)
    min: Mapped[float | None] = mapped_column(Float, nullable=True)
    max: Mapped[float | None] = mapped_column(Float, nullable=True)
    cou: Mapped[float | None] = mapped_column(Float, nullable=True)
    zs_avg: Mapped[float | None] = mapped_column(Float, nullable=True)  # -ZsAvg (or -ZsRtd), as the device sent it
    zs_min: Mapped[float | None] = mapped_column(Float, nullable=True)
    zs_max: Mapped[float | None] = mapped_column(Float, nullable=True)
    flag: Mapped[str | None] = mapped_column(String(2), nullable=True)


class DirtyHour(Base):
    __tablename__ = "emissions_dirty_hours"

    point_id: Mapped[int] = mapped_column(ForeignKey("emissions_points.id", ondelete="CASCADE"), primary_key=True)
    ts: Mapped[datetime] = mapped_column(UTCDateTime, primary_key=True)


class HourValue(Base):
    __tablename__ = "emissions_hours"
    __table_args__: ClassVar[dict] = {"sqlite_with_rowid": False}

    point_id: Mapped[int] = mapped_column(ForeignKey("emissions_points.id", ondelete="CASCADE"), primary_key=True)
    ts: Mapped[datetime] = mapped_column(UTCDateTime, primary_key=True)
    pollutant: Mapped[str] = mapped_column(String(16), primary_key=True)
    conc_mg_m3: Mapped[float | None] = mapped_column(Float, nullable=True)
    o2_pct: Mapped[float | None] = mapped_column(Float, nullable=True)
    conc_zs_mg_m3: Mapped[float | None] = mapped_column(Float, nullable=True)
    device_zs_mg_m3: Mapped[float | None] = mapped_column(Float, nullable=True)
    limit_mg_m3: Mapped[float | None] = mapped_column(Float, nullable=True)
    ref_o2_pct: Mapped[float | None] = mapped_column(Float, nullable=True)
    limit_set: Mapped[str | None] = mapped_column(String(64), nullable=True)
    valid: Mapped[bool] = mapped_column(Boolean)
    exceeded: Mapped[bool] = mapped_column(Boolean)
    valid_minutes: Mapped[int | None] = mapped_column(Integer, nullable=True)
    minutes_received: Mapped[int | None] = mapped_column(Integer, nullable=True)
    flag: Mapped[str | None] = mapped_column(String(2), nullable=True)
    #: minutes | device | none
    basis: Mapped[str] = mapped_column(String(8))
    reason: Mapped[str] = mapped_column(String(300), default="")
    computed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class DayValue(Base):
    __tablename__ = "emissions_days"

    point_id: Mapped[int] = mapped_column(ForeignKey("emissions_points.id", ondelete="CASCADE"), primary_key=True)
    #: Beijing-time calendar day
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    pollutant: Mapped[str] = mapped_column(String(16), primary_key=True)
    valid_hours: Mapped[int] = mapped_column(Integer)
    valid: Mapped[bool] = mapped_column(Boolean)
    conc_zs_mg_m3: Mapped[float | None] = mapped_column(Float, nullable=True)
    max_zs_mg_m3: Mapped[float | None] = mapped_column(Float, nullable=True)
    exceeded_hours: Mapped[int] = mapped_column(Integer, default=0)
    limit_mg_m3: Mapped[float | None] = mapped_column(Float, nullable=True)
    #: valid hours with a limit and a converted value (the denominator of the share within the limit);
    #: NULL on rows from before emissions_0003 without stored hours (read as valid_hours when limited)
    judged_hours: Mapped[int | None] = mapped_column(Integer, nullable=True)
    #: hours with any data (valid or not)
    data_hours: Mapped[int | None] = mapped_column(Integer, nullable=True)
    #: when the row was last written (every writer sets it; the evaluation cache keys on its maximum)
    computed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True, index=True)


class Exceedance(Base):
    __tablename__ = "emissions_exceedances"
    __table_args__ = (Index("ix_emissions_exceedances_point", "point_id", "pollutant", "start_ts"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    point_id: Mapped[int] = mapped_column(ForeignKey("emissions_points.id", ondelete="CASCADE"))
    pollutant: Mapped[str] = mapped_column(String(16))
    start_ts: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    end_ts: Mapped[datetime] = mapped_column(UTCDateTime)
    hours: Mapped[int] = mapped_column(Integer)
    max_zs_mg_m3: Mapped[float] = mapped_column(Float)
    limit_mg_m3: Mapped[float] = mapped_column(Float)
    #: True while the newest evaluated hour of the pollutant is still over the limit
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    acknowledged_by: Mapped[str | None] = mapped_column(String(100), nullable=True)
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    note: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    point: Mapped[MonitoringPoint] = relationship(lazy="joined")


class Alarm(Base):
    __tablename__ = "emissions_alarms"
    __table_args__ = (Index("ix_emissions_alarms_open", "point_id", "kind", "cleared_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    point_id: Mapped[int] = mapped_column(ForeignKey("emissions_points.id", ondelete="CASCADE"))
    #: missing_data
    kind: Mapped[str] = mapped_column(String(24))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    cleared_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    detail: Mapped[str] = mapped_column(Text, default="")
    acknowledged_by: Mapped[str | None] = mapped_column(String(100), nullable=True)
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    point: Mapped[MonitoringPoint] = relationship(lazy="joined")
