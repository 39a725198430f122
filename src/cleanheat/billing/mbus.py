"""M-Bus (EN 13757-2/-3; GB/T 26831.2/.3) long frames with the variable data structure (pure; no I/O).

Long frame (DOMAIN.md §3.2)::

    68 L L 68  C A CI  <data>  CS 16        L = count of C..data, CS = sum of C..data mod 256

CI 72H (answer of a meter, variable data structure, long header) starts the data with a 12-byte fixed header:
identification number (8 BCD digits, low byte first), manufacturer (3 letters, 5 bits each), version, medium
(04H heat, outlet), access number, status, signature. Data records follow, each

    DIF [DIFE..]  VIF [VIFE..]  data

DIF: D7 extension, D6 storage-number LSB, D5..D4 function (instantaneous, maximum, minimum, during error), D3..D0
data field (integers of 1/2/3/4/6/8 bytes, 32-bit real, BCD of 2/4/6/8/12 digits, variable length). Each DIFE adds
4 storage bits, 2 tariff bits and 1 sub-unit bit. The VIF gives quantity, unit and decimal exponent (energy in Wh
or J ranges, volume, power, volume flow, flow/return temperature, temperature difference, date type G, date and
time type F, ...); VIF FBH and FDH select the extension tables. DIF 0FH/1FH start manufacturer-specific data
(1FH: more records follow in the next telegram), 2FH is an idle filler.

A :class:`DataRecord` keeps its bytes as sent (so ``build_rsp_ud(parse_rsp_ud(x)) == x`` without fillers); its
properties give the decoded value in the SI-named unit of :data:`UNITS`. Errors raise
:class:`~cleanheat.billing.cjt188.MeterFrameError` with the byte offset from the frame start and the field.

Sources: EN 13757-3 tables as transcribed in ``ganehag/pyMeterBus:meterbus/core_objects.py`` and libmbus
(``rscada/libmbus``), DOMAIN.md §3.2 [S]; libmbus test frames as test vectors.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from functools import cached_property

from cleanheat.billing.cjt188 import MeterFrameError
from cleanheat.errors import InputIssue

START_LONG = 0x68
START_SHORT = 0x10
END = 0x16
C_REQ_UD2 = 0x5B  # FCB clear; 7BH with FCB set
C_RSP_UD = 0x08
CI_VARIABLE = 0x72  # variable data structure, long header, LSB first
MEDIUM_HEAT_OUTLET = 0x04
HEADER_BYTES = 12
MAX_DIFE = 10
MAX_VIFE = 10

FUNCTIONS = ("instantaneous", "maximum", "minimum", "error")
#: DIF data field -> (byte count, kind); variable length (DH) is read from its LVAR byte.
CODINGS: dict[int, tuple[int, str]] = {
    0x0: (0, "none"), 0x1: (1, "int"), 0x2: (2, "int"), 0x3: (3, "int"), 0x4: (4, "int"), 0x5: (4, "real"),
    0x6: (6, "int"), 0x7: (8, "int"), 0x8: (0, "none"), 0x9: (1, "bcd"), 0xA: (2, "bcd"), 0xB: (3, "bcd"),
    0xC: (4, "bcd"), 0xD: (0, "variable"), 0xE: (6, "bcd"),
}
DIF_MANUFACTURER = 0x0F
DIF_MORE_RECORDS = 0x1F
DIF_FILLER = 0x2F

#: The SI-named unit each quantity is given in (``DataRecord.value``).
UNITS = {
    "energy": "kWh", "volume": "m3", "mass": "kg", "on_time": "s", "operating_time": "s", "power": "kW",
    "volume_flow": "m3_h", "mass_flow": "kg_h", "flow_temp": "C", "return_temp": "C", "temp_diff": "K",
    "external_temp": "C", "pressure": "bar", "date": "", "datetime": "", "fabrication_no": "", "error_flags": "",
    "bus_address": "", "enhanced_id": "", "averaging_duration": "s", "actuality_duration": "s",
    "plain_text": "",  # the unit is the text of the VIF (DataRecord.unit)
}
_DURATION_S = (1, 60, 3600, 86400)
_J_PER_KWH = Decimal(3_600_000)


@dataclass(frozen=True)
class Vif:
    """A decoded VIF: quantity, and the value = raw × 10^exponent in ``UNITS[quantity]`` (energy from J is
    divided by 3.6 MJ/kWh; durations multiplied by ``factor``)."""

    quantity: str
    exponent: int = 0
    joules: bool = False
    factor: int = 1


def _primary_vif(code: int) -> Vif | None:
    """The primary VIF table (EN 13757-3 Table 10), code without its extension bit."""
    n3, n2 = code & 0x07, code & 0x03
    ranges = [
        (0x00, 0xF8, lambda: Vif("energy", n3 - 6)),  # Wh × 10^(n-3) -> kWh
        (0x08, 0xF8, lambda: Vif("energy", n3, joules=True)),  # J × 10^n
        (0x10, 0xF8, lambda: Vif("volume", n3 - 6)),  # m³ × 10^(n-6)
        (0x18, 0xF8, lambda: Vif("mass", n3 - 3)),  # kg × 10^(n-3)
        (0x20, 0xFC, lambda: Vif("on_time", 0, factor=_DURATION_S[n2])),
        (0x24, 0xFC, lambda: Vif("operating_time", 0, factor=_DURATION_S[n2])),
        (0x28, 0xF8, lambda: Vif("power", n3 - 6)),  # W × 10^(n-3) -> kW
        (0x30, 0xF8, lambda: Vif("power", n3, joules=True)),  # J/h × 10^n -> kW: / 3600 s/h / 1000 W/kW
        (0x38, 0xF8, lambda: Vif("volume_flow", n3 - 6)),  # m³/h × 10^(n-6)
        (0x50, 0xF8, lambda: Vif("mass_flow", n3 - 3)),
        (0x58, 0xFC, lambda: Vif("flow_temp", n2 - 3)),
        (0x5C, 0xFC, lambda: Vif("return_temp", n2 - 3)),
        (0x60, 0xFC, lambda: Vif("temp_diff", n2 - 3)),
        (0x64, 0xFC, lambda: Vif("external_temp", n2 - 3)),
        (0x68, 0xFC, lambda: Vif("pressure", n2 - 3)),
        (0x6C, 0xFF, lambda: Vif("date")),  # type G
        (0x6D, 0xFF, lambda: Vif("datetime")),  # type F
        (0x70, 0xFC, lambda: Vif("averaging_duration", 0, factor=_DURATION_S[n2])),
        (0x74, 0xFC, lambda: Vif("actuality_duration", 0, factor=_DURATION_S[n2])),
        (0x78, 0xFF, lambda: Vif("fabrication_no")),
        (0x79, 0xFF, lambda: Vif("enhanced_id")),
        (0x7A, 0xFF, lambda: Vif("bus_address")),
    ]
    for base, mask, make in ranges:
        if code & mask == base:
            return make()
    return None


def _decode_vif(vif: int, vifes: tuple[int, ...]) -> Vif | None:
    code = vif & 0x7F
    if vif == 0xFB and vifes:  # extension table FBH
        ext = vifes[0] & 0x7F
        if ext & 0x7E == 0x00:  # MWh × 10^(n-1)
            return Vif("energy", (ext & 1) - 1 + 3)
        if ext & 0x7E == 0x08:  # GJ × 10^(n-1)
            return Vif("energy", (ext & 1) - 1 + 9, joules=True)
        if ext & 0x7E == 0x10:  # m³ × 10^(n+2)
            return Vif("volume", (ext & 1) + 2)
        return None
    if vif == 0xFD and vifes:
        return Vif("error_flags") if vifes[0] & 0x7F == 0x17 else None
    if code == 0x7C:  # plain-text unit: raw × 10^(combinable VIFEs)
        return Vif("plain_text")
    if code in (0x7E, 0x7F):
        return None
    return _primary_vif(code)


def _vife_exponent(vifes: tuple[int, ...], extension_table: bool) -> int:
    """Decimal exponent added by the combinable VIFEs E111 0nnn (× 10^(n-6)) and E111 1101 (× 10^3)."""
    out = 0
    for v in vifes[1:] if extension_table else vifes:
        code = v & 0x7F
        if code & 0x78 == 0x70:
            out += (code & 0x07) - 6
        elif code == 0x7D:
            out += 3
    return out


# --- date types ------------------------------------------------------------------------------------------

def decode_type_g(raw: int) -> date | None:
    """Date type G (16 bits): day D4..D0, month D11..D8, year D15..D12 D7..D5 (2000 + yy). None if invalid."""
    day, month = raw & 0x1F, (raw >> 8) & 0x0F
    year = ((raw >> 9) & 0x78) | ((raw >> 5) & 0x07)
    try:
        return date(2000 + year, month, day)
    except ValueError:
        return None


def decode_type_f(raw: int) -> datetime | None:
    """Date and time type F (32 bits): minute D5..D0, IV D7 (invalid), hour D12..D8, day D20..D16, month
    D27..D24, year D31..D28 D23..D21 (2000 + yy). None if the IV bit is set or the date is impossible."""
    if raw & 0x80:
        return None
    minute, hour = raw & 0x3F, (raw >> 8) & 0x1F
    day, month = (raw >> 16) & 0x1F, (raw >> 24) & 0x0F
    year = ((raw >> 25) & 0x78) | ((raw >> 21) & 0x07)
    try:
        return datetime(2000 + year, month, day, hour, minute)
    except ValueError:
        return None


def encode_type_g(d: date) -> int:
    yy = d.year - 2000
    return d.day | (yy & 0x07) << 5 | d.month << 8 | (yy & 0x78) << 9


def encode_type_f(d: datetime) -> int:
    yy = d.year - 2000
    return d.minute | d.hour << 8 | d.day << 16 | (yy & 0x07) << 21 | d.month << 24 | (yy & 0x78) << 25


# --- data records ----------------------------------------------------------------------------------------

def _err(reason: str, zh: str, en: str, offset: int, field: str) -> MeterFrameError:
    return MeterFrameError(reason, zh, offset=offset, field=field, message_en=en)


def _bcd_int(data: bytes, offset: int, name: str = "data") -> int:
    """BCD type A, low byte first; a high nibble FH in the most significant digit means negative."""
    value, sign = 0, 1
    for k in range(len(data) - 1, -1, -1):
        hi, lo = data[k] >> 4, data[k] & 0x0F
        if k == len(data) - 1 and hi == 0xF:
            sign, hi = -1, 0
        if hi > 9 or lo > 9:
            raise _err("bad_bcd", f"字节 {data[k]:02X}H 不是 BCD", f"byte {data[k]:02X}H is not BCD", offset + k,
                       name)
        value = value * 100 + hi * 10 + lo
    return sign * value


def _encode_bcd(value: int, size: int) -> bytes:
    negative, value = value < 0, abs(value)
    if value >= 10 ** (2 * size - (1 if negative else 0)):
        raise ValueError(f"{value} does not fit {2 * size} BCD digits")
    out = bytearray()
    for _ in range(size):
        value, pair = divmod(value, 100)
        out.append((pair // 10) << 4 | pair % 10)
    if negative:
        out[-1] |= 0xF0
    return bytes(out)


@dataclass(frozen=True)
class DataRecord:
    """One data record, its bytes as sent. ``data`` is the data field (with its LVAR byte for variable length)."""

    dif: int
    difes: tuple[int, ...]
    vif: int
    vifes: tuple[int, ...]
    data: bytes
    offset: int = field(default=0, compare=False)  # of the DIF from the frame start
    vif_text: bytes = b""  # plain-text VIF (7CH/FCH): the unit's characters as sent (last character first)

    def wire(self) -> bytes:
        text = bytes([len(self.vif_text)]) + self.vif_text if self.vif & 0x7F == 0x7C else b""
        return bytes([self.dif, *self.difes, self.vif]) + text + bytes(self.vifes) + self.data

    @property
    def data_offset(self) -> int:
        """Offset of the data field from the frame start."""
        text = 1 + len(self.vif_text) if self.vif & 0x7F == 0x7C else 0
        return self.offset + 2 + len(self.difes) + text + len(self.vifes)

    @property
    def coding(self) -> int:
        return self.dif & 0x0F

    @property
    def function(self) -> str:
        return FUNCTIONS[(self.dif >> 4) & 0x03]

    @property
    def storage(self) -> int:
        return (self.dif >> 6) & 1 | sum((d & 0x0F) << (1 + 4 * i) for i, d in enumerate(self.difes))

    @property
    def tariff(self) -> int:
        return sum(((d >> 4) & 0x03) << (2 * i) for i, d in enumerate(self.difes))

    @property
    def subunit(self) -> int:
        return sum(((d >> 6) & 1) << i for i, d in enumerate(self.difes))

    @cached_property
    def _vif(self) -> Vif | None:
        return _decode_vif(self.vif, self.vifes)

    @property
    def quantity(self) -> str | None:
        """The quantity (a key of :data:`UNITS`), None for VIFs not decoded here (``vif``/``vifes`` kept)."""
        return self._vif.quantity if self._vif else None

    @property
    def unit(self) -> str | None:
        """The unit of ``value``: from :data:`UNITS`, or the text of a plain-text VIF."""
        if self.quantity == "plain_text":
            return self.vif_text[::-1].decode("latin-1")
        return UNITS.get(self.quantity or "")

    @cached_property
    def raw(self) -> int | float | bytes | str | None:
        """The data field as a number (integer, BCD, real), bytes (variable length) or None (no data, or BCD
        with a hex digit A-E, which meters send to flag an error: see ``Telegram.issues``)."""
        return _raw_value(self.coding, self.data, self.data_offset)

    @property
    def value(self) -> Decimal | date | datetime | int | bytes | str | None:
        """The value in ``UNITS[quantity]`` [kWh, m³, kW, m³/h, °C, K, s, ...] (``unit``); type G dates as
        ``date``, type F as naive ``datetime`` (meter time), None if invalid; text (variable length) as ``str``;
        the raw value when the VIF is not decoded here."""
        return _scaled_value(self)


    @property
    def energy_gj(self) -> Decimal | None:
        """An energy record's value [GJ]; None for other quantities."""
        vif, value = self._vif, self.value
        if vif is None or vif.quantity != "energy" or not isinstance(value, Decimal):
            return None
        if vif.joules:  # exact: J × 10^n -> GJ
            return _decimal(self.raw).scaleb(vif.exponent + _vife_exponent(self.vifes, self.vif == 0xFB) - 9)
        return value * Decimal("0.0036")  # kWh -> GJ


