"""Helpers shared by CLI modules: settings, sessions, console, error reporting, progress bars."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from sqlalchemy.orm import Session

from cleanheat.config import Settings
from cleanheat.errors import CleanheatError, InputError
from cleanheat.store.engine import make_engine, make_sessionmaker, session_scope

console = Console()
err_console = Console(stderr=True)


def load_settings() -> Settings:
    return Settings()


@contextmanager
def db_session(settings: Settings | None = None) -> Iterator[Session]:
    settings = settings or load_settings()
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
