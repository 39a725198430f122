"""Retention of raw HJ 212 data (CLEANHEAT_EMISSIONS_RETENTION_DAYS): old packets and real-time / minute values
go, evaluated hours and hourly uploads stay, and 0 keeps everything."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from cleanheat.emissions.ingest import BulkWriter, IngestRecord
from cleanheat.emissions.processing import Reading as R
from cleanheat.emissions.retention import prune
from cleanheat.emissions.rollup import maintenance_rules, run_maintenance
from cleanheat.emissions.tables import HourValue, RawPacket, Reading
from tests.emissions.test_pipeline import minutes

NOW = datetime(2026, 12, 1, 0, 0, tzinfo=UTC)


def _counts(s) -> dict:
    by = dict(s.execute(select(Reading.interval, func.count()).group_by(Reading.interval)).all())
    return {"packets": s.scalar(select(func.count()).select_from(RawPacket)), **by,
            "hours": s.scalar(select(func.count()).select_from(HourValue))}


def test_prune_keeps_recent_and_evaluated_data(world, engine):
    chp = world.points["T-CHP1"]
    old, new = NOW - timedelta(days=30), NOW - timedelta(days=2)
    recs = minutes(chp, old, 60, nox=30.0, o2=6.0) + minutes(chp, new, 60, nox=30.0, o2=6.0)
    recs.append(IngestRecord(received_at=old + timedelta(hours=1), raw=b"h", ok=True, point_id=chp, cn="2061",
                             readings=[R("hour", old, "a21002", avg=30.0, zs_avg=30.0, flag="N")]))
    recs.append(IngestRecord(received_at=old, raw=b"r", ok=True, point_id=chp, cn="2011",
                             readings=[R("rtd", old, "a21002", avg=30.0, flag="N")]))
    BulkWriter(engine).write(recs)
    with world.session() as s:
        run_maintenance(s, now=NOW, **maintenance_rules(world.settings.data_dir, world.settings.city_dir))
    with world.session() as s:
        before = _counts(s)
        assert prune(s, 0, now=NOW).packets == 0  # 0 keeps everything
        assert _counts(s) == before
        done = prune(s, 14, now=NOW)
    with world.session() as s:
        after = _counts(s)
    assert done.packets == 62 and done.readings == 60 * 4 + 1
    assert after["packets"] == 60 and after["minute"] == 60 * 4 and after.get("rtd", 0) == 0
    assert after["hour"] == before["hour"] == 1  # hourly uploads are the record
    assert after["hours"] == before["hours"] > 0  # evaluated hours stay
