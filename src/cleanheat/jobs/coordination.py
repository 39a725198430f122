"""Periodic rounds and leases shared by every process, through the database (both stores).

A periodic round is claimed by moving its due time forward with a conditional update
(``… SET next_due_at = now + interval WHERE name = ? AND next_due_at <= now``): of all the workers asking at
the same moment exactly one sees its update count 1 (PostgreSQL re-checks the condition on the row it waited
for; SQLite has one writer). A lease names the one process that runs a singleton service until it expires;
the holder renews it, another process takes it over only after it expired.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from cleanheat.jobs.tables import Lease, PeriodicRound
from cleanheat.store.base import utcnow


def _insert_missing(session: Session, table, values: dict) -> None:
    dialect = session.get_bind().dialect.name
    ins = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table).values(**values)
    session.execute(ins.on_conflict_do_nothing())


def claim_round(session: Session, name: str, interval_s: float, worker: str, now: datetime | None = None) -> bool:
    """True when ``worker`` is to run this round of the periodic task ``name`` (its due time moved on)."""
    now = now or utcnow()
    due = session.scalar(select(PeriodicRound.next_due_at).where(PeriodicRound.name == name))
    if due is None:
        _insert_missing(session, PeriodicRound.__table__, {"name": name, "next_due_at": now, "rounds": 0,
                                                           "last_worker": "", "last_error": ""})
    elif due > now:  # not due: a read, no write (asked every tick by every worker)
        return False
    return session.execute(
        update(PeriodicRound).where(PeriodicRound.name == name, PeriodicRound.next_due_at <= now)
        .values(next_due_at=now + timedelta(seconds=interval_s), rounds=PeriodicRound.rounds + 1,
                last_worker=worker[:120], last_started_at=now)
        .execution_options(synchronize_session=False)).rowcount == 1


def round_done(session: Session, name: str, error: str = "") -> None:
    """Record the end of a round (and its error, shown on the status page)."""
    session.execute(update(PeriodicRound).where(PeriodicRound.name == name)
                    .values(last_finished_at=utcnow(), last_error=error[:2000])
                    .execution_options(synchronize_session=False))


def hold_lease(session: Session, name: str, holder: str, ttl_s: float, now: datetime | None = None) -> bool:
    """Take or renew the lease ``name`` for ``holder`` for ``ttl_s``; False while another holds it."""
    now = now or utcnow()
    held = session.execute(select(Lease.holder, Lease.expires_at).where(Lease.name == name)).first()
    if held is None:
        _insert_missing(session, Lease.__table__, {"name": name, "holder": "", "expires_at": now, "status": {}})
    elif held.holder != holder[:120] and held.expires_at > now:  # another's, still valid: a read, no write
        return False
    return session.execute(
        update(Lease).where(Lease.name == name, or_(Lease.holder == holder[:120], Lease.expires_at <= now))
        .values(holder=holder[:120], expires_at=now + timedelta(seconds=ttl_s))
        .execution_options(synchronize_session=False)).rowcount == 1


def release_lease(session: Session, name: str, holder: str) -> None:
    """Give the lease up at once (a clean stop), so another process may take the service over."""
    session.execute(update(Lease).where(Lease.name == name, Lease.holder == holder[:120])
                    .values(holder="", expires_at=utcnow(), status={})
                    .execution_options(synchronize_session=False))


def set_status(session: Session, name: str, holder: str, status: dict) -> None:
    """What the running service tells the pages (kept while its holder holds the lease)."""
    session.execute(update(Lease).where(Lease.name == name, Lease.holder == holder[:120]).values(status=status)
                    .execution_options(synchronize_session=False))


def service_status(session: Session, name: str, now: datetime | None = None) -> dict | None:
    """The status of a service whose lease is held now (None when no process runs it)."""
    now = now or utcnow()
    lease = session.scalar(select(Lease).where(Lease.name == name, Lease.expires_at > now, Lease.holder != ""))
    return dict(lease.status or {}) if lease is not None else None


def rounds(session: Session) -> list[PeriodicRound]:
    """Every periodic task's record (for the status page and the CLI)."""
    return list(session.scalars(select(PeriodicRound).order_by(PeriodicRound.name)))
