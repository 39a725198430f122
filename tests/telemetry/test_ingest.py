"""Validation and idempotent storage: every invalid class lands in quarantine with its reason; nothing doubles."""

from __future__ import annotations

import json
import time

from sqlalchemy import func, select

from cleanheat.telemetry.pipeline import Inbound, IngestPipeline
from cleanheat.telemetry.tables import IngestBatch, Latest, Quarantine, Reading, RollupDirty

NOW_MS = int(time.time() * 1000) // 60000 * 60000


def iso(ms: int) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(ms / 1000, UTC).isoformat()


def msg(device: str, body: dict, token: str | None) -> Inbound:
    if token:
        body = {"token": token} | body
    return Inbound(payload=json.dumps(body).encode(), topic=f"cleanheat/v1/htjt/{device}/readings",
                   location=f"cleanheat/v1/htjt/{device}/readings")


def test_valid_readings_stored_once(small_city):
    pipe = IngestPipeline(small_city.engine, worker="t")
    tok = small_city.tokens["ST-0001"]
    body = {"readings": [{"ts": iso(NOW_MS - 60000 * i), "values": {"s_supply_temp_c": 60 + i, "s_return_temp_c": 40}}
                         for i in range(5)]}
    r1 = pipe.ingest([msg("ST-0001", body, tok)], now_ms=NOW_MS)
    assert r1.counts.inserted == 10 and r1.counts.quarantined == 0
    # the same message again (a QoS 1 redelivery): counted as duplicates, stored once
    r2 = pipe.ingest([msg("ST-0001", body, tok)], now_ms=NOW_MS)
    assert (r2.counts.inserted, r2.counts.duplicates) == (0, 10)
    with small_city.session_factory() as s:
        assert s.scalar(select(func.count()).select_from(Reading)) == 10
        pid = small_city.points[("ST-0001", "s_supply_temp_c")]
        latest = s.get(Latest, pid)
        assert (latest.ts_ms, latest.value) == (NOW_MS, 60.0)  # the newest reading, not the last one sent
        assert s.scalar(select(func.count()).select_from(RollupDirty)) >= 2
        batches = s.scalars(select(IngestBatch).order_by(IngestBatch.id)).all()
        assert [(b.inserted, b.duplicates) for b in batches] == [(10, 0), (0, 10)]


def test_every_invalid_class_is_quarantined_with_its_reason(small_city):
    pipe = IngestPipeline(small_city.engine, worker="t")
    st, org, other = small_city.tokens["ST-0001"], small_city.tokens["htjt"], small_city.tokens["VST-0001"]
    t = iso(NOW_MS)
    inbound = [
        Inbound(payload=b'{"ts": "x", "point": ', topic="cleanheat/v1/htjt/ST-0001/readings", location="topic A"),
        msg("ST-0001", {"ts": t, "point": "s_supply_temp_c", "value": 60}, None),                   # auth_failed
        msg("ST-0001", {"ts": t, "point": "s_supply_temp_c", "value": 60}, other),                  # unknown_device
        msg("ST-0001", {"ts": t, "point": "s_supply_temp_c", "value": 60}, "chd_forged"),           # auth_failed
        msg("RS-0001", {"ts": t, "point": "room_temp_c", "value": 20}, st),                         # auth_failed
        msg("XX-9999", {"ts": t, "point": "s_supply_temp_c", "value": 60}, org),                    # unknown_device
        msg("ST-0001", {"ts": t, "point": "no_such_point_c", "value": 60}, st),                     # unknown_point
        msg("ST-0001", {"ts": t, "point": "s_supply_temp_c", "value": "hot"}, st),                  # non_numeric
        msg("ST-0001", {"ts": t, "point": "s_return_temp_c", "value": True}, st),                   # non_numeric
        msg("ST-0001", {"ts": t, "point": "s_flow_kg_s", "value": -5}, st),                         # out_of_range
        msg("ST-0001", {"ts": t, "point": "p_supply_temp_c", "value": 900}, st),                    # out_of_range
        msg("ST-0001", {"ts": "2024-01-15T08:00:00", "point": "s_supply_temp_c", "value": 60}, st),  # bad_timestamp
        msg("ST-0001", {"ts": iso(NOW_MS + 3_600_000), "point": "s_supply_temp_c", "value": 60}, st),  # future
        msg("ST-0001", {"ts": iso(NOW_MS - 500 * 86_400_000), "point": "s_supply_temp_c", "value": 60}, st),  # old
        Inbound(payload=b'{"point": "a", "value": 1}', topic="bad/topic", location="bad/topic"),   # malformed
        Inbound(payload=json.dumps({"token": org, "readings": [7]}).encode(),
                topic="cleanheat/v1/htjt/ST-0001/readings", location="topic B"),                  # malformed item
    ]
    res = pipe.ingest(inbound, now_ms=NOW_MS)
    assert res.counts.inserted == 0
    assert dict(res.reasons) == {"malformed": 3, "auth_failed": 3, "unknown_device": 2, "unknown_point": 1,
                                 "non_numeric": 2, "out_of_range": 2, "bad_timestamp": 1, "future_timestamp": 1,
                                 "too_old": 1}
    with small_city.session_factory() as s:
        rows = s.scalars(select(Quarantine).order_by(Quarantine.id)).all()
        assert len(rows) == 16
        by_reason = {}
        for q in rows:
            by_reason.setdefault(q.reason, []).append(q)
        # malformed messages are kept whole, with where the parse failed
        assert by_reason["malformed"][0].payload == '{"ts": "x", "point": '
        assert "offset 21" in by_reason["malformed"][0].location
        assert by_reason["malformed"][2].location == "topic B readings[0]"
        oor = {q.point_key: q for q in by_reason["out_of_range"]}
        assert oor["p_supply_temp_c"].raw_value == "900" and "outside [0, 160]" in oor["p_supply_temp_c"].detail
        assert [q.device_code for q in by_reason["unknown_device"]] == ["ST-0001", "XX-9999"]
        # another company's token does not even learn that the device exists
        assert by_reason["unknown_device"][0].detail == "no device 'ST-0001' for this token"
        assert [q.detail for q in by_reason["auth_failed"]] == [
            "missing token", "invalid token", "the token does not grant device 'RS-0001'"]
        # quarantine rows carry the owning organisation when the device is known (scoped lists)
        assert all(q.org_id is not None for q in by_reason["out_of_range"])
        assert s.scalar(select(func.count()).select_from(Reading)) == 0


