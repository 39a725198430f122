"""Benchmark: the annual evaluation report as PDF (WeasyPrint) on the demo city, as the publications page makes it.

    .venv/bin/python bench/bench_programme_report.py [--database-url URL] [--period 2021] [--runs 3]

Without ``--database-url`` a demo database is built first in a temporary directory (``cleanheat init --demo``,
a few minutes; not timed). Each run is one request's work: evaluation, quarterly trend, charts, HTML, PDF;
the first run computes the figures,
the later ones find them prepared as a running server does (the figures are prepared in the background).
Prints ``name=value`` lines last (bench/RESULTS.md); the figure is the median of the runs.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from cleanheat.auth.service import Actor
from cleanheat.config import Settings
from cleanheat.programme import publish
from cleanheat.programme.plan_store import load_plan
from cleanheat.store.engine import make_engine, make_sessionmaker, session_scope


def _demo_database(tmp: Path) -> str:
    url = f"sqlite:///{tmp / 'demo.db'}"
    env = dict(os.environ, CLEANHEAT_DATABASE_URL=url, CLEANHEAT_VAR_DIR=str(tmp / "var"))
    subprocess.run([sys.executable, "-m", "cleanheat.cli.main", "init", "--demo"], env=env, check=True,
                   stdout=subprocess.DEVNULL)
    return url


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--database-url")
    ap.add_argument("--period", default="2021")
    ap.add_argument("--format", default="pdf", choices=["pdf", "html", "xlsx"])
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or _demo_database(Path(tmp))
        settings = Settings(database_url=url)
        engine = make_engine(url)
        factory = make_sessionmaker(engine)
        times, cpu, size = [], [], 0
        for _ in range(args.runs):
            with session_scope(factory) as s:
                plan = load_plan(s)
                period, annual = publish.parse_report_period(args.period)
                t0, c0 = time.perf_counter(), time.process_time()
                content = publish.render(s, Actor.system("bench"), plan, period, annual=annual, fmt=args.format,
                                         settings=settings)
                times.append(time.perf_counter() - t0)
                cpu.append(time.process_time() - c0)
                size = len(content)
        engine.dispose()
    load = os.getloadavg()[0]
    print(f"report_{args.format}_runs_s={','.join(f'{t:.2f}' for t in times)}")
    print(f"report_{args.format}_median_s={statistics.median(times):.2f}")
    print(f"report_{args.format}_cpu_s={','.join(f'{t:.2f}' for t in cpu)} (the process's CPU time: what a "
          "loaded machine inflates less)")
    print(f"report_{args.format}_bytes={size}")
    print(f"load_average_1min={load:.2f}")
    print(f"cpus={os.cpu_count()}")


if __name__ == "__main__":
    main()
