"""Retention of the bulky raw data: received packets (``emissions_packets``) and the real-time and minute values
(``emissions_readings`` with interval ``rtd`` / ``minute``) older than ``CLEANHEAT_EMISSIONS_RETENTION_DAYS``
are deleted by the receiver's maintenance (and the web app's). The evaluated hours and days, exceedances, alarms
and the hourly and daily values as uploaded are kept. 0 (the default) keeps everything: keep raw data as long as
the supervising authority requires, and set a retention only where it is archived elsewhere or in a demo.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete
from sqlalchemy.orm import Session

from cleanheat.emissions.tables import RawPacket, Reading
from cleanheat.store.base import utcnow

#: reading intervals that are pruned (the hourly and daily values are the record)
PRUNED_INTERVALS = ("rtd", "minute")


@dataclass
class Pruned:
    packets: int
    readings: int


def prune(session: Session, days: int, *, now: datetime | None = None) -> Pruned:
    """Delete packets received, and real-time / minute readings timed, more than ``days`` days before ``now``."""
    if days <= 0:
        return Pruned(0, 0)
    cutoff = (now or utcnow()) - timedelta(days=days)
    packets = session.execute(delete(RawPacket).where(RawPacket.received_at < cutoff)).rowcount or 0
    readings = session.execute(delete(Reading).where(Reading.interval.in_(PRUNED_INTERVALS),
                                                     Reading.ts < cutoff)).rowcount or 0
    return Pruned(packets, readings)
