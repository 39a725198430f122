"""CEMS traffic simulator: many data loggers talking HJ 212 to the receiver over TCP (``cleanheat emissions
simulate``). Each simulated stack (:class:`~cleanheat.emissions.traffic.StackModel`) keeps one connection and,
per simulated minute, sends real-time data (2011) ``rtd_per_minute`` times and the minute data (2051); at the end
of each hour the hourly data (2061), at the end of each Beijing day the daily data (2031). Faults are injected at
the given rates and counted, so that a run can be checked for zero loss against what the receiver stored:

* ``bad_crc``: a wrong CRC (the receiver keeps the packet as ``bad_crc`` and answers 9011 QnRtn=9);
* ``modbus``: the CRC-16/MODBUS device bug (kept as ``crc_modbus``);
* ``garbage``: noise bytes before a frame (kept as ``garbage``);
* ``drop``: the link drops in the middle of a frame (kept as ``truncated``); the logger reconnects and sends
  the packet again;
* exceedance episodes, calibration (C) and maintenance (M) flags come from the stack model itself.

Timing: ``rate`` packets per second in total (spread evenly over the stacks), simulated time starting at
``start``; ``rate = 0`` paces in real time (a real-time packet every 30 s per stack).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from cleanheat.emissions.hj212.codec import encode, parse_frame
from cleanheat.emissions.hj212.deframer import Deframer, Frame
from cleanheat.emissions.traffic import DAY, HOUR, MINUTE, StackModel
from cleanheat.timeutil import PROGRAMME_UTC_OFFSET


@dataclass
class SimOptions:
    host: str = "127.0.0.1"
    port: int = 9212
    rate: float = 100.0  # packets/s in total; 0 = real time
    minutes: int = 60  # simulated minutes per stack
    start: datetime | None = None  # default: now minus the simulated span
    rtd_per_minute: int = 2
    bad_crc_rate: float = 0.0
    modbus_rate: float = 0.0
    garbage_rate: float = 0.0
    drop_rate: float = 0.0
    seed: int = 1
    reconnect_delay_s: float = 0.2
    connect_timeout_s: float = 30.0
    ack_timeout_s: float = 30.0  # at the end, wait this long for outstanding answers
    #: build every frame before sending (benchmarks: the sender's CPU goes to sending only)
    prebuild: bool = False


@dataclass
class SimStats:
    sent: Counter = field(default_factory=Counter)  # good packets by CN
    faults: Counter = field(default_factory=Counter)  # bad_crc, modbus, garbage, drop
    answers: Counter = field(default_factory=Counter)  # 9014, 9011:<QnRtn>, ...
    reconnects: int = 0
    unanswered: int = 0
    connect_errors: int = 0
    bytes_sent: int = 0
    started: float = 0.0
    sending_done: float = 0.0
    #: CPU time of this process during the sending phase [s] (user + system)
    sending_cpu_s: float = 0.0
    finished: float = 0.0

    @property
    def good(self) -> int:
        return sum(self.sent.values())

    @property
    def sending_s(self) -> float:
        return (self.sending_done or time.monotonic()) - self.started

    @property
    def elapsed_s(self) -> float:
        return (self.finished or time.monotonic()) - self.started

    @property
    def expected_malformed(self) -> Counter:
        """What the receiver should have kept as malformed, by reason."""
        return Counter({"bad_crc": self.faults["bad_crc"], "crc_modbus": self.faults["modbus"],
                        "garbage": self.faults["garbage"], "truncated": self.faults["drop"]})

    def as_dict(self) -> dict:
        return {"good_packets": self.good, "by_cn": dict(self.sent), "faults": dict(self.faults),
                "answers": dict(self.answers), "unanswered": self.unanswered, "reconnects": self.reconnects,
                "connect_errors": self.connect_errors,
                "bytes_sent": self.bytes_sent, "sending_s": round(self.sending_s, 3),
                "elapsed_s": round(self.elapsed_s, 3),
                "packets_per_s": round((self.good + sum(self.faults.values())) / self.sending_s, 1)
                if self.sending_s > 0 else None}


def schedule(model: StackModel, start: datetime, minutes: int, rtd_per_minute: int):
    """The packets of a stack, in order: (send time offset [s of simulated time], Packet)."""
    start = start.replace(second=0, microsecond=0)
    step = 60.0 / max(rtd_per_minute, 1)
    for i in range(minutes):
        t = start + i * MINUTE
        for k in range(rtd_per_minute):
            yield model.realtime_packet(t + timedelta(seconds=k * step))
        yield model.minute_packet(t)
        end = t + MINUTE
        if end.minute == 0:
            yield model.hour_packet(end - HOUR)
            local = end + PROGRAMME_UTC_OFFSET
            if local.hour == 0:
                yield model.day_packet(end - DAY)


class _Logger:
    """One simulated data logger (one connection)."""

    def __init__(self, model: StackModel, opts: SimOptions, stats: SimStats, rng: random.Random) -> None:
        self.model = model
        self.opts = opts
        self.stats = stats
        self.rng = rng
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.read_task: asyncio.Task | None = None
        self.outstanding = 0

    async def connect(self) -> None:
        deadline = time.monotonic() + self.opts.connect_timeout_s
        while True:
            try:
                self.reader, self.writer = await asyncio.open_connection(self.opts.host, self.opts.port)
                break
            except OSError:
                self.stats.connect_errors += 1
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.2)
        self.read_task = asyncio.create_task(self._read(self.reader))

    async def _read(self, reader: asyncio.StreamReader) -> None:
        d = Deframer()
        while True:
            try:
                chunk = await reader.read(65536)
            except (ConnectionError, OSError):
                return
            if not chunk:
                return
            for ev in d.feed(chunk):
                if isinstance(ev, Frame):
                    try:
                        p = parse_frame(ev.data)
                    except Exception:  # count, never crash the simulator
                        self.stats.answers["unparseable"] += 1
                        continue
                    key = p.cn if p.cn != "9011" else f"9011:{p.cp_fields.get('QnRtn', '?')}"
                    self.stats.answers[key] += 1
                    if p.cn in ("9014", "9011"):  # answered (accepted or rejected)
                        self.outstanding -= 1

    async def wait_answers(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while self.outstanding > 0 and time.monotonic() < deadline:
            await asyncio.sleep(0.01)

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            try:
                await self.writer.wait_closed()
            except (ConnectionError, OSError):
                pass
        if self.read_task is not None:
            try:
                await asyncio.wait_for(self.read_task, timeout=5)
            except (TimeoutError, asyncio.CancelledError):
                self.read_task.cancel()

    async def _write(self, data: bytes) -> None:
        self.writer.write(data)
        self.stats.bytes_sent += len(data)
        await self.writer.drain()

    async def send(self, frame: bytes, cn: str, ack: bool) -> None:
        r, o = self.rng.random, self.opts
        if o.garbage_rate and r() < o.garbage_rate:
            await self._write(bytes(self.rng.choice(b"abcXYZ019 \x00\xff") for _ in range(self.rng.randint(3, 30))))
            self.stats.faults["garbage"] += 1
        if o.drop_rate and r() < o.drop_rate:
            await self.wait_answers(5.0)  # a logger waits for its answers before the line goes down
            cut = self.rng.randint(8, len(frame) - 3)
            await self._write(frame[:cut])
            self.stats.faults["drop"] += 1
            await self.close()
            self.stats.unanswered += max(self.outstanding, 0)  # answers lost with the link
            self.outstanding = 0
            self.stats.reconnects += 1
            await asyncio.sleep(o.reconnect_delay_s)
            await self.connect()
        if o.bad_crc_rate and r() < o.bad_crc_rate:
            bad = frame[:-6] + (b"0000" if frame[-6:-2] != b"0000" else b"FFFF") + b"\r\n"
            await self._write(bad)
            self.stats.faults["bad_crc"] += 1
        if o.modbus_rate and r() < o.modbus_rate:
            await self._write(encode(parse_frame(frame), crc="modbus"))
            self.stats.faults["modbus"] += 1
        await self._write(frame)
        self.stats.sent[cn] += 1
        if ack:
            self.outstanding += 1


async def simulate(models: list[StackModel], opts: SimOptions,
                   on_progress: Callable[[SimStats], None] | None = None) -> SimStats:
    """Run the simulation; returns what was sent and what came back."""
    stats = SimStats(started=time.monotonic())
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    start = opts.start or (now - opts.minutes * MINUTE)
    per_stack_interval = len(models) / opts.rate if opts.rate > 0 else None
    loggers = [_Logger(m, opts, stats, random.Random(f"{opts.seed}|{m.mn}")) for m in models]
    prebuilt: dict[int, list] = {}
    if opts.prebuild:
        for i, lg in enumerate(loggers):
            prebuilt[i] = [(p, encode(p)) for p in schedule(lg.model, start, opts.minutes, opts.rtd_per_minute)]
    sem = asyncio.Semaphore(200)

    async def connect(lg: _Logger) -> None:
        async with sem:  # do not flood the listen backlog
            await lg.connect()

    await asyncio.gather(*(connect(lg) for lg in loggers))
    cpu0 = time.process_time()
    stats.started = time.monotonic()
    t0 = time.monotonic()

    async def run(i: int, lg: _Logger) -> None:
        nxt = t0 + (per_stack_interval or 0) * i / max(len(loggers), 1)  # stagger the stacks
        items = prebuilt.get(i) or ((p, None) for p in schedule(lg.model, start, opts.minutes, opts.rtd_per_minute))
        for p, frame in items:
            if per_stack_interval is not None:
                nxt += per_stack_interval
                delay = nxt - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
            else:  # real time: wait until the packet's own time
                sent_at = datetime.strptime(p.qn, "%Y%m%d%H%M%S%f").replace(tzinfo=UTC) - PROGRAMME_UTC_OFFSET
                delay = (sent_at - datetime.now(UTC)).total_seconds()
                if delay > 0:
                    await asyncio.sleep(delay)
            await lg.send(frame or encode(p), p.cn, p.ack_requested)

    async def progress() -> None:
        while True:
            await asyncio.sleep(1.0)
            on_progress(stats)

    prog = asyncio.create_task(progress()) if on_progress else None
    try:
        await asyncio.gather(*(run(i, lg) for i, lg in enumerate(loggers)))
        stats.sending_done = time.monotonic()
        stats.sending_cpu_s = time.process_time() - cpu0
        deadline = time.monotonic() + opts.ack_timeout_s
        while any(lg.outstanding > 0 for lg in loggers) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        stats.finished = time.monotonic()
    finally:
        if prog:
            prog.cancel()
        await asyncio.gather(*(lg.close() for lg in loggers), return_exceptions=True)
    return stats
