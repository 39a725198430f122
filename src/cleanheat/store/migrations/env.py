"""Alembic environment: the whole cleanheat schema, SQLite in batch mode.

Each area has its own migration branch (branch label = area name). ``-x area=<name>`` restricts autogenerate
to that area's tables: those named ``<name>_*``, or for ``auth`` the core tables of the auth area.
"""

import os

from alembic import context
from sqlalchemy import engine_from_config, pool

from cleanheat.store.base import load_all_tables

config = context.config
target_metadata = load_all_tables()
if not config.get_main_option("sqlalchemy.url"):
    from cleanheat.store.engine import normalise_url

    config.set_main_option(
        "sqlalchemy.url", normalise_url(os.environ.get("CLEANHEAT_DATABASE_URL", "sqlite:///var/cleanheat.db"))
    )

AUTH_TABLES = {"organisations", "users", "api_tokens", "audit_log"}
_area = context.get_x_argument(as_dictionary=True).get("area")


def include_object(obj, name, type_, reflected, compare_to):
    if _area is None:
        return True
    table = obj if type_ == "table" else getattr(obj, "table", None)
    tname = getattr(table, "name", name)
    if _area == "auth":
        return tname in AUTH_TABLES or tname.startswith("auth_")
    return tname.startswith(f"{_area}_")


def run_migrations_offline() -> None:
    context.configure(
        url=config.get_main_option("sqlalchemy.url"),
        target_metadata=target_metadata,
        literal_binds=True,
        render_as_batch=True,
        include_object=include_object,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connectable = config.attributes.get("connection")
    if connectable is None:
        connectable = engine_from_config(
            config.get_section(config.config_ini_section, {}), prefix="sqlalchemy.", poolclass=pool.NullPool
        )
        with connectable.connect() as connection:
            _run(connection)
    else:
        _run(connectable)


def _run(connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        include_object=include_object,
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
