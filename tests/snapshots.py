"""A bootstrapped database once per test session (and xdist worker), copied into each test that asks for one.

``tests.helpers.bootstrap`` (the programme's reference data and the test users) costs seconds: eight argon2
hashes and the whole plan. The first call for a backend (and city and user set) bootstraps a copy of the session's
migrated template normally and keeps it as a snapshot; later calls on a database that is still exactly a fresh
copy of the template (every table's row count equal) copy the snapshot in instead: SQLite through its backup API
(safe with other connections open), PostgreSQL with ``COPY`` table by table. Anything else (a database the test
has already written to, one made without the template) is bootstrapped normally.
"""

from __future__ import annotations

import shutil
import sqlite3
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.engine import make_url

#: set by the session fixtures of tests/conftest.py: "sqlite" -> template file; "postgresql" -> (admin url, name)
TEMPLATES: dict[str, object] = {}


@dataclass
class Snapshot:
    url: str
    pristine: dict[str, int]  # row counts of a fresh copy of the template
    tables: list[str] = field(default_factory=list)  # the tables the bootstrap wrote to


_SNAPSHOTS: dict[tuple, Snapshot] = {}


def restore(settings, key: tuple, bootstrap: Callable[[object], None]) -> bool:
    """Copy the bootstrapped snapshot for ``key`` into ``settings.database_url`` if that database is pristine."""
    backend = make_url(settings.database_url).get_backend_name()
    if backend not in TEMPLATES:
        return False
    key = (backend, *key)
    snap = _SNAPSHOTS.get(key)
    if snap is None:
        snap = _SNAPSHOTS[key] = _build(backend, settings, bootstrap)
    ops = _SQLITE if backend == "sqlite" else _PG
    if ops.counts(settings.database_url) != snap.pristine:
        return False
    ops.copy(snap, settings.database_url)
    return True


def _build(backend: str, settings, bootstrap: Callable[[object], None]) -> Snapshot:
    ops = _SQLITE if backend == "sqlite" else _PG
    url = ops.fresh()
    pristine = ops.counts(url)
    bootstrap(settings.model_copy(update={"database_url": url}))
    after = ops.counts(url)
    return Snapshot(url, pristine, [t for t in after if after[t] != pristine.get(t)])


def drop_all(backend: str) -> None:
    """Drop the PostgreSQL snapshots (called when the template is dropped)."""
    for key, snap in list(_SNAPSHOTS.items()):
        if key[0] == backend:
            if backend == "postgresql":
                _PG.drop(snap.url)
            del _SNAPSHOTS[key]


class _SQLITE:
    @staticmethod
    def path(url: str) -> str:
        return make_url(url).database

    @staticmethod
    def fresh() -> str:
        template = Path(TEMPLATES["sqlite"])
        target = template.with_name(f"bootstrapped-{uuid.uuid4().hex[:8]}.db")
        shutil.copyfile(template, target)
        return f"sqlite:///{target}"

    @staticmethod
    def counts(url: str) -> dict[str, int]:
        with sqlite3.connect(_SQLITE.path(url), timeout=30) as conn:
            tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table' ORDER BY name")]
            out = {t: conn.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in tables}
        conn.close()
        return out

    @staticmethod
    def copy(snap: Snapshot, url: str) -> None:
        src = sqlite3.connect(_SQLITE.path(snap.url), timeout=30)
        dst = sqlite3.connect(_SQLITE.path(url), timeout=30)
        try:
            src.backup(dst)
        finally:
            src.close()
            dst.close()


class _PG:
    @staticmethod
    def dsn(url: str) -> str:
        return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)

    @staticmethod
    def fresh() -> str:
        import psycopg

        admin, template = TEMPLATES["postgresql"]
        name = f"cleanheat_b_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(_PG.dsn(admin), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
        return str(make_url(admin).set(database=name).render_as_string(hide_password=False))

    @staticmethod
    def drop(url: str) -> None:
        import psycopg

        admin, _ = TEMPLATES["postgresql"]
        with psycopg.connect(_PG.dsn(admin), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{make_url(url).database}" WITH (FORCE)')

    TABLES = ("SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
              "WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND NOT c.relispartition ORDER BY 1")

    @staticmethod
    def counts(url: str) -> dict[str, int]:
        import psycopg

        with psycopg.connect(_PG.dsn(url)) as conn:
            tables = [r[0] for r in conn.execute(_PG.TABLES)]
            return {t: conn.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in tables}

    @staticmethod
    def copy(snap: Snapshot, url: str) -> None:
        import psycopg

        with psycopg.connect(_PG.dsn(snap.url)) as src, psycopg.connect(_PG.dsn(url)) as dst:
            dst.execute("SET session_replication_role = replica")  # no FK order needed
            for t in snap.tables:
                cols = ", ".join(f'"{r[0]}"' for r in src.execute(
                    "SELECT attname FROM pg_attribute WHERE attrelid = %s::regclass AND attnum > 0 "
                    "AND NOT attisdropped AND attgenerated = '' ORDER BY attnum", (f'"{t}"',)))
                dst.execute(f'DELETE FROM "{t}"')
                with src.cursor().copy(f'COPY (SELECT {cols} FROM "{t}") TO STDOUT (FORMAT BINARY)') as out, \
                        dst.cursor().copy(f'COPY "{t}" ({cols}) FROM STDIN (FORMAT BINARY)') as into:
                    for block in out:
                        into.write(block)
            for seq, last in src.execute("SELECT schemaname || '.' || sequencename, last_value FROM pg_sequences "
                                         "WHERE last_value IS NOT NULL"):
                dst.execute("SELECT setval(%s, %s, true)", (seq, last))
            dst.commit()
