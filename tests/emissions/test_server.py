"""The receiver's protocol logic (pure handler), the asyncio protocol on an injected transport, and the real
TCP receiver storing into SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from cleanheat.config import REPO_ROOT
from cleanheat.emissions.hj212.codec import encode, make_packet, parse_frame, split_packet
from cleanheat.emissions.hj212.codes import read_code_tables
from cleanheat.emissions.hj212.deframer import Deframer, Frame
from cleanheat.emissions.hj212.passwords import hash_password
from cleanheat.emissions.hj212.server import (
    ConnectionHandler,
    ListSink,
    PointAuth,
    ReceiverOptions,
    ReceiverServer,
    StaticDirectory,
)
from cleanheat.emissions.receiver import Receiver, ServeOptions
from cleanheat.emissions.tables import RawPacket, Reading
from cleanheat.emissions.traffic import StackModel
from tests.emissions.test_hj212_codec import ANSWER, HOURLY, REALTIME, STANDARD_EXAMPLE
from tests.helpers import run_async

DATA = REPO_ROOT / "data"

MN = "010000A8900016F000169DC0"
NOW = datetime(2024, 12, 15, 3, 0, tzinfo=UTC)


def options(**kw) -> ReceiverOptions:
    t = read_code_tables(DATA)
    return ReceiverOptions(commands=t.commands, code_map=t.old_to_new, **kw)


def handler(points=None, **kw) -> tuple[ConnectionHandler, ListSink]:
    sink = ListSink()
    d = StaticDirectory({MN: PointAuth(1, hash_password("123456"))} if points is None else points)
    return ConnectionHandler(d, sink, options(**kw), peer="10.0.0.1:5000", clock=lambda: NOW), sink


def reframe(frame: bytes) -> bytes:
    """The frame with its length and CRC recomputed after an edit of the data segment."""
    from cleanheat.emissions.hj212.crc import crc16_hj212

    seg = frame[6:-6]
    return b"##" + f"{len(seg):04d}".encode() + seg + f"{crc16_hj212(seg):04X}".encode() + b"\r\n"


def frames_of(data: bytes) -> list[bytes]:
    return [e.data for e in Deframer().feed(data) if isinstance(e, Frame)]


def test_upload_with_ack_gets_9014_and_values():
    h, sink = handler()
    replies = h.feed(REALTIME)
    assert replies == [ANSWER]  # DOMAIN.md §1.10: the platform's data answer, QN echoed
    [rec] = sink.records
    assert rec.ok and rec.point_id == 1 and rec.cn == "2011" and rec.raw == REALTIME
    assert rec.data_time == datetime(2024, 12, 15, 2, 30, tzinfo=UTC)
    assert {r.factor for r in rec.readings} >= {"a21026", "a21002", "a34013", "a19001"}


def test_chunks_garbage_and_several_frames_per_read():
    h, sink = handler()
    stream = b"\x00\xffnoise" + REALTIME + b"junk" + HOURLY + REALTIME[:50]
    replies = []
    for i in range(0, len(stream), 7):
        replies += h.feed(stream[i:i + 7])
    h.close()
    assert len(replies) == 2
    kinds = [(r.ok, r.reason) for r in sink.records]
    assert kinds == [(False, "garbage"), (True, None), (False, "garbage"), (True, None), (False, "truncated")]
    assert b"".join(r.raw for r in sink.records) == stream  # nothing lost


@pytest.mark.parametrize(
    ("points", "frame", "reason", "qn_rtn"),
    [
        ({}, REALTIME, "unknown_mn", "4"),
        ({MN: PointAuth(1, hash_password("999999"))}, REALTIME, "bad_password", "3"),
        ({MN: PointAuth(1, hash_password("123456"))}, encode(parse_frame(REALTIME), crc="modbus"), "crc_modbus", "9"),
        ({MN: PointAuth(1, hash_password("123456"), active=False)}, REALTIME, "unknown_mn", "4"),
    ],
)
def test_rejected_packets_are_kept_with_reason_and_answered(points, frame, reason, qn_rtn):
    h, sink = handler(points)
    replies = h.feed(frame)
    [rec] = sink.records
    assert not rec.ok and rec.reason == reason and rec.raw == frame and rec.mn == MN
    [reply] = replies
    r = parse_frame(reply)
    assert r.cn == "9011" and r.cp_fields["QnRtn"] == qn_rtn and r.qn == "20241215103000123"


def test_modbus_device_accepted_when_configured():
    h, sink = handler({MN: PointAuth(1, hash_password("123456"), crc_variant="modbus")})
    assert h.feed(encode(parse_frame(REALTIME), crc="modbus")) == [ANSWER]
    assert sink.records[0].ok


def test_bad_crc_and_bad_values():
    h, sink = handler()
    [reply] = h.feed(REALTIME[:-6] + b"0000\r\n")  # the fields parse, so the device is told to resend
    assert sink.records[-1].reason == "bad_crc"
    assert parse_frame(reply).cp_fields["QnRtn"] == "9"
    # corrupted bytes that do not even parse: kept, not answered (nothing in them can be trusted)
    assert h.feed(REALTIME[:60] + b"\x00;;==;" + REALTIME[66:]) == []
    assert sink.records[-1].reason == "bad_crc"
    bad = reframe(REALTIME.replace(b"a21026-Rtd=18.5", b"a21026-Rtd=1,5"))
    # "a21026-Rtd=1,5" makes a field "5" without '=': malformed data area
    h.feed(bad)
    assert sink.records[-1].reason == "bad_field"
    bad2 = reframe(REALTIME.replace(b"a21026-Rtd=18.5", b"a21026-Rtd=18x5"))
    [reply] = h.feed(bad2)
    assert sink.records[-1].reason == "bad_value" and "a21026-Rtd" in sink.records[-1].error
    assert parse_frame(reply).cp_fields["QnRtn"] == "2"


def test_unknown_command_code():
    h, sink = handler()
    p = make_packet(qn="20241215103000123", st=31, cn=4321, pw="123456", mn=MN, flag=5, cp={})
    [reply] = h.feed(encode(p))
    assert sink.records[0].reason == "bad_cn"
    assert parse_frame(reply).cp_fields["QnRtn"] == "8"


def test_2025_heartbeat_and_time_calibration_request():
    h, sink = handler()
    hb = make_packet(qn="20260101000000000", st=31, cn=9015, pw="123456", mn=MN, flag=9, cp={})
    [reply] = h.feed(encode(hb))
    r = parse_frame(reply)
    assert (r.cn, r.flag) == ("9014", 8) and sink.records[0].ok
    req = make_packet(qn="20241215103000999", st=31, cn=1013, pw="123456", mn=MN, flag=5, cp={})
    replies = [parse_frame(x) for x in h.feed(encode(req))]
    assert [x.cn for x in replies] == ["9011", "1012", "9012"]
    assert replies[0].cp_fields["QnRtn"] == "1" and replies[2].cp_fields["ExeRtn"] == "1"
    assert replies[1].cp_fields["SystemTime"] == "20241215110000"  # NOW in Beijing time


def test_2005_packet_codes_are_mapped():
    h, sink = handler({"88888880000001": PointAuth(7, hash_password("123456"))})
    seg = (b"ST=32;CN=2011;PW=123456;MN=88888880000001;CP=&&DataTime=20241215103000;02-Rtd=80,02-Flag=N;"
           b"S01-Rtd=10.1&&")
    from cleanheat.emissions.hj212.crc import crc16_hj212

    frame = b"##" + f"{len(seg):04d}".encode() + seg + f"{crc16_hj212(seg):04X}".encode() + b"\r\n"
    assert h.feed(frame) == []  # no Flag: no answer requested
    assert {r.factor for r in sink.records[0].readings} == {"a21026", "a19001"}


def test_split_packets_reassembled():
    h, sink = handler()
    p = StackModel(mn=MN).hour_packet(NOW - timedelta(hours=1))
    parts = split_packet(p, max_data_len=300)
    assert len(parts) > 2
    replies = []
    for part in parts:
        replies += h.feed(encode(part))
    assert len(replies) == len(parts)  # every part is answered
    assert all(r.ok for r in sink.records)
    with_values = [r for r in sink.records if r.readings]
    assert len(with_values) == 1  # the values come once, from the reassembled message
    assert {x.factor for x in with_values[0].readings} == set(p.cp)
    # an incomplete message is kept as such when the connection ends
    h2, sink2 = handler()
    h2.feed(encode(parts[0]))
    h2.close()
    assert sink2.records[-1].reason == "incomplete_split"


def test_abusive_connection_is_flagged():
    h, _sink = handler(max_bad_per_minute=5)
    for _ in range(6):
        h.feed(REALTIME[:-6] + b"0000\r\n")
    assert h.abusive


class FakeTransport:
    """An injected transport (what asyncio would hand the protocol)."""

    def __init__(self) -> None:
        self.written: list[bytes] = []
        self.closed = False
        self.paused = False

    def write(self, data: bytes) -> None:
        self.written.append(data)

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def get_extra_info(self, name: str, default=None):
        return ("192.0.2.7", 40000) if name == "peername" else default

    def pause_reading(self) -> None:
        self.paused = True

    def resume_reading(self) -> None:
        self.paused = False


def test_protocol_on_injected_transport():
    run_async(_protocol_on_injected_transport())


async def _protocol_on_injected_transport():
    sink = ListSink()
    server = ReceiverServer(StaticDirectory({MN: PointAuth(1, hash_password("123456"))}), sink,
                            options(idle_timeout_s=0.05))
    proto = server.protocol_factory()
    t = FakeTransport()
    proto.connection_made(t)
    proto.data_received(REALTIME[:100])
    proto.data_received(REALTIME[100:] + STANDARD_EXAMPLE)
    replies = frames_of(b"".join(t.written))
    assert replies[0] == ANSWER
    # the standard's example carries PW=100000, not this point's password: rejected with QnRtn=3
    assert parse_frame(replies[1]).cp_fields == {"QnRtn": "3"}
    assert [r.reason for r in sink.records] == [None, "bad_password"]
    assert server.by_mn[MN] is proto
    assert server.send_command(MN, "1062", {"RtdInterval": 60})
    assert parse_frame(t.written[-1]).cp_fields == {"RtdInterval": "60"}
    # back-pressure: a congested sink pauses reading, the server resumes it
    sink.congested = True
    proto.data_received(HOURLY)
    assert t.paused
    sink.congested = False
    server.resume_all()
    assert not t.paused
    await _until(lambda: t.closed)  # the idle timeout (0.05 s) closes it
    assert t.closed and server.stats.closed_idle == 1
    proto.connection_lost(None)
    assert server.stats.connections_open == 0 and MN not in server.by_mn


async def _until(condition, timeout_s: float = 60.0) -> None:
    """Wait for ``condition()`` (a generous bound: it fails only if it never happens)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not condition():
        assert loop.time() < deadline, "condition not reached"
        await asyncio.sleep(0.01)


