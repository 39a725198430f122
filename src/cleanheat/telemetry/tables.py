"""Tables of the telemetry area.

Time series (``telemetry_readings`` and the rollups) keep time as integer **milliseconds since the Unix epoch,
UTC** (``ts_ms``, ``bucket_ms``): unambiguous, compact, the same bucketing arithmetic on SQLite and PostgreSQL, and
fast to key on. Services convert to aware ``datetime`` at their edges. Every other table uses ``UTCDateTime``.

* SQLite: the series tables are ``WITHOUT ROWID`` tables clustered on (point_id, ts).
* PostgreSQL: ``telemetry_readings`` and ``telemetry_rollup_1m`` are range-partitioned by month on the time column;
  partitions live in the schema ``telemetry_part`` (created on demand by ``storage.ensure_partitions``).
* No foreign key on the series tables (bulk speed); readings are validated against the registry before storage.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import JSON, BigInteger, Boolean, Date, Float, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from cleanheat.store.base import Base, UTCDateTime, utcnow

_SERIES_ARGS = ({"sqlite_with_rowid": False},)


class Reading(Base):
    """One valid reading. The primary key makes storage idempotent: a redelivered reading is ignored."""

    __tablename__ = "telemetry_readings"
    __table_args__ = ({"sqlite_with_rowid": False, "postgresql_partition_by": "RANGE (ts_ms)"},)

    point_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    ts_ms: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    value: Mapped[float] = mapped_column(Float)


class _RollupMixin:
    point_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    #: start of the bucket [ms since epoch, UTC]
    bucket_ms: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    n: Mapped[int] = mapped_column(Integer)
    sum_value: Mapped[float] = mapped_column(Float)
    min_value: Mapped[float] = mapped_column(Float)
    max_value: Mapped[float] = mapped_column(Float)


class Rollup1m(_RollupMixin, Base):
    """1-minute aggregates of the raw readings."""

    __tablename__ = "telemetry_rollup_1m"
    __table_args__ = ({"sqlite_with_rowid": False, "postgresql_partition_by": "RANGE (bucket_ms)"},)


class Rollup1h(_RollupMixin, Base):
    """Hourly aggregates (from the 1-minute rollups)."""

    __tablename__ = "telemetry_rollup_1h"
    __table_args__ = _SERIES_ARGS


class Rollup1d(_RollupMixin, Base):
    """Daily aggregates by local calendar day (from the hourly rollups); ``bucket_ms`` is local midnight in UTC."""

    __tablename__ = "telemetry_rollup_1d"
    __table_args__ = _SERIES_ARGS


class Latest(Base):
    """The newest valid reading of each point (live pages, availability, alarms)."""

    __tablename__ = "telemetry_latest"

    point_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    ts_ms: Mapped[int] = mapped_column(BigInteger)
    value: Mapped[float] = mapped_column(Float)


class RollupDirty(Base):
    """Append-only log of (point, minute) windows whose rollups must be recomputed from the raw readings."""

    __tablename__ = "telemetry_rollup_dirty"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    point_id: Mapped[int] = mapped_column(Integer)
    minute_ms: Mapped[int] = mapped_column(BigInteger)


class Quarantine(Base):
    """An invalid reading (or a whole malformed message) kept for inspection, with the reason and where it was."""

    __tablename__ = "telemetry_quarantine"
    __table_args__ = (Index("ix_telemetry_quarantine_reason", "reason", "received_at"),
                      Index("ix_telemetry_quarantine_org", "org_id", "received_at"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    org_id: Mapped[int | None] = mapped_column(ForeignKey("organisations.id", ondelete="SET NULL"), nullable=True)
    #: mqtt | http | csv | twin
    source: Mapped[str] = mapped_column(String(16))
    #: see ``telemetry.validation.REASONS``
    reason: Mapped[str] = mapped_column(String(32))
    detail: Mapped[str] = mapped_column(Text, default="")
    #: where in the input: topic and payload offset/field, or file and row
    location: Mapped[str] = mapped_column(String(300), default="")
    device_code: Mapped[str] = mapped_column(String(64), default="")
    point_key: Mapped[str] = mapped_column(String(64), default="")
    point_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    ts_ms: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    raw_ts: Mapped[str] = mapped_column(String(64), default="")
    raw_value: Mapped[str] = mapped_column(String(64), default="")
    #: the whole message when it could not be parsed at all (truncated to 64 KiB)
    payload: Mapped[str] = mapped_column(Text, default="")


class IngestBatch(Base):
    """Counters of one stored batch (which worker, how many readings stored, duplicates, quarantined)."""

    __tablename__ = "telemetry_ingest_batches"
    __table_args__ = (Index("ix_telemetry_ingest_batches_worker", "worker", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    worker: Mapped[str] = mapped_column(String(100))
    source: Mapped[str] = mapped_column(String(16))
    messages: Mapped[int] = mapped_column(Integer, default=0)
    readings: Mapped[int] = mapped_column(Integer, default=0)
    inserted: Mapped[int] = mapped_column(Integer, default=0)
    duplicates: Mapped[int] = mapped_column(Integer, default=0)
    quarantined: Mapped[int] = mapped_column(Integer, default=0)


class DeviceToken(Base):
    """An ingest token for one device, or for every device of an organisation. Only its SHA-256 is stored."""

    __tablename__ = "telemetry_device_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    device_id: Mapped[int | None] = mapped_column(ForeignKey("assets_devices.id", ondelete="CASCADE"),
                                                  nullable=True, index=True)
    name: Mapped[str] = mapped_column(String(100), default="")
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    #: the first characters of the token, to recognise it in lists
    prefix: Mapped[str] = mapped_column(String(16), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)


class DeviceStatus(Base):
    """Availability of a device (coordinator pattern): follows the last good update; stale after a timeout."""

    __tablename__ = "telemetry_device_status"

    device_id: Mapped[int] = mapped_column(ForeignKey("assets_devices.id", ondelete="CASCADE"), primary_key=True,
                                           autoincrement=False)
    available: Mapped[bool] = mapped_column(Boolean, default=False)
    last_good_ms: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class DeviceEvent(Base):
    """A change of a device's availability (transitions only, never every retry)."""

    __tablename__ = "telemetry_device_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    device_id: Mapped[int] = mapped_column(ForeignKey("assets_devices.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    #: online | offline
    event: Mapped[str] = mapped_column(String(16))
    detail: Mapped[str] = mapped_column(Text, default="")


