"""Benchmark: dashboard latency (p50/p95) over 30 days of 1-minute data for 200 stations x 10 points.

The dashboards read rollups only, so the benchmark loads the 1-minute rollup table directly (one bucket per
point and minute: 200 x 10 x 30 x 1440 = 86.4 million rows, what the rollup job makes of 1-minute readings) and
derives the hourly and daily rollups from it with the rollup job's own aggregate SQL; ``--raw`` instead stores
raw readings and runs the real rollup job (much slower; the same tables result). ``telemetry_latest`` holds the
newest value of every point. Then a web server (subprocess) answers, for random stations:

* the station page (HTML), the 24-hour trends (1-minute resolution, 10 points x 1440),
* the 30-day trends (hourly resolution, 10 points x 720), and the network overview (all 200 stations).

    .venv/bin/python bench/bench_telemetry_dashboard.py [--backend sqlite|postgresql|both] [--days 30]
"""

from __future__ import annotations

import argparse
import random
import statistics
import time

import httpx
import numpy as np
from _telemetry import fresh_database, report, setup_registry, web_server
from sqlalchemy import text

from cleanheat.store.engine import make_engine
from cleanheat.telemetry.rollups import DAY_MS, HOUR_MS, MIN_MS, process_all_dirty
from cleanheat.telemetry.storage import ensure_partitions, insert_readings, mark_dirty, update_latest


def _values(points: np.ndarray, minutes: np.ndarray) -> np.ndarray:
    """Smooth daily cycles plus a little noise, per point (float64, shape points x minutes)."""
    phase = (points[:, None] % 97) / 97.0 * 2 * np.pi
    day = 2 * np.pi * (minutes[None, :] % 1440) / 1440.0
    return 50 + (points[:, None] % 13) * 3 + 8 * np.sin(day + phase) + 0.3 * np.sin(minutes[None, :] * 0.37)


def load(url: str, point_ids: list[int], days: int, raw: bool) -> dict:
    engine = make_engine(url)
    end = int(time.time() * 1000) // MIN_MS * MIN_MS
    start = end - days * DAY_MS
    pts = np.array(sorted(point_ids))
    t0 = time.perf_counter()
    ensure_partitions(engine, start, end)
    for d in range(days):
        minutes = np.arange(d * 1440, (d + 1) * 1440)
        vals = _values(pts, minutes)
        ts = start + minutes * MIN_MS
        if raw:
            rows = [(int(p), int(t), float(v)) for p, row in zip(pts, vals, strict=True)
                    for t, v in zip(ts, row, strict=True)]
            with engine.begin() as conn:
                insert_readings(conn, rows)
                mark_dirty(conn, rows)
            continue
        with engine.begin() as conn:
            if conn.dialect.name == "sqlite":
                rows = [(int(p), int(t), 1, float(v), float(v), float(v)) for p, row in zip(pts, vals, strict=True)
                        for t, v in zip(ts, row, strict=True)]
                conn.exec_driver_sql("INSERT INTO telemetry_rollup_1m (point_id, bucket_ms, n, sum_value, min_value, "
                                     "max_value) VALUES (?, ?, ?, ?, ?, ?)", rows)
            else:
                with conn.connection.driver_connection.cursor() as cur, cur.copy(
                        "COPY telemetry_rollup_1m (point_id, bucket_ms, n, sum_value, min_value, max_value) "
                        "FROM STDIN (FORMAT BINARY)") as cp:
                    cp.set_types(["int4", "int8", "int4", "float8", "float8", "float8"])
                    for p, row in zip(pts.tolist(), vals.tolist(), strict=True):
                        for t, v in zip(ts.tolist(), row, strict=True):
                            cp.write_row((p, t, 1, v, v, v))
        print(f"  day {d + 1}/{days} loaded ({time.perf_counter() - t0:.0f} s)", flush=True)
    t_load = time.perf_counter() - t0
    t1 = time.perf_counter()
    if raw:
        process_all_dirty(engine)
    else:
        with engine.begin() as conn:  # the rollup job's hour and day aggregates
            conn.exec_driver_sql(
                "INSERT INTO telemetry_rollup_1h (point_id, bucket_ms, n, sum_value, min_value, max_value) "
                f"SELECT point_id, (bucket_ms / {HOUR_MS}) * {HOUR_MS}, sum(n), sum(sum_value), min(min_value), "
                f"max(max_value) FROM telemetry_rollup_1m GROUP BY point_id, (bucket_ms / {HOUR_MS}) * {HOUR_MS}")
            off = 8 * HOUR_MS
            conn.exec_driver_sql(
                "INSERT INTO telemetry_rollup_1d (point_id, bucket_ms, n, sum_value, min_value, max_value) "
                f"SELECT point_id, ((bucket_ms + {off}) / {DAY_MS}) * {DAY_MS} - {off}, sum(n), sum(sum_value), "
                f"min(min_value), max(max_value) FROM telemetry_rollup_1h "
                f"GROUP BY point_id, ((bucket_ms + {off}) / {DAY_MS}) * {DAY_MS} - {off}")
    with engine.begin() as conn:
        last = _values(pts, np.array([days * 1440 - 1]))[:, 0]
        update_latest(conn, [(int(p), end - MIN_MS, float(v)) for p, v in zip(pts, last, strict=True)])
        if conn.dialect.name == "sqlite":
            conn.exec_driver_sql("ANALYZE")
        else:
            conn.exec_driver_sql("ANALYZE telemetry_rollup_1m")
            conn.exec_driver_sql("ANALYZE telemetry_rollup_1h")
        n1m = conn.execute(text("SELECT count(*) FROM telemetry_rollup_1m")).scalar()
        n1h = conn.execute(text("SELECT count(*) FROM telemetry_rollup_1h")).scalar()
    engine.dispose()
    return {"rows_1m": n1m, "rows_1h": n1h, "load_s": round(t_load), "rollup_s": round(time.perf_counter() - t1)}


