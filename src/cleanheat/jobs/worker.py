"""The background worker: runs queued jobs, periodic rounds and singleton services, shared with every other
worker through the database (``queue``, ``coordination``). Hosted by ``cleanheat worker`` (its own process) or,
on the embedded default, by a thread of the web process (``Settings.background_in_web``)."""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor

from sqlalchemy import Engine

from cleanheat.auth.service import Actor, get_user
from cleanheat.config import Settings
from cleanheat.errors import CleanheatError
from cleanheat.jobs import coordination, queue
from cleanheat.jobs.registry import Context, JobRun, Periodic, Registry, Running, Service, discover
from cleanheat.store.engine import make_sessionmaker, session_scope

log = logging.getLogger("cleanheat.jobs.worker")

#: a lease lasts this long unless renewed [s]; renewed every LEASE_RENEW_S
LEASE_TTL_S = 30.0
LEASE_RENEW_S = 5.0
#: how often lost jobs are looked for [s]
REQUEUE_EVERY_S = 30.0
#: how often the jobs running here are reported alive [s] (well inside queue.LOST_AFTER_S)
HEARTBEAT_S = 20.0


def worker_name(prefix: str = "worker") -> str:
    return f"{prefix}@{socket.gethostname()}:{os.getpid()}:{threading.get_ident() % 10_000}"


