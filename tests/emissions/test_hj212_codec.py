"""HJ 212 codec: golden packets (the standard's own example and DOMAIN.md §1.10), errors, round trips."""

from __future__ import annotations

import pytest

from cleanheat.config import REPO_ROOT
from cleanheat.emissions.errors import HJ212Error
from cleanheat.emissions.hj212 import codec
from cleanheat.emissions.hj212.codec import (
    build_packet,
    check_crc,
    data_answer,
    encode,
    execution_result,
    make_packet,
    map_codes,
    parse_frame,
    parse_number,
    parse_time,
    request_answer,
    split_packet,
)
from cleanheat.emissions.hj212.codes import read_code_tables
from cleanheat.emissions.hj212.crc import (
    crc16_hj212,
    crc16_hj212_reference,
    crc16_modbus,
    crc16_modbus_reference,
)
from cleanheat.emissions.hj212.reassembly import SplitAssembler

DATA = REPO_ROOT / "data"

# HJ 212-2017 §6.1 example; its prose says "1C08" but the packet itself shows 1C80 (a typo in the standard,
# DOMAIN.md §1.3); Modbus CRC of the same bytes is 0x0759.
STANDARD_EXAMPLE = (b"##0101QN=20160801085857223;ST=32;CN=1062;PW=100000;MN=010000A8900016F000169DC0;Flag=5;"
                    b"CP=&&RtdInterval=30&&1C80\r\n")
# DOMAIN.md §1.10 worked packets (built with the Appendix A algorithm).
REALTIME = (b"##0433QN=20241215103000123;ST=31;CN=2011;PW=123456;MN=010000A8900016F000169DC0;Flag=5;CP=&&"
            b"DataTime=20241215103000;a21026-Rtd=18.5,a21026-ZsRtd=21.1,a21026-Flag=N;a21002-Rtd=35.0,"
            b"a21002-ZsRtd=40.0,a21002-Flag=N;a34013-Rtd=3.2,a34013-ZsRtd=3.7,a34013-Flag=N;a19001-Rtd=10.5,"
            b"a19001-Flag=N;a01012-Rtd=45.3,a01012-Flag=N;a01013-Rtd=-0.120,a01013-Flag=N;a01014-Rtd=6.5,"
            b"a01014-Flag=N;a01011-Rtd=9.80,a01011-Flag=N;a00000-Rtd=25.3,a00000-Flag=N&&4A40\r\n")
HOURLY = (b"##0386QN=20241215110000001;ST=31;CN=2061;PW=123456;MN=010000A8900016F000169DC0;Flag=5;CP=&&"
          b"DataTime=20241215100000;a00000-Cou=91080.0,a00000-Min=24.8,a00000-Avg=25.3,a00000-Max=25.9,"
          b"a00000-Flag=N;a21026-Cou=1.685,a21026-Min=16.2,a21026-Avg=18.5,a21026-Max=21.0,a21026-ZsMin=18.5,"
          b"a21026-ZsAvg=21.1,a21026-ZsMax=24.0,a21026-Flag=N;a19001-Min=10.1,a19001-Avg=10.5,a19001-Max=10.9,"
          b"a19001-Flag=N&&9741\r\n")
ANSWER = (b"##0087QN=20241215103000123;ST=91;CN=9014;PW=123456;MN=010000A8900016F000169DC0;Flag=4;CP=&&&&"
          b"F781\r\n")
GOLDEN = [STANDARD_EXAMPLE, REALTIME, HOURLY, ANSWER]


def segment(frame: bytes) -> bytes:
    return frame[6:-6]


@pytest.mark.parametrize("frame", GOLDEN)
def test_golden_crc_and_round_trip(frame):
    p = parse_frame(frame)
    assert p.crc_ok
    assert crc16_hj212(segment(frame)) == int(frame[-6:-2], 16)
    assert crc16_hj212_reference(segment(frame)) == int(frame[-6:-2], 16)
    assert encode(p) == frame


def test_standard_example_values():
    assert crc16_hj212(segment(STANDARD_EXAMPLE)) == 0x1C80
    assert crc16_modbus(segment(STANDARD_EXAMPLE)) == 0x0759
    assert crc16_modbus_reference(segment(STANDARD_EXAMPLE)) == 0x0759
    for frame in GOLDEN:
        assert crc16_modbus(segment(frame)) == crc16_modbus_reference(segment(frame))
    assert crc16_modbus(b"123456789") == 0x4B37  # the CRC-16/MODBUS check value
    p = parse_frame(STANDARD_EXAMPLE)
    assert (p.qn, p.st, p.cn, p.pw, p.mn, p.flag) == ("20160801085857223", "32", "1062", "100000",
                                                      "010000A8900016F000169DC0", 5)
    assert p.edition == "2017" and p.ack_requested and not p.is_split
    assert p.cp_fields == {"RtdInterval": "30"}
    assert p.cp == {}


