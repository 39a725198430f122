"""CJ/T 188 household heat meters: frames, read-data requests and responses (pure; no I/O).

Frame (DOMAIN.md §3.1; the standard's text was not available, the layout is the one the public implementations
agree on [S])::

    [FE..FE] 68 T A0..A6 C L DI0 DI1 SER DATA.. CS 16

* ``FE`` wake-up preamble (any number, tolerated before the start byte);
* ``T`` meter type (heat meters 20H-29H: 20H heat, 21H cooling, 22H heat + cooling);
* ``A0..A6`` the address, 14 BCD digits, lowest two digits first (``AA`` bytes are wildcards);
* ``C`` control code (D7 direction meter->master, D6 abnormal answer, D4..D0 function; 01H read data);
* ``L`` the count of bytes from DI0 to the end of DATA;
* ``CS`` = sum of the bytes from ``68`` to the last data byte, mod 256; ``16`` ends the frame.

The read-data answer to DI 901FH of a heat meter exists in two byte layouts (:data:`LAYOUTS`), told apart by
``L``: 46 bytes (``cj188.h``) and 43 bytes (the Rust ``ng_driver_cjt188``). Register values are BCD, low byte
first, with a unit code after energies, power, flow and volume (:data:`UNIT_CODES`). Vendors differ on the order
of the DI bytes and of the clock: :class:`Dialect` holds both, per meter model.

Every failure of :func:`decode_frame` and :func:`parse_read_response` raises :class:`MeterFrameError` (an
``InputError``) with the byte offset from the start of the input and the field; no other exception escapes them
for any input. Building with values that do not fit raises ``ValueError`` (a programming error, not bad input).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from fractions import Fraction
from typing import Literal

from cleanheat.errors import InputError, InputIssue
from cleanheat.timeutil import CHINA_TZ  # meter clocks run on Beijing time [K]

START = 0x68
END = 0x16
PREAMBLE = 0xFE
HEADER_BYTES = 11  # 68 T A0..A6 C L
WILDCARD = 0xAA

#: Meter types (DOMAIN.md §3.1 [S]).
HEAT_METER_TYPES = range(0x20, 0x2A)
METER_TYPE_HEAT = 0x20
METER_TYPE_COOLING = 0x21

#: Control codes.
C_READ_DATA = 0x01
C_RESPONSE = 0x80  # D7: meter -> master
C_ABNORMAL = 0x40  # D6: abnormal answer

#: Data identifiers (as 16-bit numbers; wire order see Dialect).
DI_READ_CURRENT = 0x901F

#: Reasons of MeterFrameError, with a Chinese and an English label.
REASONS: dict[str, tuple[str, str]] = {
    "truncated": ("帧不完整", "frame cut short"),
    "bad_start": ("起始符错误", "bad start byte"),
    "bad_end": ("结束符错误", "bad end byte"),
    "bad_length": ("长度错误", "wrong length"),
    "bad_checksum": ("校验和错误", "checksum mismatch"),
    "bad_bcd": ("非 BCD 数字", "non-BCD digit"),
    "bad_unit": ("未知单位代码", "unknown unit code"),
    "bad_type": ("仪表类型错误", "wrong meter type"),
    "bad_control": ("控制码错误", "unexpected control code"),
    "bad_di": ("数据标识错误", "unexpected data identifier"),
    "bad_time": ("时间无效", "invalid clock"),
    "meter_error": ("仪表异常应答", "the meter answered with an error"),
    "trailing": ("帧后多余字节", "bytes after the frame"),
    "bad_ci": ("不支持的 CI 字段", "unsupported CI field"),
    "bad_record": ("数据记录错误", "malformed data record"),
}


class MeterFrameError(InputError):
    """A meter frame that breaks its protocol (CJ/T 188 or M-Bus). Carries ``reason``, ``offset``, ``field``."""

    def __init__(self, reason: str, message: str, *, offset: int | None = None, field: str | None = None,
                 message_en: str | None = None) -> None:
        if reason not in REASONS:
            raise ValueError(f"unknown meter frame error reason {reason!r}")
        self.reason = reason
        self.offset = offset
        self.field = field
        zh, en = REASONS[reason]
        super().__init__(f"{zh}：{message}", [InputIssue(f"{zh}：{message}", field=field, offset=offset,
                                                        message_en=f"{en}: {message_en or message}")])

    def __reduce__(self):  # picklable despite the dataclass base
        return (_rebuild, (self.reason, self.summary, self.offset, self.field))


def _rebuild(reason: str, summary: str, offset: int | None, field: str | None) -> MeterFrameError:
    err = MeterFrameError(reason, "", offset=offset, field=field)
    err.summary = summary
    return err


# --- units -------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Unit:
    """A CJ/T 188 unit code: its quantity, symbol and size in the SI-named base of that quantity
    (energy: J; power: W; volume: m³; flow: m³/h)."""

    code: int
    quantity: Literal["energy", "power", "volume", "flow"]
    symbol: str
    base_per_unit: Fraction


_J_PER_WH = 3600
#: Unit codes (DOMAIN.md §3.1, from the Rust ``Unit::from_code`` table [S]). J (joule) is not accepted: its code
#: is not confirmed, and 8 BCD digits of J (≤ 0.28 kWh) cannot be a heat register.
UNIT_CODES: dict[int, Unit] = {u.code: u for u in (
    Unit(0x02, "energy", "Wh", Fraction(_J_PER_WH)),
    Unit(0x05, "energy", "kWh", Fraction(_J_PER_WH * 10**3)),
    Unit(0x08, "energy", "MWh", Fraction(_J_PER_WH * 10**6)),
    Unit(0x0A, "energy", "MWh×100", Fraction(_J_PER_WH * 10**8)),
    Unit(0x0B, "energy", "kJ", Fraction(10**3)),
    Unit(0x0E, "energy", "MJ", Fraction(10**6)),
    Unit(0x11, "energy", "GJ", Fraction(10**9)),
    Unit(0x13, "energy", "GJ×100", Fraction(10**11)),
    Unit(0x14, "power", "W", Fraction(1)),
    Unit(0x17, "power", "kW", Fraction(10**3)),
    Unit(0x1A, "power", "MW", Fraction(10**6)),
    Unit(0x43, "power", "kJ/h", Fraction(10**3, 3600)),
    Unit(0x46, "power", "MJ/h", Fraction(10**6, 3600)),
    Unit(0x49, "power", "GJ/h", Fraction(10**9, 3600)),
    Unit(0x29, "volume", "L", Fraction(1, 1000)),
    Unit(0x2C, "volume", "m³", Fraction(1)),
    Unit(0x32, "flow", "L/h", Fraction(1, 1000)),
    Unit(0x35, "flow", "m³/h", Fraction(1)),
)}


def _scaled(value: Decimal, factor: Fraction) -> Decimal:
    return value * Decimal(factor.numerator) / Decimal(factor.denominator)


@dataclass(frozen=True)
class Register:
    """A meter value as sent: a decimal number in the unit of a CJ/T 188 unit code."""

    value: Decimal
    unit_code: int

    @property
    def unit(self) -> Unit:
        return UNIT_CODES[self.unit_code]

    def in_base(self) -> Decimal:
        """The value in the quantity's base unit [J, W, m³ or m³/h]."""
        return _scaled(self.value, self.unit.base_per_unit)