def _decimal(raw: int | float | bytes | str | None) -> Decimal:
    return Decimal(repr(raw)) if isinstance(raw, float) else Decimal(raw)  # type: ignore[arg-type]


def _raw_value(coding: int, data: bytes, offset: int) -> int | float | bytes | str | None:
    kind = CODINGS[coding][1]
    if kind == "int":
        return int.from_bytes(data, "little", signed=True)
    if kind == "bcd":
        try:
            return _bcd_int(data, offset)
        except MeterFrameError:
            return None
    if kind == "real":
        return struct.unpack("<f", data)[0]
    if kind == "variable":  # LVAR 00H-BFH: text, sent last character first
        return data[:0:-1].decode("latin-1") if data[0] <= 0xBF else data[1:]
    return None


def _scaled_value(rec: DataRecord) -> Decimal | date | datetime | int | bytes | str | None:
    raw, vif = rec.raw, rec._vif
    if vif is None or raw is None or isinstance(raw, bytes | str):
        return raw
    if isinstance(raw, float) and not math.isfinite(raw):
        return None
    if vif.quantity == "date":
        return decode_type_g(int(raw) & 0xFFFF)
    if vif.quantity == "datetime":
        return decode_type_f(int(raw) & 0xFFFFFFFF) if rec.coding == 0x4 else None
    if vif.quantity in ("fabrication_no", "error_flags", "bus_address", "enhanced_id"):
        return int(raw)
    exponent = vif.exponent + _vife_exponent(rec.vifes, rec.vif in (0xFB, 0xFD))
    value = _decimal(raw).scaleb(exponent) * vif.factor
    return value / _J_PER_KWH if vif.joules else value