async def _send(port: int, chunks: list[bytes], expect_replies: int) -> list[bytes]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    for c in chunks:
        writer.write(c)
        await writer.drain()
    got = b""
    while got.count(b"\r\n") < expect_replies:
        got += await asyncio.wait_for(reader.read(65536), timeout=10)
    writer.close()
    await writer.wait_closed()
    return frames_of(got)


def test_tcp_receiver_stores_everything(world):
    run_async(_tcp_receiver_stores_everything(world))


async def _tcp_receiver_stores_everything(world):
    model = StackModel(mn=MN, password="123456")
    t0 = datetime(2020, 12, 1, 0, tzinfo=UTC)
    frames = [encode(model.minute_packet(t0 + timedelta(minutes=i))) for i in range(60)]
    frames.append(encode(model.hour_packet(t0)))
    bad = [b"garbage!!", REALTIME[:-6] + b"0000\r\n"]
    stream = bad[0] + b"".join(frames) + bad[1]
    chunks = [stream[i:i + 1000] for i in range(0, len(stream), 1000)]
    opts = ServeOptions(receiver=ReceiverOptions(port=0), maintenance_interval_s=0, flush_interval_s=0.05)
    receiver = Receiver(world.settings, opts)
    await receiver.start()
    try:
        replies = await _send(receiver.server.port, chunks, expect_replies=62)
        assert [parse_frame(r).cn for r in replies] == ["9014"] * 61 + ["9011"]  # the bad CRC: QnRtn=9
        # a second connection dropped mid-frame
        _r2, w2 = await asyncio.open_connection("127.0.0.1", receiver.server.port)
        w2.write(frames[0][:40])
        await w2.drain()
        w2.close()
        await w2.wait_closed()
        await _until(lambda: receiver.server.stats.connections_open == 0)  # the server has seen it go
        await receiver.drain()
        stats = await receiver.run_maintenance_now()
    finally:
        await receiver.stop()
    with world.session() as s:
        ok = s.scalar(select(func.count()).select_from(RawPacket).where(RawPacket.ok.is_(True)))
        reasons = dict(s.execute(select(RawPacket.reason, func.count()).where(RawPacket.ok.is_(False))
                                 .group_by(RawPacket.reason)).all())
        minutes = s.scalar(select(func.count()).select_from(Reading).where(Reading.interval == "minute"))
    assert ok == 61
    assert reasons == {"garbage": 1, "bad_crc": 1, "truncated": 1}
    assert minutes == 60 * 9
    assert stats.hours == 3  # PM, SO2, NOx of the hour