def test_stuck_values_and_register_decrease(small_city):
    pipe = IngestPipeline(small_city.engine, worker="t")
    tok = small_city.tokens["htjt"]
    # a room sensor repeating 19.0 for 8 hours: stuck after the 6 h of data/telemetry/points.yaml
    start = NOW_MS - 8 * 3_600_000
    body = {"readings": [{"ts": iso(start + i * 900_000), "values": {"room_temp_c": 19.0}} for i in range(33)]}
    res = pipe.ingest([msg("RS-0001", body, tok)], now_ms=NOW_MS)
    # 6 h = 24 intervals of 15 min: readings 0..24 are accepted (24 is exactly 6 h), 25..32 are stuck
    assert (res.counts.inserted, res.reasons["stuck_value"]) == (25, 8)
    # a change of value ends the run
    res = pipe.ingest([msg("RS-0001", {"ts": iso(NOW_MS + 60_000), "point": "room_temp_c", "value": 19.1}, tok)],
                      now_ms=NOW_MS + 60_000)
    assert res.counts.inserted == 1
    # a heat-meter register may not go down
    body = {"readings": [{"ts": iso(NOW_MS - 120_000), "point": "heat_energy_kwh", "value": 1000.0},
                         {"ts": iso(NOW_MS - 60_000), "point": "heat_energy_kwh", "value": 999.0},
                         {"ts": iso(NOW_MS), "point": "heat_energy_kwh", "value": 1000.5}]}
    res = pipe.ingest([msg("HM-0001", body, tok)], now_ms=NOW_MS)
    assert (res.counts.inserted, dict(res.reasons)) == (2, {"register_decrease": 1})


def test_company_token_covers_its_devices_only(small_city):
    pipe = IngestPipeline(small_city.engine, worker="t")
    tok = small_city.tokens["htjt"]
    t = iso(NOW_MS)
    res = pipe.ingest([msg("RS-0002", {"ts": t, "point": "room_temp_c", "value": 20.5}, tok),
                       Inbound(payload=json.dumps({"token": tok, "ts": t, "point": "s_supply_temp_c",
                                                   "value": 60}).encode(),
                               topic="cleanheat/v1/veolia/VST-0001/readings", location="v")], now_ms=NOW_MS)
    assert res.counts.inserted == 1
    assert dict(res.reasons) == {"unknown_device": 1}