def _data_length(coding: int, raw: bytes, pos: int, end: int) -> int:
    """Bytes of the data field at ``pos`` (variable length: LVAR byte + its data, EN 13757-3 Table 6)."""
    if coding != 0xD:
        return CODINGS[coding][0]
    if pos >= end:
        raise _err("bad_record", "缺少 LVAR", "LVAR missing", pos, "lvar")
    lvar = raw[pos]
    if lvar <= 0xBF:
        return 1 + lvar
    if 0xC0 <= lvar <= 0xC9 or 0xD0 <= lvar <= 0xD9:
        return 1 + (lvar & 0x0F)
    if 0xE0 <= lvar <= 0xEF:
        return 1 + lvar - 0xE0
    if 0xF0 <= lvar <= 0xF4:
        return 1 + 4 * (lvar - 0xEC)
    if lvar in (0xF5, 0xF6):
        return 1 + (48 if lvar == 0xF5 else 64)
    raise _err("bad_record", f"LVAR {lvar:02X}H 保留", f"LVAR {lvar:02X}H is reserved", pos, "lvar")


def _extensions(raw: bytes, pos: int, end: int, limit: int, field: str) -> tuple[tuple[int, ...], int]:
    """The extension bytes following a byte with its D7 set, at ``pos``: (bytes, next position)."""
    out: list[int] = []
    while True:
        if pos >= end:
            raise _err("bad_record", f"{field} 超出数据末尾", f"{field} runs past the end of the data", pos, field)
        if len(out) == limit:
            raise _err("bad_record", f"{field} 超过 {limit} 个", f"more than {limit} {field}s", pos, field)
        out.append(raw[pos])
        pos += 1
        if not out[-1] & 0x80:
            return tuple(out), pos