def test_tcp_receiver_survives_nul_packets(world):
    """One packet with NUL in its text fields (PostgreSQL refuses NUL in text) must not stop ingest: it is stored
    (NUL written as ``\\x00``, raw bytes exact) and the packets after it are stored too."""
    run_async(_tcp_receiver_survives_nul_packets(world))


async def _tcp_receiver_survives_nul_packets(world):
    model = StackModel(mn=MN, password="123456")
    t0 = datetime(2020, 12, 1, 0, tzinfo=UTC)
    nul_mn = reframe(REALTIME.replace(MN.encode(), MN[:-1].encode() + b"\x00"))  # unknown MN, NUL in MN/error
    nul_qn = reframe(REALTIME.replace(b"QN=20241215103000123", b"QN=2024121510300012\x00"))  # accepted, NUL in QN
    good = [encode(model.minute_packet(t0 + timedelta(minutes=i))) for i in range(5)]
    opts = ServeOptions(receiver=ReceiverOptions(port=0), maintenance_interval_s=0, flush_interval_s=0.05)
    receiver = Receiver(world.settings, opts)
    await receiver.start()
    try:
        await _send(receiver.server.port, [nul_mn], expect_replies=1)
        await receiver.drain(timeout_s=60)  # the NUL packet is written in a batch of its own ...
        assert receiver.sink.backlog == 0
        replies = await _send(receiver.server.port, [nul_qn, *good], expect_replies=6)  # ... then the rest
        assert [parse_frame(r).cn for r in replies] == ["9014"] * 6
        await receiver.drain(timeout_s=10)
        assert receiver.sink.backlog == 0
        assert receiver.sink.stats.errors == 0
    finally:
        await receiver.stop()
    with world.session() as s:
        rows = s.execute(select(RawPacket.ok, RawPacket.reason, RawPacket.mn, RawPacket.qn, RawPacket.error,
                                RawPacket.raw).order_by(RawPacket.id)).all()
        minutes = s.scalar(select(func.count()).select_from(Reading).where(Reading.interval == "minute"))
    assert len(rows) == 7
    bad = rows[0]
    assert (bad.ok, bad.reason) == (False, "unknown_mn")
    assert bad.mn == MN[:-1] + "\\x00" and "\\x00" in bad.error and bad.raw == nul_mn
    assert rows[1].ok and rows[1].qn == "2024121510300012\\x00" and rows[1].raw == nul_qn
    assert all(r.ok for r in rows[2:]) and [r.raw for r in rows[2:]] == good
    assert minutes == 5 * 9


