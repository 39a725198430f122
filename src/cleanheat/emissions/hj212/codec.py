"""HJ 212 packets: parse and build (pure; no I/O).

Frame (DOMAIN.md §1.1)::

    ##  dddd  <data segment>  CCCC  \\r\\n

``dddd`` is the length of the data segment in bytes (zero-padded decimal), ``CCCC`` the CRC of the data segment
(``crc.py``). The data segment is ``QN=..;ST=..;CN=..;PW=..;MN=..;Flag=..;[PNUM=..;PNO=..;]CP=&&<data area>&&``;
the data area holds items separated by ``;`` whose fields are separated by ``,``, each ``name=value``. Factor
fields are ``<code>-<suffix>`` (``a21026-ZsAvg``); others are plain (``DataTime``).

The parsed :class:`Packet` keeps the header fields and data-area items in wire order, so that
``encode(parse_frame(x)) == x`` for every well-formed frame (with an upper-case CRC). ``Packet.cp`` (code -> suffix
-> value) and ``Packet.cp_fields`` (plain fields) are views over the items. Values stay text; numbers are read by
``processing`` with :func:`parse_number`, times with :func:`parse_time`.

Editions: the Flag's version bits V5..V0 (bits 7..2) are 0 for HJ/T 212-2005, 1 for HJ 212-2017 and 2 for
HJ 212-2025 (DOMAIN.md §1.0, §1.2). A packet without Flag is taken as 2005.

Every failure raises :class:`~cleanheat.emissions.errors.HJ212Error` with a ``reason`` code, the byte offset from
the start of the frame and the field; no other exception escapes :func:`parse_frame` for any input.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from decimal import Decimal
from functools import cached_property

from cleanheat.emissions.errors import HJ212Error
from cleanheat.emissions.hj212.crc import crc16_hj212, crc16_modbus, crc_text
from cleanheat.timeutil import CHINA_TZ  # HJ 212 times are Beijing time (UTC+8); stored as UTC

#: Flag version bits -> edition.
EDITIONS_BY_BITS = {0: "2005", 1: "2017", 2: "2025"}
BITS_BY_EDITION = {v: k for k, v in EDITIONS_BY_BITS.items()}
FLAG_ACK = 0x01  # A: the command requires an answer
FLAG_SPLIT = 0x02  # D: the packet carries PNUM/PNO

#: Header fields of the data segment, in the standard's order (Table 3).
HEADER_ORDER = ("QN", "ST", "CN", "PW", "MN", "Flag", "PNUM", "PNO")
REQUIRED_HEADER = ("ST", "CN", "PW", "MN")
#: The standard limits the data segment to 1024 characters; some devices send more, so the codec accepts up to
#: the 4-digit maximum and the receiver may set a lower limit.
STANDARD_MAX_DATA_LEN = 1024
MAX_DATA_LEN = 9999
FRAME_OVERHEAD = 12  # "##" + 4 length digits + 4 CRC digits + CRLF

#: Factor-field suffixes of HJ 212-2017 Table 4 (others are kept too).
SUFFIXES = ("Rtd", "Min", "Avg", "Max", "Cou", "ZsRtd", "ZsMin", "ZsAvg", "ZsMax", "Flag", "EFlag", "SampleTime",
            "RS", "RT", "Ala", "UpValue", "LowValue", "Info", "SN", "Data", "DayData", "NightData")
NUMERIC_SUFFIXES = frozenset({"Rtd", "Min", "Avg", "Max", "Cou", "ZsRtd", "ZsMin", "ZsAvg", "ZsMax", "RT", "Ala",
                              "UpValue", "LowValue", "Data", "DayData", "NightData"})
#: Data flags of HJ 212-2017 Table 8.
DATA_FLAGS = {
    "N": ("正常", "normal"),
    "F": ("停运", "stopped"),
    "M": ("维护", "maintenance"),
    "S": ("手工输入", "manually set"),
    "D": ("故障", "fault"),
    "C": ("校准", "calibration"),
    "T": ("超测量上限", "over range"),
    "B": ("通讯异常", "communication failure"),
}

_NUMBER_RE = re.compile(r"^[+-]?(?:\d+(?:\.\d*)?|\.\d+)$")
_CN_RE = re.compile(r"^\d{4}$")
_HEX4_RE = re.compile(rb"^[0-9A-Fa-f]{4}$")
_QN_RE = re.compile(r"^\d{17}$")


Item = tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Packet:
    """One HJ 212 packet. ``header`` and ``cp_items`` are in wire order; the rest are views over them."""

    header: tuple[tuple[str, str], ...]
    cp_items: tuple[Item, ...] = ()
    crc_received: int | None = None
    crc_hj212: int | None = None
    crc_modbus: int | None = None
    encoding: str = "ascii"
    length_counts_chars: bool = False
    warnings: tuple[str, ...] = field(default=(), compare=False)

    # --- header views ----------------------------------------------------------------------------------
    @cached_property
    def _h(self) -> dict[str, str]:
        return dict(self.header)

    def get(self, name: str) -> str | None:
        return self._h.get(name)

    @property
    def qn(self) -> str | None:
        return self._h.get("QN")

    @property
    def st(self) -> str:
        return self._h.get("ST", "")

    @property
    def cn(self) -> str:
        return self._h.get("CN", "")

    @property
    def pw(self) -> str:
        return self._h.get("PW", "")

    @property
    def mn(self) -> str:
        return self._h.get("MN", "")

    @property
    def flag(self) -> int | None:
        v = self._h.get("Flag")
        return int(v) if v else None  # an empty field (real loggers send them) is no value

    @property
    def pnum(self) -> int | None:
        v = self._h.get("PNUM")
        return int(v) if v else None  # an empty field (real loggers send them) is no value

    @property
    def pno(self) -> int | None:
        v = self._h.get("PNO")
        return int(v) if v else None  # an empty field (real loggers send them) is no value

    @property
    def ack_requested(self) -> bool:
        return bool((self.flag or 0) & FLAG_ACK)

    @property
    def is_split(self) -> bool:
        return bool((self.flag or 0) & FLAG_SPLIT)

    @property
    def edition(self) -> str:
        f = self.flag
        return "2005" if f is None else EDITIONS_BY_BITS[f >> 2]

    @property
    def crc_ok(self) -> bool:
        """True when the received CRC is the HJ 212 CRC of the data segment."""
        return self.crc_received is not None and self.crc_received == self.crc_hj212

    def crc_matches(self, variant: str) -> bool:
        if variant == "none":
            return True
        if variant == "modbus":  # devices with the Modbus bug; a fixed firmware's right CRC is accepted too
            return self.crc_ok or (self.crc_received is not None and self.crc_received == self.crc_modbus)
        return self.crc_ok

    # --- data-area views -------------------------------------------------------------------------------
    @cached_property
    def cp(self) -> dict[str, dict[str, str]]:
        """Factor fields: code -> suffix -> value (a repeated field keeps its last value)."""
        out: dict[str, dict[str, str]] = {}
        for item in self.cp_items:
            for name, value in item:
                code, sep, suffix = name.partition("-")
                if sep:
                    out.setdefault(code, {})[suffix] = value
        return out

    @cached_property
    def cp_fields(self) -> dict[str, str]:
        """Plain data-area fields (``DataTime``, ``QnRtn``, ``RtdInterval`` ...)."""
        out: dict[str, str] = {}
        for item in self.cp_items:
            for name, value in item:
                if "-" not in name:
                    out[name] = value
        return out

    @property
    def data_time(self) -> str | None:
        return self.cp_fields.get("DataTime")

    def with_header(self, **changes: str | int | None) -> Packet:
        """A copy with header fields changed (None removes a field); new fields go in the standard order."""
        h = dict(self.header)
        for k, v in changes.items():
            if v is None:
                h.pop(k, None)
            else:
                h[k] = str(v)
        known = [(k, h[k]) for k in HEADER_ORDER if k in h]
        other = [(k, v) for k, v in h.items() if k not in HEADER_ORDER]
        return replace(self, header=tuple(known + other))

    def as_dict(self) -> dict:
        """A JSON-friendly view: header fields, edition, ``cp`` (code -> {suffix: value}) and plain fields.

        Numeric suffixes (Rtd, Avg, ...) become numbers; flags and times stay text."""
        cp: dict[str, dict[str, object]] = {}
        for code, fields in self.cp.items():
            cp[code] = {s: (_json_number(v) if s in NUMERIC_SUFFIXES else v) for s, v in fields.items()}
        return {
            "qn": self.qn, "st": self.st, "cn": self.cn, "pw": self.pw, "mn": self.mn, "flag": self.flag,
            "pnum": self.pnum, "pno": self.pno, "edition": self.edition, "ack_requested": self.ack_requested,
            "crc": crc_text(self.crc_received) if self.crc_received is not None else None,
            "crc_ok": self.crc_ok, "encoding": self.encoding, "data_time": self.data_time,
            "cp_fields": self.cp_fields, "cp": cp, "warnings": list(self.warnings),
        }


def _json_number(v: str) -> object:
    if _NUMBER_RE.match(v):
        try:
            d = Decimal(v)
            return int(d) if d == d.to_integral_value() and "." not in v else float(d)
        except ArithmeticError:  # pragma: no cover - the regex admits only plain decimals
            return v
    return v


# --- parsing ---------------------------------------------------------------------------------------------

def _decode(data: bytes) -> tuple[str, str]:
    """The text of a data segment and its encoding: ASCII, else UTF-8, else GBK (GB 18030, its superset)."""
    if data.isascii():
        return data.decode("ascii"), "ascii"
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError as exc:
        utf8_error = exc
    try:
        return data.decode("gb18030"), "gbk"
    except UnicodeDecodeError:
        raise HJ212Error("bad_encoding", f"data segment is neither UTF-8 nor GBK (first bad byte at offset "
                         f"{6 + utf8_error.start})", offset=6 + utf8_error.start,
                         message_en="text is neither UTF-8 nor GBK") from None


class _Seg:
    """The decoded data segment with a helper turning character indexes into byte offsets in the frame."""

    __slots__ = ("encoding", "text")

    def __init__(self, text: str, encoding: str) -> None:
        self.text = text
        self.encoding = encoding

    def offset(self, i: int) -> int:
        if self.encoding == "ascii":
            return 6 + i
        return 6 + len(self.text[:i].encode("gb18030" if self.encoding == "gbk" else "utf-8"))

    def error(self, reason: str, message: str, i: int, field: str | None = None) -> HJ212Error:
        return HJ212Error(reason, message, offset=self.offset(i), field=field)


def parse_frame(frame: bytes, *, crc: str | None = "hj212", max_data_len: int = MAX_DATA_LEN) -> Packet:
    """Parse one complete frame (``##`` ... CRLF).

    ``crc``: the CRC variant to enforce: ``"hj212"`` (the standard), ``"modbus"``, ``"none"`` (not checked), or
    None to defer the check to the caller (``Packet.crc_matches``) — used by the receiver, which learns the
    point's CRC variant from the MN. With None, a packet whose fields do not parse and whose CRC is wrong is
    reported as a CRC error, since the bytes are corrupt.
    """
    if not isinstance(frame, (bytes, bytearray, memoryview)):
        raise TypeError("parse_frame needs bytes")
    frame = bytes(frame)
    n = len(frame)
    if frame[:2] != b"##":
        raise HJ212Error("bad_header", "frame does not start with '##'", offset=0)
    if n < 6 or not _is_digits(frame[2:6]):
        raise HJ212Error("bad_length", "the 4 characters after '##' are not a decimal length", offset=2,
                         field="length")
    length = int(frame[2:6])
    if n < FRAME_OVERHEAD:
        raise HJ212Error("truncated", f"frame of {n} bytes is shorter than the {FRAME_OVERHEAD}-byte minimum",
                         offset=n)
    if frame[-2:] != b"\r\n":
        raise HJ212Error("bad_tail", "frame does not end with CR LF", offset=n - 2)
    data = frame[6:-6]
    crc_field = frame[-6:-2]
    if length > max_data_len:
        raise HJ212Error("too_long", f"data segment length {length} exceeds the limit {max_data_len}", offset=2,
                         field="length")
    counts_chars = False
    if len(data) != length:
        text_len = None
        if not data.isascii():
            try:
                text_len = len(_decode(data)[0])
            except HJ212Error:
                text_len = None
        if text_len == length:
            counts_chars = True
        else:
            raise HJ212Error("bad_length", f"length field says {length:04d} but the data segment has {len(data)} "
                             f"bytes", offset=2, field="length")
    if not _HEX4_RE.match(crc_field):
        raise HJ212Error("bad_crc", f"CRC field {crc_field!r} is not 4 hex digits", offset=n - 6, field="CRC")
    received = int(crc_field, 16)
    computed = crc16_hj212(data)
    modbus = crc16_modbus(data) if received != computed else None  # only needed to explain a mismatch
    if crc is not None and crc != "none" and received != computed and not (crc == "modbus" and received == modbus):
        raise _crc_error(received, computed, modbus, crc, n - 6)
    try:
        seg = _Seg(*_decode(data))
        header, items, warnings = _parse_segment(seg)
    except HJ212Error as exc:
        if crc is None and received != computed and received != modbus:
            raise _crc_error(received, computed, modbus, "hj212", n - 6) from exc
        raise
    if counts_chars:
        warnings.append("length field counts characters, not bytes")
    return Packet(header=header, cp_items=items, crc_received=received, crc_hj212=computed, crc_modbus=modbus,
                  encoding=seg.encoding, length_counts_chars=counts_chars, warnings=tuple(warnings))


def _crc_error(received: int, computed: int, modbus: int | None, variant: str, offset: int | None) -> HJ212Error:
    if variant == "hj212" and received == modbus:
        return HJ212Error("crc_modbus", f"CRC {crc_text(received)} is CRC-16/MODBUS; the HJ 212 CRC of this data "
                          f"segment is {crc_text(computed)}", offset=offset, field="CRC")
    expected = modbus if variant == "modbus" and modbus is not None else computed
    return HJ212Error("bad_crc", f"CRC {crc_text(received)} does not match the data segment ({variant} CRC "
                      f"{crc_text(expected)})", offset=offset, field="CRC")


def check_crc(packet: Packet, variant: str) -> None:
    """Raise HJ212Error unless the packet's CRC is right for the ``variant`` a point is configured with."""
    if not packet.crc_matches(variant):
        raise _crc_error(packet.crc_received or 0, packet.crc_hj212 or 0, packet.crc_modbus, variant, None)


def _is_digits(b: bytes) -> bool:
    return len(b) == 4 and all(48 <= c <= 57 for c in b)


def _parse_segment(seg: _Seg) -> tuple[tuple[tuple[str, str], ...], tuple[Item, ...], list[str]]:
    text = seg.text
    warnings: list[str] = []
    idx = text.find("CP=&&")
    if idx < 0:
        raise seg.error("missing_field", "no 'CP=&&' in the data segment", len(text), "CP")
    if not text.endswith("&&") or len(text) < idx + 7:
        raise seg.error("bad_field", "the data area does not end with '&&'", len(text), "CP")
    head = text[:idx]
    if head and not head.endswith(";"):
        raise seg.error("bad_field", "expected ';' before 'CP='", idx, "CP")
    header: list[tuple[str, str]] = []
    seen: set[str] = set()
    pos = 0
    if head:
        for part in head[:-1].split(";"):
            name, sep, value = part.partition("=")
            if not sep or not name:
                raise seg.error("bad_field", f"header field {part!r} is not NAME=value", pos, name or None)
            if name in seen:
                raise seg.error("bad_field", f"header field {name} appears twice", pos, name)
            if name == "CP":
                raise seg.error("bad_field", "malformed CP field", pos, "CP")
            seen.add(name)
            header.append((name, value))
            pos += len(part) + 1
    h = dict(header)
    for name in REQUIRED_HEADER:
        if name not in h:
            raise seg.error("missing_field", f"header field {name} is missing", 0, name)
    _check_header(h, header, seg, warnings)
    items = _parse_cp(text[idx + 5:-2], seg, idx + 5, warnings)
    return tuple(header), items, warnings


def _field_pos(header: list[tuple[str, str]], name: str) -> int:
    pos = 0
    for k, v in header:
        if k == name:
            return pos
        pos += len(k) + len(v) + 2
    return 0


def _check_header(h: dict[str, str], header: list[tuple[str, str]], seg: _Seg, warnings: list[str]) -> None:
    # Empty fields (``PW=;MN=;``) are what real loggers send: they parse, and the receiver decides what a packet
    # without an MN or a command code is (it keeps it with the reason).
    if h["CN"] and not _CN_RE.match(h["CN"]):
        raise seg.error("bad_cn", f"CN {h['CN']!r} is not 4 digits", _field_pos(header, "CN"), "CN")
    if not h["MN"]:
        warnings.append("MN is empty")
    flag_text = h.get("Flag")
    flag = 0
    if flag_text:
        if not flag_text.isdigit() or not flag_text.isascii() or int(flag_text) > 255:
            raise seg.error("bad_flag", f"Flag {flag_text!r} is not an integer 0..255", _field_pos(header, "Flag"),
                            "Flag")
        flag = int(flag_text)
        if flag >> 2 not in EDITIONS_BY_BITS:
            raise seg.error("bad_flag", f"Flag {flag} has unknown version bits {flag >> 2} (known: 0 = 2005, "
                            "1 = 2017, 2 = 2025)", _field_pos(header, "Flag"), "Flag")
    for name in ("PNUM", "PNO"):
        v = h.get(name)
        if v == "":
            continue
        if v is None:
            if flag & FLAG_SPLIT:
                raise seg.error("missing_field", f"Flag has the split bit D but {name} is missing", 0, name)
        elif not (v.isascii() and v.isdigit()) or int(v) < 1:
            raise seg.error("bad_field", f"{name} {v!r} is not a positive integer", _field_pos(header, name), name)
    if h.get("PNUM") and h.get("PNO") and int(h["PNO"]) > int(h["PNUM"]):
        raise seg.error("bad_field", f"PNO {h['PNO']} exceeds PNUM {h['PNUM']}", _field_pos(header, "PNO"), "PNO")
    qn = h.get("QN")
    if qn is not None and not _QN_RE.match(qn):
        warnings.append(f"QN {qn!r} is not 17 digits (YYYYMMDDhhmmsszzz)")
    for name, _ in header:
        if name not in HEADER_ORDER:
            warnings.append(f"unknown header field {name}")


def _parse_cp(cp: str, seg: _Seg, base: int, warnings: list[str]) -> tuple[Item, ...]:
    if not cp:
        return ()
    if "//" in cp:
        return _parse_cp_slow(cp, seg, base, warnings)
    items: list[Item] = []
    pos = base
    for item_text in cp.split(";"):
        if not item_text:
            warnings.append(f"empty item in the data area at offset {seg.offset(pos)}")
            pos += 1
            continue
        fields: list[tuple[str, str]] = []
        for f in item_text.split(","):
            name, sep, value = f.partition("=")
            if not sep or not name:
                raise seg.error("bad_field", f"data-area field {f!r} is not NAME=value", pos, name or None)
            fields.append((name, value))
            pos += len(f) + 1
        items.append(tuple(fields))
    return tuple(items)


def _parse_cp_slow(cp: str, seg: _Seg, base: int, warnings: list[str]) -> tuple[Item, ...]:
    """Data area with ``//text//`` values (logs, info), which may contain ``;`` and ``,``."""
    items: list[Item] = []
    fields: list[tuple[str, str]] = []
    i, n = 0, len(cp)
    while i <= n:
        if i == n:
            break
        eq = cp.find("=", i)
        stop = min((x for x in (cp.find(",", i), cp.find(";", i)) if x >= 0), default=n)
        if eq < 0 or eq > stop:
            if stop == i and cp[i] == ";":  # empty item
                warnings.append(f"empty item in the data area at offset {seg.offset(base + i)}")
                i += 1
                continue
            raise seg.error("bad_field", f"data-area field {cp[i:stop]!r} is not NAME=value", base + i)
        name = cp[i:eq]
        if not name:
            raise seg.error("bad_field", "data-area field without a name", base + i)
        j = eq + 1
        if cp.startswith("//", j):
            end = cp.find("//", j + 2)
            if end < 0:
                raise seg.error("bad_field", f"value of {name} opens '//' without closing it", base + j, name)
            j = end + 2
        else:
            j = min((x for x in (cp.find(",", j), cp.find(";", j)) if x >= 0), default=n)
        fields.append((name, cp[eq + 1:j]))
        if j >= n:
            items.append(tuple(fields))
            break
        sep = cp[j]
        if sep not in ",;":
            raise seg.error("bad_field", f"unexpected {sep!r} after the value of {name}", base + j, name)
        if sep == ";":
            items.append(tuple(fields))
            fields = []
        i = j + 1
        if i == n:  # trailing separator
            if fields:
                items.append(tuple(fields))
                fields = []
            warnings.append("trailing separator in the data area")
    return tuple(items)


# --- values ---------------------------------------------------------------------------------------------

def parse_number(text: str, *, field: str | None = None) -> float:
    """A plain decimal number (``N14.2`` style; no exponents, NaN or underscores)."""
    if not _NUMBER_RE.match(text):
        raise HJ212Error("bad_value", f"{text!r} is not a number", field=field)
    return float(text)


def parse_time(text: str, *, field: str | None = None) -> datetime:
    """An N14 time ``YYYYMMDDhhmmss`` (Beijing time) as an aware datetime in UTC."""
    if len(text) != 14 or not text.isascii() or not text.isdigit():
        raise HJ212Error("bad_time", f"{text!r} is not a time YYYYMMDDhhmmss", field=field)
    try:
        local = datetime(int(text[0:4]), int(text[4:6]), int(text[6:8]), int(text[8:10]), int(text[10:12]),
                         int(text[12:14]), tzinfo=CHINA_TZ)
    except ValueError as exc:
        raise HJ212Error("bad_time", f"{text!r} is not a valid time: {exc}", field=field) from None
    return local.astimezone(UTC)


def format_time(t: datetime) -> str:
    """An aware datetime as N14 Beijing time."""
    if t.tzinfo is None:
        raise ValueError("format_time needs an aware datetime")
    return t.astimezone(CHINA_TZ).strftime("%Y%m%d%H%M%S")


def format_qn(t: datetime) -> str:
    """A QN (``YYYYMMDDhhmmsszzz``, Beijing time) for an aware datetime."""
    local = t.astimezone(CHINA_TZ)
    return local.strftime("%Y%m%d%H%M%S") + f"{local.microsecond // 1000:03d}"


def format_value(v: object) -> str:
    """A value as it goes on the wire: text as is, numbers in plain decimal notation."""
    if isinstance(v, str):
        return v
    if isinstance(v, bool):
        return "1" if v else "0"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return format(Decimal(repr(v)), "f")
    if isinstance(v, Decimal):
        return format(v, "f")
    return str(v)


# --- building -------------------------------------------------------------------------------------------

CpSpec = Mapping[str, object] | Sequence[Sequence[tuple[str, object]]]


def cp_items_from(cp: CpSpec | None) -> tuple[Item, ...]:
    """Data-area items from the friendly form ``{"DataTime": "...", "a21026": {"Rtd": 18.5, "Flag": "N"}}``
    (each plain field its own item, each factor one item) or from a sequence of items of (name, value)."""
    if not cp:
        return ()
    if isinstance(cp, Mapping):
        items: list[Item] = []
        for name, value in cp.items():
            if isinstance(value, Mapping):
                items.append(tuple((f"{name}-{s}", format_value(v)) for s, v in value.items()))
            else:
                items.append(((name, format_value(value)),))
        return tuple(items)
    return tuple(tuple((str(n), format_value(v)) for n, v in item) for item in cp)


def make_packet(*, st: str | int, cn: str | int, pw: str, mn: str, flag: int | None = None, qn: str | None = None,
                pnum: int | None = None, pno: int | None = None, cp: CpSpec | None = None) -> Packet:
    """A packet from its parts (header in the standard's order)."""
    header = [("QN", qn), ("ST", str(st)), ("CN", str(cn)), ("PW", pw), ("MN", mn),
              ("Flag", None if flag is None else str(flag)),
              ("PNUM", None if pnum is None else str(pnum)), ("PNO", None if pno is None else str(pno))]
    return Packet(header=tuple((k, v) for k, v in header if v is not None), cp_items=cp_items_from(cp))


def encode_segment(packet: Packet) -> str:
    """The data segment text of a packet."""
    head = "".join(f"{k}={v};" for k, v in packet.header)
    cp = ";".join(",".join(f"{n}={v}" for n, v in item) for item in packet.cp_items)
    return f"{head}CP=&&{cp}&&"


def encode(packet: Packet, *, crc: str = "hj212", encoding: str = "utf-8") -> bytes:
    """The frame of a packet. ``crc="modbus"`` builds the faulty-device variant (for tests and the simulator)."""
    data = encode_segment(packet).encode("gb18030" if encoding == "gbk" else encoding)
    if len(data) > MAX_DATA_LEN:
        raise HJ212Error("too_long", f"data segment of {len(data)} bytes does not fit the 4-digit length field",
                         field="length")
    value = crc16_modbus(data) if crc == "modbus" else crc16_hj212(data)
    return b"##" + f"{len(data):04d}".encode() + data + crc_text(value).encode() + b"\r\n"


def build_packet(*, st: str | int, cn: str | int, pw: str, mn: str, flag: int | None = None, qn: str | None = None,
                 pnum: int | None = None, pno: int | None = None, cp: CpSpec | None = None, crc: str = "hj212",
                 encoding: str = "utf-8") -> bytes:
    """Build one frame from its parts (see :func:`make_packet`, :func:`encode`)."""
    return encode(make_packet(st=st, cn=cn, pw=pw, mn=mn, flag=flag, qn=qn, pnum=pnum, pno=pno, cp=cp),
                  crc=crc, encoding=encoding)


def split_packet(packet: Packet, max_data_len: int = STANDARD_MAX_DATA_LEN) -> list[Packet]:
    """Split a packet whose data segment is too long into D=1 packets carrying PNUM/PNO (HJ 212 §6.4).

    Plain fields (``DataTime``) are repeated in every part; factor items are distributed in order."""
    if len(encode_segment(packet).encode()) <= max_data_len:
        return [packet]
    common = tuple(it for it in packet.cp_items if all("-" not in n for n, _ in it))
    rest = [it for it in packet.cp_items if it not in common]
    flag = (packet.flag or BITS_BY_EDITION["2017"] << 2) | FLAG_SPLIT
    parts: list[list[Item]] = []
    current: list[Item] = []
    for item in rest:
        trial = packet.with_header(Flag=flag, PNUM=9999, PNO=9999)
        trial = replace(trial, cp_items=common + tuple(current + [item]))
        if current and len(encode_segment(trial).encode()) > max_data_len:
            parts.append(current)
            current = [item]
        else:
            current.append(item)
    parts.append(current)
    out = []
    for i, items in enumerate(parts, start=1):
        p = packet.with_header(Flag=flag, PNUM=len(parts), PNO=i)
        out.append(replace(p, cp_items=common + tuple(items)))
    return out


def map_codes(packet: Packet, code_map: Mapping[str, str]) -> Packet:
    """A copy with 2005-style factor codes (``01-Rtd``, ``S01-Avg``) replaced by their 2017 codes."""
    if not code_map or code_map.keys().isdisjoint(packet.cp):
        return packet
    changed = False
    items = []
    for item in packet.cp_items:
        new = []
        for name, value in item:
            code, sep, suffix = name.partition("-")
            if sep and code in code_map:
                name = f"{code_map[code]}-{suffix}"
                changed = True
            new.append((name, value))
        items.append(tuple(new))
    return replace(packet, cp_items=tuple(items)) if changed else packet


def reply_header_flag(packet: Packet) -> int:
    """Flag for an answer to ``packet``: the same edition's version bits, no ack, no split."""
    return (packet.flag or 0) & ~0x03


def data_answer(packet: Packet) -> Packet:
    """The 9014 data answer to an upload (QN echoed, ST=91)."""
    return make_packet(qn=packet.qn, st="91", cn="9014", pw=packet.pw, mn=packet.mn,
                       flag=reply_header_flag(packet), cp=None)


def data_answer_frame(packet: Packet) -> bytes:
    """``encode(data_answer(packet))`` without the intermediate objects (the receiver's hot path)."""
    h = packet._h
    qn = h.get("QN")
    seg = (f"QN={qn};" if qn is not None else "") + \
        f"ST=91;CN=9014;PW={h['PW']};MN={h['MN']};Flag={reply_header_flag(packet)};CP=&&&&"
    data = seg.encode("utf-8")
    return b"##" + f"{len(data):04d}".encode() + data + crc_text(crc16_hj212(data)).encode() + b"\r\n"


def request_answer(packet: Packet, qn_rtn: int) -> Packet:
    """A 9011 request answer with ``QnRtn`` (1 ready, 2 rejected, 3 PW error, 4 MN error, 9 CRC error ...)."""
    return make_packet(qn=packet.qn, st="91", cn="9011", pw=packet.pw, mn=packet.mn,
                       flag=reply_header_flag(packet), cp={"QnRtn": str(qn_rtn)})


def execution_result(packet: Packet, exe_rtn: int) -> Packet:
    """A 9012 execution result with ``ExeRtn`` (1 success, 2 failed, 100 no data ...)."""
    return make_packet(qn=packet.qn, st="91", cn="9012", pw=packet.pw, mn=packet.mn,
                       flag=reply_header_flag(packet), cp={"ExeRtn": str(exe_rtn)})


def notice_answer(packet: Packet) -> Packet:
    """A 9013 notice answer."""
    return make_packet(qn=packet.qn, st="91", cn="9013", pw=packet.pw, mn=packet.mn,
                       flag=reply_header_flag(packet), cp=None)
