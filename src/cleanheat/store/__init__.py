"""The only home of SQL: engine and session factory, table metadata, migrations, bulk writers."""

from cleanheat.store.base import Base, UTCDateTime, metadata, utcnow
from cleanheat.store.engine import make_engine, make_sessionmaker, session_scope

__all__ = ["Base", "UTCDateTime", "metadata", "utcnow", "make_engine", "make_sessionmaker", "session_scope"]