def test_sink_keeps_a_record_the_database_refuses(world):
    """A record the database refuses even after sanitising (here: an unregistered point id, a foreign-key
    violation) is kept as a malformed packet with its raw bytes and the database error; the rest of its batch
    is stored; the sink counts it and does not retry the batch."""
    run_async(_sink_keeps_a_record_the_database_refuses(world))


async def _sink_keeps_a_record_the_database_refuses(world):
    from concurrent.futures import ThreadPoolExecutor

    from cleanheat.emissions.ingest import BulkWriter, IngestRecord
    from cleanheat.emissions.receiver import StoreSink
    from cleanheat.store.engine import make_engine

    engine = make_engine(world.settings.database_url)
    pid = world.points["T-CHP1"]
    recs = [IngestRecord(received_at=NOW + timedelta(seconds=i), raw=b"rec%d" % i, ok=True, point_id=pid, cn="2011",
                         mn=MN, qn=f"q{i}") for i in range(9)]
    recs[6].point_id = 999_999  # no such point
    recs[2].error, recs[2].ok, recs[2].reason = "nul \x00 here", False, "bad_field"
    with ThreadPoolExecutor(1) as ex:
        sink = StoreSink(BulkWriter(engine), ex, flush_interval_s=0.02)
        task = asyncio.create_task(sink.run())
        for r in recs:
            sink.submit(r)
        for _ in range(200):
            await asyncio.sleep(0.02)
            if not sink.backlog:
                break
        await sink.close()
        await asyncio.wait_for(task, 10)
    engine.dispose()
    assert (sink.stats.written, sink.stats.db_rejected, sink.stats.errors, sink.stats.batches) == (9, 1, 0, 1)
    with world.session() as s:
        rows = s.execute(select(RawPacket.raw, RawPacket.ok, RawPacket.reason, RawPacket.point_id, RawPacket.error)
                         .order_by(RawPacket.received_at)).all()
    assert [r.raw for r in rows] == [r.raw for r in recs]  # every record, once, in order
    refused = rows[6]
    assert (refused.ok, refused.reason, refused.point_id) == (False, "db_error", None)
    assert "the database refused the record" in refused.error
    assert rows[2].error == "nul \\x00 here"
    assert all(r.ok and r.point_id == pid for i, r in enumerate(rows) if i not in (2, 6))


