"""Hostile and odd input for the HJ 212 receiver (issue #10 defects 7, 11, 12 and the hostile-input suite).

* Real loggers send empty fields (``PW=;MN=;``): they parse; the receiver keeps such packets with their reason.
* Passwords are stored as salted hashes and verified once per point (cached); guessing closes the connection.
* Malformed input is stored up to a byte cap per connection and minute; the rest is counted, and one record with
  reason ``dropped`` says how much.
* Replies wait for the commit of the batch holding their packet; a failed commit withholds them.
* Connections: a cap per address, a login timeout (slowloris, idle sockets), a real logger is never shut out.
* Over TCP on SQLite and PostgreSQL: bad CRC, bad length, a 10 MB line, binary garbage, slowloris and 2,000
  connections, each bounded in time (conditions waited with generous bounds; no speed is assumed).
"""

from __future__ import annotations

import asyncio
import random
import re
import resource
from pathlib import Path

import pytest
from sqlalchemy import func, select

from cleanheat.emissions.hj212.codec import build_packet, parse_frame
from cleanheat.emissions.hj212.config import ReceiverConfig
from cleanheat.emissions.hj212.crc import crc16_hj212
from cleanheat.emissions.hj212.deframer import Deframer, Frame
from cleanheat.emissions.hj212.passwords import PasswordCache, hash_password, is_hashed, verify_password
from cleanheat.emissions.hj212.server import (
    ConnectionHandler,
    ListSink,
    PointAuth,
    ReceiverServer,
    StaticDirectory,
)
from cleanheat.emissions.receiver import Receiver, ServeOptions
from cleanheat.emissions.tables import MonitoringPoint, RawPacket
from tests.emissions.test_hj212_codec import ANSWER, REALTIME
from tests.emissions.test_server import MN, NOW, FakeTransport, options
from tests.helpers import run_async

ROOT = Path(__file__).resolve().parents[2]
PW = "123456"
AUTH = PointAuth(1, hash_password(PW))


def frame(seg: bytes) -> bytes:
    return b"##" + f"{len(seg):04d}".encode() + seg + f"{crc16_hj212(seg):04X}".encode() + b"\r\n"


def handler(points=None, clock_s=None, **kw) -> tuple[ConnectionHandler, ListSink]:
    sink = ListSink()
    d = StaticDirectory({MN: AUTH} if points is None else points)
    mono = (lambda: clock_s[0]) if clock_s is not None else None
    extra = {"monotonic": mono} if mono else {}
    return ConnectionHandler(d, sink, options(**kw), peer="10.0.0.1:5000", clock=lambda: NOW, **extra), sink


# --- defect 12: empty fields ---------------------------------------------------------------------------------

@pytest.mark.parametrize("seg", [
    b"QN=20241215103000123;ST=31;CN=2011;PW=;MN=;Flag=5;CP=&&DataTime=20241215103000;a21026-Rtd=18.5&&",
    b"QN=;ST=;CN=;PW=;MN=;Flag=;CP=&&&&",
    b"ST=31;CN=2011;PW=;MN=;Flag=5;PNUM=;PNO=;CP=&&&&",
])
def test_well_framed_packet_with_empty_fields_parses(seg):
    p = parse_frame(frame(seg))
    assert p.crc_ok and p.mn == "" and p.pw == ""
    assert p.flag in (5, None) and p.pnum is None and p.pno is None


