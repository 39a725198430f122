"""The worker on both stores: jobs run with their user's permissions, report progress, end done or failed with a
message; periodic rounds are shared between workers; a service runs in one worker and moves when it stops."""

from __future__ import annotations

import threading
import time

from cleanheat.auth import service as auth_service
from cleanheat.auth.service import Actor
from cleanheat.errors import InputError, InputIssue
from cleanheat.jobs import coordination, queue
from cleanheat.jobs.registry import JobKind, Outcome, Periodic, Registry, Service
from cleanheat.jobs.tables import Job
from cleanheat.jobs.worker import Worker
from cleanheat.store.engine import session_scope
from tests.helpers import bootstrap


def wait_for(condition, timeout_s: float = 60.0, what: str = "condition"):
    deadline = time.monotonic() + timeout_s
    while True:
        value = condition()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def _ok(ctx, run, progress):
    progress(0.5, f"half of {run.params['n']}")
    with session_scope(ctx.sessions) as s:  # what the job's page shows meanwhile
        job = s.get(Job, run.id)
        seen = [job.state, job.progress, job.message]
    return Outcome({"file": "out.txt", "media_type": "text/plain", "who": run.actor.actor, "seen": seen},
                   f"n={run.params['n']}".encode())


def _bad_input(ctx, run, progress):
    raise InputError("年份超出方案期", [InputIssue("2099 不在方案期内", field="period")])


def _crash(ctx, run, progress):
    raise RuntimeError("secret internals")


REGISTRY = Registry({"t.ok": JobKind("t.ok", _ok), "t.bad": JobKind("t.bad", _bad_input),
                     "t.crash": JobKind("t.crash", _crash)}, (), ())


def _job(session_factory, job_id: int) -> Job:
    with session_scope(session_factory) as s:
        job = s.get(Job, job_id)
        s.expunge(job)
        return job


def test_jobs_run_with_their_users_permissions_and_end_done_or_failed(settings, engine, session_factory):
    bootstrap(settings)
    with session_scope(session_factory) as s:
        office = Actor.for_user(auth_service.find_user(s, "office"))
        htjt = Actor.for_user(auth_service.find_user(s, "htjt"))
        ids = [queue.submit(s, office, "t.ok", {"n": 7}).id, queue.submit(s, office, "t.bad", {}).id,
               queue.submit(s, office, "t.crash", {}).id, queue.submit(s, htjt, "t.ok", {"n": 1}).id]
        auth_service.set_active(s, Actor.system("test"), "htjt", False)  # deactivated after asking
    worker = Worker(settings, engine, registry=REGISTRY, tick_s=0.05)
    worker.start()
    try:
        wait_for(lambda: all(_job(session_factory, i).state in ("done", "failed") for i in ids), what="jobs")
    finally:
        worker.stop()
    ok, bad, crash, deactivated = (_job(session_factory, i) for i in ids)
    assert (ok.state, ok.progress, ok.message) == ("done", 1.0, "")
    assert ok.result["seen"] == ["running", 0.5, "half of 7"]
    assert ok.result["who"] == "office" and ok.worker == worker.name
    with session_scope(session_factory) as s:
        assert queue.result_file(s, office, ok.id)[1] == b"n=7"
    assert bad.state == "failed" and "年份超出方案期" in bad.error and "2099 不在方案期内" in bad.error
    assert crash.state == "failed" and "RuntimeError" in crash.error and "secret" not in crash.error
    assert deactivated.state == "failed" and "no longer active" in deactivated.error


def test_periodic_rounds_are_shared_by_two_workers_each_round_once(settings, engine, session_factory):
    runs: list[tuple[str, float]] = []
    lock = threading.Lock()

    def count(ctx):
        with lock:
            runs.append((ctx.worker, 0.0))

    registry = Registry({}, (Periodic("t.every", interval_s=lambda ctx: 0.3, run=count),), ())
    workers = [Worker(settings, engine, registry=registry, tick_s=0.02, name=f"w{i}") for i in range(2)]
    for w in workers:
        w.start()
    try:
        wait_for(lambda: len(runs) >= 8, what="eight rounds")
    finally:
        for w in workers:
            w.stop()
    with session_scope(session_factory) as s:
        [rec] = [r for r in coordination.rounds(s) if r.name == "t.every"]
        assert rec.rounds == len(runs)  # every claimed round ran once, and only claimed rounds ran
    # (that no two claims fall inside one interval is checked without clocks in test_queue.py)


class _Svc:
    def __init__(self, name: str, started: list[str]) -> None:
        self.name = name
        started.append(name)
        self.stopped = False

    def stop(self) -> None:
        self.stopped = True

    def status(self) -> dict:
        return {"by": self.name}


def test_a_service_runs_in_one_worker_and_moves_when_that_worker_stops(settings, engine, session_factory,
                                                                       monkeypatch):
    import cleanheat.jobs.worker as worker_mod

    monkeypatch.setattr(worker_mod, "LEASE_RENEW_S", 0.1)
    started: list[str] = []
    registry = Registry({}, (), (Service("t.svc", start=lambda ctx: _Svc(ctx.worker, started)),))
    a = Worker(settings, engine, registry=registry, tick_s=0.02, name="a")
    b = Worker(settings, engine, registry=registry, tick_s=0.02, name="b")
    a.start()
    wait_for(lambda: started == ["a"], what="a to start the service")
    b.start()
    try:
        time.sleep(0.5)  # b keeps asking meanwhile
        assert started == ["a"]
        with session_scope(session_factory) as s:
            assert coordination.service_status(s, "t.svc") == {"by": "a"}
        a.stop()  # gives the lease back
        wait_for(lambda: started == ["a", "b"], what="b to take the service over")
        wait_for(lambda: _status(session_factory) == {"by": "b"}, what="b's status")
    finally:
        a.stop()
        b.stop()


def _status(session_factory):
    with session_scope(session_factory) as s:
        return coordination.service_status(s, "t.svc")
