"""M-Bus (EN 13757-3) codec: golden frames (two libmbus test vectors of real heat meters and one built by hand,
values checked by hand), errors with offset and field, and property tests (hypothesis)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cleanheat.billing import mbus
from cleanheat.billing.cjt188 import REASONS, MeterFrameError
from cleanheat.billing.mbus import (
    FixedHeader,
    LongFrame,
    Telegram,
    build_long_frame,
    build_req_ud2,
    build_rsp_ud,
    decode_type_f,
    decode_type_g,
    encode_type_f,
    encode_type_g,
    make_record,
    manufacturer_code,
    parse_rsp_ud,
)
from cleanheat.errors import InputError
from tests.billing.test_cjt188 import golden

ABC = manufacturer_code("ABC")
SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _summary(rec) -> tuple:
    return (rec.function, rec.storage, rec.tariff, rec.subunit, rec.quantity, rec.value)


# --- golden frames -----------------------------------------------------------------------------------------

def test_handmade_heat_meter_frame():
    raw = golden("mbus_heat_handmade.hex")
    t = parse_rsp_ud(raw)
    assert t.header.manufacturer == "HRB"
    assert t.header == FixedHeader("12345678", 0x2242, 1, 4, 0x2A, 0, 0)
    assert (t.control, t.address, t.manufacturer_data, t.more_records_follow) == (0x08, 5, b"\x01\x02\x03", False)
    assert t.energy_gj == Decimal("123.456")  # 123456 MJ
    assert abs(t.energy_kwh - Decimal("34293.333333333")) < Decimal("1e-6")
    assert (t.volume_m3, t.power_kw, t.flow_m3_h) == (Decimal("4567.89"), Decimal(15), Decimal("1.25"))
    assert (t.supply_temp_c, t.return_temp_c) == (Decimal("65.2"), Decimal("42.5"))
    assert t.clock == datetime(2020, 12, 15, 10, 30)
    r = t.records
    assert _summary(r[7]) == ("instantaneous", 1, 0, 0, "energy", Decimal(125000))
    assert _summary(r[8]) == ("instantaneous", 1, 0, 0, "date", date(2020, 9, 30))
    assert _summary(r[9]) == ("instantaneous", 0, 1, 0, "energy", Decimal(1000))
    assert _summary(r[10])[:5] == ("instantaneous", 0, 0, 1, "energy") and r[10].energy_gj == Decimal(123)
    assert _summary(r[11]) == ("instantaneous", 0, 0, 0, "temp_diff", Decimal("-1.50"))
    assert _summary(r[12]) == ("maximum", 0, 0, 0, "power", Decimal("1.2345"))
    assert _summary(r[13]) == ("instantaneous", 0, 0, 0, "error_flags", 0)
    assert [rec.offset for rec in r[:3]] == [19, 25, 31]
    assert build_rsp_ud(t) == raw


def test_libmbus_minocal_c2():
    t = parse_rsp_ud(golden("mbus_libmbus_minocal_c2.hex"))
    assert t.header.manufacturer == "ZRM"
    assert t.header == FixedHeader("31425084", 0x6A4D, 129, 4, 115, 0x27, 0)
    assert len(t.records) == 34
    assert (t.energy_kwh, t.volume_m3, t.flow_m3_h, t.power_kw) == (3, Decimal("0.074"), 0, 0)
    assert (t.supply_temp_c, t.return_temp_c) == (Decimal("20.71"), Decimal("20.38"))
    assert t.clock == datetime(2014, 3, 13, 12, 45)
    r = t.records
    assert _summary(r[2]) == ("instantaneous", 8, 0, 0, "datetime", datetime(2015, 1, 1))
    assert _summary(r[4]) == ("instantaneous", 10, 0, 0, "energy", 3)
    assert _summary(r[7]) == ("maximum", 1, 0, 0, "volume_flow", Decimal("0.043"))
    assert _summary(r[10]) == ("maximum", 2, 0, 0, "power", 2)  # 20 × 100 W
    assert _summary(r[15]) == ("instantaneous", 32, 0, 0, "date", date(2014, 3, 1))
    assert _summary(r[30]) == ("instantaneous", 39, 0, 0, "energy", 3)
    assert build_rsp_ud(t) == golden("mbus_libmbus_minocal_c2.hex")


def test_libmbus_sensostar2():
    t = parse_rsp_ud(golden("mbus_libmbus_sensostar2.hex"))
    assert t.header.manufacturer == "EFE"
    assert t.header == FixedHeader("24083345", 0x14C5, 0, 4, 102, 0x27, 0)
    r = t.records
    assert _summary(r[0]) == ("instantaneous", 0, 0, 0, "fabrication_no", 24083345)
    assert t.clock == datetime(2014, 3, 12, 14, 23)
    assert [(x.storage, x.tariff) for x in r[8:11]] == [(0, 1), (1, 1), (2, 1)]
    assert [x.tariff for x in r[13:15]] == [2, 3]
    assert _summary(r[11]) == ("instantaneous", 1, 0, 0, "date", date(2013, 12, 31))
    assert _summary(r[16]) == ("maximum", 0, 0, 0, "volume_flow", Decimal("0.025"))
    assert _summary(r[18]) == ("maximum", 0, 0, 0, "power", Decimal("0.011"))
    assert (t.supply_temp_c, t.return_temp_c) == (22, 21)
    assert _summary(r[21]) == ("instantaneous", 0, 0, 0, "temp_diff", Decimal("0.09"))
    assert _summary(r[22]) == ("instantaneous", 0, 0, 0, "on_time", 524 * 86400)
    assert r[24].quantity == "volume" and r[24].vifes == (0x28,) and r[24].value == Decimal("0.000011")
    assert build_rsp_ud(t) == golden("mbus_libmbus_sensostar2.hex")


def test_libmbus_elster_f96_with_hex_digits_in_error_state_values():
    raw = golden("mbus_libmbus_elster_f96.hex")
    t = parse_rsp_ud(raw)
    assert (t.header.id, t.header.manufacturer) == ("44493951", "ELS")
    r = t.records
    assert [(x.function, x.quantity, x.value) for x in r[4:6]] == [("error", "power", None),
                                                                   ("error", "volume_flow", None)]
    assert [(i.offset, i.field) for i in t.issues] == [(50, "data"), (55, "data")]
    assert (t.supply_temp_c, t.return_temp_c, t.energy_kwh) == (Decimal("22.7"), Decimal("22.6"), 0)
    assert _summary(r[8]) == ("instantaneous", 0, 0, 0, "temp_diff", Decimal("0.1"))
    assert _summary(r[9]) == ("instantaneous", 0, 0, 0, "operating_time", 730 * 86400)
    assert t.clock == datetime(2014, 3, 13, 13, 9)
    assert build_rsp_ud(t) == raw
    with pytest.raises(MeterFrameError) as exc:
        parse_rsp_ud(raw, strict=True)
    assert (exc.value.reason, exc.value.offset, exc.value.field) == ("bad_bcd", 50, "data")


def test_plain_text_vif_and_text_values():
    # a humidity record of an Elvaco CMa10 (libmbus test frame ELV-Elvaco-CMa10): 16-bit integer, VIF FCH, text
    # "HR%" (last character first), VIFE 74H (× 10^-2): 1522H = 5410 -> 54.10 %RH
    t = parse_rsp_ud(_long(HEADER + bytes.fromhex("02 FC 03 48 52 25 74 22 15")))
    assert (t.records[0].quantity, t.records[0].unit, t.records[0].value) == ("plain_text", "%RH", Decimal("54.10"))
    rec = make_record(0x7C, 5410, coding=0x2, vifes=(0x74,), unit_text="%RH")
    assert rec.wire() == bytes.fromhex("02 FC 03 48 52 25 74 22 15")
    # variable-length text (LVAR 0AH), also sent last character first
    text = make_record(0x79, "TEST CYBLE", coding=0xD)
    assert text.data == b"\x0a" + b"ELBYC TSET"
    assert parse_rsp_ud(_long(HEADER + text.wire())).records[0].raw == "TEST CYBLE"
    with pytest.raises(ValueError):
        make_record(0x06, 1, unit_text="kWh")


def test_req_ud2_and_manufacturer_code():
    assert build_req_ud2(5) == bytes.fromhex("10 5B 05 60 16")
    assert build_req_ud2(0xFE, fcb=True) == bytes.fromhex("10 7B FE 79 16")
    assert manufacturer_code("HRB") == 0x2242
    with pytest.raises(ValueError):
        manufacturer_code("hr")


def test_units_of_the_energy_ranges():
    cases = [(0x03, 7, Decimal("0.007")), (0x06, 7, Decimal(7)), (0x07, 2, Decimal(20)),  # Wh, kWh, 10 kWh
             (0x00, 5000, Decimal("0.005")), (0x0E, 36, Decimal(10)), (0x0F, 36, Decimal(100))]  # mWh, MJ, 10 MJ
    for vif, raw, kwh in cases:
        t = Telegram(FixedHeader("00000001", ABC), (make_record(vif, raw),))
        assert parse_rsp_ud(build_rsp_ud(t)).energy_kwh == kwh, hex(vif)
    mwh = Telegram(FixedHeader("00000001", ABC), (make_record(0xFB, 25, vifes=(0x01,)),))
    assert parse_rsp_ud(build_rsp_ud(mwh)).energy_kwh == 25000  # FBH 01H: MWh × 10^0


def test_type_f_and_g_dates():
    assert decode_type_g(0x1CBF) == date(2013, 12, 31)
    assert decode_type_f(0x13CC2E17) == datetime(2014, 3, 12, 14, 23)
    assert decode_type_f(0x13CC2E17 | 0x80) is None  # IV bit: invalid
    assert decode_type_g(0) is None  # day 0: not set
    d = datetime(2099, 2, 28, 23, 59)
    assert decode_type_f(encode_type_f(d)) == d and decode_type_g(encode_type_g(d.date())) == d.date()


# --- errors ------------------------------------------------------------------------------------------------

def _error(raw: bytes, strict: bool = False) -> MeterFrameError:
    with pytest.raises(MeterFrameError) as exc:
        parse_rsp_ud(raw, strict=strict)
    assert isinstance(exc.value, InputError) and exc.value.issues[0].offset == exc.value.offset
    return exc.value


def _long(data: bytes, ci: int = 0x72) -> bytes:
    return build_long_frame(LongFrame(0x08, 1, ci, data))


HEADER = bytes.fromhex("78 56 34 12 42 22 01 04 2A 00 00 00")


def test_frame_errors():
    raw = golden("mbus_heat_handmade.hex")
    e = _error(b"\x67" + raw[1:])
    assert (e.reason, e.offset, e.field) == ("bad_start", 0, "start")
    e = _error(raw[:3] + b"\x69" + raw[4:])
    assert (e.reason, e.offset) == ("bad_start", 3)
    e = _error(raw[:2] + b"\x5f" + raw[3:])
    assert (e.reason, e.offset, e.field) == ("bad_length", 2, "length")
    e = _error(raw[:-3] + raw[-2:])
    assert (e.reason, e.field) == ("truncated", "length")
    e = _error(raw + b"\x16")
    assert (e.reason, e.offset) == ("trailing", len(raw))
    e = _error(raw[:-2] + b"\x17\x16")
    assert (e.reason, e.offset, e.field) == ("bad_checksum", len(raw) - 2, "checksum")
    e = _error(raw[:-1] + b"\x17")
    assert (e.reason, e.offset, e.field) == ("bad_end", len(raw) - 1, "end")
    assert _error(b"").reason == "truncated"


def test_record_errors():
    e = _error(_long(HEADER, ci=0x78))
    assert (e.reason, e.offset, e.field) == ("bad_ci", 6, "ci")
    e = _error(_long(HEADER[:11]))
    assert (e.reason, e.field) == ("truncated", "header")
    bad_bcd = _long(HEADER + bytes.fromhex("0C 06 12 3A 00 00"))  # BCD with a nibble AH
    t = parse_rsp_ud(bad_bcd)
    assert t.records[0].value is None and [(i.offset, i.field) for i in t.issues] == [(7 + 12 + 3, "data")]
    e = _error(bad_bcd, strict=True)
    assert (e.reason, e.offset, e.field) == ("bad_bcd", 7 + 12 + 3, "data")
    e = _error(_long(HEADER + bytes.fromhex("04 06 12 00")))  # 32-bit integer cut short
    assert (e.reason, e.offset, e.field) == ("bad_record", 7 + 12 + 2, "data")
    e = _error(_long(HEADER + bytes.fromhex("84") + b"\x80" * 10 + b"\x00"))  # 11 DIFEs
    assert (e.reason, e.field) == ("bad_record", "dife")
    e = _error(_long(HEADER + bytes.fromhex("04 86")))  # VIFE missing
    assert (e.reason, e.offset, e.field) == ("bad_record", 7 + 12 + 2, "vife")
    e = _error(_long(HEADER + bytes.fromhex("3F 06")))
    assert (e.reason, e.field) == ("bad_record", "dif")
    e = _error(_long(HEADER + bytes.fromhex("0D 06 F8")))
    assert (e.reason, e.field) == ("bad_record", "lvar")
    e = _error(_long(HEADER + bytes.fromhex("04 FC 05 41 42")))  # plain text longer than the data
    assert (e.reason, e.offset, e.field) == ("bad_record", 7 + 12 + 2, "vif")
    hex_id = _long(bytes.fromhex("78 56 3F 12") + HEADER[4:])  # identification number with a hex digit
    t = parse_rsp_ud(hex_id)
    assert t.header.id == "123F5678" and [(i.offset, i.field) for i in t.issues] == [(9, "id")]
    assert build_rsp_ud(t) == hex_id
    e = _error(hex_id, strict=True)
    assert (e.reason, e.offset, e.field) == ("bad_bcd", 9, "id")


def test_fillers_and_more_records_follow():
    data = HEADER + bytes.fromhex("2F 2F 04 06 0A 00 00 00 2F 1F AA BB")
    t = parse_rsp_ud(_long(data))
    assert (t.energy_kwh, t.more_records_follow, t.manufacturer_data) == (10, True, b"\xaa\xbb")


def test_make_record_refuses_what_does_not_fit():
    with pytest.raises(ValueError):
        make_record(0x06, 10**8, coding=0xC)
    with pytest.raises(ValueError):
        make_record(0x06, 1, coding=0xF)
    with pytest.raises(ValueError):
        make_record(0x06, 1, storage=2**41)
    with pytest.raises(OverflowError):
        make_record(0x06, 2**31, coding=0x4)


# --- property tests ----------------------------------------------------------------------------------------

_VIFS = list(range(0x80))


@st.composite
def records(draw):
    coding = draw(st.sampled_from([0x0, 0x1, 0x2, 0x3, 0x4, 0x5, 0x6, 0x7, 0x9, 0xA, 0xB, 0xC, 0xD, 0xE]))
    size, kind = mbus.CODINGS[coding]
    if kind == "int":
        value = draw(st.integers(-(2 ** (8 * size - 1)), 2 ** (8 * size - 1) - 1))
    elif kind == "bcd":
        value = draw(st.integers(-(10 ** (2 * size - 1) - 1), 10 ** (2 * size) - 1))
    elif kind == "real":
        value = draw(st.floats(width=32, allow_nan=False))
    elif kind == "variable":
        value = draw(st.binary(max_size=20))
    else:
        value = None
    vif = draw(st.sampled_from(_VIFS))
    text = draw(st.text(st.characters(max_codepoint=255), max_size=6)) if vif == 0x7C else ""
    return make_record(vif, value, coding=coding, storage=draw(st.integers(0, 2**20)),
                       tariff=draw(st.integers(0, 15)), subunit=draw(st.integers(0, 3)),
                       function=draw(st.sampled_from(mbus.FUNCTIONS)),
                       vifes=tuple(draw(st.lists(st.integers(0, 0x7F), max_size=3))), unit_text=text)


@st.composite
def telegrams(draw):
    header = FixedHeader(draw(st.text("0123456789ABCDEF", min_size=8, max_size=8)), draw(st.integers(0, 0xFFFF)),
                         *draw(st.tuples(*[st.integers(0, 255)] * 4)), draw(st.integers(0, 0xFFFF)))
    recs = []
    for rec in draw(st.lists(records(), max_size=8)):
        if sum(len(r.wire()) for r in recs) + len(rec.wire()) <= 200:
            recs.append(rec)
    more = draw(st.booleans())
    mdata = draw(st.binary(max_size=10) if more else st.none() | st.binary(max_size=10))
    return Telegram(header, tuple(recs), draw(st.integers(0, 255)), 0x08, mdata, more)


@SETTINGS
@given(telegrams())
def test_build_parse_round_trip(t):
    raw = build_rsp_ud(t)
    back = parse_rsp_ud(raw)
    assert back == t
    assert back.issues == () or any(c not in "0123456789" for c in t.header.id) or any(
        mbus.CODINGS[r.coding][1] == "bcd" for r in t.records)
    for rec in back.records:
        _ = (rec.value, rec.energy_gj, rec.unit)
    _ = (back.energy_kwh, back.energy_gj, back.clock, back.power_kw)


@SETTINGS
@given(telegrams(), st.data())
def test_single_byte_corruption_is_refused(t, data):
    raw = build_rsp_ud(t)
    i = data.draw(st.integers(0, len(raw) - 1))
    b = data.draw(st.integers(0, 255).filter(lambda v: v != raw[i]))
    with pytest.raises(MeterFrameError):
        parse_rsp_ud(raw[:i] + bytes([b]) + raw[i + 1:])


@SETTINGS
@given(st.binary(max_size=120))
def test_arbitrary_bytes_raise_only_meter_frame_error(data):
    try:
        parse_rsp_ud(data)
    except MeterFrameError as exc:
        assert exc.reason in REASONS


@SETTINGS
@given(st.binary(min_size=12, max_size=120))
def test_well_framed_random_payloads(payload):
    """Random data after CI 72H with a correct frame: a telegram or MeterFrameError; what parses re-parses the
    same after building (idle fillers 2FH are dropped)."""
    try:
        t = parse_rsp_ud(_long(payload))
    except MeterFrameError as exc:
        assert exc.reason in REASONS
        return
    for rec in t.records:
        _ = (rec.value, rec.energy_gj, rec.quantity, rec.unit)
    _ = (t.energy_kwh, t.energy_gj, t.volume_m3, t.clock, t.supply_temp_c)
    assert parse_rsp_ud(build_rsp_ud(t)) == t
