"""Reading CJ/T 188 heat meters through a TCP concentrator (集中器 / transparent DTU).

The concentrator forwards each request frame to the meter bus and the meter's answer back over one TCP
connection. Bytes arrive in arbitrary chunks: a frame may be split across reads, preceded by FEH wake-up bytes or
line noise, and an answer to an earlier request that timed out may arrive late. :class:`FrameAssembler` cuts the
byte stream into checked frames (start 68H, length from L, checksum, end 16H) and resynchronises on the next 68H
after a false start; :class:`Concentrator` sends the read-data request per address and waits for the answer *from
that address*, ignoring others, with a timeout per attempt and a number of retries (a new attempt also after a
corrupt answer from the meter or a lost connection, which is reopened).

Uses the pure codec ``cjt188``; this module does network I/O (asyncio) but touches no store, web or CLI.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass, field

from cleanheat.billing.cjt188 import (
    C_RESPONSE,
    DEFAULT_DIALECT,
    END,
    METER_TYPE_HEAT,
    START,
    Dialect,
    HeatReading,
    MeterFrameError,
    build_read_request,
    checksum,
    decode_address,
    frame_extent,
    parse_read_response,
)

#: Reasons after which another attempt is made; any other MeterFrameError reason is final for that meter.
RETRY_REASONS = frozenset({"timeout", "bad_checksum", "connection"})


@dataclass(frozen=True)
class Candidate:
    """A complete frame cut from the stream (``ok``: end byte and checksum right)."""

    data: bytes
    ok: bool


@dataclass
class FrameAssembler:
    """Incremental de-framer for CJ/T 188 byte streams. ``feed(chunk)`` returns the frames completed so far;
    bytes outside frames (preamble, noise) are counted in ``skipped_bytes``, false starts in ``rejected``."""

    skipped_bytes: int = 0
    rejected: int = 0
    _buf: bytearray = field(default_factory=bytearray)

    def feed(self, chunk: bytes) -> list[Candidate]:
        self._buf += chunk
        out: list[Candidate] = []
        while self._buf:
            i = self._buf.find(START)
            if i < 0:
                self.skipped_bytes += len(self._buf)
                self._buf.clear()
                break
            if i:
                self.skipped_bytes += i
                del self._buf[:i]
            extent = frame_extent(self._buf)
            if extent is None:
                later = self._later_valid_start()
                if later is None:
                    break  # wait for the rest (at most 11 + 255 + 2 bytes)
                self.rejected += 1
                self.skipped_bytes += later
                del self._buf[:later]  # a false start whose L reaches past a complete, valid frame
                continue
            end = extent[1]
            ok = self._valid(0, end)
            out.append(Candidate(bytes(self._buf[:end]), ok))
            if ok:
                del self._buf[:end]
            else:
                self.rejected += 1
                self.skipped_bytes += 1
                del self._buf[:1]  # a false start or a corrupt frame: resynchronise on the next 68H
        return out


    def _valid(self, start: int, end: int) -> bool:
        buf = self._buf
        return buf[end - 1] == END and checksum(buf[start:end - 2]) == buf[end - 2]

    def _later_valid_start(self) -> int | None:
        """The offset of a later 68H that starts a complete frame with a right end byte and checksum."""
        j = self._buf.find(START, 1)
        while j > 0:
            extent = frame_extent(self._buf, j)
            if extent is not None and self._valid(*extent):
                return j
            j = self._buf.find(START, j + 1)
        return None


@dataclass(frozen=True)
class MeterRead:
    """The outcome for one meter: the reading, or the reason of the last failure, and the attempts made."""

    address: str
    reading: HeatReading | None
    error: str | None
    attempts: int


def _candidate_address(data: bytes) -> str | None:
    """The address of a complete candidate frame (from its 68H), or None when its address bytes are not BCD."""
    try:
        return decode_address(data[2:9])
    except MeterFrameError:
        return None


class Concentrator:
    """One TCP connection to a concentrator; ``async with Concentrator(host, port) as c: await c.read(addr)``.

    ``timeout_s`` [s] bounds each attempt (request sent -> answer from that address), ``retries`` is the number
    of further attempts, ``connect_timeout_s`` [s] bounds opening the connection."""

    def __init__(self, host: str, port: int, *, dialect: Dialect = DEFAULT_DIALECT, timeout_s: float = 5.0,
                 retries: int = 2, preamble: int = 2, connect_timeout_s: float = 10.0) -> None:
        self.host, self.port = host, port
        self.dialect, self.timeout_s, self.retries = dialect, timeout_s, retries
        self.preamble, self.connect_timeout_s = preamble, connect_timeout_s
        self.assembler = FrameAssembler()
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._pending: list[Candidate] = []

    async def __aenter__(self) -> Concentrator:
        await self._connect()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def _connect(self) -> None:
        if self._writer is None:
            self._reader, self._writer = await asyncio.wait_for(
                asyncio.open_connection(self.host, self.port), self.connect_timeout_s)

    async def close(self) -> None:
        writer, self._reader, self._writer = self._writer, None, None
        self._pending.clear()
        self.assembler = FrameAssembler()
        if writer is not None:
            writer.close()
            try:
                await writer.wait_closed()
            except OSError:
                pass

    async def _answer_from(self, address: str) -> HeatReading:
        """The next answer frame from ``address`` (frames of other addresses are dropped). Raises
        MeterFrameError (a corrupt or bad answer from that address) or EOFError (connection closed)."""
        while True:
            while self._pending:
                cand = self._pending.pop(0)
                if _candidate_address(cand.data) != address or not cand.data[9] & C_RESPONSE:
                    continue  # a late answer of another meter, or an echo of a request
                if not cand.ok:
                    raise MeterFrameError("bad_checksum", "应答帧损坏", offset=0, field="checksum",
                                          message_en="corrupt answer frame")
                return parse_read_response(cand.data, self.dialect)
            assert self._reader is not None
            chunk = await self._reader.read(4096)
            if not chunk:
                raise EOFError("the concentrator closed the connection")
            self._pending += self.assembler.feed(chunk)

    async def _attempt(self, address: str, meter_type: int) -> HeatReading:
        await self._connect()
        assert self._writer is not None
        self._writer.write(build_read_request(address, meter_type, dialect=self.dialect, preamble=self.preamble))
        await self._writer.drain()
        return await asyncio.wait_for(self._answer_from(address), self.timeout_s)

    async def read(self, address: str, meter_type: int = METER_TYPE_HEAT) -> MeterRead:
        """Read one meter (DI 901FH), retrying after a timeout, a corrupt answer or a lost connection."""
        error = "timeout"
        for attempt in range(1, self.retries + 2):
            try:
                return MeterRead(address, await self._attempt(address, meter_type), None, attempt)
            except TimeoutError:
                error = "timeout"
            except MeterFrameError as exc:
                error = exc.reason
            except (OSError, EOFError):
                error = "connection"
                await self.close()
            if error not in RETRY_REASONS:
                return MeterRead(address, None, error, attempt)
        return MeterRead(address, None, error, self.retries + 1)

    async def read_all(self, addresses: Iterable[str], meter_type: int = METER_TYPE_HEAT) -> list[MeterRead]:
        """Read the meters one after the other (one bus, one request at a time), in the order given."""
        return [await self.read(address, meter_type) for address in addresses]


async def read_meters(host: str, port: int, addresses: Iterable[str], **options) -> list[MeterRead]:
    """Open a connection to the concentrator at ``host:port``, read every meter, close. ``options`` as for
    :class:`Concentrator` (``timeout_s`` [s], ``retries``, ``dialect``, ``preamble``)."""
    async with Concentrator(host, port, **options) as conc:
        return await conc.read_all(addresses)
