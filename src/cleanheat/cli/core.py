"""``cleanheat init``: migrate, load reference data of every area, optionally the demo data.

Areas contribute through optional modules discovered by name:
``cleanheat.<area>.bootstrap.load_reference(session, settings)`` — reference data every installation needs;
``cleanheat.<area>.demo.load_demo(session, settings)`` — the synthetic demo city. ``ORDER`` (int) sorts them.
"""

from __future__ import annotations

import importlib
import pkgutil

from cleanheat.cli.common import console, db_session
from cleanheat.config import Settings
from cleanheat.store import migrate


def _area_modules(kind: str) -> list:
    import cleanheat

    found = []
    for mod in pkgutil.iter_modules(cleanheat.__path__):
        if not mod.ispkg:
            continue
        try:
            found.append(importlib.import_module(f"cleanheat.{mod.name}.{kind}"))
        except ModuleNotFoundError as exc:
            if exc.name != f"cleanheat.{mod.name}.{kind}":
                raise
    return sorted(found, key=lambda m: getattr(m, "ORDER", 100))


def run_init(settings: Settings, *, demo: bool) -> None:
    settings.var_dir.mkdir(parents=True, exist_ok=True)
    with console.status("migrating the database / 迁移数据库"):
        migrate.upgrade(settings.database_url)
    console.print(f"database ready: {settings.database_url}")
    for module in _area_modules("bootstrap"):
        with db_session(settings) as session:
            summary = module.load_reference(session, settings)
        console.print(f"reference data ({module.__name__.split('.')[1]}): {summary}", markup=False)
    if demo:
        for module in _area_modules("demo"):
            with db_session(settings) as session:
                summary = module.load_demo(session, settings)
            console.print(f"demo data ({module.__name__.split('.')[1]}): {summary}", markup=False)