def test_realtime_packet_fields():
    p = parse_frame(REALTIME)
    assert p.cn == "2011" and p.st == "31"
    assert p.data_time == "20241215103000"
    assert p.cp["a21026"] == {"Rtd": "18.5", "ZsRtd": "21.1", "Flag": "N"}
    assert p.cp["a01013"]["Rtd"] == "-0.120"
    assert len(p.cp) == 9
    d = p.as_dict()
    assert d["cp"]["a21026"] == {"Rtd": 18.5, "ZsRtd": 21.1, "Flag": "N"}
    assert d["cp"]["a01013"]["Rtd"] == -0.12


def test_hourly_packet_cou_consistent_with_flow():
    p = parse_frame(HOURLY)
    # 25.3 m3/s * 3600 s = 91080 m3; SO2 18.5 mg/m3 * 91080 m3 = 1.685 kg (DOMAIN.md §1.10)
    assert parse_number(p.cp["a00000"]["Avg"]) * 3600 == pytest.approx(parse_number(p.cp["a00000"]["Cou"]))
    so2_kg = parse_number(p.cp["a21026"]["Avg"]) * parse_number(p.cp["a00000"]["Cou"]) * 1e-6
    assert so2_kg == pytest.approx(parse_number(p.cp["a21026"]["Cou"]), abs=5e-4)


def test_build_reproduces_golden_packets():
    built = build_packet(qn="20241215103000123", st=31, cn=2011, pw="123456", mn="010000A8900016F000169DC0", flag=5,
                         cp={"DataTime": "20241215103000",
                             "a21026": {"Rtd": "18.5", "ZsRtd": "21.1", "Flag": "N"},
                             "a21002": {"Rtd": "35.0", "ZsRtd": "40.0", "Flag": "N"},
                             "a34013": {"Rtd": "3.2", "ZsRtd": "3.7", "Flag": "N"},
                             "a19001": {"Rtd": "10.5", "Flag": "N"},
                             "a01012": {"Rtd": "45.3", "Flag": "N"},
                             "a01013": {"Rtd": "-0.120", "Flag": "N"},
                             "a01014": {"Rtd": "6.5", "Flag": "N"},
                             "a01011": {"Rtd": "9.80", "Flag": "N"},
                             "a00000": {"Rtd": "25.3", "Flag": "N"}})
    assert built == REALTIME
    assert encode(data_answer(parse_frame(REALTIME))) == ANSWER
    assert codec.data_answer_frame(parse_frame(REALTIME)) == ANSWER
    no_qn = parse_frame(_frame(b"ST=32;CN=2011;PW=123456;MN=88888880000001;Flag=1;CP=&&&&"))
    assert codec.data_answer_frame(no_qn) == encode(data_answer(no_qn))
    assert build_packet(qn="20160801085857223", st=32, cn=1062, pw="100000", mn="010000A8900016F000169DC0",
                        flag=5, cp={"RtdInterval": 30}) == STANDARD_EXAMPLE


def test_modbus_crc_is_rejected_with_that_reason():
    frame = encode(parse_frame(REALTIME), crc="modbus")
    with pytest.raises(HJ212Error) as ei:
        parse_frame(frame)
    assert ei.value.reason == "crc_modbus"
    assert ei.value.field == "CRC" and ei.value.offset == len(frame) - 6
    assert "MODBUS" in str(ei.value)
    # a point configured for the Modbus variant accepts it
    assert parse_frame(frame, crc="modbus").crc_matches("modbus")
    p = parse_frame(frame, crc=None)
    assert not p.crc_ok
    with pytest.raises(HJ212Error) as ei:
        check_crc(p, "hj212")
    assert ei.value.reason == "crc_modbus"
    check_crc(p, "modbus")
    check_crc(p, "none")


def test_wrong_crc():
    frame = REALTIME[:-6] + b"0000\r\n"
    with pytest.raises(HJ212Error) as ei:
        parse_frame(frame)
    assert ei.value.reason == "bad_crc" and "4A40" in str(ei.value)


