"""Tables of the background-work area (``jobs_*``)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Float, ForeignKey, Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, deferred, mapped_column

from cleanheat.store.base import Base, UTCDateTime, utcnow


class Job(Base):
    """One piece of long work asked for by a user (or the system): claimed by one worker, run once. States:
    queued → running → done | failed (a running job of a lost worker goes back to queued)."""

    __tablename__ = "jobs_queue"
    __table_args__ = (Index("ix_jobs_queue_state_id", "state", "id"),
                      Index("ix_jobs_queue_finished_at", "finished_at"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(64))
    #: what the job is, in Chinese and in English (the pages show the user's language)
    title: Mapped[str] = mapped_column(String(300), default="")
    title_en: Mapped[str] = mapped_column(String(300), default="", server_default="")
    params: Mapped[dict] = mapped_column(JSON, default=dict)
    state: Mapped[str] = mapped_column(String(16), default="queued")
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)
    org_id: Mapped[int | None] = mapped_column(ForeignKey("organisations.id", ondelete="SET NULL"))
    #: share of the work done [0..1] and what is being done now (bilingual text)
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    message: Mapped[str] = mapped_column(String(500), default="")
    #: what the page offers when done: {"url": ...} to open, or {"file": name, "media_type": ...} to download
    result: Mapped[dict | None] = mapped_column(JSON)
    result_bytes: Mapped[bytes | None] = deferred(mapped_column(LargeBinary))
    error: Mapped[str] = mapped_column(Text, default="")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    worker: Mapped[str] = mapped_column(String(120), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class PeriodicRound(Base):
    """A periodic task's next due time: the worker whose conditional update moves it forward runs the round."""

    __tablename__ = "jobs_periodic"

    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    next_due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    rounds: Mapped[int] = mapped_column(Integer, default=0)
    last_worker: Mapped[str] = mapped_column(String(120), default="")
    last_started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str] = mapped_column(Text, default="")


class Lease(Base):
    """Who runs a singleton service (the demo twin, the demo HJ 212 feed) until when; renewed while it runs."""

    __tablename__ = "jobs_leases"

    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    holder: Mapped[str] = mapped_column(String(120), default="")
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    acquired_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: what the service tells the pages (e.g. the demo's weather note, the feed's port)
    status: Mapped[dict] = mapped_column(JSON, default=dict)
