"""Helpers shared by CLI modules: settings, sessions, console, error reporting, progress bars."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from cleanheat.config import Settings
from cleanheat.errors import CleanheatError, InputError
from cleanheat.store.engine import make_engine, make_sessionmaker, normalise_url, session_scope

console = Console()
err_console = Console(stderr=True)


def load_settings() -> Settings:
    return Settings()


def require_database(settings: Settings) -> None:
    """Stop with a clear message when the SQLite database does not exist yet (instead of creating an empty one,
    e.g. when a command runs outside the directory holding ``var/``)."""
    url = make_url(normalise_url(settings.database_url))
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:") \
            and not Path(url.database).exists():
        err_console.print(f"[bold red]错误 / error:[/] 数据库不存在 database not found: {Path(url.database).resolve()}",
                          highlight=False)
        err_console.print("  请先运行 `cleanheat init`（或 `make run`），或在含 var/ 的目录中运行，"
                          "或设置 CLEANHEAT_VAR_DIR / "
                          "CLEANHEAT_DATABASE_URL。Run `cleanheat init` (or `make run`) first, run the command in the "
                          "directory that holds var/, or set CLEANHEAT_VAR_DIR / CLEANHEAT_DATABASE_URL.",
                          highlight=False)
        raise typer.Exit(1)


def require_current_schema(settings: Settings) -> None:
    """Stop with a clear message when the database's schema is not this version's (a server started on a database
    an older version made would fail at its first write): ``cleanheat init`` migrates it."""
    from cleanheat.store.migrate import schema_revisions

    require_database(settings)
    current, heads = schema_revisions(settings.database_url)
    if current == heads:
        return
    missing, unknown = sorted(heads - current), sorted(current - heads)
    err_console.print("[bold red]错误 / error:[/] 数据库结构与本版本不符 the database schema is not this version's: "
                      f"缺少 missing {', '.join(missing) or '—'}; 未知 unknown {', '.join(unknown) or '—'}",
                      highlight=False)
    err_console.print("  请运行 `cleanheat init` 迁移数据库（数据保留）；若有未知版本，说明数据库来自更新的版本。"
                      "Run `cleanheat init` to migrate the database (data is kept); unknown revisions mean a newer "
                      "version made it.", highlight=False)
    raise typer.Exit(1)


@contextmanager
def db_session(settings: Settings | None = None) -> Iterator[Session]:
    settings = settings or load_settings()
    require_database(settings)
    engine = make_engine(settings.database_url)
    try:
        with session_scope(make_sessionmaker(engine)) as session:
            yield session
    finally:
        engine.dispose()


@contextmanager
def reported_errors() -> Iterator[None]:
    """Print a cleanheat error clearly (every issue with its location) and exit with status 1."""
    try:
        yield
    except InputError as exc:
        err_console.print(f"[bold red]错误 / error:[/] {exc.summary}")
        for issue in exc.issues:
            where = issue.location()
            err_console.print(f"  - {where + ': ' if where else ''}{issue.message}", markup=False, highlight=False)
        raise typer.Exit(1) from exc
    except CleanheatError as exc:
        err_console.print(f"[bold red]错误 / error:[/] {exc}", highlight=False)
        raise typer.Exit(1) from exc


def progress() -> Progress:
    """A rich progress bar for long CLI work (quiet when stderr is not a terminal)."""
    return Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err_console,
        disable=not sys.stderr.isatty(),
    )
