"""Run Alembic migrations programmatically.

Each area keeps its own migration branch (``branch_labels=(<area>,)``) in ``store/migrations/versions``,
so areas can evolve their schema independently; ``upgrade`` always goes to ``heads``.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

from cleanheat.store.engine import normalise_url, prepare_sqlite_file

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def alembic_config(database_url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", normalise_url(database_url).replace("%", "%%"))
    return cfg


def schema_revisions(database_url: str) -> tuple[set[str], set[str]]:
    """(the revisions the database is at, the newest revision of every branch this code has)."""
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    from cleanheat.store.engine import make_engine

    heads = set(ScriptDirectory.from_config(alembic_config(database_url)).get_heads())
    engine = make_engine(database_url)
    try:
        with engine.connect() as conn:
            current = set(MigrationContext.configure(conn).get_current_heads())
    finally:
        engine.dispose()
    return current, heads


def upgrade(database_url: str, revision: str = "heads") -> None:
    """Create or migrate the schema at ``database_url`` to the newest revision of every branch."""
    prepare_sqlite_file(database_url)  # a new SQLite file is created owner-only (0600)
    command.upgrade(alembic_config(database_url), revision)
