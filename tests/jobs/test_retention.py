"""Job housekeeping: finished jobs (and the files they made, kept in their rows) are deleted by a periodic round
of the jobs area once ``jobs_retention_days`` have passed since they ended; queued and running jobs never are."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, update

from cleanheat.auth.service import Actor
from cleanheat.jobs import queue
from cleanheat.jobs.registry import Context, discover
from cleanheat.jobs.tables import Job
from cleanheat.store.base import utcnow
from cleanheat.store.engine import session_scope


def _job(session, state: str, ended_days_ago: float | None, data: bytes | None = None) -> int:
    job = queue.submit(session, Actor.system("test"), "programme.publication", {}, title=f"{state} {ended_days_ago}")
    now = utcnow()
    values = {"state": state, "result_bytes": data, "result": {"file": "r.pdf"} if data else None,
              "started_at": now - timedelta(days=60)}
    if ended_days_ago is not None:
        values["finished_at"] = now - timedelta(days=ended_days_ago)
    session.execute(update(Job).where(Job.id == job.id).values(**values))
    return job.id


def _round(settings, engine, session_factory):
    [task] = [p for p in discover().periodic if p.name == "jobs.retention"]
    return task, Context(settings, engine, session_factory, "test-worker")


def test_finished_jobs_and_their_files_are_deleted_after_the_retention(settings, engine, session_factory):
    with session_scope(session_factory) as s:
        old_done = _job(s, "done", 31, b"%PDF old")
        old_failed = _job(s, "failed", 45)
        recent_done = _job(s, "done", 29, b"%PDF recent")
        running = _job(s, "running", None)  # started 60 days ago, still running (its worker reports)
        queued = _job(s, "queued", None)
    task, ctx = _round(settings.model_copy(update={"jobs_retention_days": 30.0}), engine, session_factory)
    assert task.enabled(ctx) and task.interval_s(ctx) == 3600.0
    task.run(ctx)
    with session_scope(session_factory) as s:
        left = {j.id: j for j in s.scalars(select(Job))}
        assert set(left) == {recent_done, running, queued}, (old_done, old_failed)
        assert s.scalar(select(Job.result_bytes).where(Job.id == recent_done)) == b"%PDF recent"
    task.run(ctx)  # a second round finds nothing more to delete
    with session_scope(session_factory) as s:
        assert len(s.scalars(select(Job.id)).all()) == 3


def test_retention_zero_keeps_every_job(settings, engine, session_factory):
    with session_scope(session_factory) as s:
        _job(s, "done", 400, b"x")
    task, ctx = _round(settings.model_copy(update={"jobs_retention_days": 0.0}), engine, session_factory)
    assert not task.enabled(ctx)  # the worker never starts the round
    with session_scope(session_factory) as s:
        assert queue.prune_finished(s, 1.0) == 1  # the function itself deletes what is older than asked
