"""Tables of the programme area.

The plan (loaded from ``data/<city>/``) lives in ``programme_*`` reference tables; quarterly progress
reports live in ``programme_reports`` with their area and task lines. Areas are stored in m², capacities in
t/h, lengths in km; each plan value keeps the clause it comes from.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from cleanheat.store.base import Base, UTCDateTime, utcnow


class Plan(Base):
    __tablename__ = "programme_plans"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    city: Mapped[str] = mapped_column(String(64))
    title_zh: Mapped[str] = mapped_column(String(300))
    title_en: Mapped[str] = mapped_column(String(300), default="")
    baseline_year: Mapped[int] = mapped_column(Integer)
    start_year: Mapped[int] = mapped_column(Integer)
    end_year: Mapped[int] = mapped_column(Integer)
    meta: Mapped[dict] = mapped_column(JSON, default=dict)
    loaded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class AdminUnit(Base):
    """A district, county or county-level city that reports on the programme."""

    __tablename__ = "programme_admin_units"
    __table_args__ = (UniqueConstraint("plan_id", "code"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("programme_plans.id", ondelete="CASCADE"))
    code: Mapped[str] = mapped_column(String(64))
    name_zh: Mapped[str] = mapped_column(String(100))
    name_en: Mapped[str] = mapped_column(String(100), default="")
    kind: Mapped[str] = mapped_column(String(32))
    area_types: Mapped[list] = mapped_column(JSON, default=list)
    sort_order: Mapped[int] = mapped_column(Integer, default=0)


class Technology(Base):
    __tablename__ = "programme_technologies"
    __table_args__ = (UniqueConstraint("plan_id", "code"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("programme_plans.id", ondelete="CASCADE"))
    code: Mapped[str] = mapped_column(String(64))
    name_zh: Mapped[str] = mapped_column(String(100))
    name_en: Mapped[str] = mapped_column(String(100), default="")
    group: Mapped[str] = mapped_column(String(32))
    clean_rule: Mapped[str] = mapped_column(String(32))
    fuel: Mapped[str] = mapped_column(String(32), default="")
    sort_order: Mapped[int] = mapped_column(Integer, default=0)


class BaselineArea(Base):
    __tablename__ = "programme_baseline_areas"
    __table_args__ = (UniqueConstraint("plan_id", "area_type"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("programme_plans.id", ondelete="CASCADE"))
    area_type: Mapped[str] = mapped_column(String(32))  # urban | county_fringe | rural | city
    heated_area_m2: Mapped[float] = mapped_column(Float)
    clean_area_m2: Mapped[float] = mapped_column(Float)
    stated_rate: Mapped[float | None] = mapped_column(Float, nullable=True)
    central_heating_share: Mapped[float | None] = mapped_column(Float, nullable=True)
    clause: Mapped[str] = mapped_column(String(64))


class BaselineFact(Base):
    """Other baseline numbers: energy-mix shares, network length."""

    __tablename__ = "programme_baseline_facts"
    __table_args__ = (UniqueConstraint("plan_id", "family", "key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("programme_plans.id", ondelete="CASCADE"))
    family: Mapped[str] = mapped_column(String(32))  # energy_mix | network
    key: Mapped[str] = mapped_column(String(64))
    name_zh: Mapped[str] = mapped_column(String(100))
    value: Mapped[float] = mapped_column(Float)
    unit: Mapped[str] = mapped_column(String(16))  # share | km
    clause: Mapped[str] = mapped_column(String(64))


class RateTarget(Base):
    __tablename__ = "programme_rate_targets"
    __table_args__ = (UniqueConstraint("plan_id", "area_type", "year"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("programme_plans.id", ondelete="CASCADE"))
    area_type: Mapped[str] = mapped_column(String(32))
    year: Mapped[int] = mapped_column(Integer)
    min_rate: Mapped[float] = mapped_column(Float)
    clause: Mapped[str] = mapped_column(String(64))
    confidence: Mapped[str] = mapped_column(String(4), default="C")
    source: Mapped[str] = mapped_column(String(300), default="")


class TechnologyTarget(Base):
    __tablename__ = "programme_technology_targets"
    __table_args__ = (UniqueConstraint("plan_id", "group", "year"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("programme_plans.id", ondelete="CASCADE"))
    group: Mapped[str] = mapped_column(String(32))
    year: Mapped[int] = mapped_column(Integer)
    area_m2: Mapped[float] = mapped_column(Float)
    basis: Mapped[str] = mapped_column(String(16))  # level | increase
    comparator: Mapped[str] = mapped_column(String(4), default=">=")
    baseline_area_m2: Mapped[float | None] = mapped_column(Float, nullable=True)
    text: Mapped[str] = mapped_column(Text, default="")
    clause: Mapped[str] = mapped_column(String(64))


class Task(Base):
    __tablename__ = "programme_tasks"
    __table_args__ = (UniqueConstraint("plan_id", "code"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("programme_plans.id", ondelete="CASCADE"))
    code: Mapped[str] = mapped_column(String(64))
    name_zh: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str] = mapped_column(String(200), default="")
    measure: Mapped[str] = mapped_column(String(16))  # count | capacity_t_h | length_km | area_m2 | share
    unit_zh: Mapped[str] = mapped_column(String(16))
    area_scope: Mapped[list] = mapped_column(JSON, default=list)
    clause: Mapped[str] = mapped_column(String(64))
    responsible: Mapped[list] = mapped_column(JSON, default=list)
    registry_rule: Mapped[dict | None] = mapped_column(JSON, nullable=True)
    note: Mapped[str] = mapped_column(Text, default="")
    sort_order: Mapped[int] = mapped_column(Integer, default=0)

    targets: Mapped[list[TaskTarget]] = relationship(back_populates="task", order_by="TaskTarget.year",
                                                     cascade="all, delete-orphan")


class TaskTarget(Base):
    __tablename__ = "programme_task_targets"
    __table_args__ = (UniqueConstraint("task_id", "year"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("programme_tasks.id", ondelete="CASCADE"))
    year: Mapped[int] = mapped_column(Integer)
    value: Mapped[float] = mapped_column(Float)
    basis: Mapped[str] = mapped_column(String(16))  # cumulative | level
    comparator: Mapped[str] = mapped_column(String(4), default=">=")
    text: Mapped[str] = mapped_column(Text, default="")
    note: Mapped[str] = mapped_column(Text, default="")

    task: Mapped[Task] = relationship(back_populates="targets")


class Project(Base):
    __tablename__ = "programme_projects"
    __table_args__ = (UniqueConstraint("plan_id", "code"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("programme_plans.id", ondelete="CASCADE"))
    code: Mapped[str] = mapped_column(String(64))
    name_zh: Mapped[str] = mapped_column(String(200))
    technology: Mapped[str | None] = mapped_column(String(64), nullable=True)
    spec: Mapped[str] = mapped_column(String(100), default="")
    capacity_mw: Mapped[float | None] = mapped_column(Float, nullable=True)
    area_m2: Mapped[float | None] = mapped_column(Float, nullable=True)
    target_year: Mapped[int | None] = mapped_column(Integer, nullable=True)
    text: Mapped[str] = mapped_column(Text, default="")
    clause: Mapped[str] = mapped_column(String(64))


# --- progress reports ------------------------------------------------------------------------------------

class Report(Base):
    """One quarterly progress report of a reporting organisation (a version; corrections add versions)."""

    __tablename__ = "programme_reports"
    __table_args__ = (
        UniqueConstraint("plan_id", "org_id", "period", "version"),
        Index("ix_programme_reports_period", "plan_id", "period", "status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("programme_plans.id", ondelete="CASCADE"))
    org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    admin_unit_code: Mapped[str | None] = mapped_column(String(64), nullable=True)
    period: Mapped[str] = mapped_column(String(8))  # e.g. 2020Q4
    year: Mapped[int] = mapped_column(Integer)
    quarter: Mapped[int] = mapped_column(Integer)
    version: Mapped[int] = mapped_column(Integer, default=1)
    #: submitted -> accepted | returned; a newer accepted version marks older ones superseded.
    status: Mapped[str] = mapped_column(String(16), default="submitted")
    is_correction: Mapped[bool] = mapped_column(default=False)
    supersedes_id: Mapped[int | None] = mapped_column(ForeignKey("programme_reports.id"), nullable=True)
    submitted_by: Mapped[str] = mapped_column(String(100))
    submitted_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    reviewed_by: Mapped[str | None] = mapped_column(String(100), nullable=True)
    reviewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    review_comment: Mapped[str] = mapped_column(Text, default="")
    source_filename: Mapped[str] = mapped_column(String(300), default="")
    source_sha256: Mapped[str] = mapped_column(String(64), default="")
    synthetic: Mapped[bool] = mapped_column(default=False)
    note: Mapped[str] = mapped_column(Text, default="")

    areas: Mapped[list[ReportArea]] = relationship(back_populates="report", cascade="all, delete-orphan")
    tasks: Mapped[list[ReportTask]] = relationship(back_populates="report", cascade="all, delete-orphan")


class ReportArea(Base):
    __tablename__ = "programme_report_areas"
    __table_args__ = (UniqueConstraint("report_id", "area_type", "technology"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    report_id: Mapped[int] = mapped_column(ForeignKey("programme_reports.id", ondelete="CASCADE"))
    area_type: Mapped[str] = mapped_column(String(32))
    technology: Mapped[str] = mapped_column(String(64))
    heated_area_m2: Mapped[float] = mapped_column(Float)

    report: Mapped[Report] = relationship(back_populates="areas")


class ReportTask(Base):
    __tablename__ = "programme_report_tasks"
    __table_args__ = (UniqueConstraint("report_id", "task_code"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    report_id: Mapped[int] = mapped_column(ForeignKey("programme_reports.id", ondelete="CASCADE"))
    task_code: Mapped[str] = mapped_column(String(64))
    #: Progress in the task's unit: cumulative since the programme start, or the level reached (see the target).
    value: Mapped[float] = mapped_column(Float)

    report: Mapped[Report] = relationship(back_populates="tasks")
