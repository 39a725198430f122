"""Tables of the network area: stored networks, their runs (solves and analyses) and per-pipe results.

* ``network_networks``: one row per network a heat company keeps; ``model`` is the network as a native
  ``cleanheat-network/1`` document (whatever format it was uploaded in), so every later solve starts from it.
* ``network_runs``: one row per solve, seasonal heat-loss analysis or renovation scenario, with its options,
  summary (totals), warnings and the small per-element results (nodes, consumers, sources) as columnar JSON.
  Money saved by a renovation is a Decimal (``saved_yuan``, rounded to the fen).
* ``network_pipe_results``: per pipe and solve, the values the network page draws, lists and downloads.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import JSON, Float, ForeignKey, Index, Integer, Numeric, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from cleanheat.store.base import Base, UTCDateTime, utcnow


class StoredNetwork(Base):
    __tablename__ = "network_networks"
    __table_args__ = (UniqueConstraint("org_id", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    #: the format it was uploaded in: native | dhnet-bench/1 | geojson
    source_format: Mapped[str] = mapped_column(String(32))
    source_filename: Mapped[str] = mapped_column(String(300), default="")
    crs: Mapped[str | None] = mapped_column(String(64), nullable=True)
    n_nodes: Mapped[int] = mapped_column(Integer)
    n_pipes: Mapped[int] = mapped_column(Integer)
    n_consumers: Mapped[int] = mapped_column(Integer)
    n_sources: Mapped[int] = mapped_column(Integer)
    total_length_m: Mapped[float] = mapped_column(Float)
    design_heat_w: Mapped[float] = mapped_column(Float)
    #: the network as a cleanheat-network/1 document
    model: Mapped[dict] = mapped_column(JSON)
    created_by: Mapped[str] = mapped_column(String(100), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    runs: Mapped[list[NetworkRun]] = relationship(back_populates="network", cascade="all, delete-orphan",
                                                  passive_deletes=True, order_by="NetworkRun.id")


class NetworkRun(Base):
    __tablename__ = "network_runs"
    __table_args__ = (Index("ix_network_runs_network_kind", "network_id", "kind"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    network_id: Mapped[int] = mapped_column(ForeignKey("network_networks.id", ondelete="CASCADE"))
    #: solve | seasonal | renovation
    kind: Mapped[str] = mapped_column(String(16))
    #: ok | failed (a failed run keeps the error and the residual history)
    status: Mapped[str] = mapped_column(String(16), default="ok")
    options: Mapped[dict] = mapped_column(JSON, default=dict)
    summary: Mapped[dict] = mapped_column(JSON, default=dict)
    warnings: Mapped[list] = mapped_column(JSON, default=list)
    #: columnar per-element results other than pipes (nodes, consumers, sources) for a solve; bins and
    #: rankings for an analysis
    detail: Mapped[dict] = mapped_column(JSON, default=dict)
    error: Mapped[str] = mapped_column(Text, default="")
    solve_s: Mapped[float | None] = mapped_column(Float, nullable=True)
    saved_gj: Mapped[float | None] = mapped_column(Float, nullable=True)
    saved_yuan: Mapped[Decimal | None] = mapped_column(Numeric(16, 2), nullable=True)
    created_by: Mapped[str] = mapped_column(String(100), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    network: Mapped[StoredNetwork] = relationship(back_populates="runs")


class PipeResult(Base):
    __tablename__ = "network_pipe_results"

    run_id: Mapped[int] = mapped_column(ForeignKey("network_runs.id", ondelete="CASCADE"), primary_key=True)
    pipe_index: Mapped[int] = mapped_column(Integer, primary_key=True)
    pipe_id: Mapped[str] = mapped_column(String(100))
    mdot_kg_s: Mapped[float] = mapped_column(Float)
    velocity_m_s: Mapped[float] = mapped_column(Float)
    p_from_pa: Mapped[float] = mapped_column(Float)
    p_to_pa: Mapped[float] = mapped_column(Float)
    t_in_c: Mapped[float] = mapped_column(Float)
    t_out_c: Mapped[float] = mapped_column(Float)
    heat_loss_w: Mapped[float] = mapped_column(Float)
    heat_loss_w_per_m: Mapped[float] = mapped_column(Float)