def _plain_text(raw: bytes, pos: int, end: int) -> tuple[bytes, int]:
    """The length byte and characters that follow a plain-text VIF (before its VIFEs, as libmbus reads it and
    the libmbus test frames confirm) [S]."""
    if pos >= end or pos + 1 + raw[pos] > end:
        raise _err("bad_record", "明文 VIF 超出数据末尾", "plain-text VIF runs past the end of the data", pos, "vif")
    return raw[pos + 1:pos + 1 + raw[pos]], pos + 1 + raw[pos]


def _read_record(raw: bytes, pos: int, end: int) -> tuple[DataRecord, int]:
    start, dif = pos, raw[pos]
    if dif & 0x0F == 0x0F:
        raise _err("bad_record", f"DIF {dif:02X}H 保留", f"DIF {dif:02X}H is reserved", start, "dif")
    difes, pos = _extensions(raw, pos + 1, end, MAX_DIFE, "dife") if dif & 0x80 else ((), pos + 1)
    if pos >= end:
        raise _err("bad_record", "缺少 VIF", "VIF missing", pos, "vif")
    vif, text, pos = raw[pos], b"", pos + 1
    if vif & 0x7F == 0x7C:
        text, pos = _plain_text(raw, pos, end)
    vifes, pos = _extensions(raw, pos, end, MAX_VIFE, "vife") if vif & 0x80 else ((), pos)
    size = _data_length(dif & 0x0F, raw, pos, end)
    if pos + size > end:
        raise _err("bad_record", f"数据需要 {size} 字节，只剩 {end - pos}",
                   f"data needs {size} bytes, {end - pos} left", pos, "data")
    return DataRecord(dif, difes, vif, vifes, raw[pos:pos + size], start, text), pos + size


