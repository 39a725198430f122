"""Issue #10 defect 2: a packet is answered (9014) only after it is committed. The receiver runs as a real
subprocess (``cleanheat emissions serve``) on SQLite (a file) and PostgreSQL; a client streams packets and notes
which ones got their 9014; the receiver is killed with SIGKILL mid-stream; every acknowledged packet must be in
the database. Waits are conditions with generous bounds (no speed is assumed)."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from cleanheat.emissions.hj212.codec import build_packet, parse_frame
from cleanheat.emissions.hj212.deframer import Deframer, Frame
from cleanheat.emissions.tables import RawPacket
from cleanheat.store.engine import make_engine
from tests.helpers import run_async

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL")

MN, PW = "010000A8900016F000169DC0", "123456"  # registered by the world fixture (T-CHP1)
ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _packet(i: int) -> bytes:
    qn = f"{20241215000000000 + i:017d}"
    minute = f"{i % 60:02d}"
    return build_packet(qn=qn, st="31", cn="2011", pw=PW, mn=MN, flag=5,
                        cp={"DataTime": f"20241215{(i // 60) % 24:02d}{minute}00",
                            "a21026": {"Rtd": 10 + i % 7, "Flag": "N"}})


def _start(settings, port: int, log_path: Path) -> subprocess.Popen:
    env = os.environ | {"CLEANHEAT_DATABASE_URL": settings.database_url, "CLEANHEAT_VAR_DIR": str(settings.var_dir),
                        "CLEANHEAT_SECRET_KEY": "x", "PYTHONUNBUFFERED": "1",
                        "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")])}
    log = open(log_path, "w")  # closed when the process is gone
    proc = subprocess.Popen([sys.executable, "-m", "cleanheat.cli.main", "emissions", "serve", "--port", str(port),
                             "--stats-interval", "0", "--maintenance-interval", "0"], env=env, stdout=log,
                            stderr=subprocess.STDOUT)
    proc._log = log  # type: ignore[attr-defined]
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"receiver exited:\n{log_path.read_text()}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return proc
        time.sleep(0.1)
    proc.kill()
    raise AssertionError(f"receiver did not listen within 120 s:\n{log_path.read_text()}")


async def _stream_until_kill(port: int, proc: subprocess.Popen, acked: set[str], min_acks: int) -> int:
    """Send packets continuously; SIGKILL the receiver once ``min_acks`` answers came; return packets sent."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    deframer = Deframer()

    async def read() -> None:
        while True:
            try:
                chunk = await reader.read(65536)
            except ConnectionError:  # the receiver was killed
                return
            if not chunk:
                return
            for ev in deframer.feed(chunk):
                if isinstance(ev, Frame):
                    p = parse_frame(ev.data)
                    if p.cn == "9014":
                        acked.add(p.qn)

    reading = asyncio.create_task(read())
    sent = 0
    deadline = time.monotonic() + 300
    try:
        while len(acked) < min_acks:
            assert time.monotonic() < deadline, f"only {len(acked)} of {sent} packets answered within 300 s"
            writer.write(b"".join(_packet(sent + k) for k in range(20)))
            sent += 20
            await writer.drain()
            await asyncio.sleep(0.005)
        # mid-stream: more packets are on their way (some answered, some not) when the process dies
        writer.write(b"".join(_packet(sent + k) for k in range(200)))
        sent += 200
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=60)
        await asyncio.wait_for(reading, timeout=60)  # the answers that made it out before the kill
    finally:
        reading.cancel()
        writer.close()
    return sent


def test_every_acknowledged_packet_survives_sigkill(world, tmp_path):
    port = _free_port()
    proc = _start(world.settings, port, tmp_path / "receiver.log")
    acked: set[str] = set()
    try:
        sent = run_async(_stream_until_kill(port, proc, acked, min_acks=300))
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=60)
        proc._log.close()
    assert proc.returncode == -signal.SIGKILL
    engine = make_engine(world.settings.database_url)
    try:
        with engine.connect() as c:
            stored = set(c.scalars(select(RawPacket.qn).where(RawPacket.ok.is_(True), RawPacket.mn == MN)))
    finally:
        engine.dispose()
    assert len(acked) >= 300 and sent > len(acked)
    missing = acked - stored
    assert not missing, (f"{len(missing)} of {len(acked)} acknowledged packets are not stored, "
                         f"e.g. {sorted(missing)[:5]}")
