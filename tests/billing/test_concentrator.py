"""Reading CJ/T 188 meters through a TCP concentrator: the stream de-framer (property tests over any chunking and
noise), and the asyncio client against a small asyncio TCP server in this file that speaks the codec (split
packets, preamble and noise, dropped requests, corrupt and late answers, error answers, closed connections).

Only the test of a silent meter waits for timeouts (3 s per attempt; a meter that answers must answer within it,
far above any event-loop delay of a loaded machine); everything else is driven by the server's script, with
generous timeouts that are never reached when the code is right."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field, replace
from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cleanheat.billing.cjt188 import (
    Frame,
    HeatReading,
    build_read_response,
    encode_frame,
    parse_read_request,
)
from cleanheat.billing.concentrator import Candidate, Concentrator, FrameAssembler, MeterRead, read_meters
from tests.billing.test_cjt188 import golden, readings

SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
GENEROUS_S = 30.0


# --- the de-framer -----------------------------------------------------------------------------------------

def _chunks(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts} | {0, len(data)})
    return [data[a:b] for a, b in zip(points, points[1:], strict=False)]


@SETTINGS
@given(st.lists(readings(), min_size=1, max_size=4),
       st.lists(st.binary(max_size=6).map(lambda b: b.replace(b"\x68", b"\xfe")), min_size=5, max_size=5),
       st.lists(st.integers(0, 10_000), max_size=30))
def test_assembler_recovers_every_frame_from_any_chunking(reads, noise, cuts):
    frames = [build_read_response(r, preamble=2) for r in reads]
    stream = b"".join(noise[i % 5] + f for i, f in enumerate(frames)) + noise[4]
    asm = FrameAssembler()
    got = [c for chunk in _chunks(stream, cuts) for c in asm.feed(chunk)]
    assert [c.data for c in got if c.ok] == [f.lstrip(b"\xfe") for f in frames]


def test_assembler_skips_a_false_start_and_a_corrupt_frame():
    good = golden("cjt188_heat_46.hex")
    corrupt = bytearray(good)
    corrupt[20] ^= 0x01
    # 68 .. FFH: a false start whose L reaches past the good frame that follows
    false_start = b"\x68\x00\x00\x00\x00\x00\x00\x00\x00\x00\xff"
    asm = FrameAssembler()
    got = [c for b in false_start + b"\xfe\xfe" + good for c in asm.feed(bytes([b]))]
    assert [c.data for c in got if c.ok] == [good] and asm.rejected == 1
    assert asm.skipped_bytes == len(false_start) + 2
    asm = FrameAssembler()
    got = [c for b in bytes(corrupt) + b"\xfe\xfe" + good for c in asm.feed(bytes([b]))]
    assert [c.data for c in got if c.ok] == [good]
    assert got[0] == Candidate(bytes(corrupt), False)


# --- a concentrator in this test -----------------------------------------------------------------------------

@dataclass
class FakeConcentrator:
    """Answers read requests for ``meters``; ``scripts[address]`` lists what it does for each request in turn
    (then "answer"): answer | drop | corrupt | late (held back and sent before the next answer) | error | close.
    Answers go out with preamble and noise, ``chunk`` bytes per write."""

    meters: dict[str, HeatReading]
    scripts: dict[str, list[str]] = field(default_factory=dict)
    chunk: int = 3
    requests: list[str] = field(default_factory=list)
    connections: int = 0
    _held: list[bytes] = field(default_factory=list)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        asm = FrameAssembler()
        try:
            while data := await reader.read(4096):
                for cand in asm.feed(data):
                    if not await self._request(parse_read_request(cand.data).address, writer):
                        return
        finally:
            writer.close()

    async def _request(self, address: str, writer: asyncio.StreamWriter) -> bool:
        self.requests.append(address)
        if address not in self.meters:
            return True  # no such meter on the bus: silence
        script = self.scripts.get(address) or []
        action = script.pop(0) if script else "answer"
        answer = b"\x00\x13\xfe\xfe" + build_read_response(self.meters[address], preamble=2)
        if action == "close":
            return False
        if action == "late":
            self._held.append(answer)
        elif action == "corrupt":
            await self._send(answer[:-4] + bytes([answer[-4] ^ 0x10]) + answer[-3:], writer)
        elif action == "error":
            await self._send(encode_frame(Frame(0x20, address, 0xC1, b"\x1f\x90\x00\x01")), writer)
        elif action == "answer":
            held, self._held = b"".join(self._held), []
            await self._send(held + answer, writer)
        return True

    async def _send(self, data: bytes, writer: asyncio.StreamWriter) -> None:
        for i in range(0, len(data), self.chunk):
            writer.write(data[i:i + self.chunk])
            await writer.drain()


def _meters() -> dict[str, HeatReading]:
    a = golden_reading("cjt188_heat_46.hex")
    b = golden_reading("cjt188_heat_43.hex")
    c = replace(a, address="00000000000301", energy=replace(a.energy, value=Decimal("7.00")))
    return {r.address: r for r in (a, b, c)}


def golden_reading(name: str) -> HeatReading:
    from cleanheat.billing.cjt188 import parse_read_response

    return parse_read_response(golden(name))


def _run(fake: FakeConcentrator, addresses: list[str], **options) -> list[MeterRead]:
    async def main() -> list[MeterRead]:
        server = await asyncio.start_server(fake.handle, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        try:
            return await read_meters("127.0.0.1", port, addresses, **options)
        finally:
            server.close()
            await server.wait_closed()

    return asyncio.run(main())


def test_reads_every_meter_from_a_split_noisy_stream():
    meters = _meters()
    fake = FakeConcentrator(meters, chunk=1)
    got = _run(fake, list(meters), timeout_s=GENEROUS_S)
    assert [(m.address, m.reading, m.error, m.attempts) for m in got] == [(a, r, None, 1) for a, r in meters.items()]
    assert fake.requests == list(meters) and fake.connections == 1


def test_dropped_request_and_corrupt_answer_are_retried():
    meters = _meters()
    a, b, _ = meters
    fake = FakeConcentrator(meters, {a: ["corrupt"], b: ["corrupt", "corrupt"]})
    got = _run(fake, [a, b], timeout_s=GENEROUS_S, retries=2)
    assert [(m.reading, m.attempts) for m in got] == [(meters[a], 2), (meters[b], 3)]
    fake = FakeConcentrator(meters, {a: ["corrupt"] * 3})
    assert _run(fake, [a], timeout_s=GENEROUS_S, retries=2)[0] == MeterRead(a, None, "bad_checksum", 3)


def test_silent_meter_times_out_and_a_late_answer_is_not_taken_for_the_next_meter():
    meters = _meters()
    a, b, c = meters
    # a: the first request is answered only when the next request arrives (late); the client has given up on it
    # by then and its retry takes that answer; the fresh answer to the retry then reaches the client while it
    # waits for b, and must be dropped.
    fake = FakeConcentrator(meters, {a: ["late"]})
    got = _run(fake, [a, "99999999999999", b, c], timeout_s=3.0, retries=1)
    assert got[0].reading == meters[a] and got[0].attempts == 2
    assert got[1] == MeterRead("99999999999999", None, "timeout", 2)
    assert (got[2].reading, got[3].reading) == (meters[b], meters[c])
    assert fake.requests == [a, a, "99999999999999", "99999999999999", b, c]


def test_error_answer_is_final_and_a_closed_connection_is_reopened():
    meters = _meters()
    a, b, _ = meters
    fake = FakeConcentrator(meters, {a: ["error"], b: ["close"]})
    got = _run(fake, [a, b], timeout_s=GENEROUS_S)
    assert got[0] == MeterRead(a, None, "meter_error", 1)
    assert (got[1].reading, got[1].attempts) == (meters[b], 2)
    assert fake.connections == 2


def test_concentrator_as_context_manager_reads_one_meter():
    meters = _meters()
    fake = FakeConcentrator(meters)

    async def main() -> MeterRead:
        server = await asyncio.start_server(fake.handle, "127.0.0.1", 0)
        try:
            async with Concentrator("127.0.0.1", server.sockets[0].getsockname()[1], timeout_s=GENEROUS_S) as conc:
                return await conc.read("00000000000301")
        finally:
            server.close()
            await server.wait_closed()

    got = asyncio.run(main())
    assert got.reading is not None and got.reading.energy_kwh == 7
