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


def test_servers_refuse_a_database_of_another_version_and_init_migrates_it(database_url, tmp_path, monkeypatch):
    """A database an older version made: `cleanheat worker` (like `serve` and the ingest and HJ 212 servers) stops
    with a message naming the missing revision instead of failing at its first write; `cleanheat init` migrates
    it and the worker's check passes."""
    from alembic import command
    from typer.testing import CliRunner

    from cleanheat.cli.common import require_current_schema
    from cleanheat.cli.main import app
    from cleanheat.config import Settings
    from cleanheat.store.migrate import alembic_config, schema_revisions

    command.downgrade(alembic_config(database_url), "telemetry@telemetry_0003")
    current, heads = schema_revisions(database_url)
    assert "telemetry_0004" in heads - current
    monkeypatch.setenv("CLEANHEAT_DATABASE_URL", database_url)
    monkeypatch.setenv("CLEANHEAT_VAR_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("CLEANHEAT_SECRET_KEY", "schema-test")
    r = CliRunner().invoke(app, ["worker"])
    assert r.exit_code == 1 and "telemetry_0004" in r.output and "cleanheat init" in r.output, r.output
    r = CliRunner().invoke(app, ["init"])
    assert r.exit_code == 0, r.output
    require_current_schema(Settings(database_url=database_url, var_dir=tmp_path / "var"))  # passes: no exit
    assert schema_revisions(database_url)[0] == schema_revisions(database_url)[1]
