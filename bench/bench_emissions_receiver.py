"""Benchmark: HJ 212 packets received, parsed and stored per second, with 1,000 concurrent TCP connections from
the simulator on loopback (target >= 5,000 packets/s sustained, zero loss).

    .venv/bin/python bench/bench_emissions_receiver.py                         # SQLite, 1000 connections
    .venv/bin/python bench/bench_emissions_receiver.py --backend postgresql
    .venv/bin/python bench/bench_emissions_receiver.py --rate 8000 --seconds 60

The receiver runs as its own process (``cleanheat emissions serve``, uvloop) on a fresh database with 1,000
registered points; the simulator (this process) opens one connection per point and sends real-time (2011) and
minute (2051) packets, hourly (2061) at hour ends, with a few faults (bad CRC, Modbus CRC, garbage, dropped
links). Every good packet asks for an answer (Flag=5). Afterwards the stored rows are counted: zero loss means
every good packet is stored as ok and every fault as malformed with its reason.

Printed last: ``name=value`` lines. ``send_rate_pps`` is the offered rate over the sending phase;
``stored_rate_pps`` is every packet stored divided by the time from the first send to the last row written.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import func, select  # noqa: E402

from cleanheat.assets.heat_sources import mw_per_t_h  # noqa: E402
from cleanheat.config import Settings  # noqa: E402
from cleanheat.emissions.limits import limits_path, read_limit_table  # noqa: E402
from cleanheat.emissions.simstacks import register_sim_points, stack_models  # noqa: E402
from cleanheat.emissions.simulator import SimOptions, simulate  # noqa: E402
from cleanheat.emissions.tables import RawPacket, Reading  # noqa: E402
from cleanheat.programme.bootstrap import load_reference  # noqa: E402
from cleanheat.store import migrate  # noqa: E402
from cleanheat.store.engine import make_engine, make_sessionmaker, session_scope  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, timeout: float = 60) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise RuntimeError("receiver did not start")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--backend", choices=["sqlite", "postgresql"], default="sqlite")
    ap.add_argument("--connections", type=int, default=1000)
    ap.add_argument("--rate", type=float, default=6000.0, help="offered packets/s in total")
    ap.add_argument("--seconds", type=float, default=30.0, help="length of the sending phase")
    ap.add_argument("--pg-admin-url", default=os.environ.get("CLEANHEAT_TEST_PG_URL",
                                                             "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"))
    ap.add_argument("--fault-rate", type=float, default=0.001, help="rate of each fault kind")
    ap.add_argument("--workers", type=int, default=2, help="receiver processes (SO_REUSEPORT)")
    args = ap.parse_args()
    if sys.platform != "win32":  # 1,000 sockets each side
        import resource

        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(max(soft, 8192), hard), hard))

    tmp = Path(tempfile.mkdtemp(prefix="bench-emissions-"))
    pg_url = None
    if args.backend == "sqlite":
        url = f"sqlite:///{tmp / 'bench.db'}"
    else:
        from tests.conftest import create_pg_database

        pg_url = url = create_pg_database(args.pg_admin_url)
    settings = Settings(database_url=url, var_dir=tmp / "var", secret_key="bench")
    proc = None
    try:
        migrate.upgrade(url)
        engine = make_engine(url)
        with session_scope(make_sessionmaker(engine)) as s:
            load_reference(s, settings)
            register_sim_points(s, args.connections)
        with session_scope(make_sessionmaker(engine)) as s:
            models = stack_models(s, args.connections, exceedance_rate=0.02,
                                  table=read_limit_table(limits_path(settings.data_dir)),
                                  mw_per_t_h_value=mw_per_t_h(settings.city_dir))
        # packets per simulated minute per stack: 2 x 2011 + 1 x 2051 (+ 2061 once an hour)
        total = args.rate * args.seconds
        minutes = max(1, math.ceil(total / args.connections / (3 + 1 / 60)))
        port = free_port()
        import resource

        ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        env = os.environ | {"CLEANHEAT_DATABASE_URL": url, "CLEANHEAT_VAR_DIR": str(tmp / "var")}
        log_file = open(tmp / "receiver.log", "w")
        proc = subprocess.Popen([sys.executable, "-m", "cleanheat.cli.main", "emissions", "serve", "--port", str(port),
                                 "--stats-interval", "0", "--maintenance-interval", "0",
                                 "--max-connections", str(args.connections + 100),
                                 # every simulated logger connects from 127.0.0.1
                                 "--max-connections-per-address", str(args.connections + 100),
                                 "--workers", str(args.workers)],
                                env=env, stdout=subprocess.DEVNULL, stderr=log_file)
        wait_port(port)
        fr = args.fault_rate
        opts = SimOptions(port=port, rate=args.rate, minutes=minutes, prebuild=True, bad_crc_rate=fr,
                          modbus_rate=fr, garbage_rate=fr, drop_rate=fr / 5, ack_timeout_s=120)
        print(f"# {args.backend}: {args.connections} connections, {minutes} simulated minutes each, "
              f"offered {args.rate:g} packets/s for ~{args.seconds:g} s", flush=True)
        try:
            import uvloop

            stats = uvloop.run(simulate(models, opts))
        except ImportError:
            stats = asyncio.run(simulate(models, opts))
        sent_total = stats.good + sum(stats.faults.values())
        # wait until every packet is stored
        deadline = time.monotonic() + 300
        stored = 0
        while time.monotonic() < deadline:
            with engine.connect() as c:
                stored = c.execute(select(func.count()).select_from(RawPacket.__table__)).scalar()
            if stored >= sent_total:
                break
            time.sleep(0.25)
        t_stored = time.monotonic()
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=120)
        proc = None
        ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        receiver_cpu_s = (ru1.ru_utime + ru1.ru_stime) - (ru0.ru_utime + ru0.ru_stime)
        with engine.connect() as c:
            ok = c.execute(select(func.count()).select_from(RawPacket.__table__).where(RawPacket.ok.is_(True))).scalar()
            bad = Counter(dict(c.execute(select(RawPacket.reason, func.count()).where(RawPacket.ok.is_(False))
                                         .group_by(RawPacket.reason)).all()))
            readings = c.execute(select(func.count()).select_from(Reading.__table__)).scalar()
        engine.dispose()
        expected_bad = +stats.expected_malformed
        loss = stats.good - ok
        send_rate = sent_total / stats.sending_s
        stored_rate = (ok + sum(bad.values())) / max(t_stored - stats.started, 1e-9)
        print(f"# answers {dict(stats.answers)}; malformed stored {dict(bad)}; expected {dict(expected_bad)}")
        print(f"backend={args.backend}")
        print(f"connections={args.connections}")
        print(f"good_packets_sent={stats.good}")
        print(f"faults_sent={sum(stats.faults.values())}")
        print(f"answers_9014={stats.answers.get('9014', 0)}")
        print(f"stored_ok={ok}")
        print(f"stored_malformed={sum(bad.values())}")
        print(f"readings_rows={readings}")
        print(f"lost_packets={loss}")
        print(f"malformed_match={dict(bad) == dict(expected_bad)}")
        print(f"send_phase_s={stats.sending_s:.2f}")
        print(f"send_rate_pps={send_rate:.0f}")
        print(f"stored_rate_pps={stored_rate:.0f}")
        print(f"receiver_workers={args.workers}")
        print(f"receiver_cpu_s={receiver_cpu_s:.1f}")
        print(f"receiver_cpu_us_per_packet={receiver_cpu_s / max(ok + sum(bad.values()), 1) * 1e6:.0f}")
        print(f"simulator_cpu_us_per_packet={stats.sending_cpu_s / max(sent_total, 1) * 1e6:.0f}")
        print(f"zero_loss={loss == 0 and dict(bad) == dict(expected_bad)}")
    finally:
        if proc is not None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
        if pg_url:
            from tests.conftest import drop_pg_database

            drop_pg_database(args.pg_admin_url, pg_url)


if __name__ == "__main__":
    main()