class Worker:
    """One worker: ``start()`` runs it in a thread, ``run()`` in the calling thread until ``stop()``."""

    def __init__(self, settings: Settings, engine: Engine, *, name: str | None = None,
                 registry: Registry | None = None, tick_s: float = 0.5, job_threads: int = 1,
                 services: bool = True, periodic: bool = True) -> None:
        self.registry = registry or discover()
        self.name = name or worker_name()
        self.ctx = Context(settings, engine, make_sessionmaker(engine), self.name)
        self.tick_s = tick_s
        self.with_services = services
        self.with_periodic = periodic
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._jobs = ThreadPoolExecutor(job_threads, thread_name_prefix="job")
        self._job_slots = job_threads
        self._running_jobs: dict[int, Future] = {}
        self._rounds = ThreadPoolExecutor(2, thread_name_prefix="periodic")
        self._running_rounds: dict[str, Future] = {}
        self._services: dict[str, Running] = {}
        self._lease_at = 0.0
        self._requeue_at = 0.0
        self._heartbeat_at = 0.0
        #: jobs this worker finished (the CLI prints it when the worker stops)
        self.jobs_done = 0

    # --- lifecycle ---------------------------------------------------------------------------------------
    def start(self) -> None:
        self._thread = threading.Thread(target=self.run, name="cleanheat-worker", daemon=True)
        self._thread.start()

    def run(self) -> None:
        log.info("worker %s: %d job kinds, %d periodic tasks, %d services", self.name, len(self.registry.jobs),
                 len(self.registry.periodic) if self.with_periodic else 0,
                 len(self.registry.services) if self.with_services else 0)
        while not self._stop.is_set():
            try:
                self.tick()
            except Exception:  # the database may be away for a moment: logged, tried again
                log.exception("worker %s: round failed", self.name)
            self._stop.wait(self.tick_s)
        self.shutdown()

    def request_stop(self) -> None:
        """Ask the loop to end after its current tick (signal handlers)."""
        self._stop.set()

    def stop(self, timeout_s: float = 30.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=timeout_s)

    def shutdown(self) -> None:
        """Stop the services here (giving their leases back) and wait for the rounds and jobs running."""
        for name, running in list(self._services.items()):
            self._stop_service(name, running)
        self._rounds.shutdown(wait=True, cancel_futures=True)
        self._jobs.shutdown(wait=True, cancel_futures=True)

    def run_pending(self) -> list[int]:
        """Run every queued job now, one after another in the calling thread (tests, `cleanheat worker --once`);
        the ids of the jobs this call ran."""
        ran: list[int] = []
        while (claimed := self._claim()) is not None:
            self._run_job(*claimed)
            ran.append(claimed[1].id)
        return ran

    def _claim(self) -> tuple[str, JobRun] | None:
        """The next queued job for this worker (its kind and run), None when there is none. A job whose user was
        deactivated since it was asked for is failed here, not run."""
        while True:
            with session_scope(self.ctx.sessions) as s:
                job = queue.claim(s, self.name, sorted(self.registry.jobs))
                if job is None:
                    return None
                actor = self._actor(s, job.user_id)
                if actor is not None:
                    return job.kind, JobRun(job.id, dict(job.params or {}), actor)
                queue.fail(s, job.id, self.name, "账号已停用 / the account that asked for it is no longer active")

    # --- one tick ----------------------------------------------------------------------------------------
    def tick(self) -> None:
        now = time.monotonic()
        if self.with_services and now - self._lease_at >= LEASE_RENEW_S:
            self._lease_at = now
            self._tend_services()
        if self.with_periodic:
            self._start_rounds()
        self._heartbeat_and_claim()
        if now - self._requeue_at >= REQUEUE_EVERY_S:
            self._requeue_at = now
            with session_scope(self.ctx.sessions) as s:
                n = queue.requeue_lost(s)
            if n:
                log.warning("worker %s: %d jobs of lost workers queued again or failed", self.name, n)

    def _start_rounds(self) -> None:
        for p in self.registry.periodic:
            busy = self._running_rounds.get(p.name)
            if busy is not None and not busy.done():
                continue
            if not p.enabled(self.ctx):
                continue
            with session_scope(self.ctx.sessions) as s:
                mine = coordination.claim_round(s, p.name, p.interval_s(self.ctx), self.name)
            if mine:
                self._running_rounds[p.name] = self._rounds.submit(self._run_round, p)

    def _run_round(self, p: Periodic) -> None:
        error = ""
        try:
            p.run(self.ctx)
        except Exception as exc:
            log.exception("periodic task %s failed", p.name)
            error = repr(exc)
        log.debug("worker %s: round of %s done", self.name, p.name)
        with session_scope(self.ctx.sessions) as s:
            coordination.round_done(s, p.name, error)

    def _heartbeat_and_claim(self) -> None:
        for job_id, fut in list(self._running_jobs.items()):
            if fut.done():
                del self._running_jobs[job_id]
        if self._running_jobs and time.monotonic() - self._heartbeat_at >= HEARTBEAT_S:
            self._heartbeat_at = time.monotonic()
            with session_scope(self.ctx.sessions) as s:
                queue.heartbeat(s, list(self._running_jobs), self.name)
        while len(self._running_jobs) < self._job_slots and self.registry.jobs:
            claimed = self._claim()
            if claimed is None:
                return
            self._running_jobs[claimed[1].id] = self._jobs.submit(self._run_job, *claimed)

    def _actor(self, session, user_id: int | None) -> Actor | None:
        if user_id is None:
            return Actor.system("worker")
        user = get_user(session, user_id)
        return Actor.for_user(user) if user is not None else None

    def _run_job(self, kind: str, run: JobRun) -> None:
        started = time.monotonic()
        def progress(fraction: float, message: str = "") -> None:
            with session_scope(self.ctx.sessions) as s:
                queue.report_progress(s, run.id, self.name, fraction, message)

        try:
            outcome = self.registry.jobs[kind].run(self.ctx, run, progress)
        except CleanheatError as exc:
            log.warning("job %d (%s) failed: %s", run.id, kind, exc)
            with session_scope(self.ctx.sessions) as s:
                queue.fail(s, run.id, self.name, _user_message(exc))
            return
        except Exception as exc:
            log.exception("job %d (%s) failed", run.id, kind)
            with session_scope(self.ctx.sessions) as s:
                queue.fail(s, run.id, self.name, f"内部错误 / internal error: {type(exc).__name__}")
            return
        with session_scope(self.ctx.sessions) as s:
            queue.finish(s, run.id, self.name, outcome.result, outcome.data)
        self.jobs_done += 1
        log.info("worker %s: job %d (%s) done in %.1f s", self.name, run.id, kind, time.monotonic() - started)

    # --- services ----------------------------------------------------------------------------------------
    def _tend_services(self) -> None:
        for svc in self.registry.services:
            running = self._services.get(svc.name)
            with session_scope(self.ctx.sessions) as s:
                held = coordination.hold_lease(s, svc.name, self.name, LEASE_TTL_S) if (
                    running is not None or svc.enabled(self.ctx)) else False
                if held and running is not None:
                    coordination.set_status(s, svc.name, self.name, _status(running))
            if running is not None and not held:
                log.warning("service %s: lease lost, stopping here", svc.name)
                self._stop_service(svc.name, running, release=False)
            elif running is None and held:
                self._start_service(svc)

    def _start_service(self, svc: Service) -> None:
        try:
            running = svc.start(self.ctx)
        except Exception:
            log.exception("service %s did not start", svc.name)
            running = None
        if running is None:  # nothing to run (e.g. no demo city): give the lease back
            with session_scope(self.ctx.sessions) as s:
                coordination.release_lease(s, svc.name, self.name)
            return
        self._services[svc.name] = running
        with session_scope(self.ctx.sessions) as s:
            coordination.set_status(s, svc.name, self.name, _status(running))
        log.info("service %s started by %s", svc.name, self.name)

    def _stop_service(self, name: str, running: Running, release: bool = True) -> None:
        self._services.pop(name, None)
        try:
            running.stop()
        except Exception:
            log.exception("service %s did not stop cleanly", name)
        if release:
            try:
                with session_scope(self.ctx.sessions) as s:
                    coordination.release_lease(s, name, self.name)
            except Exception:
                log.exception("service %s: lease not released", name)


def _status(running: Running) -> dict:
    try:
        return dict(running.status())
    except Exception:
        return {}


def _user_message(exc: CleanheatError) -> str:
    return str(exc)[:4000]
