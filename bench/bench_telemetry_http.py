"""Benchmark: readings per second through the HTTP batch API (device token) into SQLite and PostgreSQL.

A uvicorn server (subprocess) with the app; 200 station controllers x 10 points; requests of 10,000 readings
(200 devices x 5 timestamps x 10 points, ~0.5 MB JSON) sent by concurrent clients; the figure is stored readings
over wall time from the first request to the last response. Every reading is checked stored (no loss).

    .venv/bin/python bench/bench_telemetry_http.py [--backend sqlite|postgresql|both] [--requests 60]
"""

from __future__ import annotations

import argparse
import json
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
from _telemetry import fresh_database, iso, report, setup_registry, snapshot_values, stored_count, web_server

from cleanheat.store.engine import make_engine


def run(backend: str, n_requests: int, per_request_ts: int, clients: int, stations: int) -> dict:
    with fresh_database(backend) as url:
        reg = setup_registry(url, stations)
        start = (int(time.time() * 1000) // 60_000 - n_requests * per_request_ts - 10) * 60_000
        bodies = []
        for r in range(n_requests):
            items = []
            for k in range(per_request_ts):
                i_ts = r * per_request_ts + k
                ts = iso(start + i_ts * 60_000)
                items += [{"device": d, "ts": ts, "values": snapshot_values(i, i_ts, reg["keys"])}
                          for i, d in enumerate(reg["devices"])]
            bodies.append(json.dumps({"readings": items}, separators=(",", ":")).encode())
        total = n_requests * per_request_ts * stations * len(reg["keys"])
        headers = {"Authorization": f"Bearer {reg['org_token']}", "content-type": "application/json"}
        with web_server(url) as base:
            with httpx.Client(base_url=base, timeout=120) as warm:
                warm.post("/api/telemetry/ingest", content=b'{"readings": []}', headers=headers)

            def send(chunk: list[bytes]) -> int:
                with httpx.Client(base_url=base, timeout=120) as client:
                    n = 0
                    for b in chunk:
                        r = client.post("/api/telemetry/ingest", content=b, headers=headers)
                        r.raise_for_status()
                        n += r.json()["inserted"]
                    return n

            chunks = [bodies[i::clients] for i in range(clients)]
            t0 = time.perf_counter()
            with ThreadPoolExecutor(clients) as pool:
                inserted = sum(pool.map(send, chunks))
            wall = time.perf_counter() - t0
        engine = make_engine(url)
        stored = stored_count(engine)
        engine.dispose()
    return {f"http_{backend}_points_per_s": round(inserted / wall), f"http_{backend}_readings": total,
            f"http_{backend}_stored": stored, f"http_{backend}_lost": total - stored,
            f"http_{backend}_wall_s": round(wall, 2), f"http_{backend}_mb_per_request":
            round(len(bodies[0]) / 1e6, 2)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--backend", default="both", choices=["sqlite", "postgresql", "both"])
    ap.add_argument("--requests", type=int, default=60)
    ap.add_argument("--timestamps", type=int, default=5, help="timestamps per request (x 200 devices x 10 points)")
    ap.add_argument("--clients", type=int, default=2)
    ap.add_argument("--stations", type=int, default=200)
    a = ap.parse_args()
    figures = {}
    for b in (["sqlite", "postgresql"] if a.backend == "both" else [a.backend]):
        figures |= run(b, a.requests, a.timestamps, a.clients, a.stations)
    report(figures)


if __name__ == "__main__":
    main()
