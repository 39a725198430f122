"""Shared fixtures.

Store-backed tests run on both SQLite and PostgreSQL: the ``database_url`` fixture is parametrised over the
two, and each test gets a fresh, migrated database (PostgreSQL databases are created and dropped here, on the
server at ``CLEANHEAT_TEST_PG_URL``, default postgres@127.0.0.1:5432 with trust auth).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from cleanheat.config import Settings
from cleanheat.store import migrate
from cleanheat.store.engine import make_engine, make_sessionmaker

PG_ADMIN_URL = os.environ.get("CLEANHEAT_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
BACKENDS = [b.strip() for b in os.environ.get("CLEANHEAT_TEST_BACKENDS", "sqlite,postgresql").split(",") if b.strip()]


def _pg_available() -> bool:
    try:
        eng = create_engine(PG_ADMIN_URL)
        with eng.connect() as conn:
            conn.execute(text("SELECT 1"))
        eng.dispose()
        return True
    except Exception:  # noqa: BLE001
        return False


@pytest.fixture(scope="session")
def pg_admin_url() -> str:
    if not _pg_available():
        pytest.fail(f"PostgreSQL is not reachable at {PG_ADMIN_URL}: start it (make postgres)")
    return PG_ADMIN_URL


def create_pg_database(admin_url: str) -> str:
    name = f"cleanheat_t_{uuid.uuid4().hex[:12]}"
    eng = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with eng.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
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
    """A fresh, migrated database on each backend."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'test.db'}"
        migrate.upgrade(url)
        yield url
    else:
        admin = request.getfixturevalue("pg_admin_url")
        url = create_pg_database(admin)
        try:
            migrate.upgrade(url)
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