def test_receiver_keeps_empty_field_packets_with_their_reason():
    h, sink = handler()
    no_mn = frame(b"QN=20241215103000123;ST=31;CN=2011;PW=;MN=;Flag=5;CP=&&DataTime=20241215103000;"
                  b"a21026-Rtd=18.5&&")
    [reply] = h.feed(no_mn)
    assert parse_frame(reply).cp_fields["QnRtn"] == "4"  # MN error
    no_pw = frame(f"QN=20241215103000124;ST=31;CN=2011;PW=;MN={MN};Flag=5;CP=&&&&".encode())
    [reply] = h.feed(no_pw)
    assert parse_frame(reply).cp_fields["QnRtn"] == "3"  # password error
    no_cn = frame(f"QN=20241215103000125;ST=31;CN=;PW={PW};MN={MN};Flag=5;CP=&&&&".encode())
    h.feed(no_cn)
    assert [(r.ok, r.reason, r.raw) for r in sink.records] == [
        (False, "empty_mn", no_mn), (False, "bad_password", no_pw), (False, "bad_cn", no_cn)]
    assert "empty" in sink.records[0].error and "empty password" in sink.records[1].error


# --- defect 11: passwords at rest ------------------------------------------------------------------------------

def test_password_hash_verifies_and_hides_the_password():
    h1, h2 = hash_password(PW), hash_password(PW)
    assert is_hashed(h1) and PW not in h1 and h1 != h2  # salted
    assert verify_password(PW, h1) and not verify_password("654321", h1) and not verify_password(PW, "123456")


def test_password_is_hashed_once_per_point_then_cached():
    cache = PasswordCache()
    h, sink = handler()
    h.passwords = cache
    for _ in range(50):
        assert h.feed(REALTIME) == [ANSWER]
    assert cache.computed == 1 and len(sink.records) == 50 and all(r.ok for r in sink.records)


def test_guessing_passwords_closes_the_connection_but_a_repeated_wrong_one_costs_nothing():
    h, sink = handler(max_password_failures=3)
    wrong = REALTIME.replace(b"PW=123456", b"PW=000000")
    wrong = frame(wrong[6:-6])
    for _ in range(20):
        h.feed(wrong)
    assert h.abusive is None and h.passwords.computed == 1
    for i in range(3):
        h.feed(frame(REALTIME[6:-6].replace(b"PW=123456", f"PW=00000{i + 1}".encode())))
    assert h.abusive and "wrong passwords" in h.abusive


def test_points_store_only_a_password_hash(world):
    with world.session() as s:
        rows = s.execute(select(MonitoringPoint.mn, MonitoringPoint.password_hash)).all()
    assert rows and all(is_hashed(h) for _, h in rows)
    assert verify_password("123456", dict(rows)[MN])


def test_cli_set_password_rotates_it(world, monkeypatch):
    from typer.testing import CliRunner

    from cleanheat.cli.main import app

    monkeypatch.setenv("CLEANHEAT_DATABASE_URL", world.settings.database_url)
    monkeypatch.setenv("CLEANHEAT_VAR_DIR", str(world.settings.var_dir))
    r = CliRunner().invoke(app, ["emissions", "points", "set-password", "--mn", MN], input="n3w-pw\nn3w-pw\n")
    assert r.exit_code == 0, r.output
    with world.session() as s:
        stored = s.scalar(select(MonitoringPoint.password_hash).where(MonitoringPoint.mn == MN))
    assert verify_password("n3w-pw", stored) and not verify_password("123456", stored)
    r = CliRunner().invoke(app, ["emissions", "points", "set-password", "--mn", "NOSUCHMN"], input="x1\nx1\n")
    assert r.exit_code != 0


def test_migration_converts_plain_passwords(world):
    """emissions_0002 turns the plain passwords of emissions_0001 into hashes the receiver verifies."""
    from alembic import command
    from sqlalchemy import text

    from cleanheat.store.engine import make_engine
    from cleanheat.store.migrate import alembic_config

    url = world.settings.database_url
    command.downgrade(alembic_config(url), "emissions_0001")
    engine = make_engine(url)
    try:
        with engine.begin() as c:
            c.execute(text("UPDATE emissions_points SET password = :pw WHERE mn = :mn"), {"pw": "plain-1", "mn": MN})
        command.upgrade(alembic_config(url), "heads")
        with engine.connect() as c:
            cols = [r[0] for r in c.execute(text("SELECT * FROM emissions_points")).keys()]
            stored = c.execute(text("SELECT password_hash FROM emissions_points WHERE mn = :mn"),
                               {"mn": MN}).scalar()
    finally:
        engine.dispose()
    assert "password" not in cols and verify_password("plain-1", stored)


