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


def upgrade(database_url: str, revision: str = "heads") -> None:
    """Create or migrate the schema at ``database_url`` to the newest revision of every branch."""
    prepare_sqlite_file(database_url)  # a new SQLite file is created owner-only (0600)
    command.upgrade(alembic_config(database_url), revision)
