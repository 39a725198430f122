"""CRC checksums of HJ 212 frames (pure).

HJ 212-2017 Appendix A ("ANSI CRC16"): register 0xFFFF, reflected polynomial 0xA001, but each byte step first
**shifts the register right by 8** and then XORs the byte (``crc = (crc >> 8) ^ b``), unlike CRC-16/MODBUS
(``crc ^= b``). See DOMAIN.md §1.3. Worked example: the standard's 1062 packet has CRC 0x1C80.

Because ``(crc >> 8) ^ b`` is at most 8 bits wide, the eight shift/XOR rounds that follow depend on that byte
only, so the HJ 212 CRC is one table look-up per byte: ``crc = T[(crc >> 8) ^ b]``.

Some devices send CRC-16/MODBUS instead (a common bug); ``crc16_modbus`` lets the receiver say so.
"""

from __future__ import annotations

import sys

POLY = 0xA001


def _rounds(value: int) -> int:
    for _ in range(8):
        lsb = value & 1
        value >>= 1
        if lsb:
            value ^= POLY
    return value


#: T[v] = eight reflected rounds applied to the 8-bit value v.
_TABLE: tuple[int, ...] = tuple(_rounds(v) for v in range(256))
#: Only the high byte of the register survives a step, so the register between bytes is an 8-bit state
#: h' = H[h ^ b]; two steps at once: h'' = H2[h ^ (two bytes as a native 16-bit word)].
_HIGH: tuple[int, ...] = tuple(t >> 8 for t in _TABLE)


def _pair_table() -> tuple[int, ...]:
    little = sys.byteorder == "little"
    out = [0] * 65536
    for x in range(65536):
        first, second = (x & 0xFF, x >> 8) if little else (x >> 8, x & 0xFF)
        out[x] = _HIGH[_HIGH[first] ^ second]
    return tuple(out)


_PAIRS = _pair_table()


def crc16_hj212(data: bytes) -> int:
    """The HJ 212 CRC of ``data`` (the data segment only) as an int 0..0xFFFF."""
    n = len(data)
    if n == 0:
        return 0xFFFF
    high, pairs = _HIGH, _PAIRS
    little = sys.byteorder == "little"
    h = 0xFF
    start = 0
    if (n - 1) % 2:
        h = high[h ^ data[0]]
        start = 1
    if n - 1 > start:
        words = memoryview(data)[start:n - 1].cast("H")
        if little:
            for w in words:
                h = pairs[h ^ w]
        else:  # pragma: no cover - big-endian hosts
            for w in words:
                h = pairs[(h << 8) ^ w]
    return _TABLE[h ^ data[n - 1]]


def crc16_hj212_reference(data: bytes) -> int:
    """The standard's Appendix A algorithm written out bit by bit (for tests of the table form)."""
    crc = 0xFFFF
    for b in data:
        crc = (crc >> 8) ^ b
        for _ in range(8):
            lsb = crc & 1
            crc >>= 1
            if lsb:
                crc ^= POLY
    return crc


def crc16_modbus(data: bytes) -> int:
    """CRC-16/MODBUS (init 0xFFFF, reflected 0xA001, ``crc ^= b``), table form."""
    table = _TABLE
    crc = 0xFFFF
    for b in data:
        crc = (crc >> 8) ^ table[(crc ^ b) & 0xFF]
    return crc


def crc16_modbus_reference(data: bytes) -> int:
    """CRC-16/MODBUS bit by bit (for tests of the table form)."""
    crc = 0xFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            lsb = crc & 1
            crc >>= 1
            if lsb:
                crc ^= POLY
    return crc


CRC_VARIANT_NAMES = ("hj212", "modbus", "none")


def crc_text(value: int) -> str:
    """Four upper-case hex digits, high byte first, as sent on the wire."""
    return f"{value:04X}"
