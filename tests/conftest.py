"""Shared fixtures.

Store-backed tests run on both SQLite and PostgreSQL: the ``database_url`` fixture is parametrised over the
two, and each test gets a fresh, migrated database: a copy of a template migrated once per session (xdist
worker). SQLite copies the file; PostgreSQL uses ``CREATE DATABASE ... TEMPLATE`` on the server at
``CLEANHEAT_TEST_PG_URL`` (default postgres@127.0.0.1:5432 with trust auth), the next copies made ahead and used
ones dropped in the background (tests/databases.py). ``demo_city`` copies the demo city, built once per run
(tests/demo_city.py). Password hashes use cheap argon2 parameters (``TEST_ARGON2``), set here for this process
and, through the environment, for the apps and CLI processes the tests start.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from cleanheat.auth.passwords import configure_hasher
from cleanheat.config import Settings
from cleanheat.store import migrate
from cleanheat.store.engine import make_engine, make_sessionmaker
from tests import snapshots
from tests.databases import (
    PgCopies,
    create_pg_database,
    drop_pg_database,
    drop_run_databases,
    run_dir,
)
from tests.demo_city import DemoCity

pytest_plugins = ["tests.suite_rules"]  # the e2e marker of browser tests; no skips under CI=true

PG_ADMIN_URL = os.environ.get("CLEANHEAT_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
BACKENDS = [b.strip() for b in os.environ.get("CLEANHEAT_TEST_BACKENDS", "sqlite,postgresql").split(",") if b.strip()]

#: argon2id parameters of the tests' password hashes (1 iteration, 64 KiB: well under a millisecond instead of
#: about 50 ms); the production defaults are checked by tests/auth/test_throttle.py
TEST_ARGON2 = {"CLEANHEAT_AUTH_ARGON2_TIME_COST": "1", "CLEANHEAT_AUTH_ARGON2_MEMORY_KIB": "64",
               "CLEANHEAT_AUTH_ARGON2_PARALLELISM": "1"}
for _name, _value in TEST_ARGON2.items():
    os.environ.setdefault(_name, _value)
configure_hasher(int(os.environ["CLEANHEAT_AUTH_ARGON2_TIME_COST"]),
                 int(os.environ["CLEANHEAT_AUTH_ARGON2_MEMORY_KIB"]),
                 int(os.environ["CLEANHEAT_AUTH_ARGON2_PARALLELISM"]))

__all__ = ["BACKENDS", "create_pg_database", "drop_pg_database"]  # imported by test modules from here


def _pg_available() -> bool:
    try:
        eng = create_engine(PG_ADMIN_URL)
        with eng.connect() as conn:
            conn.execute(text("SELECT 1"))
        eng.dispose()
        return True
    except Exception:
        return False


@pytest.fixture(scope="session")
def pg_admin_url() -> str:
    if not _pg_available():
        pytest.fail(f"PostgreSQL is not reachable at {PG_ADMIN_URL}: start it (make postgres)")
    return PG_ADMIN_URL


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory) -> Path:
    """A SQLite file migrated once per test session; each test gets a copy (migrating costs seconds)."""
    path = tmp_path_factory.mktemp("template") / "template.db"
    migrate.upgrade(f"sqlite:///{path}")
    with sqlite3.connect(path) as conn:  # fold the WAL into the file, so a plain copy holds everything
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    snapshots.TEMPLATES["sqlite"] = path
    return path


@pytest.fixture(scope="session")
def pg_template(pg_admin_url: str) -> Iterator[str]:
    """A PostgreSQL database migrated once per test session, copied with ``CREATE DATABASE ... TEMPLATE``."""
    url = create_pg_database(pg_admin_url)
    try:
        migrate.upgrade(url)
        snapshots.TEMPLATES["postgresql"] = (pg_admin_url, url.rsplit("/", 1)[1])
        yield url.rsplit("/", 1)[1]
    finally:
        snapshots.drop_all("postgresql")
        drop_pg_database(pg_admin_url, url)


@pytest.fixture(scope="session")
def pg_copies(pg_admin_url: str, pg_template: str) -> Iterator[PgCopies]:
    """Copies of the migrated template, two made ahead; used ones dropped in the background."""
    copies = PgCopies(pg_admin_url, pg_template)
    yield copies
    copies.close()


@pytest.fixture(scope="session")
def demo_city(request, tmp_path_factory) -> DemoCity:
    """The demo city (``cleanheat init --demo``), built once per run and store: ``demo_city.copy(backend,
    directory)`` gives a test its own copy (a URL), ``demo_city.drop(url)`` drops a PostgreSQL copy."""
    return DemoCity(run_dir(tmp_path_factory), lambda: request.getfixturevalue("sqlite_template"),
                    lambda: (request.getfixturevalue("pg_admin_url"), request.getfixturevalue("pg_template")))


@pytest.fixture(scope="session", autouse=True)
def _demo_city_ahead(request) -> Iterator[None]:
    """With two xdist workers, each builds one store's demo city on a thread from its first test on (gw0 SQLite,
    gw1 PostgreSQL), when the run has tests that use it: no worker then sits idle waiting for a build."""
    wanted: set[str] = set()
    for item in request.session.items:
        if "demo_city" in getattr(item, "fixturenames", ()):
            params = getattr(getattr(item, "callspec", None), "params", {})
            wanted |= {v for v in params.values() if v in ("sqlite", "postgresql")} or {"sqlite"}
    mine = {"gw0": "sqlite", "gw1": "postgresql"}.get(os.environ.get("PYTEST_XDIST_WORKER", ""))
    if mine == "postgresql" and not _pg_available():
        mine = None
    thread = request.getfixturevalue("demo_city").build_ahead(mine) if mine in wanted else None
    yield
    if thread is not None:
        thread.join(timeout=600)


def pytest_sessionfinish(session: pytest.Session) -> None:
    """When the whole run ends (in the xdist controller, or the only process): drop the PostgreSQL databases the
    workers shared (the demo city's template)."""
    if hasattr(session.config, "workerinput"):
        return
    factory = getattr(session.config, "_tmp_path_factory", None)
    if factory is not None and _pg_available():
        drop_run_databases(factory.getbasetemp(), PG_ADMIN_URL)


@pytest.fixture(params=BACKENDS)
def database_url(request, tmp_path: Path) -> Iterator[str]:
    """A fresh, migrated database on each backend (a copy of the session's migrated template)."""
    if request.param == "sqlite":
        template = request.getfixturevalue("sqlite_template")
        target = tmp_path / "test.db"
        shutil.copyfile(template, target)
        yield f"sqlite:///{target}"
    else:
        copies: PgCopies = request.getfixturevalue("pg_copies")
        url = copies.take()
        try:
            yield url
        finally:
            copies.give_back(url)


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(database_url=database_url, var_dir=tmp_path / "var", secret_key="test-secret-key")


@pytest.fixture
def engine(settings: Settings):
    eng = make_engine(settings.database_url)
    yield eng
    eng.dispose()


@pytest.fixture
def session_factory(engine):
    return make_sessionmaker(engine)
