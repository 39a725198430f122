"""Test databases: copies of templates migrated once, and what one test run shares between its xdist workers.

* ``PgCopies`` hands each test a ``CREATE DATABASE ... TEMPLATE`` copy of the session's migrated PostgreSQL
  template. Creating and dropping a copy takes about a second each (the server writes the copy to its WAL), so a
  background thread makes the next copies while the current test runs and drops used copies afterwards.
* ``run_dir`` is a directory of the whole run (the parent of the xdist workers' own temporary directories), and
  ``run_lock`` a file lock in it: what is built once per run (the demo city, tests/demo_city.py) is built by the
  first worker to ask while the others wait for it. PostgreSQL databases that outlive one worker are listed in
  ``run_dir`` (``register_run_database``) and dropped by ``drop_run_databases`` when the whole run ends.
"""

from __future__ import annotations

import fcntl
import os
import threading
import uuid
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

RUN_DATABASES = "pg-databases.txt"


def create_pg_database(admin_url: str, template: str | None = None, *, prefix: str = "cleanheat_t") -> str:
    """A new database on the server of ``admin_url`` (a copy of ``template`` if given); returns its URL."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    eng = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with eng.connect() as conn:
            suffix = f' TEMPLATE "{template}"' if template else ""
            conn.execute(text(f'CREATE DATABASE "{name}"{suffix}'))
    finally:
        eng.dispose()
    return admin_url.rsplit("/", 1)[0] + "/" + name


def drop_pg_database(admin_url: str, url: str) -> None:
    name = url.rsplit("/", 1)[1]
    eng = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with eng.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        eng.dispose()


class PgCopies:
    """Copies of one template database, made ``ahead`` in advance and dropped on background threads."""

    def __init__(self, admin_url: str, template: str, ahead: int = 2) -> None:
        self.admin_url, self.template, self.ahead = admin_url, template, ahead
        self._threads = ThreadPoolExecutor(ahead, thread_name_prefix="pg-copies")
        self._ready: deque[Future[str]] = deque()
        self._lock = threading.Lock()

    def _create(self) -> str:
        return create_pg_database(self.admin_url, template=self.template)

    def take(self) -> str:
        """A fresh copy (the oldest one made ahead; wait for it if it is not ready); keeps ``ahead`` coming."""
        with self._lock:
            first = self._ready.popleft() if self._ready else self._threads.submit(self._create)
            while len(self._ready) < self.ahead:
                self._ready.append(self._threads.submit(self._create))
        return first.result()

    def give_back(self, url: str) -> None:
        """Drop a used copy (in the background)."""
        self._threads.submit(drop_pg_database, self.admin_url, url)

    def close(self) -> None:
        """Drop the copies made ahead and wait for every drop to finish."""
        with self._lock:
            spares, self._ready = list(self._ready), deque()
        for spare in spares:
            try:
                self.give_back(spare.result())
            except Exception:  # the spare could not be made: nothing to drop
                pass
        self._threads.shutdown(wait=True)


def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The temporary directory of the whole run: shared by the xdist workers (each has a subdirectory)."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


@contextmanager
def run_lock(directory: Path, name: str) -> Iterator[None]:
    """An exclusive lock across the processes of the run (``flock`` on ``directory/<name>.lock``)."""
    with open(directory / f"{name}.lock", "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def register_run_database(directory: Path, url: str) -> None:
    """Drop the database at ``url`` when the run ends (``drop_run_databases``), not when this worker ends."""
    with run_lock(directory, "pg-databases"), open(directory / RUN_DATABASES, "a", encoding="utf-8") as fh:
        fh.write(url + "\n")


def drop_run_databases(directory: Path, admin_url: str) -> None:
    listed = directory / RUN_DATABASES
    if not listed.exists():
        return
    for url in listed.read_text(encoding="utf-8").split():
        drop_pg_database(admin_url, url)
    listed.unlink()