# --- layouts -----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class FieldSpec:
    """One field of a read-data answer: ``size`` bytes of BCD with ``decimals`` implied decimals, followed by a
    unit-code byte when ``quantity`` is set; ``clock`` and ``status`` are the fixed trailing fields."""

    name: str
    size: int
    decimals: int = 0
    quantity: str | None = None


@dataclass(frozen=True)
class Layout:
    name: str
    data_length: int  # L: DI0 DI1 SER + fields
    fields: tuple[FieldSpec, ...]
    source: str


def _layout(name: str, source: str, *fields: FieldSpec) -> Layout:
    size = 3 + sum(f.size + (1 if f.quantity else 0) for f in fields)
    return Layout(name, size, fields, source)


_TAIL = (FieldSpec("clock", 7), FieldSpec("status", 2))
#: The two byte layouts of the heat meter's 901FH answer (DOMAIN.md §3.1, §7 item 7: to verify against the text).
LAYOUTS: dict[int, Layout] = {lay.data_length: lay for lay in (
    _layout("cj188_46", "xijunzhou/sdqr_energy_node_class-20180705:Src/meter/cj188.h [S]",
            FieldSpec("settlement_energy", 4, 2, "energy"), FieldSpec("energy", 4, 2, "energy"),
            FieldSpec("power", 4, 2, "power"), FieldSpec("flow", 4, 4, "flow"),
            FieldSpec("volume", 4, 2, "volume"), FieldSpec("supply_temp_c", 3, 2),
            FieldSpec("return_temp_c", 3, 2), FieldSpec("working_hours_h", 3), *_TAIL),
    # flow decimals: 3 in the driver's 901FH schema, 4 in its 911FH schema [S, uncertain]
    _layout("short_43", "ng_driver_cjt188 codec/di_schema.rs, heat 901FH [S]",
            FieldSpec("settlement_energy", 4, 2, "energy"), FieldSpec("energy", 4, 2, "energy"),
            FieldSpec("power", 3, 2, "power"), FieldSpec("flow", 3, 3, "flow"),
            FieldSpec("volume", 4, 2, "volume"), FieldSpec("supply_temp_c", 2, 2),
            FieldSpec("return_temp_c", 2, 2), FieldSpec("working_hours_h", 4), *_TAIL),
)}
LAYOUT_BY_NAME = {lay.name: lay for lay in LAYOUTS.values()}


