"""Shared table metadata and column types.

Every area declares its tables in ``cleanheat/<area>/tables.py`` on this metadata; ``load_all_tables``
imports them all so that Alembic and ``create_all`` see the whole schema.
"""

from __future__ import annotations

import importlib
import pkgutil
from datetime import UTC, datetime  # (UTC re-exported)

from sqlalchemy import DateTime, MetaData
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Base(DeclarativeBase):
    metadata = metadata


def utcnow() -> datetime:
    """The current time, timezone-aware, in UTC."""
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator):
    """A timezone-aware datetime stored as UTC.

    PostgreSQL keeps ``timestamptz``; SQLite keeps naive UTC text. Naive input is refused, so that no local
    time is ever stored by mistake; values always come back aware, in UTC.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: store timezone-aware times only")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def load_all_tables() -> MetaData:
    """Import every ``cleanheat.<area>.tables`` module and return the complete metadata."""
    import cleanheat

    for mod in pkgutil.iter_modules(cleanheat.__path__):
        if mod.ispkg:
            try:
                importlib.import_module(f"cleanheat.{mod.name}.tables")
            except ModuleNotFoundError as exc:
                if exc.name != f"cleanheat.{mod.name}.tables":
                    raise
    return metadata
