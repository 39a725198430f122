"""Tables of the planner: imported area sets, saved scenarios, solved results, proposals to the programme."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import JSON, Boolean, Float, ForeignKey, Integer, Numeric, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from cleanheat.store.base import Base, UTCDateTime, utcnow


class PlannerAreaSet(Base):
    """An imported area file, kept as rows of the file schema (see ``planner/areas.py``)."""

    __tablename__ = "planner_area_sets"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    source_file: Mapped[str] = mapped_column(String(300), default="")
    synthetic: Mapped[bool] = mapped_column(Boolean, default=False)
    n_areas: Mapped[int] = mapped_column(Integer)
    heated_area_m2: Mapped[float] = mapped_column(Float)
    rows: Mapped[list] = mapped_column(JSON)
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class PlannerScenario(Base):
    """A saved scenario: its YAML text is the single source (``areas`` names ``synthetic`` or a stored set)."""

    __tablename__ = "planner_scenarios"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    yaml_text: Mapped[str] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    results: Mapped[list[PlannerResult]] = relationship(back_populates="scenario", cascade="all, delete-orphan",
                                                         order_by="PlannerResult.id")


class PlannerResult(Base):
    """A solved pathway (``kind = pathway``) or a sensitivity run (``kind = sensitivity``) of a scenario."""

    __tablename__ = "planner_results"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    scenario_id: Mapped[int] = mapped_column(ForeignKey("planner_scenarios.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(20), default="pathway")
    status: Mapped[str] = mapped_column(String(20))
    total_cost_yuan: Mapped[Decimal | None] = mapped_column(Numeric(20, 2), nullable=True)
    yaml_text: Mapped[str] = mapped_column(Text)  # the scenario as solved
    summary: Mapped[dict] = mapped_column(JSON)
    areas: Mapped[list] = mapped_column(JSON, default=list)
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    scenario: Mapped[PlannerScenario] = relationship(back_populates="results")


class PlannerProposal(Base):
    """A pathway proposed to the programme office as targets (rates, technology areas) and build tasks."""

    __tablename__ = "planner_proposals"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    #: The result it came from (kept NULL when the scenario and its results are deleted; the proposal stays).
    result_id: Mapped[int | None] = mapped_column(ForeignKey("planner_results.id", ondelete="SET NULL"),
                                                  index=True, nullable=True)
    title: Mapped[str] = mapped_column(String(200))
    note: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(20), default="proposed")
    scenario_name: Mapped[str] = mapped_column(String(200))
    years: Mapped[list] = mapped_column(JSON)
    rate_targets: Mapped[list] = mapped_column(JSON)
    technology_targets: Mapped[list] = mapped_column(JSON)
    builds: Mapped[list] = mapped_column(JSON)
    total_cost_yuan: Mapped[Decimal | None] = mapped_column(Numeric(20, 2), nullable=True)
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    result: Mapped[PlannerResult | None] = relationship()