@dataclass(frozen=True)
class Dialect:
    """Byte orders that differ between meter models [S]: the DI (``le`` = DI0 first = ``1F 90``), the clock
    (``le`` = ss mm hh DD MM YY CC, ``be`` = CC YY MM DD hh mm ss) and the unit code (``unit_first``: before its
    BCD value instead of after it; one public frame, with DI ``90 1F``). ``di_order="auto"`` reads either DI
    order (901FH and 1F90H cannot be confused) and writes ``le``."""

    di_order: Literal["le", "be", "auto"] = "auto"
    clock_order: Literal["le", "be"] = "le"
    unit_first: bool = False


DEFAULT_DIALECT = Dialect()


# --- frames ------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Frame:
    """One CJ/T 188 frame. ``data`` is everything ``L`` counts (DI0 DI1 SER DATA); ``start`` is the offset of
    the ``68`` start byte in the decoded input (after the preamble)."""

    meter_type: int
    address: str  # 14 digits, most significant first; "AA" bytes (wildcards) read as "AA"
    control: int
    data: bytes
    start: int = 0


def checksum(data: bytes) -> int:
    """CJ/T 188 checksum: the sum of the bytes mod 256."""
    return sum(data) & 0xFF


def encode_address(address: str) -> bytes:
    """14 digits (most significant first; "AA" pairs are wildcards) -> 7 wire bytes, lowest digits first."""
    if len(address) != 14:
        raise ValueError(f"a CJ/T 188 address has 14 digits, not {len(address)}: {address!r}")
    pairs = [address[i:i + 2] for i in range(0, 14, 2)]
    out = bytearray()
    for pair in reversed(pairs):
        if pair.upper() == "AA":
            out.append(WILDCARD)
        elif pair.isdigit() and pair.isascii():
            out.append(int(pair[0]) << 4 | int(pair[1]))
        else:
            raise ValueError(f"not a BCD address: {address!r}")
    return bytes(out)


