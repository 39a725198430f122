"""Shared fixtures.

Store-backed tests run on both SQLite and PostgreSQL: the ``database_url`` fixture is parametrised over the
two, and each test gets a fresh, migrated database (PostgreSQL databases are created and dropped here, on the
server at ``CLEANHEAT_TEST_PG_URL``, default postgres@127.0.0.1:5432 with trust auth).
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from cleanheat.config import Settings
from cleanheat.store import migrate
from cleanheat.store.engine import make_engine, make_sessionmaker
from tests import snapshots

pytest_plugins = ["tests.suite_rules"]  # the e2e marker of browser tests; no skips under CI=true

PG_ADMIN_URL = os.environ.get("CLEANHEAT_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
BACKENDS = [b.strip() for b in os.environ.get("CLEANHEAT_TEST_BACKENDS", "sqlite,postgresql").split(",") if b.strip()]


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


def create_pg_database(admin_url: str, template: str | None = None) -> str:
    name = f"cleanheat_t_{uuid.uuid4().hex[:12]}"
    eng = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with eng.connect() as conn:
        suffix = f' TEMPLATE "{template}"' if template else ""
        conn.execute(text(f'CREATE DATABASE "{name}"{suffix}'))
    eng.dispose()
    return admin_url.rsplit("/", 1)[0] + "/" + name


def drop_pg_database(admin_url: str, url: str) -> None:
    name = url.rsplit("/", 1)[1]
    eng = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with eng.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    eng.dispose()


@pytest.fixture(params=BACKENDS)
def database_url(request, tmp_path: Path) -> Iterator[str]:
    """A fresh, migrated database on each backend (a copy of the session's migrated template)."""
    if request.param == "sqlite":
        template = request.getfixturevalue("sqlite_template")
        target = tmp_path / "test.db"
        shutil.copyfile(template, target)
        yield f"sqlite:///{target}"
    else:
        admin = request.getfixturevalue("pg_admin_url")
        url = create_pg_database(admin, template=request.getfixturevalue("pg_template"))
        try:
            yield url
        finally:
            drop_pg_database(admin, url)


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