def _with_extension_bits(first: int, rest: list[int]) -> tuple[int, tuple[int, ...]]:
    marked = [b | 0x80 for b in rest[:-1]] + [rest[-1] & 0x7F] if rest else []
    return (first | 0x80 if rest else first & 0x7F), tuple(marked)


def _encode_data(coding: int, value: int | float | bytes | str | None) -> bytes:
    size, kind = CODINGS[coding]
    if kind == "int":
        return int(value).to_bytes(size, "little", signed=True)  # type: ignore[arg-type]
    if kind == "bcd":
        return _encode_bcd(int(value), size)  # type: ignore[arg-type]
    if kind == "real":
        return struct.pack("<f", value)
    if kind == "variable":  # text (str, written last character first) or bytes as sent
        data = value[::-1].encode("latin-1") if isinstance(value, str) else bytes(value or b"")  # type: ignore
        if len(data) > 0xBF:
            raise ValueError("variable-length data (text) is at most 191 bytes")
        return bytes([len(data)]) + data
    return b""


def make_record(vif: int, value: int | float | bytes | str | None, *, coding: int = 0x4, storage: int = 0,
                tariff: int = 0, subunit: int = 0, function: str = "instantaneous",
                vifes: tuple[int, ...] = (), unit_text: str = "") -> DataRecord:
    """A data record from its parts: ``vif`` and ``vifes`` without their extension bits (set here), ``value``
    raw as the data field holds it (an integer for integers, BCD and dates, a float for reals, bytes as sent or
    text for variable length); ``unit_text`` for the plain-text VIF 7CH. Raises ValueError when it does not
    fit."""
    if coding not in CODINGS:
        raise ValueError(f"no data field coding {coding:X}H")
    difes, s, t, u = [], storage >> 1, tariff, subunit
    while s or t or u:
        difes.append(s & 0x0F | (t & 0x03) << 4 | (u & 1) << 6)
        s, t, u = s >> 4, t >> 2, u >> 1
    if len(difes) > MAX_DIFE or len(vifes) > MAX_VIFE or storage < 0 or tariff < 0 or subunit < 0:
        raise ValueError("storage, tariff or sub-unit out of range")
    dif, dife_bytes = _with_extension_bits(coding | FUNCTIONS.index(function) << 4 | (storage & 1) << 6, difes)
    vif_byte, vife_bytes = _with_extension_bits(vif, list(vifes))
    text = unit_text[::-1].encode("latin-1")
    if len(text) > 0xFF or (text and vif & 0x7F != 0x7C):
        raise ValueError("a unit text needs the plain-text VIF 7CH and at most 255 characters")
    return DataRecord(dif, dife_bytes, vif_byte, vife_bytes, _encode_data(coding, value), vif_text=text)


