"""CSV backfill (all rows stored or quarantined with their row; broken files refused whole) and the alarm rule
kinds not exercised by the demo-city faults (threshold, rate, ΔT), by hand."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from cleanheat.auth.service import Actor
from cleanheat.store.engine import session_scope
from cleanheat.telemetry.alarms import evaluate_alarms, load_default_rules
from cleanheat.telemetry.files import BackfillError, backfill, read_readings_file
from cleanheat.telemetry.pipeline import IngestPipeline
from cleanheat.telemetry.rollups import process_all_dirty
from cleanheat.telemetry.tables import Alarm, AlarmRule, Quarantine, Reading

NOW = int(time.time() * 1000) // 60_000 * 60_000


def iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat()


def test_csv_backfill(small_city):
    good = "\n".join(f"ST-0001,s_supply_temp_c,{iso(NOW - i * 60_000)},{60 + i * 0.1:.1f}" for i in range(100))
    text = ("device,point,ts,value,comment\n" + good + "\n"
            f"ST-0001,s_supply_temp_c,{iso(NOW)},61.0,resent\n"        # the same point and time again
            f"ST-0001,s_flow_kg_s,{iso(NOW)},lots,\n"                   # row 103: not a number
            f"VST-0001,s_flow_kg_s,{iso(NOW)},3.0,\n"                   # row 104: another company's device
            f"ST-0001,s_flow_kg_s,2024-13-01T00:00:00+08:00,3.0,\n")    # row 105: no such date
    rows = read_readings_file(text.encode(), "history.csv")
    org_id = small_city.engine.connect().exec_driver_sql("SELECT id FROM organisations WHERE code='htjt'").scalar()
    res = backfill(IngestPipeline(small_city.engine, worker="t", source="csv"), rows, file="history.csv",
                   org_id=org_id, chunk=40)
    assert (res.counts.inserted, res.counts.duplicates) == (100, 1)
    assert dict(res.reasons) == {"non_numeric": 1, "unknown_device": 1, "bad_timestamp": 1}
    with small_city.session_factory() as s:
        assert s.scalar(select(func.count()).select_from(Reading)) == 100
        where = {q.reason: q.location for q in s.scalars(select(Quarantine))}
    assert where == {"non_numeric": "history.csv row 103", "unknown_device": "history.csv row 104",
                     "bad_timestamp": "history.csv row 105"}


@pytest.mark.parametrize(("text", "problem"), [
    ("device,point,value\nST-0001,x,1\n", "missing column 'ts'"),
    ("device,point,ts,value\nST-0001,x\n", "2 cells, expected at least 4"),
    ("", "no header row"),
])
def test_broken_backfill_files_are_refused_whole(text, problem):
    with pytest.raises(BackfillError) as info:
        read_readings_file(text.encode(), "bad.csv")
    assert info.value.issues[0].message == problem and info.value.issues[0].file == "bad.csv"


def _feed(small_city, series: dict[str, list[float]], end: int, device: str = "ST-0001") -> None:
    from cleanheat.telemetry.payload import ParsedMessage
    from cleanheat.telemetry.pipeline import Inbound

    readings = [(device, key, end - (len(vals) - 1 - i) * 60_000, v, "t")
                for key, vals in series.items() for i, v in enumerate(vals)]
    IngestPipeline(small_city.engine, worker="t").ingest(
        [Inbound(parsed=ParsedMessage(None, readings), trusted=True)], now_ms=NOW)
    process_all_dirty(small_city.engine)


def _raised(small_city, end: int) -> set[str]:
    with session_scope(small_city.session_factory) as s:
        evaluate_alarms(s, end + 60_000)
        return {s.get(AlarmRule, a.rule_id).code for a in s.scalars(select(Alarm).where(Alarm.state == "active"))}


def test_threshold_rate_and_delta_t_rules(small_city):
    with session_scope(small_city.session_factory) as s:
        load_default_rules(s, Actor.system(), small_city.settings.data_dir)
    # 12 minutes of secondary supply at 88 °C (> 85 for 10 min), return 86 (ΔT 2 K < 3 K, but only 12 of 30 min)
    t1, t2, t3 = NOW - 2 * 3_600_000, NOW - 3_600_000, NOW
    _feed(small_city, {"s_supply_temp_c": [88.0] * 12, "s_return_temp_c": [86.0] * 12}, t1)
    assert _raised(small_city, t1) == {"secondary_supply_too_hot"}
    # 31 minutes of ΔT 2 K at a moderate supply: the ΔT rule fires, the hot one clears
    _feed(small_city, {"s_supply_temp_c": [60.0 + 0.01 * i for i in range(31)],
                       "s_return_temp_c": [58.0 + 0.01 * i for i in range(31)]}, t2)
    assert _raised(small_city, t2) == {"secondary_delta_t_small"}
    # primary supply climbing 3 K per minute for 10 minutes
    _feed(small_city, {"p_supply_temp_c": [70.0 + 3 * i for i in range(11)]}, t3)
    assert "primary_supply_fast_change" in _raised(small_city, t3)
    with small_city.session_factory() as s:
        states = {(s.get(AlarmRule, a.rule_id).code, a.state) for a in s.scalars(select(Alarm))}
    assert ("secondary_supply_too_hot", "cleared") in states