# --- defect 7: bytes kept per connection ------------------------------------------------------------------------

def test_garbage_is_capped_per_minute_and_the_rest_counted():
    clock = [0.0]
    cap = 65_536
    h, sink = handler(clock_s=clock, max_kept_bad_bytes_per_minute=cap, max_bad_per_minute=10**9)
    rng = random.Random(7)
    total = 0
    for _ in range(160):  # 10 MB of binary garbage in 64 KiB reads
        chunk = bytes(rng.getrandbits(8) for _ in range(256)) * 256
        h.feed(chunk.replace(b"#", b"x"))
        total += len(chunk)
    kept = sum(len(r.raw) for r in sink.records)
    assert kept <= cap and h.stats.bytes_dropped >= total - 2 * cap  # (a piece may still be gathering)
    assert not any(r.reason == "dropped" for r in sink.records)
    clock[0] = 61.0  # a new minute: the cap applies afresh, and the past minute's drops are summarised
    h.feed(b"\x00\x01garbage")
    h.close()
    assert sum(len(r.raw) for r in sink.records) + h.stats.bytes_dropped == total + 9  # every byte: kept or counted
    summaries = [r for r in sink.records if r.reason == "dropped"]
    assert summaries and all(r.raw == b"" for r in summaries)
    assert sum(int(re.match(r"(\d+) bytes", r.error).group(1)) for r in summaries) == h.stats.bytes_dropped


def test_ten_megabyte_line_stays_bounded_in_memory():
    h, sink = handler(max_bad_per_minute=10**9)
    h.feed(b"##9999")
    for _ in range(160):
        h.feed(b"A" * 65_536)
        assert h.deframer.buffered <= 9999 + 12 + 65_536
    assert h.stats.frames_bad["too_long"] >= 1 and h.stats.bytes_dropped >= 160 * 65_536 - 2 * 65_536
    assert sum(len(r.raw) for r in sink.records) <= options().max_kept_bad_bytes_per_minute


# --- defect 2: replies after the commit (injected transport) -----------------------------------------------------

class BarrierSink(ListSink):
    """A sink whose commits the test resolves."""

    def __init__(self) -> None:
        super().__init__()
        self.futures: list[asyncio.Future] = []

    def barrier(self) -> asyncio.Future:
        if not self.futures or self.futures[-1].done():
            self.futures.append(asyncio.get_running_loop().create_future())
        return self.futures[-1]


def test_replies_wait_for_the_commit_and_are_withheld_when_it_fails():
    async def run():
        sink = BarrierSink()
        server = ReceiverServer(StaticDirectory({MN: AUTH}), sink, options())
        proto, t = server.protocol_factory(), FakeTransport()
        proto.connection_made(t)
        proto.data_received(REALTIME)
        assert t.written == [] and len(sink.records) == 1  # stored (pending), not answered yet
        sink.futures[0].set_result(True)
        await asyncio.sleep(0)
        assert t.written == [ANSWER]
        proto.data_received(REALTIME)
        sink.futures[1].set_result(False)  # the batch failed to commit: no answer, the logger resends
        await asyncio.sleep(0)
        assert t.written == [ANSWER] and server.stats.replies_withheld == 1
    run_async(run())


def test_half_closed_peer_gets_its_answers_then_the_close():
    async def run():
        sink = BarrierSink()
        server = ReceiverServer(StaticDirectory({MN: AUTH}), sink, options())
        proto, t = server.protocol_factory(), FakeTransport()
        proto.connection_made(t)
        proto.data_received(REALTIME)
        assert proto.eof_received() is True and not t.closed  # an answer is still waiting for its commit
        sink.futures[0].set_result(True)
        await asyncio.sleep(0)
        assert t.written == [ANSWER] and t.closed
    run_async(run())


