"""CJ/T 188 codec: golden frames (values checked by hand against DOMAIN.md §3.1), errors with offset and field,
and property tests (hypothesis): build -> parse round trip, single-byte corruption refused, arbitrary bytes give
only MeterFrameError."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cleanheat.billing import cjt188
from cleanheat.billing.cjt188 import (
    LAYOUT_BY_NAME,
    UNIT_CODES,
    Dialect,
    Frame,
    HeatReading,
    MeterFrameError,
    Register,
    build_read_request,
    build_read_response,
    decode_frame,
    encode_frame,
    parse_read_request,
    parse_read_response,
)
from cleanheat.errors import InputError
from cleanheat.timeutil import CHINA_TZ

FRAMES = Path(__file__).parent / "data" / "frames"
SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def golden(name: str) -> bytes:
    """A golden frame: hex bytes, '#' lines are comments."""
    lines = (FRAMES / name).read_text(encoding="utf-8").splitlines()
    return bytes.fromhex(" ".join(line for line in lines if not line.startswith("#")))


# --- golden frames -----------------------------------------------------------------------------------------

def test_read_request_golden():
    raw = golden("cjt188_read_request.hex")
    assert build_read_request("00000012345678", preamble=3) == raw
    req = parse_read_request(raw)
    assert (req.meter_type, req.address, req.di, req.ser) == (0x20, "00000012345678", 0x901F, 0)


def test_water_meter_request_golden_frame():
    frame = decode_frame(golden("cjt188_water_read.hex"))
    assert frame == Frame(0x10, "78330011223344", 0x01, bytes([0x1F, 0x90, 0x00]), 0)
    with pytest.raises(MeterFrameError) as exc:
        parse_read_response(golden("cjt188_water_read.hex"))
    assert (exc.value.reason, exc.value.offset, exc.value.field) == ("bad_type", 1, "meter_type")


def test_heat_46_golden():
    raw = golden("cjt188_heat_46.hex")
    r = parse_read_response(raw)
    assert r.layout == "cj188_46" and r.address == "00000012345678" and r.meter_type == 0x20
    assert r.settlement_energy_kwh == Decimal("1234.56")
    assert r.energy_kwh == Decimal("1250.78")
    assert r.energy_gj == Decimal("4.502808")  # 1250.78 kWh × 3.6 MJ/kWh
    assert r.power_kw == Decimal("3.12")
    assert r.flow_m3_h == Decimal("0.1050")
    assert r.volume_m3 == Decimal("45678.90")
    assert (r.supply_temp_c, r.return_temp_c) == (Decimal("52.30"), Decimal("38.15"))
    assert r.working_hours_h == 2456
    assert r.clock == datetime(2024, 12, 15, 10, 30, 0, tzinfo=CHINA_TZ)
    assert (r.status, r.valve, r.battery_low, r.energy_kind) == (0, "open", False, "heat")
    assert build_read_response(r) == raw


def test_heat_43_golden():
    raw = golden("cjt188_heat_43.hex")
    r = parse_read_response(raw)
    assert r.layout == "short_43" and r.address == "00000087654321" and r.ser == 5
    assert r.settlement_energy == Register(Decimal("12.34"), 0x11)
    assert r.energy_gj == Decimal("15.67")
    # 15.67 GJ = 15.67e9 J / 3.6e6 J/kWh = 4352.777... kWh
    assert abs(r.energy_kwh - Decimal("4352.7777777777")) < Decimal("1e-9")
    assert r.power_kw == Decimal("12.50")
    assert r.flow_m3_h == Decimal("0.250")
    assert r.volume_m3 == Decimal("123.45")
    assert (r.supply_temp_c, r.return_temp_c) == (Decimal("55.20"), Decimal("40.05"))
    assert r.working_hours_h == 1234
    assert r.clock == datetime(2021, 1, 9, 9, 14, 55, tzinfo=CHINA_TZ)
    assert (r.status, r.valve, r.battery_low) == (4, "open", True)
    assert build_read_response(r, preamble=2) == raw


#: (address, type, settlement kWh, current kWh, power (value, unit), flow m³/h, volume m³, supply °C, return °C,
#: hours, clock, status), read by hand from the frames of cjt188_public_answers.hex
PUBLIC = [
    ("11110017312151", 0x20, "0.00", "0.00", ("0.00", 0x14), "0.0000", "0.19", "30.76", "30.68", 273,
     datetime(2007, 9, 12, 11, 41, 32), 0x0004),
    ("00740012064713", 0x20, "0.00", "0.00", ("0.00", 0x17), "0.0000", "0.00", "23.02", "23.11", 5834,
     datetime(2023, 9, 5, 12, 49, 9), 0x0800),
    ("11110059200991", 0x25, "0.00", "3.00", ("0.00", 0x17), "0.0000", "0.27", "14.60", "14.74", 5446,
     datetime(2010, 4, 22, 9, 49, 51), 0x0000),
    ("00312718241912", 0x25, "274.11", "54427.88", ("0.00", 0x17), "0.0000", "7156.08", "26.79", "26.64", 74766,
     datetime(2025, 9, 3, 17, 52, 11), 0x0500),
]


def test_public_answers():
    lines = (FRAMES / "cjt188_public_answers.hex").read_text(encoding="utf-8").splitlines()
    frames = [bytes.fromhex(line) for line in lines if not line.startswith("#")]
    assert len(frames) == len(PUBLIC)
    for raw, want in zip(frames, PUBLIC, strict=True):
        r = parse_read_response(raw)
        got = (r.address, r.meter_type, str(r.settlement_energy_kwh), str(r.energy_kwh),
               (str(r.power.value), r.power.unit_code), str(r.flow_m3_h), str(r.volume_m3), str(r.supply_temp_c),
               str(r.return_temp_c), r.working_hours_h, r.clock.replace(tzinfo=None), r.status)
        assert got == want
        assert build_read_response(r, preamble=len(raw) - len(raw.lstrip(b"\xfe"))) == raw
    # the request quoted next to the last answer
    quoted = bytes.fromhex("FE FE 68 20 12 19 24 18 27 31 00 01 03 1F 90 12 0C 16")
    assert build_read_request("00312718241912", ser=0x12) == quoted


@pytest.mark.parametrize(("code", "value", "kwh"), [
    (0x02, "1000.00", "1"),  # Wh
    (0x05, "1.00", "1"),  # kWh
    (0x08, "1.00", "1000"),  # MWh
    (0x0A, "1.00", "100000"),  # MWh×100
    (0x0B, "3600.00", "1"),  # kJ
    (0x0E, "36.00", "10"),  # MJ
    (0x11, "36.00", "10000"),  # GJ
    (0x13, "0.36", "10000"),  # GJ×100
])
def test_energy_units(code, value, kwh):
    r = parse_read_response(golden("cjt188_heat_46.hex"))
    r = _replace(r, energy=Register(Decimal(value), code))
    assert parse_read_response(build_read_response(r)).energy_kwh == Decimal(kwh)


@pytest.mark.parametrize(("field", "code", "value", "attr", "si"), [
    ("power", 0x14, "1500.00", "power_kw", "1.5"),  # W
    ("power", 0x1A, "1.50", "power_kw", "1500"),  # MW
    ("power", 0x46, "36.00", "power_kw", "10"),  # MJ/h
    ("power", 0x49, "0.36", "power_kw", "100"),  # GJ/h
    ("power", 0x43, "3600.00", "power_kw", "1"),  # kJ/h
    ("volume", 0x29, "1500.00", "volume_m3", "1.5"),  # L
    ("flow", 0x32, "250.0000", "flow_m3_h", "0.25"),  # L/h
])
def test_other_units(field, code, value, attr, si):
    r = _replace(parse_read_response(golden("cjt188_heat_46.hex")), **{field: Register(Decimal(value), code)})
    assert getattr(parse_read_response(build_read_response(r)), attr) == Decimal(si)


def test_dialects_big_endian_di_and_clock():
    r = parse_read_response(golden("cjt188_heat_46.hex"))
    be = Dialect(di_order="be", clock_order="be")
    raw = build_read_response(r, be)
    assert raw[11:13] == bytes([0x90, 0x1F])
    assert raw[11 + 3 + 25 + 9:11 + 3 + 25 + 16] == bytes.fromhex("20 24 12 15 10 30 00")
    assert parse_read_response(raw, be) == r
    assert parse_read_response(raw, Dialect(clock_order="be")) == r  # DI order "auto"
    with pytest.raises(MeterFrameError) as exc:
        parse_read_response(raw, Dialect(di_order="le", clock_order="be"))
    assert (exc.value.reason, exc.value.offset, exc.value.field) == ("bad_di", 11, "di")


def test_unit_before_value_and_big_endian_di_public_frame():
    """A 46-byte answer quoted in public code (find_string "81 2E 90 1F", file ids 25826630114, 25537880003, ...):
    DI 90 1F and each unit code before its value. Read by hand: 5328.19 kWh twice, 0 kW, 0 m³/h, 1833.42 m³,
    19.03 / 19.10 °C, 2761 h, 2015-03-31 23:57:26, ST 0103H."""
    raw = golden("cjt188_unit_first.hex")
    dialect = Dialect(di_order="be", unit_first=True)
    r = parse_read_response(raw, dialect)
    assert (r.address, r.settlement_energy_kwh, r.energy_kwh, r.power_kw, r.flow_m3_h, r.volume_m3) == (
        "42590008210438", Decimal("5328.19"), Decimal("5328.19"), 0, 0, Decimal("1833.42"))
    assert (r.supply_temp_c, r.return_temp_c, r.working_hours_h) == (Decimal("19.03"), Decimal("19.10"), 2761)
    assert (r.clock, r.status, r.valve) == (datetime(2015, 3, 31, 23, 57, 26, tzinfo=CHINA_TZ), 0x0103, "abnormal")
    assert build_read_response(r, dialect) == raw
    # read as the default dialect, the same bytes are refused, not misread: unit 00H after the first value
    e = _error(raw)
    assert (e.reason, e.offset, e.field) == ("bad_unit", 18, "settlement_energy.unit")


def test_clock_all_zero_is_none():
    r = _replace(parse_read_response(golden("cjt188_heat_46.hex")), clock=None)
    assert parse_read_response(build_read_response(r)).clock is None


def test_cooling_meter_and_valve_bits():
    r = _replace(parse_read_response(golden("cjt188_heat_46.hex")), meter_type=0x21, status=0x0001)
    back = parse_read_response(build_read_response(r))
    assert (back.energy_kind, back.valve) == ("cooling", "closed")
    assert _replace(r, status=0x0003).valve == "abnormal"


# --- errors: reason, byte offset, field ---------------------------------------------------------------------

def _with_checksum(raw: bytearray, start: int = 0) -> bytes:
    raw[-2] = sum(raw[start:-2]) & 0xFF
    return bytes(raw)


def _error(raw: bytes) -> MeterFrameError:
    with pytest.raises(MeterFrameError) as exc:
        parse_read_response(raw)
    assert isinstance(exc.value, InputError) and exc.value.issues[0].offset == exc.value.offset
    assert exc.value.issues[0].field == exc.value.field and exc.value.issues[0].message_en
    return exc.value


def test_error_bad_start_end_checksum_length():
    raw = golden("cjt188_heat_46.hex")
    e = _error(b"\xfe\xfe\x67" + raw[1:])
    assert (e.reason, e.offset, e.field) == ("bad_start", 2, "start")
    e = _error(raw[:-1] + b"\x17")
    assert (e.reason, e.offset, e.field) == ("bad_end", len(raw) - 1, "end")
    e = _error(raw[:-2] + bytes([(raw[-2] + 1) & 0xFF]) + raw[-1:])
    assert (e.reason, e.offset, e.field) == ("bad_checksum", len(raw) - 2, "checksum")
    assert "BEH" in e.issues[0].message_en and "BDH" in e.issues[0].message_en
    e = _error(raw[:-5] + raw[-2:])
    assert (e.reason, e.field) == ("truncated", "length")
    e = _error(raw + b"\x00")
    assert (e.reason, e.offset) == ("trailing", len(raw))
    assert _error(b"").reason == "truncated"
    assert _error(b"\xfe\xfe").reason == "truncated"


def test_error_length_not_a_layout():
    raw = bytearray(golden("cjt188_heat_46.hex"))
    short = raw[:-3] + raw[-2:]  # drop the last status byte
    short[10] = 45
    e = _error(_with_checksum(short))
    assert (e.reason, e.offset, e.field) == ("bad_length", 10, "length")


def test_error_non_bcd_digit_offsets():
    raw = bytearray(golden("cjt188_heat_46.hex"))
    raw[14 + 1] = 0x3A  # second byte of the settlement energy
    e = _error(_with_checksum(raw))
    assert (e.reason, e.offset, e.field) == ("bad_bcd", 15, "settlement_energy")
    raw = bytearray(golden("cjt188_heat_46.hex"))
    raw[4] = 0x5F  # address byte A2
    e = _error(_with_checksum(raw))
    assert (e.reason, e.offset, e.field) == ("bad_bcd", 4, "address")
    raw = bytearray(b"\xfe" + golden("cjt188_heat_46.hex"))
    raw[1 + 14 + 25 + 3] = 0xF0  # first byte of the return temperature, after one preamble byte
    e = _error(_with_checksum(raw, 1))
    assert (e.reason, e.offset, e.field) == ("bad_bcd", 43, "return_temp_c")


def test_error_unknown_or_wrong_unit_code():
    raw = bytearray(golden("cjt188_heat_46.hex"))
    raw[23] = 0x01  # unit of the current energy: 01H (J) is not accepted
    e = _error(_with_checksum(raw))
    assert (e.reason, e.offset, e.field) == ("bad_unit", 23, "energy.unit")
    raw[23] = 0x2C  # m³ is a unit, but not of energy
    e = _error(_with_checksum(raw))
    assert e.reason == "bad_unit" and "2CH (m³) is not a unit of energy" in e.issues[0].message_en


def test_error_bad_clock_and_meter_error_answer():
    raw = bytearray(golden("cjt188_heat_46.hex"))
    raw[14 + 25 + 9 + 4] = 0x13  # month 13
    e = _error(_with_checksum(raw))
    assert (e.reason, e.field, e.offset) == ("bad_time", "clock", 48)
    err = encode_frame(Frame(0x20, "00000012345678", 0xC1, bytes([0x1F, 0x90, 0x00, 0x01])))
    e = _error(err)
    assert (e.reason, e.offset, e.field) == ("meter_error", 9, "control")


def test_build_refuses_values_that_do_not_fit():
    r = parse_read_response(golden("cjt188_heat_43.hex"))
    with pytest.raises(ValueError, match="power"):
        build_read_response(_replace(r, power=Register(Decimal("10000.00"), 0x17)))  # 3 bytes: ≤ 9999.99
    with pytest.raises(ValueError, match="decimals"):
        build_read_response(_replace(r, volume=Register(Decimal("1.234"), 0x2C)))
    with pytest.raises(ValueError, match="unit"):
        build_read_response(_replace(r, energy=Register(Decimal("1"), 0x2C)))
    with pytest.raises(ValueError):
        build_read_request("1234")


def test_error_is_picklable():
    import pickle

    e = _error(b"\x00")
    back = pickle.loads(pickle.dumps(e))
    assert (back.reason, back.offset, back.summary) == (e.reason, e.offset, e.summary)


def _replace(r: HeatReading, **kw) -> HeatReading:
    return replace(r, **kw)


# --- property tests ----------------------------------------------------------------------------------------

def _register(spec) -> st.SearchStrategy[Register]:
    codes = sorted(c for c, u in UNIT_CODES.items() if u.quantity == spec.quantity)
    return st.builds(lambda n, c: Register(Decimal(n).scaleb(-spec.decimals), c),
                     st.integers(0, 100**spec.size - 1), st.sampled_from(codes))


@st.composite
def readings(draw) -> HeatReading:
    layout = LAYOUT_BY_NAME[draw(st.sampled_from(sorted(LAYOUT_BY_NAME)))]
    values = {}
    for spec in layout.fields:
        if spec.quantity:
            values[spec.name] = draw(_register(spec))
        elif spec.name not in ("clock", "status"):
            n = draw(st.integers(0, 100**spec.size - 1))
            values[spec.name] = n if spec.decimals == 0 else Decimal(n).scaleb(-spec.decimals)
    clock = draw(st.none() | st.datetimes(datetime(2000, 1, 1), datetime(2099, 12, 31, 23, 59, 59))
                 .map(lambda d: d.replace(microsecond=0, tzinfo=CHINA_TZ)))
    address = draw(st.text("0123456789", min_size=14, max_size=14))
    return HeatReading(address=address, clock=clock, status=draw(st.integers(0, 0xFFFF)),
                       meter_type=draw(st.integers(0x20, 0x29)), ser=draw(st.integers(0, 255)),
                       layout=layout.name, **values)


dialects = st.builds(Dialect, st.sampled_from(["le", "be", "auto"]), st.sampled_from(["le", "be"]), st.booleans())


@SETTINGS
@given(readings(), dialects, st.integers(0, 4))
def test_build_parse_round_trip(reading, dialect, preamble):
    raw = build_read_response(reading, dialect, preamble)
    assert parse_read_response(raw, dialect) == reading
    if dialect.di_order != "auto":
        assert parse_read_response(raw, replace(dialect, di_order="auto")) == reading


@SETTINGS
@given(st.text("0123456789", min_size=14, max_size=14), st.integers(0, 255), st.integers(0, 4))
def test_request_round_trip(address, ser, preamble):
    req = parse_read_request(build_read_request(address, 0x25, ser=ser, preamble=preamble))
    assert (req.meter_type, req.address, req.ser, req.di) == (0x25, address, ser, 0x901F)


@SETTINGS
@given(readings(), st.integers(0, 4), st.data())
def test_single_byte_corruption_is_refused(reading, preamble, data):
    raw = build_read_response(reading, preamble=preamble)
    i = data.draw(st.integers(0, len(raw) - 1))
    b = data.draw(st.integers(0, 255).filter(lambda v: v != raw[i]))
    bad = raw[:i] + bytes([b]) + raw[i + 1:]
    if i >= preamble:
        # inside the frame proper (68 .. 16) the checksum, the end byte or the length always catch it
        with pytest.raises(MeterFrameError):
            parse_read_response(bad)
    else:
        try:
            got = parse_read_response(bad)
        except MeterFrameError:
            return
        assert got != reading or b == cjt188.PREAMBLE


@SETTINGS
@given(st.binary(max_size=80))
def test_arbitrary_bytes_raise_only_meter_frame_error(data):
    for parse in (parse_read_response, parse_read_request, decode_frame):
        try:
            parse(data)
        except MeterFrameError as exc:
            assert exc.reason in cjt188.REASONS and exc.issues


@SETTINGS
@given(st.integers(0, 255), st.binary(min_size=7, max_size=7), st.integers(0, 255),
       st.sampled_from([43, 46, 3, 4]).flatmap(lambda n: st.binary(min_size=n, max_size=n)),
       st.sampled_from([b"\x1f\x90", b"\x90\x1f"]))
def test_well_framed_random_payloads_raise_only_meter_frame_error(mtype, addr, control, payload, di):
    body = bytes([0x68, mtype]) + addr + bytes([control | 0x81 if control & 1 else control, len(payload)])
    body += di + payload[2:]
    raw = body + bytes([sum(body) & 0xFF, 0x16])
    for parse in (parse_read_response, parse_read_request):
        try:
            parse(raw)
        except MeterFrameError as exc:
            assert exc.reason in cjt188.REASONS