@pytest.mark.parametrize(
    ("frame", "reason", "offset"),
    [
        (b"#0101xx", "bad_header", 0),
        (b"##01a1QN=1&&1234\r\n", "bad_length", 2),
        (REALTIME[:-2] + b"\n\n", "bad_tail", len(REALTIME) - 2),
        (b"##0433" + REALTIME[6:-8] + b"4A40\r\n", "bad_length", 2),
        (REALTIME[:-6] + b"4A4G\r\n", "bad_crc", len(REALTIME) - 6),
        (b"##0005", "truncated", 6),
    ],
)
def test_framing_errors_name_reason_and_offset(frame, reason, offset):
    with pytest.raises(HJ212Error) as ei:
        parse_frame(frame)
    assert ei.value.reason == reason
    assert ei.value.offset == offset
    assert ei.value.issues[0].offset == offset


def _frame(seg: bytes) -> bytes:
    return b"##" + f"{len(seg):04d}".encode() + seg + f"{crc16_hj212(seg):04X}".encode() + b"\r\n"


@pytest.mark.parametrize(
    ("seg", "reason", "field"),
    [
        (b"QN=1;ST=31;CN=2011;PW=1;MN=X;Flag=5;", "missing_field", "CP"),
        (b"ST=31;CN=2011;PW=1;Flag=5;CP=&&&&", "missing_field", "MN"),
        (b"ST=31;CN=20x1;PW=1;MN=X;Flag=5;CP=&&&&", "bad_cn", "CN"),
        (b"ST=31;CN=2011;PW=1;MN=X;Flag=300;CP=&&&&", "bad_flag", "Flag"),
        (b"ST=31;CN=2011;PW=1;MN=X;Flag=16;CP=&&&&", "bad_flag", "Flag"),
        (b"ST=31;CN=2011;PW=1;MN=X;Flag=7;CP=&&&&", "missing_field", "PNUM"),
        (b"ST=31;CN=2011;PW=1;MN=X;Flag=7;PNUM=2;PNO=3;CP=&&&&", "bad_field", "PNO"),
        (b"ST=31;CN=2011;PW=1;MN=X;ST=32;CP=&&&&", "bad_field", "ST"),
        (b"ST=31;CN=2011;PW=1;MN=X;Flag=5;CP=&&DataTime=1;a21026-Rtd&&", "bad_field", "a21026-Rtd"),
        (b"ST=31;CN=2011;PW=1;MN=X;Flag=5;CP=&&a=1", "bad_field", "CP"),
        (b"ST=31;CN=2011;PW=1;MN=X;Flag=5CP=&&&&", "bad_field", "CP"),
    ],
)
def test_segment_errors(seg, reason, field):
    with pytest.raises(HJ212Error) as ei:
        parse_frame(_frame(seg))
    assert ei.value.reason == reason
    assert ei.value.field == field
    assert ei.value.offset is not None and 6 <= ei.value.offset <= 6 + len(seg)


def test_error_offset_points_at_bad_field():
    seg = b"ST=31;CN=2011;PW=1;MN=X;Flag=5;CP=&&DataTime=1;a21026-Rtd=1,oops&&"
    with pytest.raises(HJ212Error) as ei:
        parse_frame(_frame(seg))
    assert ei.value.offset == 6 + seg.index(b"oops")


def test_editions_from_version_bits():
    for flag, edition in ((1, "2005"), (5, "2017"), (9, "2025"), (8, "2025")):
        p = parse_frame(_frame(f"ST=31;CN=9015;PW=1;MN=X;Flag={flag};CP=&&&&".encode()))
        assert p.edition == edition
    assert parse_frame(_frame(b"ST=31;CN=2011;PW=123456;MN=88888880000001;CP=&&01-Rtd=5&&")).edition == "2005"


def test_2005_codes_mapped_to_2017():
    seg = b"ST=32;CN=2011;PW=123456;MN=88888880000001;CP=&&DataTime=20040516020111;01-Rtd=12.5,01-Flag=N;" \
          b"02-Rtd=80,02-ZsRtd=90;S01-Rtd=10.1;B02-Rtd=30.0&&"
    p = parse_frame(_frame(seg))
    assert p.qn is None and p.flag is None
    mapped = map_codes(p, read_code_tables(DATA).old_to_new)
    assert set(mapped.cp) == {"a34013", "a21026", "a19001", "a00000"}
    assert mapped.cp["a21026"] == {"Rtd": "80", "ZsRtd": "90"}
    assert mapped.cp_fields["DataTime"] == "20040516020111"