@dataclass(frozen=True)
class FixedHeader:
    """The 12-byte header of CI 72H: identification number (8 BCD digits; a meter that breaks the rule and sends
    hex digits keeps them, upper case: see ``Telegram.issues``), manufacturer (2 bytes), version, medium, access
    number, status, signature."""

    id: str
    manufacturer_code: int  # 2 bytes as sent; see manufacturer_code() and .manufacturer
    version: int = 0
    medium: int = MEDIUM_HEAT_OUTLET
    access_no: int = 0
    status: int = 0
    signature: int = 0

    @property
    def manufacturer(self) -> str:
        """The three letters (5 bits each, + 64; values outside A-Z read as @ [ \\ ] ^ _)."""
        return "".join(chr(((self.manufacturer_code >> shift) & 0x1F) + 64) for shift in (10, 5, 0))


def manufacturer_code(letters: str) -> int:
    """Three letters A-Z -> the 2-byte manufacturer field (5 bits each, letter - 64)."""
    if len(letters) != 3 or not all("A" <= ch <= "Z" for ch in letters):
        raise ValueError(f"a manufacturer is three letters A-Z, not {letters!r}")
    return sum((ord(ch) - 64) << (10 - 5 * i) for i, ch in enumerate(letters))


def _read_header(raw: bytes, pos: int) -> FixedHeader:
    ident = int.from_bytes(raw[pos:pos + 4], "little")
    return FixedHeader(f"{ident:08X}", int.from_bytes(raw[pos + 4:pos + 6], "little"), raw[pos + 6],
                       raw[pos + 7], raw[pos + 8], raw[pos + 9], int.from_bytes(raw[pos + 10:pos + 12], "little"))