def test_peer_that_does_not_read_its_answers_is_not_read_either():
    async def run():
        sink = ListSink()
        server = ReceiverServer(StaticDirectory({MN: AUTH}), sink, options())
        proto, t = server.protocol_factory(), FakeTransport()
        proto.connection_made(t)
        proto.pause_writing()  # the transport's write buffer is full
        assert t.paused
        sink.congested = True
        proto.data_received(REALTIME)
        proto.resume_writing()
        assert t.paused  # still paused: the sink is congested
        sink.congested = False
        server.resume_all()
        assert not t.paused
    run_async(run())


def test_per_address_cap_and_login_timeout_on_injected_transports():
    async def run():
        server = ReceiverServer(StaticDirectory({MN: AUTH}), ListSink(),
                                options(max_connections_per_address=2, login_timeout_s=0.05))
        protos = [(server.protocol_factory(), FakeTransport()) for _ in range(3)]
        for p, t in protos:
            p.connection_made(t)
        assert [t.closed for _, t in protos] == [False, False, True]
        assert server.stats.connections_refused_address == 1
        protos[0][0].data_received(REALTIME)  # logs in
        protos[1][0].data_received(b"hello")  # talks, but never logs in (slowloris)
        await _until(lambda: protos[1][1].closed, "the login timeout closes the connection that never logged in")
        assert not protos[0][1].closed and server.stats.closed_login == 1
    run_async(run())


def test_receiver_settings_are_documented():
    doc = (ROOT / "docs" / "emissions.md").read_text(encoding="utf-8")
    for name in ReceiverConfig.model_fields:
        assert f"`CLEANHEAT_HJ212_{name.upper()}`" in doc, f"document CLEANHEAT_HJ212_{name.upper()}"


# --- the hostile suite over TCP ------------------------------------------------------------------------------------