class AlarmRule(Base):
    """An alarm rule, as data (loaded from data/telemetry/alarm_rules.yaml; companies may add their own)."""

    __tablename__ = "telemetry_alarm_rules"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    #: NULL: applies to every organisation
    org_id: Mapped[int | None] = mapped_column(ForeignKey("organisations.id"), nullable=True)
    name_zh: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str] = mapped_column(String(200), default="")
    #: threshold | rate | no_data | delta_t | room_min | pressure_drop
    kind: Mapped[str] = mapped_column(String(32))
    params: Mapped[dict] = mapped_column(JSON, default=dict)
    #: critical | major | minor
    severity: Mapped[str] = mapped_column(String(16), default="major")
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    source: Mapped[str] = mapped_column(Text, default="")
    valid_from: Mapped[date | None] = mapped_column(Date, nullable=True)
    valid_to: Mapped[date | None] = mapped_column(Date, nullable=True)


class Alarm(Base):
    """One alarm: active -> acknowledged -> cleared. At most one open alarm per (rule, subject): ``dedup_key``."""

    __tablename__ = "telemetry_alarms"
    __table_args__ = (Index("ix_telemetry_alarms_open", "dedup_key", "state"),
                      Index("ix_telemetry_alarms_org", "org_id", "state"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    rule_id: Mapped[int] = mapped_column(ForeignKey("telemetry_alarm_rules.id"))
    org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    dedup_key: Mapped[str] = mapped_column(String(128))
    #: active | acknowledged | cleared
    state: Mapped[str] = mapped_column(String(16), default="active")
    severity: Mapped[str] = mapped_column(String(16))
    device_id: Mapped[int | None] = mapped_column(ForeignKey("assets_devices.id", ondelete="SET NULL"),
                                                  nullable=True)
    point_id: Mapped[int | None] = mapped_column(ForeignKey("assets_points.id", ondelete="SET NULL"), nullable=True)
    station_id: Mapped[int | None] = mapped_column(ForeignKey("assets_stations.id", ondelete="SET NULL"),
                                                   nullable=True, index=True)
    building_id: Mapped[int | None] = mapped_column(ForeignKey("assets_buildings.id", ondelete="SET NULL"),
                                                    nullable=True)
    value: Mapped[float | None] = mapped_column(Float, nullable=True)
    message_zh: Mapped[str] = mapped_column(Text, default="")
    message_en: Mapped[str] = mapped_column(Text, default="")
    #: data time when the condition was first seen / last seen / cleared
    raised_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime)
    #: evaluations that found the condition
    occurrences: Mapped[int] = mapped_column(Integer, default=1)
    #: how often the alarm was raised: one that comes back soon after it cleared (the rule's ``group_within_s``)
    #: is re-opened, not raised as a new row
    times_raised: Mapped[int] = mapped_column(Integer, default=1, server_default=text("1"))
    acked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    acked_by: Mapped[str] = mapped_column(String(64), default="")
    cleared_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class Webhook(Base):
    """Where alarm notifications of an organisation are POSTed (JSON, signed with HMAC-SHA256)."""

    __tablename__ = "telemetry_webhooks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    url: Mapped[str] = mapped_column(String(500))
    secret: Mapped[str] = mapped_column(String(128), default="")
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class WebhookDelivery(Base):
    """One notification to one webhook (an outbox row: sent, retried with back-off, or failed)."""

    __tablename__ = "telemetry_webhook_deliveries"
    __table_args__ = (Index("ix_telemetry_webhook_deliveries_pending", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    webhook_id: Mapped[int] = mapped_column(ForeignKey("telemetry_webhooks.id", ondelete="CASCADE"))
    alarm_id: Mapped[int] = mapped_column(ForeignKey("telemetry_alarms.id", ondelete="CASCADE"))
    #: raised | acknowledged | cleared
    event: Mapped[str] = mapped_column(String(16))
    payload: Mapped[dict] = mapped_column(JSON, default=dict)
    #: pending | sent | failed
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class ResidentRequest(Base):
    """A resident's request from the /me page: warmer, cooler, or a fault report (报修)."""

    __tablename__ = "telemetry_resident_requests"
    __table_args__ = (Index("ix_telemetry_resident_requests_org", "org_id", "status"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    household_id: Mapped[int] = mapped_column(ForeignKey("assets_households.id", ondelete="CASCADE"), index=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), nullable=True)
    #: warmer | cooler | fault
    kind: Mapped[str] = mapped_column(String(16))
    message: Mapped[str] = mapped_column(Text, default="")
    room_temp_c: Mapped[float | None] = mapped_column(Float, nullable=True)
    #: the room temperature asked for (warmer / cooler), within the company's band
    #: (data/telemetry/resident_requests.yaml)
    desired_temp_c: Mapped[float | None] = mapped_column(Float, nullable=True)
    #: where the company can call the resident back
    contact_phone: Mapped[str] = mapped_column(String(32), default="", server_default="")
    #: the company's answer, written when it closes the request; the resident sees it on /me
    reply: Mapped[str] = mapped_column(Text, default="", server_default="")
    #: open | closed
    status: Mapped[str] = mapped_column(String(16), default="open")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    closed_by: Mapped[str] = mapped_column(String(64), default="")