def _bcd_byte(b: int, offset: int, field: str) -> int:
    hi, lo = b >> 4, b & 0x0F
    if hi > 9 or lo > 9:
        raise MeterFrameError("bad_bcd", f"{field} 字节 {b:02X}H 不是 BCD", offset=offset, field=field,
                              message_en=f"byte {b:02X}H of {field} is not BCD")
    return hi * 10 + lo


def decode_address(raw: bytes, offset: int = 0) -> str:
    """7 wire bytes (lowest digits first) -> 14 digits, most significant first ("AA" for wildcard bytes).
    Raises :class:`MeterFrameError` (``offset`` of the first byte in the input) for a non-BCD byte."""
    pairs = []
    for k, b in enumerate(raw):
        pairs.append("AA" if b == WILDCARD else f"{_bcd_byte(b, offset + k, 'address'):02d}")
    return "".join(reversed(pairs))


def encode_frame(frame: Frame, preamble: int = 0) -> bytes:
    """The wire bytes of ``frame``, after ``preamble`` wake-up bytes FEH."""
    if not 0 <= len(frame.data) <= 0xFF:
        raise ValueError(f"CJ/T 188 data is at most 255 bytes, not {len(frame.data)}")
    body = bytes([START, frame.meter_type]) + encode_address(frame.address) + bytes([frame.control,
                                                                                      len(frame.data)])
    body += frame.data
    return bytes([PREAMBLE]) * preamble + body + bytes([checksum(body), END])


def frame_extent(buf: bytes | bytearray, pos: int = 0) -> tuple[int, int] | None:
    """Where the frame starting at the ``68`` byte at ``pos`` ends (exclusive), read from its L byte, as
    ``(pos, end)``; None while ``buf`` is too short to know."""
    if len(buf) - pos < HEADER_BYTES:
        return None
    end = pos + HEADER_BYTES + buf[pos + 10] + 2
    return (pos, end) if len(buf) >= end else None


def decode_frame(raw: bytes) -> Frame:
    """Parse one frame (preamble FEH tolerated). Raises :class:`MeterFrameError` on any fault."""
    raw = bytes(raw)
    i = 0
    while i < len(raw) and raw[i] == PREAMBLE:
        i += 1
    if i >= len(raw):
        raise MeterFrameError("truncated", "没有起始符", offset=i, field="start", message_en="no start byte")
    if raw[i] != START:
        raise MeterFrameError("bad_start", f"应为 68H，实为 {raw[i]:02X}H", offset=i, field="start",
                              message_en=f"expected 68H, got {raw[i]:02X}H")
    if len(raw) - i < HEADER_BYTES + 2:
        raise MeterFrameError("truncated", f"只有 {len(raw) - i} 字节", offset=len(raw), field="length",
                              message_en=f"only {len(raw) - i} bytes")
    length = raw[i + 10]
    end = i + HEADER_BYTES + length + 2
    if len(raw) < end:
        raise MeterFrameError("truncated", f"L={length}，帧应到 {end} 字节，实为 {len(raw)}", offset=i + 10,
                              field="length", message_en=f"L={length} needs {end} bytes, got {len(raw)}")
    if len(raw) > end:
        raise MeterFrameError("trailing", f"帧在 {end} 结束，后有 {len(raw) - end} 字节", offset=end,
                              field="length", message_en=f"frame ends at {end}, {len(raw) - end} bytes follow")
    if raw[end - 1] != END:
        raise MeterFrameError("bad_end", f"应为 16H，实为 {raw[end - 1]:02X}H", offset=end - 1, field="end",
                              message_en=f"expected 16H, got {raw[end - 1]:02X}H")
    expected = checksum(raw[i:end - 2])
    if raw[end - 2] != expected:
        raise MeterFrameError("bad_checksum", f"应为 {expected:02X}H，实为 {raw[end - 2]:02X}H", offset=end - 2,
                              field="checksum", message_en=f"expected {expected:02X}H, got {raw[end - 2]:02X}H")
    address = decode_address(raw[i + 2:i + 9], i + 2)
    return Frame(raw[i + 1], address, raw[i + 9], raw[i + HEADER_BYTES:end - 2], i)