def test_utf8_and_gbk_text_and_byte_lengths():
    cp = {"DataTime": "20241215103000", "i11001": {"Info": "//锅炉启动，工况正常//"}}
    for enc in ("utf-8", "gbk"):
        frame = build_packet(st=31, cn=3020, pw="1", mn="X", flag=4, cp=cp, encoding=enc)
        p = parse_frame(frame)
        assert p.encoding == enc
        assert p.cp["i11001"]["Info"] == "//锅炉启动，工况正常//"
        assert encode(p, encoding=enc) == frame
    # a device that counts characters instead of bytes is accepted with a warning
    seg = "ST=31;CN=3020;PW=1;MN=X;Flag=4;CP=&&i11001-Info=//启动//&&".encode()
    chars = len(seg.decode())
    frame = b"##" + f"{chars:04d}".encode() + seg + f"{crc16_hj212(seg):04X}".encode() + b"\r\n"
    p = parse_frame(frame)
    assert p.length_counts_chars and any("characters" in w for w in p.warnings)


def test_bad_encoding():
    seg = b"ST=31;CN=2011;PW=1;MN=X;Flag=4;CP=&&a-Info=\xff\xfe\xff&&"
    with pytest.raises(HJ212Error) as ei:
        parse_frame(_frame(seg))
    assert ei.value.reason == "bad_encoding"
    assert ei.value.offset == 6 + seg.index(b"\xff")


def test_info_values_may_hold_separators():
    seg = "ST=31;CN=3020;PW=1;MN=X;Flag=4;CP=&&DataTime=20241215103000;PolId=a21026;i11001-Info=//a;b,c=d//&&"
    p = parse_frame(_frame(seg.encode()))
    assert p.cp["i11001"]["Info"] == "//a;b,c=d//"
    assert p.cp_fields == {"DataTime": "20241215103000", "PolId": "a21026"}
    assert encode(p) == _frame(seg.encode())


def test_replies():
    p = parse_frame(REALTIME)
    assert parse_frame(encode(request_answer(p, 3))).cp_fields == {"QnRtn": "3"}
    r = parse_frame(encode(execution_result(p, 1)))
    assert (r.cn, r.st, r.qn, r.flag, r.cp_fields) == ("9012", "91", p.qn, 4, {"ExeRtn": "1"})
    p25 = parse_frame(_frame(b"QN=20260101000000000;ST=31;CN=9015;PW=1;MN=X;Flag=9;CP=&&&&"))
    assert data_answer(p25).flag == 8  # keeps the 2025 version bits


def test_split_and_reassemble():
    cp = {"DataTime": "20241215100000"} | {f"a2{i:04d}": {"Avg": "1.5", "Min": "1.0", "Max": "2.0", "Flag": "N"}
                                           for i in range(40)}
    p = make_packet(qn="20241215110000001", st=31, cn=2061, pw="123456", mn="010000A8900016F000169DC0", flag=5,
                    cp=cp)
    parts = split_packet(p, max_data_len=400)
    assert len(parts) > 2
    frames = [encode(x) for x in parts]
    assert all(len(f) - 12 <= 400 for f in frames)
    parsed = [parse_frame(f) for f in frames]
    assert all(x.is_split and x.pnum == len(parts) for x in parsed)
    asm = SplitAssembler()
    out = None
    for x in reversed(parsed):  # order of arrival does not matter
        out = asm.add(x, now=0.0)
    assert out is not None and asm.pending == 0
    assert out.cp == p.cp and out.cp_fields == p.cp_fields
    assert not out.is_split and out.pnum is None and out.ack_requested
    # incomplete messages expire and are handed back
    asm.add(parsed[0], now=0.0)
    assert asm.expire(now=1.0) == []
    expired = asm.expire(now=1000.0)
    assert len(expired) == 1 and expired[0][0] == parsed[0]


def test_numbers_and_times():
    assert parse_number("-0.120") == -0.12
    assert parse_number("12.") == 12.0
    for bad in ("nan", "1e5", "1_000", "", "--1", "0x10", " 1"):
        with pytest.raises(HJ212Error) as ei:
            parse_number(bad, field="a21026-Rtd")
        assert ei.value.reason == "bad_value" and ei.value.field == "a21026-Rtd"
    t = parse_time("20241215103000")
    assert t.isoformat() == "2024-12-15T02:30:00+00:00"
    assert codec.format_time(t) == "20241215103000"
    for bad in ("20241315103000", "2024121510300", "2024121510300x"):
        with pytest.raises(HJ212Error) as ei:
            parse_time(bad)
        assert ei.value.reason == "bad_time"


def test_code_tables_include_2025_heartbeat():
    tables = read_code_tables(DATA)
    assert tables.command("9015").kind == "upload" and tables.command("9015").editions == {"2025"}
    assert tables.command("2061").kind == "upload"
    assert tables.old_to_new["S01"] == "a19001"
    assert {f.code for f in tables.factors.values() if f.limited} >= {"a21026", "a21002", "a34013"}
