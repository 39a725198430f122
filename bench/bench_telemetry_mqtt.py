"""Benchmark: readings per second end to end over MQTT (QoS 1) into SQLite and PostgreSQL, with zero loss.

A private mosquitto, one or two ingest workers (``cleanheat telemetry worker``, subprocesses, MQTT 5 shared
subscription, acknowledgement after commit) and one publisher sending pre-encoded gateway messages (one device,
25 timestamps x 10 points = 250 readings each) with QoS 1. The figure is readings stored over wall time from the
first publish to the moment the last reading is committed; every reading is checked stored exactly once.

    .venv/bin/python bench/bench_telemetry_mqtt.py [--backend sqlite|postgresql|both] [--workers 1] [--minutes 300]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

from _telemetry import (
    fresh_database,
    iso,
    mqtt_broker,
    report,
    server_env,
    setup_registry,
    snapshot_values,
    stored_count,
)
from sqlalchemy import text

from cleanheat.store.engine import make_engine
from cleanheat.telemetry.payload import readings_topic
from cleanheat.twin.sinks import mqtt_client


def run(backend: str, minutes: int, per_msg: int, workers: int, stations: int) -> dict:
    with fresh_database(backend) as url, mqtt_broker() as broker:
        reg = setup_registry(url, stations)
        start = (int(time.time() * 1000) // 60_000 - minutes - 10) * 60_000
        messages = []
        for m0 in range(0, minutes, per_msg):
            for i, d in enumerate(reg["devices"]):
                items = [{"ts": iso(start + t * 60_000), "values": snapshot_values(i, t, reg["keys"])}
                         for t in range(m0, min(m0 + per_msg, minutes))]
                body = {"token": reg["org_token"], "readings": items}
                messages.append((readings_topic("htjt", d), json.dumps(body, separators=(",", ":")).encode()))
        total = minutes * stations * len(reg["keys"])
        env = server_env(url) | {"CLEANHEAT_TELEMETRY_BATCH_MAX_MESSAGES": "200",
                                 "CLEANHEAT_TELEMETRY_BATCH_MAX_WAIT_MS": "50"}
        procs = [subprocess.Popen([sys.executable, "-m", "cleanheat.cli.main", "telemetry", "worker", "--client-id",
                                   f"bench-{i}", "--mqtt-url", broker, "--shared"], env=env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for i in range(workers)]
        engine = make_engine(url)
        try:
            time.sleep(4.0)  # workers connect and subscribe
            pub = mqtt_client(broker, "bench-publisher")
            t0 = time.perf_counter()
            infos = [pub.publish(topic, payload, qos=1) for topic, payload in messages]
            for info in infos:
                info.wait_for_publish(60)
            t_pub = time.perf_counter() - t0
            deadline = time.time() + 600
            while stored_count(engine) < total and time.time() < deadline:
                time.sleep(0.05)
            wall = time.perf_counter() - t0
            pub.loop_stop()
            pub.disconnect()
        finally:
            for p in procs:
                p.terminate()
            for p in procs:
                p.wait(timeout=30)
        with engine.connect() as c:
            rows = c.execute(text("SELECT count(*) FROM telemetry_readings")).scalar()
            dup, q = c.execute(text("SELECT coalesce(sum(duplicates), 0), coalesce(sum(quarantined), 0) "
                                    "FROM telemetry_ingest_batches")).one()
            per_worker = c.execute(text("SELECT worker, sum(messages) FROM telemetry_ingest_batches "
                                        "GROUP BY worker ORDER BY worker")).all()
        engine.dispose()
    pre = f"mqtt_{backend}_w{workers}"
    return {f"{pre}_points_per_s": round(rows / wall), f"{pre}_readings": total, f"{pre}_stored": rows,
            f"{pre}_lost": total - rows, f"{pre}_duplicates_counted": dup, f"{pre}_quarantined": q,
            f"{pre}_messages": len(messages), f"{pre}_publish_s": round(t_pub, 2), f"{pre}_wall_s": round(wall, 2),
            f"{pre}_messages_per_worker": "/".join(str(n) for _, n in per_worker)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--backend", default="both", choices=["sqlite", "postgresql", "both"])
    ap.add_argument("--minutes", type=int, default=300, help="minutes of 1-minute data per point")
    ap.add_argument("--per-message", type=int, default=25, help="timestamps per message")
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--stations", type=int, default=200)
    a = ap.parse_args()
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    figures = {}
    for b in (["sqlite", "postgresql"] if a.backend == "both" else [a.backend]):
        figures |= run(b, a.minutes, a.per_message, a.workers, a.stations)
    report(figures)


if __name__ == "__main__":
    main()
