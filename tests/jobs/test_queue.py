"""The job queue, periodic rounds and leases on both stores: each job and each round is taken exactly once by
any number of concurrent claimers; a lease has one holder at a time; lost jobs are queued again."""

from __future__ import annotations

import threading
from datetime import timedelta

from sqlalchemy import select

from cleanheat.auth.service import Actor
from cleanheat.jobs import coordination, queue
from cleanheat.jobs.tables import Job
from cleanheat.store.base import utcnow
from cleanheat.store.engine import session_scope

KIND = "programme.publication"


def _submit(session_factory, n: int) -> list[int]:
    with session_scope(session_factory) as s:
        return [queue.submit(s, Actor.system("test"), KIND, {"i": i}, title=f"job {i}").id for i in range(n)]


def _claim_all(session_factory, worker: str, taken: list[tuple[str, int]], lock: threading.Lock) -> None:
    while True:
        with session_scope(session_factory) as s:
            job = queue.claim(s, worker, [KIND, "other.kind"])
            if job is None:
                return
            job_id = job.id
            assert queue.finish(s, job_id, worker, {"by": worker})
        with lock:
            taken.append((worker, job_id))


def test_each_job_is_claimed_exactly_once_by_concurrent_workers(session_factory):
    ids = _submit(session_factory, 60)
    taken: list[tuple[str, int]] = []
    lock = threading.Lock()
    threads = [threading.Thread(target=_claim_all, args=(session_factory, f"w{i}", taken, lock)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert sorted(j for _, j in taken) == ids  # every job once, none twice
    with session_scope(session_factory) as s:
        rows = s.scalars(select(Job).order_by(Job.id)).all()
        assert {r.state for r in rows} == {"done"}
        assert all(r.attempts == 1 and r.result == {"by": r.worker} for r in rows)


def test_a_job_of_another_kind_or_already_taken_is_not_claimed(session_factory):
    [job_id] = _submit(session_factory, 1)
    with session_scope(session_factory) as s:
        assert queue.claim(s, "w1", ["planner.solve"]) is None
        assert queue.claim(s, "w1", [KIND]).id == job_id
    with session_scope(session_factory) as s:
        assert queue.claim(s, "w2", [KIND]) is None
        # only the worker holding it may report on it or finish it
        assert not queue.report_progress(s, job_id, "w2", 0.5, "x")
        assert not queue.finish(s, job_id, "w2", {})
        assert queue.report_progress(s, job_id, "w1", 0.5, "half")
        assert queue.fail(s, job_id, "w1", "bad input")
    with session_scope(session_factory) as s:
        job = s.get(Job, job_id)
        assert (job.state, job.progress, job.message, job.error) == ("failed", 0.5, "half", "bad input")


def test_jobs_of_a_lost_worker_are_queued_again_then_failed(session_factory):
    [job_id] = _submit(session_factory, 1)
    later = utcnow()
    for attempt in range(1, queue.MAX_ATTEMPTS + 1):
        with session_scope(session_factory) as s:
            assert queue.claim(s, f"w{attempt}", [KIND]).id == job_id
        later += timedelta(seconds=queue.LOST_AFTER_S + 1)
        with session_scope(session_factory) as s:
            assert queue.requeue_lost(s, now=later) == 1
            job = s.get(Job, job_id)
            assert job.state == ("queued" if attempt < queue.MAX_ATTEMPTS else "failed")
            assert job.attempts == attempt
    with session_scope(session_factory) as s:
        assert "lost" in s.get(Job, job_id).error


def test_a_periodic_round_is_run_once_per_due_time_by_concurrent_workers(session_factory):
    now = utcnow()
    won: list[str] = []
    lock = threading.Lock()
    barrier = threading.Barrier(4)

    def ask(worker: str) -> None:
        barrier.wait(timeout=30)
        with session_scope(session_factory) as s:
            mine = coordination.claim_round(s, "test.round", 60.0, worker, now=now)
        if mine:
            with lock:
                won.append(worker)

    threads = [threading.Thread(target=ask, args=(f"w{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert len(won) == 1
    with session_scope(session_factory) as s:
        # not due again before the interval has passed; due after it
        assert not coordination.claim_round(s, "test.round", 60.0, "w9", now=now + timedelta(seconds=59))
        assert coordination.claim_round(s, "test.round", 60.0, "w9", now=now + timedelta(seconds=60))
        [r] = [r for r in coordination.rounds(s) if r.name == "test.round"]
        assert (r.rounds, r.last_worker) == (2, "w9")


def test_a_lease_has_one_holder_until_it_expires_or_is_released(session_factory):
    now = utcnow()
    with session_scope(session_factory) as s:
        assert coordination.hold_lease(s, "test.svc", "a", 30, now=now)
        assert not coordination.hold_lease(s, "test.svc", "b", 30, now=now + timedelta(seconds=10))
        assert coordination.hold_lease(s, "test.svc", "a", 30, now=now + timedelta(seconds=20))  # renewed
        coordination.set_status(s, "test.svc", "a", {"note": "x"})
        assert coordination.service_status(s, "test.svc", now=now + timedelta(seconds=21)) == {"note": "x"}
        assert not coordination.hold_lease(s, "test.svc", "b", 30, now=now + timedelta(seconds=45))
        assert coordination.hold_lease(s, "test.svc", "b", 30, now=now + timedelta(seconds=51))  # expired: taken over
        assert not coordination.hold_lease(s, "test.svc", "a", 30, now=now + timedelta(seconds=52))
        coordination.release_lease(s, "test.svc", "b")
        assert coordination.service_status(s, "test.svc") is None
        assert coordination.hold_lease(s, "test.svc", "a", 30)