# --- read data ---------------------------------------------------------------------------------------------

def _di_bytes(di: int, dialect: Dialect) -> bytes:
    return di.to_bytes(2, "big" if dialect.di_order == "be" else "little")


def _read_di(data: bytes, offset: int, dialect: Dialect, expected: int) -> int:
    le, be = int.from_bytes(data[:2], "little"), int.from_bytes(data[:2], "big")
    got = {"le": le, "be": be}.get(dialect.di_order, expected if expected in (le, be) else le)
    if got != expected:
        raise MeterFrameError("bad_di", f"应为 {expected:04X}H，实为 {data[:2].hex(' ').upper()}", offset=offset,
                              field="di", message_en=f"expected {expected:04X}H, got {data[:2].hex(' ').upper()}")
    return got


@dataclass(frozen=True)
class ReadRequest:
    meter_type: int
    address: str
    di: int
    ser: int


def build_read_request(address: str, meter_type: int = METER_TYPE_HEAT, *, di: int = DI_READ_CURRENT,
                       ser: int = 0, dialect: Dialect = DEFAULT_DIALECT, preamble: int = 2) -> bytes:
    """The read-data request (C=01H, L=3: DI0 DI1 SER) to the meter at ``address`` (14 digits)."""
    data = _di_bytes(di, dialect) + bytes([ser])
    return encode_frame(Frame(meter_type, address, C_READ_DATA, data), preamble)


def parse_read_request(raw: bytes, dialect: Dialect = DEFAULT_DIALECT,
                       expected_di: int = DI_READ_CURRENT) -> ReadRequest:
    """Parse a read-data request (what a meter or a test double receives)."""
    frame = decode_frame(raw)
    if frame.control != C_READ_DATA:
        raise MeterFrameError("bad_control", f"应为 01H，实为 {frame.control:02X}H", offset=frame.start + 9,
                              field="control", message_en=f"expected 01H, got {frame.control:02X}H")
    if len(frame.data) != 3:
        raise MeterFrameError("bad_length", f"读数据请求 L 应为 3，实为 {len(frame.data)}", offset=frame.start + 10,
                              field="length", message_en=f"a read request has L=3, not {len(frame.data)}")
    di = _read_di(frame.data, frame.start + HEADER_BYTES, dialect, expected_di)
    return ReadRequest(frame.meter_type, frame.address, di, frame.data[2])


@dataclass(frozen=True)
class HeatReading:
    """The answer of a heat meter to DI 901FH. Registers keep the value and unit as sent; the properties give
    them in the SI-named units. ``clock`` is the meter's clock (Beijing time), None when it sent all zeros."""

    address: str
    settlement_energy: Register  # 结算日热量 (cooling on a cooling meter)
    energy: Register  # 当前热量
    power: Register  # 热功率
    flow: Register  # 流量
    volume: Register  # 累积流量
    supply_temp_c: Decimal
    return_temp_c: Decimal
    working_hours_h: int
    clock: datetime | None
    status: int = 0  # ST1 | ST2 << 8
    meter_type: int = METER_TYPE_HEAT
    ser: int = 0
    layout: str = "cj188_46"

    @property
    def energy_kind(self) -> str:
        """"cooling" for a cooling meter (21H), else "heat" [K]."""
        return "cooling" if self.meter_type == METER_TYPE_COOLING else "heat"

    @property
    def energy_kwh(self) -> Decimal:
        """Current energy register [kWh]."""
        return self.energy.in_base() / _J_PER_WH / 1000

    @property
    def energy_gj(self) -> Decimal:
        """Current energy register [GJ]."""
        return self.energy.in_base().scaleb(-9)

    @property
    def settlement_energy_kwh(self) -> Decimal:
        """Energy register on the settlement day [kWh]."""
        return self.settlement_energy.in_base() / _J_PER_WH / 1000

    @property
    def power_kw(self) -> Decimal:
        """Heat power [kW]."""
        return self.power.in_base().scaleb(-3)

    @property
    def flow_m3_h(self) -> Decimal:
        """Flow rate [m³/h]."""
        return self.flow.in_base()

    @property
    def volume_m3(self) -> Decimal:
        """Accumulated volume [m³]."""
        return self.volume.in_base()

    @property
    def valve(self) -> str:
        """ST D0-D1: "open" (00), "closed" (01), "abnormal" (11), "unknown" (10) [S, weak]."""
        return {0: "open", 1: "closed", 3: "abnormal"}.get(self.status & 0x03, "unknown")

    @property
    def battery_low(self) -> bool:
        """ST D2 [S, weak]."""
        return bool(self.status & 0x04)


