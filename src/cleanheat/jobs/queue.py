"""The job queue: submit, claim exactly once, report progress, finish or fail; scoped reads for the pages.

A job is claimed by a compare-and-set (``UPDATE … WHERE id = ? AND state = 'queued'``): of any number of
workers on any machines, exactly one sees its update count 1. On PostgreSQL the candidate is first picked with
``SELECT … FOR UPDATE SKIP LOCKED``, so workers do not queue up behind one another's candidate row.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, or_, select, update
from sqlalchemy.orm import Session

from cleanheat.auth.roles import Role
from cleanheat.auth.service import Actor, audit
from cleanheat.errors import NotFoundError
from cleanheat.jobs.tables import Job
from cleanheat.store.base import utcnow

#: a running job whose worker has not reported for this long is taken as lost [s]
LOST_AFTER_S = 120.0
#: a job lost this many times is failed instead of queued again
MAX_ATTEMPTS = 3


def submit(session: Session, actor: Actor, kind: str, params: dict, *, title: str = "", title_en: str = "") -> Job:
    """Queue a job of ``kind`` for ``actor`` (audited); the caller commits, then a worker picks it up. ``title``
    says what it is in Chinese, ``title_en`` in English (the pages show the user's language)."""
    job = Job(kind=kind, params=params, title=title[:300], title_en=title_en[:300], state="queued",
              user_id=actor.user_id, org_id=actor.org_id)
    session.add(job)
    session.flush()
    audit(session, actor, "submit", "job", job.id, {"kind": kind, "params": params}, summary=title[:200])
    return job


def claim(session: Session, worker: str, kinds: list[str], now: datetime | None = None) -> Job | None:
    """Take the oldest queued job of one of ``kinds`` for ``worker`` (None when there is none); commit after."""
    if not kinds:
        return None
    now = now or utcnow()
    for _ in range(5):  # another worker may win the candidate: try the next one
        q = select(Job.id).where(Job.state == "queued", Job.kind.in_(kinds)).order_by(Job.id).limit(1)
        if session.get_bind().dialect.name == "postgresql":
            q = q.with_for_update(skip_locked=True)
        job_id = session.scalar(q)
        if job_id is None:
            return None
        won = session.execute(
            update(Job).where(Job.id == job_id, Job.state == "queued")
            .values(state="running", worker=worker[:120], started_at=now, heartbeat_at=now,
                    attempts=Job.attempts + 1, progress=0.0, message="")
            .execution_options(synchronize_session=False)).rowcount
        if won == 1:
            return session.get(Job, job_id, populate_existing=True)
    return None


def report_progress(session: Session, job_id: int, worker: str, fraction: float, message: str = "") -> bool:
    """Record progress [0..1] and a heartbeat; False when the job is no longer this worker's (taken as lost)."""
    return session.execute(
        update(Job).where(Job.id == job_id, Job.state == "running", Job.worker == worker[:120])
        .values(progress=max(0.0, min(1.0, fraction)), message=message[:500], heartbeat_at=utcnow())
        .execution_options(synchronize_session=False)).rowcount == 1


def heartbeat(session: Session, job_ids: list[int], worker: str) -> int:
    """Tell the others that ``worker`` still runs these jobs (those that report no progress for a while)."""
    if not job_ids:
        return 0
    return session.execute(
        update(Job).where(Job.id.in_(job_ids), Job.state == "running", Job.worker == worker[:120])
        .values(heartbeat_at=utcnow()).execution_options(synchronize_session=False)).rowcount


def finish(session: Session, job_id: int, worker: str, result: dict, data: bytes | None = None) -> bool:
    """Mark the job done with its ``result`` (and a file's bytes); False when it was no longer this worker's."""
    return session.execute(
        update(Job).where(Job.id == job_id, Job.state == "running", Job.worker == worker[:120])
        .values(state="done", progress=1.0, message="", result=result, result_bytes=data, finished_at=utcnow(),
                error="")
        .execution_options(synchronize_session=False)).rowcount == 1


def fail(session: Session, job_id: int, worker: str, error: str) -> bool:
    """Mark the job failed with the error shown to its owner."""
    return session.execute(
        update(Job).where(Job.id == job_id, Job.state == "running", Job.worker == worker[:120])
        .values(state="failed", error=error[:4000], finished_at=utcnow())
        .execution_options(synchronize_session=False)).rowcount == 1


def requeue_lost(session: Session, now: datetime | None = None, lost_after_s: float = LOST_AFTER_S) -> int:
    """Queue again the running jobs whose worker stopped reporting (fail those lost ``MAX_ATTEMPTS`` times)."""
    now = now or utcnow()
    cutoff = now - timedelta(seconds=lost_after_s)
    lost = Job.state == "running", or_(Job.heartbeat_at.is_(None), Job.heartbeat_at < cutoff)
    if session.scalar(select(Job.id).where(*lost).limit(1)) is None:  # the usual case: a read, no write
        return 0
    failed = session.execute(
        update(Job).where(*lost, Job.attempts >= MAX_ATTEMPTS)
        .values(state="failed", finished_at=now, error="后台进程多次中断 / the worker running it was lost "
                                                       f"{MAX_ATTEMPTS} times")
        .execution_options(synchronize_session=False)).rowcount
    queued = session.execute(
        update(Job).where(*lost, Job.attempts < MAX_ATTEMPTS).values(state="queued", worker="")
        .execution_options(synchronize_session=False)).rowcount
    return failed + queued


def prune_finished(session: Session, older_than_days: float, now: datetime | None = None) -> int:
    """Delete the jobs that ended (done or failed) more than ``older_than_days`` [days] ago, with the files they
    made (kept in the row); the number deleted. Queued and running jobs are never touched."""
    cutoff = (now or utcnow()) - timedelta(days=older_than_days)
    return session.execute(
        delete(Job).where(Job.state.in_(("done", "failed")), Job.finished_at < cutoff)
        .execution_options(synchronize_session=False)).rowcount


def _visible(actor: Actor):
    if actor.role == Role.ADMIN:
        return select(Job)
    return select(Job).where(Job.user_id == actor.user_id) if actor.user_id is not None else select(Job).where(False)


def get_job(session: Session, actor: Actor, job_id: int) -> Job:
    """A job its owner (or an administrator) may see; NotFoundError for anyone else's."""
    job = session.scalar(_visible(actor).where(Job.id == job_id))
    if job is None:
        raise NotFoundError(f"no job {job_id}")
    return job


def result_file(session: Session, actor: Actor, job_id: int) -> tuple[Job, bytes]:
    """The file a finished job made (NotFoundError when it made none or is not finished)."""
    job = get_job(session, actor, job_id)
    data = job.result_bytes if job.state == "done" else None
    if data is None or not (job.result or {}).get("file"):
        raise NotFoundError(f"job {job_id} has no file")
    return job, data


def recent_jobs(session: Session, actor: Actor, limit: int = 50) -> list[Job]:
    """The actor's newest jobs (an administrator: everyone's)."""
    return list(session.scalars(_visible(actor).order_by(Job.id.desc()).limit(limit)))
