"""The payload codec on golden files (tests/data/telemetry/payloads): each *.json has its expected parse."""

import json
from pathlib import Path

import pytest

from cleanheat.telemetry.payload import (
    PayloadError,
    encode_snapshots,
    parse_payload,
    parse_topic,
    readings_topic,
)
from cleanheat.telemetry.validation import parse_ts_ms

GOLDEN = Path(__file__).resolve().parents[1] / "data" / "telemetry" / "payloads"


@pytest.mark.parametrize("name", sorted(p.stem for p in GOLDEN.glob("*.json") if ".expected" not in p.name))
def test_golden_payloads(name):
    expected = json.loads((GOLDEN / f"{name}.expected.json").read_text())
    msg = parse_payload((GOLDEN / f"{name}.json").read_bytes(), device=expected["device"])
    assert msg.token == expected["token"]
    assert [list(r) for r in msg.readings] == expected["readings"]
    assert [list(e) for e in msg.errors] == expected["errors"]
    # timestamps given with an offset, with Z, with milliseconds, or as ts_ms all land on the same UTC axis
    assert [parse_ts_ms(r[2]) for r in msg.readings] == expected["ts_ms"]


@pytest.mark.parametrize(("name", "where"), [
    ("truncated.bad", lambda data: len(data)),       # the object is never closed: the end of the message
    ("array.bad", lambda data: 0),                   # a list, not an object
    ("not_utf8.bad", lambda data: data.index(b"\xff")),  # the first byte that is not UTF-8
])
def test_unreadable_payloads_name_the_offset(name, where):
    data = (GOLDEN / name).read_bytes()
    with pytest.raises(PayloadError) as info:
        parse_payload(data)
    assert info.value.issues[0].offset == where(data)


def test_timestamps_need_an_offset():
    with pytest.raises(ValueError, match="no UTC offset"):
        parse_ts_ms("2024-01-15T08:00:00")
    with pytest.raises(ValueError):
        parse_ts_ms("yesterday")
    assert parse_ts_ms("2024-01-15T00:00:00.001+00:00") == 1705276800001


def test_topic_scheme_round_trip():
    topic = readings_topic("htjt", "ST-0001")
    assert topic == "cleanheat/v1/htjt/ST-0001/readings"
    assert parse_topic(topic) == ("htjt", "ST-0001")
    for bad in ("cleanheat/v1/htjt/ST-0001", "other/v1/htjt/ST-0001/readings", "cleanheat/v1/htjt//readings"):
        with pytest.raises(PayloadError):
            parse_topic(bad)


def test_encoded_snapshots_parse_back():
    data = encode_snapshots([("2024-01-15T00:00:00Z", {"a_c": 1.5, "b_c": 2.0})], token="t", device="D1")
    msg = parse_payload(data)
    assert msg.token == "t"
    assert msg.readings == [("D1", "a_c", "2024-01-15T00:00:00Z", 1.5, "readings[0].values.a_c"),
                            ("D1", "b_c", "2024-01-15T00:00:00Z", 2.0, "readings[0].values.b_c")]
