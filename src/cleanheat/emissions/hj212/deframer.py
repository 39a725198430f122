"""Cutting a TCP byte stream into HJ 212 frames (pure; no I/O).

Bytes arrive in arbitrary chunks: a frame may be split across reads, several frames may come in one read, and
devices send garbage between frames or drop the link mid-frame. :class:`Deframer` keeps a buffer and yields, in
stream order, :class:`Frame` (a candidate ``##...\\r\\n`` frame, to be parsed by ``codec.parse_frame``) and
:class:`Junk` (bytes that are not a frame, with a reason). Nothing is dropped silently: every byte fed ends up in
exactly one Frame or Junk (``flush`` at the end of the stream hands over the rest).

Resynchronisation (DOMAIN.md §1.11): find ``##``, read 4 length digits, expect CRLF ``len + 12`` bytes on. When
the CRLF is not where the length says, the frame ends at the first CRLF (a device miscounting its length is then
reported by the codec as ``bad_length`` rather than lost), unless a new ``##dddd`` header starts first, in which
case the bytes before it are a truncated frame (a ``##dddd`` inside a frame whose length and CRC fit is data).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from cleanheat.emissions.hj212.codec import FRAME_OVERHEAD, MAX_DATA_LEN
from cleanheat.emissions.hj212.crc import crc16_hj212, crc16_modbus

_HEADER_RE = re.compile(rb"##\d{4}")


def _crc_fits(buf: bytearray, start: int, end: int) -> bool:
    data = bytes(buf[start + 6:end - 6])
    try:
        received = int(buf[end - 6:end - 2], 16)
    except ValueError:
        return False
    return received in (crc16_hj212(data), crc16_modbus(data))


@dataclass(frozen=True)
class Frame:
    data: bytes
    offset: int  # stream offset of the first byte


@dataclass(frozen=True)
class Junk:
    data: bytes
    offset: int
    reason: str  # garbage | truncated | too_long
    message: str


class Deframer:
    """Incremental de-framer. ``feed(chunk)`` returns the complete frames and junk found so far."""

    def __init__(self, max_frame_bytes: int = MAX_DATA_LEN + FRAME_OVERHEAD) -> None:
        self.max_frame_bytes = max_frame_bytes
        self._buf = bytearray()
        self._base = 0  # stream offset of _buf[0]

    @property
    def buffered(self) -> int:
        return len(self._buf)

    def feed(self, chunk: bytes) -> list[Frame | Junk]:
        self._buf += chunk
        out: list[Frame | Junk] = []
        buf = self._buf
        pos = 0
        n = len(buf)
        while pos < n:
            i = buf.find(b"##", pos)
            if i < 0:
                # keep a trailing '#' (it may begin the next header)
                end = n - 1 if buf[n - 1] == 0x23 else n
                if end > pos:
                    out.append(self._junk(pos, end, "garbage", "bytes outside any frame"))
                pos = end
                break
            if i > pos:
                out.append(self._junk(pos, i, "garbage", "bytes outside any frame"))
                pos = i
            if n - i < 6:
                break  # wait for the length digits
            digits = bytes(buf[i + 2:i + 6])
            if not (digits.isdigit() and digits.isascii()):
                out.append(self._junk(i, i + 1, "garbage", "'##' not followed by 4 length digits"))
                pos = i + 1
                continue
            expected_end = i + int(digits) + FRAME_OVERHEAD
            crlf = buf.find(b"\r\n", i + 6)
            m = _HEADER_RE.search(buf, i + 2, crlf if crlf >= 0 else n)
            if crlf >= 0 and crlf + 2 == expected_end and (m is None or _crc_fits(buf, i, expected_end)):
                # a "##dddd" inside the frame is data only when the CRC confirms the frame as a whole
                out.append(Frame(bytes(buf[i:expected_end]), self._base + i))
                pos = expected_end
                continue
            if m is not None:
                nxt = m.start()
                out.append(self._junk(i, nxt, "truncated", "frame cut short by the next '##' header"))
                pos = nxt
                continue
            if crlf >= 0:
                out.append(Frame(bytes(buf[i:crlf + 2]), self._base + i))
                pos = crlf + 2
                continue
            if n - i > self.max_frame_bytes:
                # a next header may still be arriving: keep the last 5 bytes
                cut = n - 5
                out.append(self._junk(i, cut, "too_long", f"no frame end within {self.max_frame_bytes} bytes"))
                pos = cut
                continue
            break  # wait for more bytes
        if pos:
            del buf[:pos]
            self._base += pos
        return out

    def flush(self) -> list[Frame | Junk]:
        """At the end of the stream: whatever is left is a truncated frame or garbage."""
        if not self._buf:
            return []
        reason = "truncated" if self._buf.startswith(b"##") else "garbage"
        out = [self._junk(0, len(self._buf), reason, "stream ended inside a frame" if reason == "truncated"
                          else "bytes outside any frame")]
        self._base += len(self._buf)
        self._buf.clear()
        return out

    def _junk(self, start: int, end: int, reason: str, message: str) -> Junk:
        return Junk(bytes(self._buf[start:end]), self._base + start, reason, message)