def _raise_fd_limit(want: int) -> int:
    """Raise the soft RLIMIT_NOFILE towards ``want``; the limit in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = want if hard == resource.RLIM_INFINITY else min(want, hard)
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


async def _until(cond, what: str, timeout_s: float = 120.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not cond():
        assert loop.time() < deadline, f"not within {timeout_s} s: {what}"
        await asyncio.sleep(0.05)


async def _logger_exchange(port: int, packets: list[bytes], timeout_s: float = 120.0,
                          expect: int | None = None) -> list[bytes]:
    """A real logger (from 127.0.0.1): send, read until ``expect`` answers (one per packet) came."""
    reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), timeout_s)
    writer.write(b"".join(packets))
    got = b""
    try:
        while got.count(b"\r\n") < (len(packets) if expect is None else expect):
            chunk = await asyncio.wait_for(reader.read(65536), timeout_s)
            if not chunk:
                break
            got += chunk
    finally:
        writer.close()
    return [e.data for e in Deframer().feed(got) if isinstance(e, Frame)]


async def _eof(reader: asyncio.StreamReader, timeout_s: float) -> bool:
    """True when the server closes the connection within ``timeout_s``."""
    try:
        while await asyncio.wait_for(reader.read(65536), timeout_s):
            pass
    except ConnectionError:
        pass
    return True


def _packet(i: int, pw: str = PW) -> bytes:
    return build_packet(qn=f"{20241215000000000 + i:017d}", st="31", cn="2011", pw=pw, mn=MN, flag=5,
                        cp={"DataTime": "20241215103000", "a21026": {"Rtd": 18.5, "Flag": "N"}})


def _receiver(world, **kw) -> Receiver:
    from cleanheat.emissions.hj212.server import ReceiverOptions

    return Receiver(world.settings, ServeOptions(receiver=ReceiverOptions(port=0, **kw), maintenance_interval_s=0,
                                                 flush_interval_s=0.05))


async def _hostile_streams(world) -> None:
    # the logger below logs in at once; 5 s of login time leaves room for a busy machine's pauses
    r = _receiver(world, login_timeout_s=5.0, max_bad_per_minute=10**6)
    await r.start()
    port = r.server.port
    try:
        good = _packet(1)
        bad_crc = good[:-6] + b"0000\r\n"
        bad_len = b"##0005" + good[6:]
        t0 = asyncio.get_running_loop().time()
        answers = await _logger_exchange(port, [bad_crc, bad_len, good], expect=2)
        # the bad length frame is not answered (nothing in it can be trusted): the bad CRC one and the good one are
        assert [parse_frame(a).cn for a in answers] == ["9011", "9014"]

        async def flood(payload_chunks) -> None:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            for c in payload_chunks:
                writer.write(c)
                await writer.drain()
            writer.write_eof()
            assert await _eof(reader, 120)
            writer.close()

        ten_mb_line = [b"##9999"] + [b"B" * 65_536] * 160
        rng = random.Random(3)
        garbage = [bytes(rng.getrandbits(8) for _ in range(4096)) * 16 for _ in range(32)]  # 2 MB binary
        await asyncio.wait_for(asyncio.gather(flood(ten_mb_line), flood(garbage)), 300)
        flood_total = sum(map(len, ten_mb_line)) + sum(map(len, garbage))

        # slowloris: a byte every 0.1 s never logs in; the login timeout closes it
        reader, writer = await asyncio.open_connection("127.0.0.1", port)

        async def drip():
            for _ in range(600):
                writer.write(b"x")
                await asyncio.sleep(0.1)
        dripping = asyncio.create_task(drip())
        assert await _eof(reader, 120)
        dripping.cancel()
        writer.close()
        await _until(lambda: r.server.stats.closed_login >= 1, "slowloris closed by the login timeout")
        await r.drain(120)
        # still serving: a logger is answered
        assert [parse_frame(a).cn for a in await _logger_exchange(port, [_packet(2)])] == ["9014"]
        await r.drain(120)
        minutes = int((asyncio.get_running_loop().time() - t0) // 60) + 1  # the cap is per minute
    finally:
        await r.stop()
    cap = r.options.receiver.max_kept_bad_bytes_per_minute
    with world.session() as s:
        per_peer = dict(s.execute(select(RawPacket.peer, func.sum(func.length(RawPacket.raw)))
                                  .where(RawPacket.ok.is_(False)).group_by(RawPacket.peer)).all())
        reasons = {x for (x,) in s.execute(select(RawPacket.reason).distinct())}
        dropped = " ".join(s.scalars(select(RawPacket.error).where(RawPacket.reason == "dropped")))
        ok = s.scalar(select(func.count()).select_from(RawPacket).where(RawPacket.ok.is_(True)))
    assert ok == 2 and {"bad_crc", "bad_length", "garbage", "dropped"} <= reasons
    assert "too_long" in dropped  # pieces of the 10 MB line are longer than the cap: dropped, with their reason
    assert all(n <= cap * minutes for n in per_peer.values()), per_peer  # the cap per connection and minute
    assert r.server.stats.bytes_dropped + sum(per_peer.values()) >= flood_total  # what is not stored is counted


def test_hostile_streams_over_tcp(world):
    """Bad CRC, bad length, a 10 MB line, binary garbage and slowloris against the real receiver."""
    run_async(asyncio.wait_for(_hostile_streams(world), 600))


async def _many_connections(world, n: int) -> None:
    cap = n // 4
    # the login timeout is long here (opening n connections may take long on a busy machine); the timeout itself
    # is exercised by the slowloris and full-server tests
    r = _receiver(world, max_connections=n // 2 + 100, max_connections_per_address=cap, login_timeout_s=3600)
    await r.start()
    port = r.server.port
    st = r.server.stats
    conns = []
    try:
        # n idle connections from two other loopback addresses (n / 2 each): at most ``cap`` of an address open
        for i in range(n):
            conns.append(await asyncio.wait_for(
                asyncio.open_connection("127.0.0.1", port, local_addr=(f"127.0.0.{2 + i % 2}", 0)), 60))
            assert max(r.server.by_address.values(), default=0) <= cap
        await _until(lambda: st.connections_total + st.connections_refused_address == n, "every connection seen")
        assert st.connections_refused_address == n - 2 * cap and st.connections_open == 2 * cap
        # a real logger (another address) is not shut out
        assert [parse_frame(a).cn for a in await _logger_exchange(port, [_packet(3)])] == ["9014"]
        for _, w in conns:
            w.close()
        await _until(lambda: st.connections_open == 0, "the server noticed every client closing")
        await r.drain(120)
    finally:
        for _, w in conns:
            w.close()
        await r.stop()
    with world.session() as s:
        assert s.scalar(select(func.count()).select_from(RawPacket).where(RawPacket.ok.is_(True))) == 1


def test_two_thousand_connections(world):
    """2,000 connections (client and server ends in this process: ~4,000 descriptors). When the hard limit on
    open files is lower, the test scales down to what fits and says so in its name of the run."""
    limit = _raise_fd_limit(8192)
    n = 2000 if limit >= 4400 else max(100, (limit - 400) // 2)
    if n < 2000:
        print(f"RLIMIT_NOFILE hard limit {limit}: scaled down to {n} connections")
    run_async(asyncio.wait_for(_many_connections(world, n), 600))


def test_logger_from_a_full_address_gets_in_once_idle_ones_time_out(world):
    """All slots taken by idle sockets (the defect: 5,000 idle connections shut real loggers out): the login
    timeout frees them, and a logger retrying is answered."""
    async def run():
        r = _receiver(world, max_connections=40, max_connections_per_address=1000, login_timeout_s=5.0)
        await r.start()
        conns = []
        try:
            for _ in range(40):
                conns.append(await asyncio.open_connection("127.0.0.1", r.server.port))
            answers: list[bytes] = []
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 120
            while not answers:
                assert loop.time() < deadline, "the logger was shut out"
                try:
                    answers = await _logger_exchange(r.server.port, [_packet(4)], timeout_s=10)
                except (ConnectionError, TimeoutError):
                    answers = []
                if not answers:
                    await asyncio.sleep(0.2)
            assert [parse_frame(a).cn for a in answers] == ["9014"]
            assert r.server.stats.closed_login >= 1
        finally:
            for _, w in conns:
                w.close()
            await r.stop()
    run_async(asyncio.wait_for(run(), 300))


def test_docs_say_how_to_rotate_a_password():
    doc = (ROOT / "docs" / "emissions.md").read_text(encoding="utf-8")
    assert re.search(r"cleanheat emissions points set-password --mn", doc)


def test_simulator_drives_simulated_and_demo_points_only(world):
    """Only hashes are stored, so the simulator knows the passwords of points whose passwords follow a rule."""
    from cleanheat.assets.heat_sources import mw_per_t_h
    from cleanheat.emissions.demo import _mn
    from cleanheat.emissions.limits import limits_path, read_limit_table
    from cleanheat.emissions.simstacks import stack_models, synthetic_password

    assert synthetic_password(_mn(7)) == "dm0007" and synthetic_password(MN) is None
    with world.session() as s:
        models = stack_models(s, 6, register=True, table=read_limit_table(limits_path(world.settings.data_dir)),
                              mw_per_t_h_value=mw_per_t_h(world.settings.city_dir))
        stored = dict(s.execute(select(MonitoringPoint.mn, MonitoringPoint.password_hash)).all())
    assert len(models) == 2 and all(m.mn.startswith("SIM") for m in models)  # the 4 real points are skipped
    assert all(verify_password(m.password, stored[m.mn]) for m in models)