def measure(base: str, token: str, station_ids: list[int], n: int) -> dict:
    headers = {"Authorization": f"Bearer {token}"}
    rng = random.Random(7)
    out = {}
    with httpx.Client(base_url=base, headers=headers, timeout=60) as c:
        cases = {"station_page": lambda s: f"/telemetry/stations/{s}",
                 "trend_24h_1m": lambda s: f"/api/telemetry/stations/{s}/series?hours=24",
                 "trend_30d_1h": lambda s: f"/api/telemetry/stations/{s}/series?hours=720",
                 "overview_200_stations": lambda s: "/api/telemetry/overview"}
        for name, path in cases.items():
            for _ in range(3):  # warm up
                c.get(path(station_ids[0])).raise_for_status()
            lat = []
            for _ in range(n):
                s = rng.choice(station_ids)
                t = time.perf_counter()
                r = c.get(path(s))
                lat.append((time.perf_counter() - t) * 1000)
                r.raise_for_status()
            if name == "trend_24h_1m":
                assert sum(len(v["data"]) for v in r.json()["series"].values()) >= 10 * 1430
            lat.sort()
            out[name] = (statistics.median(lat), lat[int(0.95 * (len(lat) - 1))])
    return out


def run(backend: str, days: int, stations: int, n: int, raw: bool) -> dict:
    with fresh_database(backend) as url:
        reg = setup_registry(url, stations)
        station_points = [pid for (dev, _k), pid in reg["points"].items() if dev.endswith("-C")]
        print(f"{backend}: loading {days} days x {len(station_points)} points of 1-minute data", flush=True)
        info = load(url, station_points, days, raw)
        with web_server(url) as base:
            res = measure(base, reg["api_token"], reg["station_ids"], n)
    pre = f"dashboard_{backend}"
    figures = {f"{pre}_{k}": v for k, v in info.items()}
    for name, (p50, p95) in res.items():
        figures[f"{pre}_{name}_p50_ms"] = round(p50, 1)
        figures[f"{pre}_{name}_p95_ms"] = round(p95, 1)
    figures[f"{pre}_worst_p95_ms"] = round(max(p95 for _, p95 in res.values()), 1)
    return figures


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--backend", default="both", choices=["sqlite", "postgresql", "both"])
    ap.add_argument("--days", type=int, default=30)
    ap.add_argument("--stations", type=int, default=200)
    ap.add_argument("--requests", type=int, default=100, help="requests per dashboard query")
    ap.add_argument("--raw", action="store_true", help="store raw readings and run the rollup job (slow)")
    a = ap.parse_args()
    figures = {}
    for b in (["sqlite", "postgresql"] if a.backend == "both" else [a.backend]):
        figures |= run(b, a.days, a.stations, a.requests, a.raw)
    report(figures)


if __name__ == "__main__":
    main()
