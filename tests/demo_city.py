"""The demo city (``cleanheat init --demo``) built once per test run and store, copied into each test that uses it.

Building it takes about a minute of CPU (most of it the emissions demo's seasons of hourly data), and several
test modules need it. The first xdist worker to ask builds it on a copy of its migrated template, under a lock
of the run (tests/databases.py); the others wait and then copy it too: SQLite as a file, PostgreSQL as
``CREATE DATABASE ... TEMPLATE``. A copy is the test's own: it may write to it freely.
"""

from __future__ import annotations

import functools
import logging
import shutil
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path

from cleanheat.config import Settings
from tests.databases import create_pg_database, drop_pg_database, register_run_database, run_lock


def build(settings: Settings) -> None:
    """What ``cleanheat init --demo`` does (migrate, reference data of every area, the demo city)."""
    from cleanheat.cli.core import run_init

    run_init(settings, demo=True)


class DemoCity:
    """``copy(backend, directory)`` -> the URL of a fresh copy of the demo city; ``drop(url)`` when done."""

    def __init__(self, run: Path, sqlite_template: Callable[[], Path], pg: Callable[[], tuple[str, str]]) -> None:
        self.run = run
        # resolved once, when that store is first asked for (build_ahead: on the caller's thread)
        self._sqlite_template, self._pg = functools.cache(sqlite_template), functools.cache(pg)
        # the run lock is a flock, which does not exclude threads of one process: a lock per store as well
        self._building = {"sqlite": threading.Lock(), "postgresql": threading.Lock()}

    def build_ahead(self, backend: str) -> threading.Thread:
        """Build ``backend``'s demo city on a thread while this worker runs other tests, instead of making a test
        (and the other worker, waiting for the lock) wait for it later. The store's fixtures are resolved here,
        on the caller's thread; a failure is logged and the build is tried again by the first test that asks."""
        if backend == "sqlite":
            self._sqlite_template()
            work = self._sqlite
        else:
            self._pg()
            work = self._pg_template

        def run() -> None:
            try:
                work()
            except Exception:
                logging.getLogger(__name__).exception("building the %s demo city ahead failed", backend)

        thread = threading.Thread(target=run, name=f"demo-city-{backend}", daemon=True)
        thread.start()
        return thread

    def _settings(self, url: str) -> Settings:
        return Settings(database_url=url, var_dir=self.run / "demo-city-var", secret_key="demo-city")

    def _sqlite(self) -> Path:
        done = self.run / "demo-city.db"
        with self._building["sqlite"], run_lock(self.run, "demo-city-sqlite"):
            if not done.exists():
                building = self.run / "demo-city.building.db"
                shutil.copyfile(self._sqlite_template(), building)
                build(self._settings(f"sqlite:///{building}"))
                with sqlite3.connect(building) as conn:  # fold the WAL into the file: a plain copy holds all
                    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                conn.close()
                building.rename(done)
        return done

    def _pg_template(self) -> str:
        admin, template = self._pg()
        name_file = self.run / "demo-city.pg"
        with self._building["postgresql"], run_lock(self.run, "demo-city-pg"):
            if not name_file.exists():
                url = create_pg_database(admin, template=template, prefix="cleanheat_demo")
                register_run_database(self.run, url)  # other workers copy it: dropped when the run ends
                build(self._settings(url))
                name_file.write_text(url.rsplit("/", 1)[1], encoding="utf-8")
            return name_file.read_text(encoding="utf-8").strip()

    def copy(self, backend: str, directory: Path) -> str:
        if backend == "sqlite":
            target = directory / "demo-city.db"
            shutil.copyfile(self._sqlite(), target)
            return f"sqlite:///{target}"
        template = self._pg_template()
        return create_pg_database(self._pg()[0], template=template)

    def drop(self, url: str) -> None:
        if url.startswith("postgresql"):
            drop_pg_database(self._pg()[0], url)
