"""The migrations create exactly the schema the models declare, on SQLite and PostgreSQL."""

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text

from cleanheat.store.base import UTC, UTCDateTime, load_all_tables
from cleanheat.store.engine import make_engine


def test_migrations_match_models(database_url):
    engine = make_engine(database_url)
    with engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": False})
        diff = compare_metadata(ctx, load_all_tables())
    engine.dispose()
    assert diff == [], f"models and migrations differ; generate a migration: {diff}"


def test_sqlite_runs_in_wal_mode(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'w.db'}")
    with engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
    engine.dispose()


def test_utc_datetime_refuses_naive_and_returns_aware():
    from datetime import datetime

    import pytest

    col = UTCDateTime()

    class D:  # minimal dialect stand-in with a name
        name = "sqlite"

    with pytest.raises(ValueError):
        col.process_bind_param(datetime(2020, 1, 1), D())
    stored = col.process_bind_param(datetime(2020, 1, 1, 8, tzinfo=UTC), D())
    assert stored.tzinfo is None
    assert col.process_result_value(stored, D()) == datetime(2020, 1, 1, 8, tzinfo=UTC)
