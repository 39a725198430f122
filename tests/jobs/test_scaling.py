"""The scale path in a test (issue 13 item 5): two web processes (`cleanheat serve --workers 2`) and two
`cleanheat worker` processes on PostgreSQL; reports queued through the pages are each made exactly once — the
workers' own logs are the witness, one "done" line per job across both — and the periodic rounds are shared
(the rounds the workers logged equal the rounds recorded)."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from cleanheat.config import Settings
from cleanheat.jobs import coordination
from cleanheat.store.engine import make_engine, make_sessionmaker, session_scope
from tests.helpers import PASSWORD, bootstrap

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

JOBS = 10


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start(args: list[str], env: dict, log: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "cleanheat.cli.main", *args], env=env, stdout=log.open("wb"),
                            stderr=subprocess.STDOUT, start_new_session=True)


def _wait(condition, timeout_s: float, what: str):
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            value = condition()
        except (httpx.HTTPError, OSError):
            value = None
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def _login(base: str) -> tuple[httpx.Client, str]:
    c = httpx.Client(base_url=base, timeout=60)
    r = c.post("/login", data={"username": "office", "password": PASSWORD, "next": "/"})
    assert r.status_code == 303, r.text
    csrf = re.search(r'"X-CSRF-Token": "([^"]+)"', c.get("/login").text).group(1)
    return c, csrf


def test_two_web_processes_and_two_workers_run_each_job_exactly_once(pg_copies, tmp_path):
    url = pg_copies.take()
    procs: list[subprocess.Popen] = []
    try:
        settings = Settings(database_url=url, var_dir=tmp_path / "var", secret_key="scaling-secret")
        bootstrap(settings)
        env = dict(os.environ, CLEANHEAT_DATABASE_URL=url, CLEANHEAT_VAR_DIR=str(tmp_path / "var"),
                   CLEANHEAT_SECRET_KEY="scaling-secret", CLEANHEAT_TELEMETRY_JOBS_INTERVAL_S="1",
                   PYTHONPATH=os.pathsep.join(p for p in (str(Path(__file__).resolve().parents[2] / "src"),
                                                          os.environ.get("PYTHONPATH", "")) if p))
        port = _free_port()
        procs.append(_start(["serve", "--workers", "2", "--no-background", "--port", str(port)], env,
                            tmp_path / "web.log"))
        for i in range(2):
            procs.append(_start(["worker", "--name", f"w{i}", "--verbose"], env, tmp_path / f"worker{i}.log"))
        base = f"http://127.0.0.1:{port}"
        _wait(lambda: httpx.get(f"{base}/healthz", timeout=5).status_code == 200, 120, "the web processes")

        clients = [_login(base) for _ in range(2)]
        ids = []
        for i in range(JOBS):
            c, csrf = clients[i % 2]
            period = ["2019Q4", "2020Q2", "2020Q4", "2021Q2", "2021"][i % 5]
            r = c.post("/programme/publish/jobs", data={"csrf_token": csrf, "period": period, "format": "xlsx"},
                       headers={"Accept": "application/json"})
            assert r.status_code == 202, r.text
            ids.append(r.json()["id"])
        c = clients[0][0]
        states = _wait(lambda: (s := [c.get(f"/api/jobs/{i}").json() for i in ids])
                       and all(j["state"] in ("done", "failed") for j in s) and s, 600, "the jobs")
        assert all(j["state"] == "done" for j in states), [j["error"] for j in states if j["state"] != "done"]
        assert all(c.get(j["download"]).content[:2] == b"PK" for j in states)  # xlsx files
    finally:
        for p in procs:
            with_signal(p, signal.SIGTERM)
        for p in procs:
            try:
                p.wait(timeout=60)
            except subprocess.TimeoutExpired:
                with_signal(p, signal.SIGKILL)
                p.wait(timeout=10)
        logs = [(tmp_path / f"worker{i}.log").read_text(errors="replace") for i in range(2)]
        engine = make_engine(url)
        with session_scope(make_sessionmaker(engine)) as s:
            recorded = {r.name: r.rounds for r in coordination.rounds(s)}
        engine.dispose()
        pg_copies.give_back(url)
    done = [int(m) for log in logs for m in re.findall(r"job (\d+) \(programme\.publication\) done", log)]
    assert sorted(done) == sorted(ids), logs  # every job ran, none twice
    # the periodic rounds: every round recorded in the database was run by one worker, none twice
    rounds_logged = sum(len(re.findall(r"round of telemetry\.rounds done", log)) for log in logs)
    assert rounds_logged == recorded["telemetry.rounds"] >= 1, (rounds_logged, recorded)


def with_signal(p: subprocess.Popen, sig: int) -> None:
    try:
        os.killpg(p.pid, sig)
    except ProcessLookupError:
        pass
