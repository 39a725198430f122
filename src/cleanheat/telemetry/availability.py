"""Device availability, coordinator style (after Home Assistant's ``DataUpdateCoordinator``).

A device is available while its newest *valid* reading is younger than ``stale_factor`` sampling intervals;
availability follows the last good update (quarantined readings do not count), values older than that expire
on the pages, and only transitions (online <-> offline) are logged, never every missed sample.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cleanheat.assets.tables import Device, Point
from cleanheat.store.base import utcnow
from cleanheat.telemetry.tables import DeviceEvent, DeviceStatus, Latest


def stale_after_ms(interval_s: int, stale_factor: float = 3.0) -> int:
    """Age after which a value (and a device) counts as stale [ms]; at least two minutes."""
    return int(max(120.0, stale_factor * interval_s) * 1000)


def is_fresh(ts_ms: int | None, now_ms: int, interval_s: int, stale_factor: float = 3.0) -> bool:
    return ts_ms is not None and now_ms - ts_ms <= stale_after_ms(interval_s, stale_factor)


@dataclass
class Transition:
    device_id: int
    device_code: str
    event: str  # online | offline
    last_good_ms: int | None


def sweep_availability(session: Session, now_ms: int, *, stale_factor: float = 3.0) -> list[Transition]:
    """Update ``telemetry_device_status`` for every active device and log the transitions."""
    rows = session.execute(
        select(Device.id, Device.code, func.max(Point.sampling_interval_s), func.max(Latest.ts_ms))
        .join(Point, Point.device_id == Device.id)
        .outerjoin(Latest, Latest.point_id == Point.id)
        .where(Device.status == "active")
        .group_by(Device.id, Device.code)).all()
    status = {s.device_id: s for s in session.scalars(select(DeviceStatus))}
    out = []
    at = datetime.fromtimestamp(now_ms / 1000, UTC)
    for did, code, interval, last in rows:
        available = is_fresh(last, now_ms, interval or 60, stale_factor)
        st = status.get(did)
        if st is None:
            if last is None:
                continue  # never reported: not commissioned, nothing to say
            st = DeviceStatus(device_id=did, available=not available, last_good_ms=last, changed_at=utcnow())
            session.add(st)
        st.last_good_ms = last
        if st.available != available:
            st.available, st.changed_at = available, at
            event = "online" if available else "offline"
            detail = "" if available else f"last valid reading {(now_ms - last) // 60000} min ago" if last else ""
            session.add(DeviceEvent(device_id=did, at=at, event=event, detail=detail))
            out.append(Transition(did, code, event, last))
    session.flush()
    return out