def _encode_header(h: FixedHeader) -> bytes:
    if len(h.id) != 8 or not all(ch in "0123456789ABCDEF" for ch in h.id):
        raise ValueError(f"an M-Bus identification number has 8 (BCD, else hex) digits, not {h.id!r}")
    return (int(h.id, 16).to_bytes(4, "little") + h.manufacturer_code.to_bytes(2, "little")
            + bytes([h.version, h.medium, h.access_no, h.status]) + h.signature.to_bytes(2, "little"))


# --- frames ----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class LongFrame:
    control: int
    address: int
    ci: int
    data: bytes


def checksum(data: bytes) -> int:
    """M-Bus checksum: arithmetic sum of the bytes mod 256."""
    return sum(data) & 0xFF


def build_long_frame(frame: LongFrame) -> bytes:
    body = bytes([frame.control, frame.address, frame.ci]) + frame.data
    if len(body) > 0xFF:
        raise ValueError(f"an M-Bus long frame carries at most 252 data bytes, not {len(frame.data)}")
    return bytes([START_LONG, len(body), len(body), START_LONG]) + body + bytes([checksum(body), END])


def build_req_ud2(address: int, fcb: bool = False) -> bytes:
    """Short frame REQ_UD2 (10 5B|7B A CS 16) asking the meter at primary ``address`` for its data."""
    c = C_REQ_UD2 | (0x20 if fcb else 0)
    return bytes([START_SHORT, c, address, checksum(bytes([c, address])), END])


def decode_long_frame(raw: bytes) -> LongFrame:
    """Check and split a long frame. Raises :class:`MeterFrameError` on any fault."""
    raw = bytes(raw)
    if len(raw) < 4:
        raise _err("truncated", f"只有 {len(raw)} 字节", f"only {len(raw)} bytes", len(raw), "start")
    for pos in (0, 3):
        if raw[pos] != START_LONG:
            raise _err("bad_start", f"应为 68H，实为 {raw[pos]:02X}H", f"expected 68H, got {raw[pos]:02X}H", pos,
                       "start")
    if raw[1] != raw[2] or raw[1] < 3:
        raise _err("bad_length", f"L 字段 {raw[1]:02X}H/{raw[2]:02X}H", f"L fields {raw[1]:02X}H/{raw[2]:02X}H",
                   2, "length")
    end = raw[1] + 6
    if len(raw) != end:
        reason, offset = ("truncated", 1) if len(raw) < end else ("trailing", end)
        raise _err(reason, f"L={raw[1]} 需 {end} 字节，实为 {len(raw)}",
                   f"L={raw[1]} needs {end} bytes, got {len(raw)}", offset, "length")
    if raw[-1] != END:
        raise _err("bad_end", f"应为 16H，实为 {raw[-1]:02X}H", f"expected 16H, got {raw[-1]:02X}H", end - 1, "end")
    expected = checksum(raw[4:-2])
    if raw[-2] != expected:
        raise _err("bad_checksum", f"应为 {expected:02X}H，实为 {raw[-2]:02X}H",
                   f"expected {expected:02X}H, got {raw[-2]:02X}H", end - 2, "checksum")
    return LongFrame(raw[4], raw[5], raw[6], raw[7:-2])


@dataclass(frozen=True)
class Telegram:
    """A meter's answer (RSP_UD) with the variable data structure. ``issues``: what the lenient parser let
    through (a non-BCD identification number, BCD values with hex digits, whose ``value`` is None)."""

    header: FixedHeader
    records: tuple[DataRecord, ...]
    address: int = 0
    control: int = C_RSP_UD
    manufacturer_data: bytes | None = None  # after DIF 0FH/1FH (b"": the DIF with nothing after it)
    more_records_follow: bool = False  # DIF 1FH
    issues: tuple[InputIssue, ...] = field(default=(), compare=False)

    def current(self, quantity: str) -> DataRecord | None:
        """The first instantaneous record of ``quantity`` with storage 0, tariff 0, sub-unit 0."""
        for rec in self.records:
            if (rec.quantity == quantity and rec.function == "instantaneous" and rec.storage == 0
                    and rec.tariff == 0 and rec.subunit == 0):
                return rec
        return None

    def _value(self, quantity: str):
        rec = self.current(quantity)
        return None if rec is None else rec.value

    @property
    def energy_kwh(self) -> Decimal | None:
        """Current energy register [kWh]."""
        return self._value("energy")

    @property
    def energy_gj(self) -> Decimal | None:
        """Current energy register [GJ] (exact for registers in J ranges)."""
        rec = self.current("energy")
        return None if rec is None else rec.energy_gj

    @property
    def volume_m3(self) -> Decimal | None:
        """Current volume register [m³]."""
        return self._value("volume")

    @property
    def power_kw(self) -> Decimal | None:
        """Power [kW]."""
        return self._value("power")

    @property
    def flow_m3_h(self) -> Decimal | None:
        """Volume flow [m³/h]."""
        return self._value("volume_flow")

    @property
    def supply_temp_c(self) -> Decimal | None:
        """Flow (supply) temperature [°C]."""
        return self._value("flow_temp")

    @property
    def return_temp_c(self) -> Decimal | None:
        """Return temperature [°C]."""
        return self._value("return_temp")

    @property
    def clock(self) -> datetime | None:
        """The meter's clock (type F record, storage 0), naive meter time."""
        return self._value("datetime")


