"""``cleanheat init``: migrate, load reference data of every area, optionally the demo data.

Areas contribute through optional modules discovered by name, each checked against its declared contract
(:mod:`cleanheat.plugins`; a misspelt name fails ``init`` instead of being skipped):
``cleanheat.<area>.bootstrap.load_reference(session, settings)`` — reference data every installation needs;
``cleanheat.<area>.demo.load_demo(session, settings)`` — the synthetic demo city. ``ORDER`` (int) sorts them.
"""

from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType

from cleanheat.cli.common import console, db_session
from cleanheat.config import Settings
from cleanheat.plugins import Contract, function_of
from cleanheat.store import migrate

CONTRACTS = {
    "bootstrap": Contract("reference-data module", required={"load_reference": function_of(2)},
                          optional={"ORDER": int}),
    "demo": Contract("demo-data module", required={"load_demo": function_of(2)}, optional={"ORDER": int}),
}


def area_modules(kind: str, package: ModuleType | None = None) -> list[ModuleType]:
    """Every ``<package>.<area>.<kind>`` module (``kind`` is "bootstrap" or "demo"), checked against its
    contract and sorted by ``ORDER`` (100 when absent)."""
    if package is None:
        import cleanheat as package

    found = []
    for mod in pkgutil.iter_modules(package.__path__):
        if not mod.ispkg:
            continue
        name = f"{package.__name__}.{mod.name}.{kind}"
        try:
            found.append(CONTRACTS[kind].check(importlib.import_module(name)))
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
    return sorted(found, key=lambda m: getattr(m, "ORDER", 100))


def run_init(settings: Settings, *, demo: bool) -> None:
    settings.var_dir.mkdir(parents=True, exist_ok=True)
    with console.status("migrating the database / 迁移数据库"):
        migrate.upgrade(settings.database_url)
    console.print(f"database ready: {settings.database_url}")
    for module in area_modules("bootstrap"):
        with db_session(settings) as session:
            summary = module.load_reference(session, settings)
        console.print(f"reference data ({module.__name__.split('.')[1]}): {summary}", markup=False)
    if demo:
        for module in area_modules("demo"):
            with db_session(settings) as session:
                summary = module.load_demo(session, settings)
            console.print(f"demo data ({module.__name__.split('.')[1]}): {summary}", markup=False)
