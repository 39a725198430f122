"""The HJ 212 receiver: an asyncio TCP server whose per-connection logic does not depend on the transport.

Layers (each replaceable in tests, like httpx transports):

* :class:`ConnectionHandler` — pure protocol logic of one connection: bytes in -> frames (``Deframer``) ->
  packets (``parse_frame``) -> authentication against a :class:`PointDirectory` (MN + PW, the point's CRC variant)
  -> values (``processing.readings_from_packet``) -> :class:`~cleanheat.emissions.ingest.IngestRecord` handed to
  a :class:`RecordSink`, and the replies the Flag asks for (9014 data answer; 9011/9012 to requests; 9013 to
  notices). Every frame and every piece of junk becomes exactly one record, malformed ones with their reason.
* :class:`HJ212Protocol` — an ``asyncio.Protocol`` around a handler: writes replies once the records they answer
  are committed (group commit: a sink with ``barrier()`` hands out the future of the batch holding everything
  submitted so far; on a failed commit the replies are withheld, so the logger resends — never an answer to a
  packet that was not stored), enforces the login and idle timeouts, pauses reading while the sink is congested
  or the peer does not read its answers (no packet is ever dropped).
* :class:`ReceiverServer` — listens, caps connections (in all and per address), keeps counters, can send commands
  to connected sites.

Hostile input is bounded: malformed or rejected input is stored up to ``max_kept_bad_bytes_per_minute`` per
connection (the rest is counted and summarised by one record with reason ``dropped``); a connection that has not
logged in (a packet with a registered MN, its password and the right CRC) within ``login_timeout_s`` is closed;
passwords are verified against salted hashes with a cache (``passwords.PasswordCache``), and a connection trying
more than ``max_password_failures`` different wrong ones is closed. Counters: :class:`ReceiverStats`.

Tests may drive ``HJ212Protocol`` with any object that has ``write``, ``close``, ``is_closing``,
``get_extra_info``, ``pause_reading`` and ``resume_reading`` (see ``tests/emissions/test_server.py``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter, deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol

from cleanheat.emissions.errors import HJ212Error
from cleanheat.emissions.hj212 import codec
from cleanheat.emissions.hj212.codec import (
    FRAME_OVERHEAD,
    MAX_DATA_LEN,
    Packet,
    encode,
    format_time,
    parse_frame,
)
from cleanheat.emissions.hj212.codes import Command
from cleanheat.emissions.hj212.deframer import Deframer, Frame, Junk
from cleanheat.emissions.hj212.passwords import PasswordCache
from cleanheat.emissions.hj212.reassembly import SplitAssembler
from cleanheat.emissions.ingest import IngestRecord
from cleanheat.emissions.processing import readings_from_packet

log = logging.getLogger("cleanheat.emissions.receiver")

#: QnRtn codes (HJ 212-2017 Table 7)
QN_READY, QN_REJECTED, QN_PW_ERROR, QN_MN_ERROR, QN_CN_ERROR, QN_CRC_ERROR = 1, 2, 3, 4, 8, 9


@dataclass(frozen=True)
class PointAuth:
    point_id: int
    #: the stored hash of the point's PW (``passwords.hash_password``)
    password_hash: str
    crc_variant: str = "hj212"
    active: bool = True


class PointDirectory(Protocol):
    def lookup(self, mn: str) -> PointAuth | None: ...


class RecordSink(Protocol):
    """Where records go. A sink may also have ``barrier() -> asyncio.Future[bool]``: the future of the commit of
    everything submitted so far (True: committed; False: the write failed). Replies wait for it."""

    def submit(self, record: IngestRecord) -> None: ...

    @property
    def congested(self) -> bool: ...


@dataclass
class StaticDirectory:
    """A directory from a dict (tests, benchmarks)."""

    points: dict[str, PointAuth]

    def lookup(self, mn: str) -> PointAuth | None:
        return self.points.get(mn)


@dataclass
class ListSink:
    """A sink that keeps records in a list (tests)."""

    records: list[IngestRecord] = field(default_factory=list)
    congested: bool = False

    def submit(self, record: IngestRecord) -> None:
        self.records.append(record)


@dataclass
class ReceiverOptions:
    host: str = "127.0.0.1"
    port: int = 9212
    #: several receiver processes may share the port (SO_REUSEPORT; the kernel spreads the connections)
    reuse_port: bool = False
    max_connections: int = 5000
    max_connections_per_address: int = 200
    #: a connection without a packet from a registered point (MN, PW, CRC right) this long is closed
    login_timeout_s: float = 60.0
    idle_timeout_s: float = 600.0
    max_data_len: int = MAX_DATA_LEN
    #: a connection sending more malformed frames than this within a minute is closed
    max_bad_per_minute: int = 600
    #: bytes of malformed/rejected input stored per connection and minute (the rest is counted, not stored)
    max_kept_bad_bytes_per_minute: int = 65_536
    #: a connection trying more different wrong passwords than this is closed
    max_password_failures: int = 5
    split_timeout_s: float = 120.0
    #: HJ/T 212-2005 factor code -> HJ 212-2017 code
    code_map: Mapping[str, str] = field(default_factory=dict)
    #: known command codes (unknown ones are rejected with reason bad_cn)
    commands: Mapping[str, Command] = field(default_factory=dict)


@dataclass
class ReceiverStats:
    connections_open: int = 0
    connections_total: int = 0
    #: refused because ``max_connections`` were open
    connections_refused: int = 0
    #: refused because ``max_connections_per_address`` were open from the peer's address
    connections_refused_address: int = 0
    frames_ok: int = 0
    frames_bad: Counter = field(default_factory=Counter)
    replies: int = 0
    #: replies not sent because the batch holding their packets failed to commit (the logger resends)
    replies_withheld: int = 0
    bytes_in: int = 0
    #: malformed input over ``max_kept_bad_bytes_per_minute``: counted, not stored
    bytes_dropped: int = 0
    records_dropped: int = 0
    closed_idle: int = 0
    #: closed for not logging in within ``login_timeout_s``
    closed_login: int = 0
    closed_abuse: int = 0
    paused: int = 0

    def as_dict(self) -> dict:
        return {"connections_open": self.connections_open, "connections_total": self.connections_total,
                "connections_refused": self.connections_refused,
                "connections_refused_address": self.connections_refused_address, "frames_ok": self.frames_ok,
                "frames_bad": dict(self.frames_bad), "replies": self.replies,
                "replies_withheld": self.replies_withheld, "bytes_in": self.bytes_in,
                "bytes_dropped": self.bytes_dropped, "records_dropped": self.records_dropped,
                "closed_idle": self.closed_idle, "closed_login": self.closed_login,
                "closed_abuse": self.closed_abuse}


def _utcnow() -> datetime:
    return datetime.now(UTC)


class ConnectionHandler:
    """Protocol logic of one connection (no I/O): ``feed(bytes) -> replies``."""

    def __init__(self, directory: PointDirectory, sink: RecordSink, options: ReceiverOptions,
                 stats: ReceiverStats | None = None, peer: str = "", clock: Callable[[], datetime] = _utcnow,
                 monotonic: Callable[[], float] = time.monotonic, passwords: PasswordCache | None = None) -> None:
        self.directory = directory
        self.sink = sink
        self.options = options
        self.stats = stats or ReceiverStats()
        self.peer = peer
        self.clock = clock
        self.monotonic = monotonic
        self.deframer = Deframer(max_frame_bytes=options.max_data_len + FRAME_OVERHEAD)
        self.splits = SplitAssembler(timeout_s=options.split_timeout_s)
        self.passwords = passwords if passwords is not None else PasswordCache()
        self.mns: set[str] = set()
        self._bad_window: deque[float] = deque()
        #: why the connection should be closed (None: it behaves)
        self.abusive: str | None = None
        self.password_failures = 0
        self._garbage: Junk | None = None  # contiguous garbage is kept as one record
        self._cap_start = monotonic()
        self._kept_bytes = 0
        self._dropped = [0, 0]  # bytes, pieces dropped in the current minute
        self._dropped_reasons: Counter[str] = Counter()

    # --- input ---------------------------------------------------------------------------------------
    def feed(self, data: bytes) -> list[bytes]:
        self.stats.bytes_in += len(data)
        replies: list[bytes] = []
        now = self.clock()
        for ev in self.deframer.feed(data):
            if isinstance(ev, Frame):
                self._flush_garbage(now)
                reply = self._frame(ev, now)
                if reply:
                    replies.extend(reply)
            else:
                self._junk(ev, now)
        self._expire_splits(now)
        return replies

    def close(self) -> None:
        """The stream ended: what is buffered is truncated; incomplete split messages are kept as such."""
        now = self.clock()
        for ev in self.deframer.flush():
            self._junk(ev, now)
        self._flush_garbage(now)
        self._expire_splits(now, everything=True)
        self._flush_dropped(now)

    # --- records -------------------------------------------------------------------------------------
    def _bad(self, now: datetime, raw: bytes, offset: int | None, reason: str, error: str,
             packet: Packet | None = None, point_id: int | None = None) -> None:
        self.stats.frames_bad[reason] += 1
        t = self.monotonic()
        w = self._bad_window
        while w and t - w[0] >= 60.0:
            w.popleft()
        w.append(t)
        if len(w) > self.options.max_bad_per_minute and not self.abusive:
            self.abusive = f"more than {self.options.max_bad_per_minute} malformed frames in a minute"
        if not self._keep(len(raw), t, now):
            self._dropped_reasons[reason] += 1
            return
        self.sink.submit(IngestRecord(received_at=now, raw=raw, ok=False, peer=self.peer, offset=offset,
                                      point_id=point_id, mn=packet.mn[:64] if packet else None,
                                      cn=packet.cn[:8] if packet else None,
                                      qn=(packet.qn or "")[:32] or None if packet else None, reason=reason,
                                      error=error[:2000]))

    def _keep(self, n: int, t: float, now: datetime) -> bool:
        """Whether ``n`` more bytes of malformed input may be stored this minute (else they are counted)."""
        if t - self._cap_start >= 60.0:
            self._flush_dropped(now)
            self._cap_start, self._kept_bytes = t, 0
        if self._kept_bytes + n <= self.options.max_kept_bad_bytes_per_minute:
            self._kept_bytes += n
            return True
        self._dropped[0] += n
        self._dropped[1] += 1
        self.stats.bytes_dropped += n
        self.stats.records_dropped += 1
        return False

    def _flush_dropped(self, now: datetime) -> None:
        """One record saying how much malformed input was dropped (not stored) in the past minute."""
        n, k = self._dropped
        if not k:
            return
        self._dropped = [0, 0]
        reasons = ", ".join(f"{r} {c}" for r, c in self._dropped_reasons.most_common())
        self._dropped_reasons.clear()
        self.sink.submit(IngestRecord(
            received_at=now, raw=b"", ok=False, peer=self.peer, reason="dropped",
            error=f"{n} bytes of malformed input in {k} pieces not stored ({reasons}): over the limit of "
                  f"{self.options.max_kept_bad_bytes_per_minute} bytes kept per connection and minute"))

    def abuse_record(self) -> None:
        """The record of closing this connection for abuse (``abusive`` says why)."""
        self.stats.frames_bad["rate_limited"] += 1
        now = self.clock()
        self._flush_dropped(now)
        self.sink.submit(IngestRecord(received_at=now, raw=b"", ok=False, peer=self.peer, reason="rate_limited",
                                      error=f"{self.abusive}; connection closed"))

    def _junk(self, ev: Junk, now: datetime) -> None:
        g = self._garbage
        if ev.reason == "garbage":
            if g is not None and g.offset + len(g.data) == ev.offset and len(g.data) < 4096:
                self._garbage = Junk(g.data + ev.data, g.offset, "garbage", g.message)
                return
            self._flush_garbage(now)
            self._garbage = ev
            return
        self._flush_garbage(now)
        self._bad(now, ev.data, ev.offset, ev.reason, f"{ev.message} ({len(ev.data)} bytes at stream offset "
                  f"{ev.offset})")

    def _flush_garbage(self, now: datetime) -> None:
        g, self._garbage = self._garbage, None
        if g is not None:
            self._bad(now, g.data, g.offset, g.reason, f"{g.message} ({len(g.data)} bytes at stream offset "
                      f"{g.offset})")

    def _expire_splits(self, now: datetime, everything: bool = False) -> None:
        if not self.splits.pending:
            return
        for parts in self.splits.expire(self.monotonic(), everything=everything):
            first = parts[0]
            got = ",".join(str(p.pno) for p in parts)
            self._bad(now, b"".join(encode(p) for p in parts), None, "incomplete_split",
                      f"split message of {first.pnum} parts incomplete: got PNO {got}", first)

    # --- frames --------------------------------------------------------------------------------------
    def _frame(self, ev: Frame, now: datetime) -> list[bytes]:
        raw, offset = ev.data, ev.offset
        try:
            p = parse_frame(raw, crc=None, max_data_len=self.options.max_data_len)
        except HJ212Error as exc:
            self._bad(now, raw, offset, exc.reason, f"{exc.summary} (frame offset {exc.offset}, stream offset "
                      f"{offset})")
            return []
        if self.options.code_map:
            p = codec.map_codes(p, self.options.code_map)
        if not p.mn:
            self._bad(now, raw, offset, "empty_mn", "the packet's MN is empty: it cannot be attributed to a "
                      "monitoring point", p)
            return self._answer(p, QN_MN_ERROR)
        auth = self.directory.lookup(p.mn)
        if auth is None or not auth.active:
            self._bad(now, raw, offset, "unknown_mn", f"MN {p.mn} is not a registered active monitoring point", p)
            return self._answer(p, QN_MN_ERROR)
        if not self._password_ok(auth, p.pw):
            self._bad(now, raw, offset, "bad_password", f"wrong password for MN {p.mn}" if p.pw else
                      f"empty password for MN {p.mn}", p, auth.point_id)
            return self._answer(p, QN_PW_ERROR)
        try:
            codec.check_crc(p, auth.crc_variant)
        except HJ212Error as exc:
            self._bad(now, raw, offset, exc.reason, exc.summary, p, auth.point_id)
            return self._answer(p, QN_CRC_ERROR)
        # only an authenticated peer (right PW and CRC) is the point's connection for host commands
        self.mns.add(p.mn)
        command = self.options.commands.get(p.cn) if self.options.commands else None
        if self.options.commands and command is None:
            self._bad(now, raw, offset, "bad_cn", f"unknown command code CN={p.cn}", p, auth.point_id)
            return self._answer(p, QN_CN_ERROR)
        whole = self.splits.add(p, self.monotonic()) if p.is_split else p
        readings = []
        data_time = None
        if whole is not None:
            try:
                readings = readings_from_packet(whole)
            except HJ212Error as exc:
                self._bad(now, raw, offset, exc.reason, f"{exc.summary} (field {exc.field})", p, auth.point_id)
                return self._answer(p, QN_REJECTED)
            if readings:
                data_time = readings[0].ts
        self.stats.frames_ok += 1
        self.sink.submit(IngestRecord(received_at=now, raw=raw, ok=True, peer=self.peer, offset=offset,
                                      point_id=auth.point_id, mn=p.mn, cn=p.cn, qn=p.qn, data_time=data_time,
                                      readings=readings))
        return self._replies(p, command, now)

    def _password_ok(self, auth: PointAuth, pw: str) -> bool:
        ok, computed = self.passwords.check(auth.point_id, auth.password_hash, pw)
        if computed and not ok:
            self.password_failures += 1
            if self.password_failures > self.options.max_password_failures and not self.abusive:
                self.abusive = f"more than {self.options.max_password_failures} different wrong passwords"
        return ok

    def _answer(self, p: Packet, qn_rtn: int) -> list[bytes]:
        """9011 to a rejected packet that asked for an answer."""
        if not p.ack_requested:
            return []
        self.stats.replies += 1
        return [encode(codec.request_answer(p, qn_rtn))]

    def _replies(self, p: Packet, command: Command | None, now: datetime) -> list[bytes]:
        kind = command.kind if command else "upload"
        if kind == "upload":
            if p.ack_requested:
                self.stats.replies += 1
                return [codec.data_answer_frame(p)]
            return []
        out: list[Packet] = []
        if kind == "request":
            out.append(codec.request_answer(p, QN_READY))
            if p.cn == "1013":  # time-calibration request: set the site's clock, then report the execution
                out.append(codec.make_packet(qn=codec.format_qn(now), st=p.st, cn="1012", pw=p.pw, mn=p.mn,
                                             flag=codec.reply_header_flag(p) | codec.FLAG_ACK,
                                             cp={"SystemTime": format_time(now)}))
                out.append(codec.execution_result(p, 1))
            else:
                out.append(codec.execution_result(p, 2))
        elif kind == "notice":
            out.append(codec.notice_answer(p))
        elif kind == "command" and p.ack_requested:
            out.append(codec.request_answer(p, QN_REJECTED))  # a host command coming from a site
        self.stats.replies += len(out)
        return [encode(x) for x in out]


class HJ212Protocol(asyncio.Protocol):
    """One TCP connection: bytes to the handler, replies back after the commit, timeouts, back-pressure."""

    def __init__(self, server: ReceiverServer) -> None:
        self.server = server
        self.transport = None
        self.handler: ConnectionHandler | None = None
        self.address = ""
        self._last = time.monotonic()
        self._idle: asyncio.TimerHandle | None = None
        self._login: asyncio.TimerHandle | None = None
        #: replies waiting for the commit of the batch holding their packets, in order
        self._acks: deque[tuple[asyncio.Future, bytes]] = deque()
        self.paused = False
        self._eof = False
        self._paused_sink = False
        self._paused_peer = False

    def connection_made(self, transport) -> None:
        self.transport = transport
        s = self.server
        peername = transport.get_extra_info("peername")
        peer = f"{peername[0]}:{peername[1]}" if isinstance(peername, tuple) and len(peername) >= 2 else str(
            peername or "")
        address = peername[0] if isinstance(peername, tuple) and peername else str(peername or "")
        if s.stats.connections_open >= s.options.max_connections:
            s.stats.connections_refused += 1
            transport.close()
            return
        if s.by_address[address] >= s.options.max_connections_per_address:
            s.stats.connections_refused_address += 1
            transport.close()
            return
        self.address = address
        s.by_address[address] += 1
        s.stats.connections_open += 1
        s.stats.connections_total += 1
        self.handler = ConnectionHandler(s.directory, s.sink, s.options, s.stats, peer, clock=s.clock,
                                         passwords=s.passwords)
        s.protocols.add(self)
        loop = asyncio.get_running_loop()
        self._idle = loop.call_later(s.options.idle_timeout_s, self._check_idle)
        self._login = loop.call_later(s.options.login_timeout_s, self._check_login)
        if s.sink.congested:
            self.pause()

    def data_received(self, data: bytes) -> None:
        if self.handler is None:
            return
        self._last = time.monotonic()
        replies = self.handler.feed(data)
        if self.handler.mns:
            for mn in self.handler.mns:
                self.server.by_mn[mn] = self
            if self._login is not None:
                self._login.cancel()
                self._login = None
        if replies:
            self._reply(b"".join(replies))
        if self.handler.abusive:
            self.server.stats.closed_abuse += 1
            self.handler.abuse_record()
            self.transport.close()
            return
        if self.server.sink.congested:
            self.pause()

    def _reply(self, data: bytes) -> None:
        """Send ``data`` once everything submitted so far is committed (at once when the sink has no barrier)."""
        barrier = getattr(self.server.sink, "barrier", None)
        fut = barrier() if barrier is not None else None
        if fut is None:
            if not self._acks:
                self._write(data)
                return
            fut = self._acks[-1][0]  # keep the order behind replies still waiting
        self._acks.append((fut, data))
        fut.add_done_callback(self._acks_ready)

    def _acks_ready(self, _fut=None) -> None:
        acks = self._acks
        while acks and acks[0][0].done():
            fut, data = acks.popleft()
            if not fut.cancelled() and fut.exception() is None and fut.result():
                self._write(data)
            else:
                self.server.stats.replies_withheld += 1
        if self._eof and not acks and self.transport is not None:
            self.transport.close()

    def _write(self, data: bytes) -> None:
        t = self.transport
        if t is not None and not t.is_closing():
            t.write(data)

    def eof_received(self) -> bool:
        """The peer stopped sending: close once the answers still waiting for their commit are out."""
        self._eof = True
        return bool(self._acks)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.handler is None:
            return
        self.handler.close()
        s = self.server
        s.stats.connections_open -= 1
        s.by_address[self.address] -= 1
        if s.by_address[self.address] <= 0:
            del s.by_address[self.address]
        s.protocols.discard(self)
        for mn in self.handler.mns:
            if s.by_mn.get(mn) is self:
                del s.by_mn[mn]
        for timer in (self._idle, self._login):
            if timer is not None:
                timer.cancel()
        self.handler = None

    # --- timeouts and back-pressure --------------------------------------------------------------------
    def _check_login(self) -> None:
        self._login = None
        if self.handler is not None and not self.handler.mns and not self.transport.is_closing():
            self.server.stats.closed_login += 1
            self.transport.close()

    def _check_idle(self) -> None:
        if self.handler is None:
            return
        idle = time.monotonic() - self._last
        if idle >= self.server.options.idle_timeout_s:
            self.server.stats.closed_idle += 1
            self.transport.close()
        else:
            loop = asyncio.get_running_loop()
            self._idle = loop.call_later(self.server.options.idle_timeout_s - idle, self._check_idle)

    def pause_writing(self) -> None:
        """The peer does not read its answers: stop reading from it until it does."""
        self._paused_peer = True
        self._set_reading()

    def resume_writing(self) -> None:
        self._paused_peer = False
        self._set_reading()

    def pause(self) -> None:
        """The sink is congested."""
        self._paused_sink = True
        self._set_reading()

    def resume(self) -> None:
        self._paused_sink = False
        self._set_reading()

    def _set_reading(self) -> None:
        want_paused = self._paused_sink or self._paused_peer
        t = self.transport
        if want_paused == self.paused or t is None or t.is_closing():
            return
        if want_paused:
            t.pause_reading()
            self.server.stats.paused += 1
        else:
            t.resume_reading()
        self.paused = want_paused


class ReceiverServer:
    """Listens for data loggers; ``await start()``, ``await stop()``."""

    def __init__(self, directory: PointDirectory, sink: RecordSink, options: ReceiverOptions | None = None,
                 clock: Callable[[], datetime] = _utcnow) -> None:
        self.directory = directory
        self.sink = sink
        self.options = options or ReceiverOptions()
        self.clock = clock
        self.stats = ReceiverStats()
        self.protocols: set[HJ212Protocol] = set()
        self.by_mn: dict[str, HJ212Protocol] = {}
        self.by_address: Counter[str] = Counter()
        self.passwords = PasswordCache()
        self._server: asyncio.base_events.Server | None = None

    def protocol_factory(self) -> HJ212Protocol:
        return HJ212Protocol(self)

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(self.protocol_factory, self.options.host, self.options.port,
                                                reuse_address=True, reuse_port=self.options.reuse_port or None,
                                                backlog=4096)

    @property
    def port(self) -> int:
        assert self._server is not None
        return self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            for p in list(self.protocols):
                if p.transport is not None:
                    p.transport.close()
            await self._server.wait_closed()
            await asyncio.sleep(0)

    def resume_all(self) -> None:
        """Called by the sink when it has room again."""
        for p in list(self.protocols):
            p.resume()

    def send_command(self, mn: str, cn: str, cp: dict | None = None, *, pw: str | None = None,
                     flag: int = 5) -> bool:
        """Send a host command (e.g. 1062 set the real-time interval) to a connected site; False if offline.
        The site's 9011/9012 answers come back as ordinary packets."""
        proto = self.by_mn.get(mn)
        if proto is None or proto.transport is None or proto.transport.is_closing():
            return False
        auth = self.directory.lookup(mn)
        if pw is None and auth is not None:  # the password the site logged in with (only its hash is stored)
            pw = self.passwords.known(auth.point_id, auth.password_hash)
        p = codec.make_packet(qn=codec.format_qn(self.clock()), st="31", cn=cn, pw=pw or "", mn=mn, flag=flag,
                              cp=cp)
        proto.transport.write(encode(p))
        return True