def _read_records(raw: bytes, pos: int, end: int) -> tuple[list[DataRecord], bytes | None, bool]:
    records: list[DataRecord] = []
    while pos < end:
        dif = raw[pos]
        if dif == DIF_FILLER:
            pos += 1
        elif dif in (DIF_MANUFACTURER, DIF_MORE_RECORDS):
            return records, raw[pos + 1:end], dif == DIF_MORE_RECORDS
        else:
            rec, pos = _read_record(raw, pos, end)
            records.append(rec)
    return records, None, False


def _bcd_issues(raw: bytes, header_pos: int, records: list[DataRecord]) -> list[MeterFrameError]:
    """Non-BCD digits in the identification number and in BCD records, as errors (offset, field)."""
    out: list[MeterFrameError] = []
    for data, offset, name in [(raw[header_pos:header_pos + 4], header_pos, "id")] + [
            (r.data, r.data_offset, "data") for r in records if CODINGS[r.coding][1] == "bcd"]:
        try:
            if _bcd_int(data, offset, name) < 0 and name == "id":
                raise _err("bad_bcd", "标识号以 FH 开头", "identification number starts with FH", offset + 3, name)
        except MeterFrameError as exc:
            out.append(exc)
    return out


def parse_rsp_ud(raw: bytes, strict: bool = False) -> Telegram:
    """Parse a long frame with CI 72H. Raises :class:`MeterFrameError` (offset from the frame start, field) for
    a broken frame or record; non-BCD digits in the identification number or a BCD value raise it only when
    ``strict``, else they are listed in ``Telegram.issues`` (the value is None, the other records are kept)."""
    frame = decode_long_frame(raw)
    raw = bytes(raw)
    if frame.ci != CI_VARIABLE:
        raise _err("bad_ci", f"CI={frame.ci:02X}H，只支持 72H", f"CI={frame.ci:02X}H; only 72H is supported", 6, "ci")
    end = len(raw) - 2
    if end - 7 < HEADER_BYTES:
        raise _err("truncated", "固定报头不完整", "fixed header cut short", end, "header")
    header = _read_header(raw, 7)
    records, mdata, more = _read_records(raw, 7 + HEADER_BYTES, end)
    problems = _bcd_issues(raw, 7, records)
    if strict and problems:
        raise problems[0]
    issues = tuple(p.issues[0] for p in problems)
    return Telegram(header, tuple(records), frame.address, frame.control, mdata, more, issues)


def build_rsp_ud(telegram: Telegram) -> bytes:
    """The long frame (CI 72H) of ``telegram``; records as they are, then manufacturer data if any."""
    data = _encode_header(telegram.header) + b"".join(r.wire() for r in telegram.records)
    if telegram.manufacturer_data is not None or telegram.more_records_follow:
        data += bytes([DIF_MORE_RECORDS if telegram.more_records_follow else DIF_MANUFACTURER])
        data += telegram.manufacturer_data or b""
    return build_long_frame(LongFrame(telegram.control, telegram.address, CI_VARIABLE, data))