@pytest.mark.parametrize(("old", "new", "reason", "field"), [
    (b"a21026-Rtd=18.5", b"a21026123456789012-Rtd=18.5", "bad_field", "a210261234567890"),
    (b"a21026-Rtd=18.5", b"a21\x00026-Rtd=18.5", "bad_field", "a21\x00026"),
    (b"a21026-Flag=N", b"a21026-Flag=\x00", "bad_value", "a21026-Flag"),
])
def test_factor_codes_and_flags_that_cannot_be_stored_are_malformed(old, new, reason, field):
    h, sink = handler()
    frame = reframe(REALTIME.replace(old, new))
    h.feed(frame)
    [rec] = sink.records
    assert (rec.ok, rec.reason, rec.raw) == (False, reason, frame)
    assert f"(field {field})" in rec.error


def test_wrong_password_peer_does_not_take_over_the_point():
    """A peer sending the point's MN with a wrong PW (or a bad CRC) must not become the connection host commands
    (which carry the point's real password) go to."""
    run_async(_wrong_password_peer_does_not_take_over_the_point())


async def _wrong_password_peer_does_not_take_over_the_point():
    sink = ListSink()
    server = ReceiverServer(StaticDirectory({MN: PointAuth(1, hash_password("123456"))}), sink, options())
    real, t_real = server.protocol_factory(), FakeTransport()
    real.connection_made(t_real)
    real.data_received(REALTIME)
    assert server.by_mn[MN] is real
    for frame in (REALTIME.replace(b"PW=123456", b"PW=654321"), REALTIME[:-6] + b"0000\r\n"):
        intruder, t_bad = server.protocol_factory(), FakeTransport()
        intruder.connection_made(t_bad)
        intruder.data_received(frame)
        assert server.by_mn[MN] is real
        assert server.send_command(MN, "1062", {"RtdInterval": 60})
        assert not any(b"1062" in w for w in t_bad.written)
        intruder.connection_lost(None)
        assert server.by_mn[MN] is real
    assert parse_frame(t_real.written[-1]).pw == "123456"
    assert [r.reason for r in sink.records] == [None, "bad_password", "bad_crc"]
    real.connection_lost(None)
    assert MN not in server.by_mn