def _bcd_value(chunk: bytes, offset: int, field: str) -> int:
    value = 0
    for k in range(len(chunk) - 1, -1, -1):
        value = value * 100 + _bcd_byte(chunk[k], offset + k, field)
    return value


def _encode_bcd(value: int, size: int, field: str) -> bytes:
    if not 0 <= value < 100**size:
        raise ValueError(f"{field}: {value} does not fit {size} BCD bytes")
    out = bytearray()
    for _ in range(size):
        value, pair = divmod(value, 100)
        out.append((pair // 10) << 4 | pair % 10)
    return bytes(out)


def _read_clock(chunk: bytes, offset: int, dialect: Dialect) -> datetime | None:
    digits = [_bcd_byte(b, offset + k, "clock") for k, b in enumerate(chunk)]
    if not any(digits):
        return None
    if dialect.clock_order == "be":
        cc, yy, mo, dd, hh, mi, ss = digits
    else:
        ss, mi, hh, dd, mo, yy, cc = digits
    try:
        return datetime(cc * 100 + yy, mo, dd, hh, mi, ss, tzinfo=CHINA_TZ)
    except ValueError as exc:
        raise MeterFrameError("bad_time", f"{chunk.hex(' ').upper()}（{exc}）", offset=offset, field="clock",
                              message_en=f"{chunk.hex(' ').upper()} ({exc})") from None


def _encode_clock(clock: datetime | None, dialect: Dialect) -> bytes:
    if clock is None:
        return bytes(7)
    if clock.tzinfo is not None:
        clock = clock.astimezone(CHINA_TZ)
    cc, yy = divmod(clock.year, 100)
    digits = [clock.second, clock.minute, clock.hour, clock.day, clock.month, yy, cc]
    if dialect.clock_order == "be":
        digits.reverse()
    return b"".join(_encode_bcd(d, 1, "clock") for d in digits)


def _read_unit(code: int, quantity: str, offset: int, field: str) -> int:
    unit = UNIT_CODES.get(code)
    if unit is None or unit.quantity != quantity:
        what = f"{code:02X}H" + (f" ({unit.symbol})" if unit else "")
        raise MeterFrameError("bad_unit", f"{field} 的单位代码 {what} 不是{quantity}单位", offset=offset,
                              field=f"{field}.unit", message_en=f"unit code {what} is not a unit of {quantity}")
    return code


def _read_fields(data: bytes, layout: Layout, offset: int, dialect: Dialect) -> dict:
    out: dict = {}
    pos = 3
    for spec in layout.fields:
        chunk = data[pos:pos + spec.size]
        if spec.name == "clock":
            out["clock"] = _read_clock(chunk, offset + pos, dialect)
        elif spec.name == "status":
            out["status"] = int.from_bytes(chunk, "little")
        elif spec.quantity:
            unit_pos, value_pos = (pos, pos + 1) if dialect.unit_first else (pos + spec.size, pos)
            code = _read_unit(data[unit_pos], spec.quantity, offset + unit_pos, spec.name)
            chunk = data[value_pos:value_pos + spec.size]
            value = Decimal(_bcd_value(chunk, offset + value_pos, spec.name)).scaleb(-spec.decimals)
            out[spec.name] = Register(value, code)
            pos += 1
        else:
            value = Decimal(_bcd_value(chunk, offset + pos, spec.name)).scaleb(-spec.decimals)
            out[spec.name] = int(value) if spec.decimals == 0 else value
        pos += spec.size
    return out


def parse_read_response(raw: bytes, dialect: Dialect = DEFAULT_DIALECT) -> HeatReading:
    """Parse a heat meter's answer to DI 901FH (either layout, chosen by L). Raises :class:`MeterFrameError`."""
    frame = decode_frame(raw)
    s = frame.start
    if frame.meter_type not in HEAT_METER_TYPES:
        raise MeterFrameError("bad_type", f"{frame.meter_type:02X}H 不是热量表（20H-29H）", offset=s + 1,
                              field="meter_type", message_en=f"{frame.meter_type:02X}H is not a heat meter (20H-29H)")
    if frame.control & C_ABNORMAL:
        raise MeterFrameError("meter_error", f"控制码 {frame.control:02X}H，数据 {frame.data.hex(' ').upper()}",
                              offset=s + 9, field="control",
                              message_en=f"control {frame.control:02X}H, data {frame.data.hex(' ').upper()}")
    if frame.control != C_RESPONSE | C_READ_DATA:
        raise MeterFrameError("bad_control", f"应为 81H，实为 {frame.control:02X}H", offset=s + 9,
                              field="control", message_en=f"expected 81H, got {frame.control:02X}H")
    layout = LAYOUTS.get(len(frame.data))
    if layout is None:
        known = "/".join(str(k) for k in LAYOUTS)
        raise MeterFrameError("bad_length", f"L={len(frame.data)}，901FH 应答应为 {known}", offset=s + 10,
                              field="length", message_en=f"L={len(frame.data)}; a 901FH answer has L={known}")
    _read_di(frame.data, s + HEADER_BYTES, dialect, DI_READ_CURRENT)
    values = _read_fields(frame.data, layout, s + HEADER_BYTES, dialect)
    return HeatReading(address=frame.address, meter_type=frame.meter_type, ser=frame.data[2], layout=layout.name,
                       **values)


def _encode_field(spec: FieldSpec, value: object, unit_first: bool) -> bytes:
    if isinstance(value, Register):
        if UNIT_CODES.get(value.unit_code, Unit(0, "energy", "", Fraction(0))).quantity != spec.quantity:
            raise ValueError(f"{spec.name}: unit code {value.unit_code:02X}H is not a {spec.quantity} unit")
        number = value.value
    else:
        number = Decimal(value)  # type: ignore[arg-type]
    scaled = number.scaleb(spec.decimals)
    if scaled != scaled.to_integral_value():
        raise ValueError(f"{spec.name}: {number} has more than {spec.decimals} decimals")
    out = _encode_bcd(int(scaled), spec.size, spec.name)
    if not isinstance(value, Register):
        return out
    return bytes([value.unit_code]) + out if unit_first else out + bytes([value.unit_code])


def build_read_response(reading: HeatReading, dialect: Dialect = DEFAULT_DIALECT, preamble: int = 0) -> bytes:
    """The meter's answer (C=81H) carrying ``reading`` in its layout. Raises ValueError for values that do not
    fit the layout (too large, negative, too many decimals) or units of the wrong quantity."""
    layout = LAYOUT_BY_NAME[reading.layout]
    data = bytearray(_di_bytes(DI_READ_CURRENT, dialect) + bytes([reading.ser]))
    for spec in layout.fields:
        if spec.name == "clock":
            data += _encode_clock(reading.clock, dialect)
        elif spec.name == "status":
            data += reading.status.to_bytes(2, "little")
        else:
            data += _encode_field(spec, getattr(reading, spec.name), dialect.unit_first)
    frame = Frame(reading.meter_type, reading.address, C_RESPONSE | C_READ_DATA, bytes(data))
    return encode_frame(frame, preamble)
