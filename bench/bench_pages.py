"""Server time of the main pages on the demo database, warm (issue #13 item 1).

Builds the demo (``cleanheat init --demo``) on SQLite and/or PostgreSQL once, or reuses it, logs in as the demo
programme office, requests every page once to warm up, then ``--requests`` times each, and prints the median, p95
and maximum server time per page (from the request entering the app to the last byte of its response, measured
by an ASGI wrapper around the app: the test client's own overhead is left out). Last lines: ``name=value``.

    .venv/bin/python bench/bench_pages.py --backend both --requests 20

Targets: overview, unit and area pages <= 150 ms; no page over 300 ms.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

PAGES = {  # name -> path (the emission point: the first demo point with live data)
    "overview": "/programme/overview",
    "unit": "/programme/units/daoli",
    "area_type": "/programme/area/urban",
    "emissions_overview": "/emissions",
    "emission_point": "/emissions/points/1",
    "telemetry_live": "/telemetry",
}
TARGET_MS = {"overview": 150.0, "unit": 150.0, "area_type": 150.0}
LIMIT_MS = 300.0


class Timed:
    """ASGI wrapper recording each request's time inside the app and the process's CPU time meanwhile [s]."""

    def __init__(self, app) -> None:
        self.app = app
        self.last_s = self.last_cpu_s = 0.0

    async def __call__(self, scope, receive, send):
        t0, c0 = time.perf_counter(), time.process_time()
        await self.app(scope, receive, send)
        if scope["type"] == "http":
            self.last_s, self.last_cpu_s = time.perf_counter() - t0, time.process_time() - c0


def _is_demo(url: str) -> bool:
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    try:
        with engine.connect() as c:
            return bool(c.execute(text("select count(*) from users where username = 'office'")).scalar())
    except Exception:  # no database or no tables yet
        return False
    finally:
        engine.dispose()


def _ensure_pg_database(admin_url: str, name: str) -> str:
    from sqlalchemy import create_engine, text

    engine = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as c:
        if not c.execute(text("select 1 from pg_database where datname = :n"), {"n": name}).scalar():
            c.execute(text(f'create database "{name}"'))
    engine.dispose()
    return admin_url.rsplit("/", 1)[0] + f"/{name}"


def ensure_demo(url: str, var_dir: Path) -> None:
    """Run ``cleanheat init --demo`` unless the database already holds the demo."""
    if _is_demo(url):
        from cleanheat.store.migrate import upgrade

        upgrade(url)  # the schema of the code being measured (a demo built by an older version is migrated)
        print(f"reusing the demo in {url}", flush=True)
        return
    var_dir.mkdir(parents=True, exist_ok=True)
    env = os.environ | {"CLEANHEAT_DATABASE_URL": url, "CLEANHEAT_VAR_DIR": str(var_dir)}
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "cleanheat.cli.main", "init", "--demo"], env=env, check=True,
                   stdout=subprocess.DEVNULL)
    print(f"built the demo in {url} in {time.perf_counter() - t0:.0f} s", flush=True)
    if url.startswith("postgresql"):  # fresh statistics, as autovacuum would give them a while later
        from sqlalchemy import create_engine, text

        engine = create_engine(url, isolation_level="AUTOCOMMIT")
        with engine.connect() as c:
            c.execute(text("analyze"))
        engine.dispose()


def measure(url: str, var_dir: Path, requests: int, user: str, freeze: bool = True
            ) -> dict[str, tuple[list[float], list[float]]]:
    from fastapi.testclient import TestClient

    from cleanheat.config import Settings
    from cleanheat.demo_accounts import demo_password
    from cleanheat.web.app import create_app

    settings = Settings(database_url=url, var_dir=var_dir)
    timed = Timed(create_app(settings, background=False))
    out: dict[str, tuple[list[float], list[float]]] = {}
    with TestClient(timed) as client:
        r = client.post("/login", data={"username": user, "password": demo_password(), "next": "/"},
                        follow_redirects=False)
        assert r.status_code == 303, f"login as {user} failed: {r.status_code}"
        for path in PAGES.values():  # warm-up: the first request prepares the figures
            r = client.get(path)
            assert r.status_code == 200, f"{path}: HTTP {r.status_code}"
        if freeze:  # as `cleanheat serve` does once warm (web.routes.programme.freeze_heap)
            from cleanheat.web.routes.programme import freeze_heap

            freeze_heap()
        for name, path in PAGES.items():
            times, cpu = [], []
            for _ in range(requests):
                r = client.get(path)
                assert r.status_code == 200, f"{path}: HTTP {r.status_code}"
                times.append(timed.last_s * 1000)
                cpu.append(timed.last_cpu_s * 1000)
            out[name] = (times, cpu)
    return out


def p95(xs: list[float]) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, round(0.95 * (len(s) - 1)))]


def report(backend: str, results: dict[str, tuple[list[float], list[float]]]) -> list[str]:
    lines = []
    n = len(next(iter(results.values()))[0])
    print(f"\n{backend}: server time per page [ms] ({n} requests each, warm; cpu: the process's CPU time)")
    print(f"{'page':22s} {'median':>8s} {'p95':>8s} {'max':>8s} {'cpu med':>8s} {'cpu p95':>8s}  target")
    for name, (xs, cpu) in results.items():
        target = TARGET_MS.get(name, LIMIT_MS)
        ok = "met" if p95(xs) <= target else "NOT met"
        print(f"{name:22s} {statistics.median(xs):8.1f} {p95(xs):8.1f} {max(xs):8.1f} {statistics.median(cpu):8.1f}"
              f" {p95(cpu):8.1f}  <= {target:.0f} ms: {ok}")
        lines += [f"{backend}_{name}_median_ms={statistics.median(xs):.1f}", f"{backend}_{name}_p95_ms={p95(xs):.1f}",
                  f"{backend}_{name}_cpu_median_ms={statistics.median(cpu):.1f}",
                  f"{backend}_{name}_cpu_p95_ms={p95(cpu):.1f}"]
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="both")
    ap.add_argument("--requests", type=int, default=20)
    ap.add_argument("--user", default="office", help="demo login (default: the programme office)")
    ap.add_argument("--work-dir", type=Path, default=Path("/tmp/cleanheat-bench-pages"))
    ap.add_argument("--pg-url", default=os.environ.get("CLEANHEAT_BENCH_PG_URL",
                                                       "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"),
                    help="an administrative PostgreSQL URL; the demo goes into --pg-database")
    ap.add_argument("--pg-database", default="cleanheat_bench_pages")
    ap.add_argument("--no-freeze", action="store_true",
                    help="leave the warm heap to the garbage collector (cleanheat serve freezes it once warm)")
    args = ap.parse_args()
    lines = [f"load_average_start={' '.join(f'{x:.2f}' for x in os.getloadavg())}"]
    targets = []
    if args.backend in ("sqlite", "both"):
        targets.append(("sqlite", f"sqlite:///{args.work_dir / 'demo.db'}", args.work_dir / "var-sqlite"))
    if args.backend in ("postgresql", "both"):
        targets.append(("postgresql", _ensure_pg_database(args.pg_url, args.pg_database), args.work_dir / "var-pg"))
    args.work_dir.mkdir(parents=True, exist_ok=True)
    for backend, url, var_dir in targets:
        ensure_demo(url, var_dir)
        lines += report(backend, measure(url, var_dir, args.requests, args.user, not args.no_freeze))
    lines.append(f"load_average_end={' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print()
    print("\n".join(lines))


if __name__ == "__main__":
    main()
