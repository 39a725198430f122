"""Engine and session factory.

SQLite runs in WAL mode with foreign keys on and a busy timeout, so several readers work beside the one
writer; PostgreSQL uses psycopg 3 (``postgresql+psycopg://``).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker


def normalise_url(url: str) -> str:
    """Use psycopg 3 for bare ``postgresql://`` URLs."""
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


#: The SQLite file and its -wal/-shm hold password hashes and tokens: owner only.
DB_FILE_MODE = 0o600
#: A directory created for the database: owner only.
DB_DIR_MODE = 0o700


def sqlite_path(database_url: str) -> Path | None:
    """The file of a SQLite URL (None for other databases and in-memory SQLite)."""
    url = make_url(normalise_url(database_url))
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:" \
            or url.database.startswith("file:"):
        return None
    return Path(url.database)


def prepare_sqlite_file(database_url: str) -> None:
    """Create a SQLite database's directory (0700) and empty file (0600) before SQLite does (it would use the
    umask, typically world-readable); SQLite gives the -wal and -shm files the database file's mode. Files
    already there that others may read are restricted to the owner."""
    path = sqlite_path(database_url)
    if path is None:
        return
    if not path.parent.exists():
        path.parent.mkdir(parents=True, mode=DB_DIR_MODE)
    if not path.exists():
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY, DB_FILE_MODE))
    restrict_sqlite_files(path)


def restrict_sqlite_files(path: Path) -> None:
    for p in (path, Path(f"{path}-wal"), Path(f"{path}-shm"), Path(f"{path}-journal")):
        try:
            st = p.stat()
            if st.st_mode & 0o077 and st.st_uid == os.getuid():
                p.chmod(DB_FILE_MODE)
        except FileNotFoundError:
            continue


def make_engine(database_url: str, *, echo: bool = False) -> Engine:
    """Create the engine for ``database_url``; for SQLite the directory (0700) and file (0600) are created."""
    url = make_url(normalise_url(database_url))
    kwargs: dict = {"echo": echo, "future": True}
    if url.get_backend_name() == "sqlite":
        prepare_sqlite_file(database_url)
        kwargs["connect_args"] = {"check_same_thread": False, "timeout": 30}
    else:
        kwargs["pool_pre_ping"] = True
    engine = create_engine(url, **kwargs)
    if url.get_backend_name() == "sqlite":
        event.listen(engine, "connect", _sqlite_on_connect)
    return engine


def _sqlite_on_connect(dbapi_conn, _record) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    path = cur.execute("PRAGMA database_list").fetchone()[2]
    cur.close()
    if path:
        restrict_sqlite_files(Path(path))  # a -wal/-shm left by an older version with the umask's mode


def ping(session: Session) -> None:
    """A round trip to the database (raises when it cannot be reached)."""
    session.execute(text("SELECT 1"))


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, expire_on_commit=False, future=True)


@contextmanager
def session_scope(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A session that commits on success and rolls back on any error."""
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
