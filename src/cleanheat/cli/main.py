"""Entry point: ``cleanheat init | serve | user ...`` plus one sub-command group per area."""

from __future__ import annotations

import importlib
import logging
import os
import pkgutil
from typing import Annotated

import typer

from cleanheat import cli as cli_pkg
from cleanheat.cli.common import console, load_settings, reported_errors, require_current_schema
from cleanheat.plugins import Contract

app = typer.Typer(
    name="cleanheat",
    help="清洁取暖平台 cleanheat — the clean-heating programme platform.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)

_SKIP = {"main", "common", "core"}

#: what an area's ``cleanheat.cli.<area>`` module exposes (checked when the command starts)
CONTRACT = Contract("CLI module", required={"app": typer.Typer, "NAME": str})


def _register_area_commands() -> None:
    for mod in sorted(pkgutil.iter_modules(cli_pkg.__path__), key=lambda m: m.name):
        if mod.name in _SKIP:
            continue
        module = CONTRACT.check(importlib.import_module(f"{cli_pkg.__name__}.{mod.name}"))
        app.add_typer(module.app, name=module.NAME, help=module.app.info.help)


@app.command()
def init(
    demo: Annotated[bool, typer.Option("--demo", help="Also load the synthetic demo data and demo logins.")] = False,
) -> None:
    """Create and migrate the database and load the city's programme (and the demo data)."""
    from cleanheat.cli.core import run_init

    with reported_errors():
        run_init(load_settings(), demo=demo)


#: how long a web process may take to answer the supervisor's health check (start-up included) [s]
HEALTHCHECK_TIMEOUT_S = 120


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Bind address (default CLEANHEAT_HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default CLEANHEAT_PORT).")] = None,
    workers: Annotated[int, typer.Option(min=1, max=64, help="Web processes sharing the port (uvicorn workers).")]
    = 1,
    background: Annotated[bool | None, typer.Option(
        "--background/--no-background",
        help="Also run the background work (jobs, periodic rounds, demo services) in the web process(es); "
             "default: yes with one web process (CLEANHEAT_BACKGROUND_IN_WEB), no with --workers > 1 "
             "(run `cleanheat worker`).")] = None,
    reload: Annotated[bool, typer.Option(help="Reload on code changes (development).")] = False,
) -> None:
    """Serve the web app (with --workers N: N processes; background work then in `cleanheat worker`)."""
    import uvicorn

    settings = load_settings()
    require_current_schema(settings)
    host, port = host or settings.host, port or settings.port
    in_web = (settings.background_in_web if workers == 1 else False) if background is None else background
    # the web processes read their settings from the environment (uvicorn starts them from an import string)
    os.environ["CLEANHEAT_BACKGROUND_IN_WEB"] = "true" if in_web else "false"
    console.print(f"[bold green]cleanheat[/] serving at [link]http://{host}:{port}[/link] · {workers} web "
                  f"process{'es' if workers > 1 else ''} · background work "
                  + ("in the web process" if in_web else "in `cleanheat worker` (start it beside)"))
    # each web process imports the whole app before it answers the supervisor's health check: on a busy machine
    # that takes longer than uvicorn's 5 s default, and a process killed for it would be started again forever
    uvicorn.run("cleanheat.web.app:app_from_environment", factory=True, host=host, port=port, workers=workers,
                reload=reload, log_level="info", timeout_worker_healthcheck=HEALTHCHECK_TIMEOUT_S)


@app.command()
def worker(
    name: Annotated[str | None, typer.Option(help="Worker name in the job table (default worker@host:pid).")] = None,
    job_threads: Annotated[int, typer.Option(min=1, max=16, help="Jobs run at once by this worker.")] = 1,
    services: Annotated[bool, typer.Option(help="Also run the singleton services (demo twin, demo HJ 212 feed) "
                                                "when no other worker runs them.")] = True,
    periodic: Annotated[bool, typer.Option(help="Also run periodic rounds (rollups, alarms, evaluation).")] = True,
    verbose: Annotated[bool, typer.Option(help="Log every periodic round too.")] = False,
) -> None:
    """Run background work until interrupted: queued jobs (reports, planner solves, network analyses),
    periodic rounds and the demo services, shared with any number of other workers through the database."""
    import signal

    from cleanheat.jobs.worker import Worker, worker_name
    from cleanheat.store.engine import make_engine

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    if verbose:
        logging.getLogger("cleanheat.jobs").setLevel(logging.DEBUG)
    settings = load_settings()
    require_current_schema(settings)
    w = Worker(settings, make_engine(settings.database_url), name=name or worker_name(), job_threads=job_threads,
               services=services, periodic=periodic)
    signal.signal(signal.SIGTERM, lambda *_: w.request_stop())
    console.print(f"[bold green]cleanheat worker[/] {w.name}: {len(w.registry.jobs)} job kinds, "
                  f"{len(w.registry.periodic)} periodic tasks, {len(w.registry.services)} services")
    try:
        w.run()
    except KeyboardInterrupt:
        w.request_stop()
        w.shutdown()
    console.print(f"worker {w.name} stopped: {w.jobs_done} jobs done")


@app.command("demo-logins")
def demo_logins() -> None:
    """Print the web address and the demo logins (after ``cleanheat init --demo``)."""
    from rich.table import Table

    from cleanheat.demo_accounts import DEMO_ACCOUNTS, demo_password

    settings = load_settings()
    table = Table(title="演示账号 Demo logins (synthetic demo data)")
    for col in ("用户名 username", "密码 password", "角色 role", "单位 organisation"):
        table.add_column(col)
    for acc in DEMO_ACCOUNTS:
        table.add_row(acc.username, demo_password(), acc.role, acc.org_code)
    console.print(table)
    console.print(f"打开 Open [bold]http://{settings.host}:{settings.port}[/bold]")


user_app = typer.Typer(help="Manage users.", no_args_is_help=True)
app.add_typer(user_app, name="user")


@user_app.command("create")
def user_create(
    username: str,
    role: Annotated[str, typer.Option(help="admin | programme_office | reporting_unit | heat_company | "
                                           "ecology_bureau | resident")],
    org: Annotated[str, typer.Option(help="Organisation code.")],
    password: Annotated[str, typer.Option(prompt=True, hide_input=True, confirmation_prompt=True)],
    display_name: str = "",
    change_at_login: Annotated[bool, typer.Option(help="The user must change the password at the first login "
                                                       "(--no-change-at-login for service accounts).")] = True,
) -> None:
    """Create a user (the password is checked against the policy and hashed with argon2)."""
    from cleanheat.auth import service
    from cleanheat.auth.service import Actor
    from cleanheat.cli.common import db_session

    with reported_errors(), db_session() as session:
        service.create_user(session, Actor.system(), username=username, password=password, role=role,
                            org_code=org, display_name=display_name, must_change_password=change_at_login)
    console.print(f"created user {username}")


@user_app.command("password")
def user_password(
    username: str,
    password: Annotated[str, typer.Option(prompt=True, hide_input=True, confirmation_prompt=True)],
    change_at_login: Annotated[bool, typer.Option(help="The user must change the password at the next login.")]
    = True,
) -> None:
    """Set a user's password: all their login sessions and API tokens end."""
    from cleanheat.auth import service
    from cleanheat.auth.service import Actor
    from cleanheat.cli.common import db_session

    with reported_errors(), db_session() as session:
        service.set_password(session, Actor.system(), username, password, must_change_password=change_at_login)
    console.print(f"password of {username} changed; their sessions and API tokens have ended")


@user_app.command("unlock")
def user_unlock(username: str) -> None:
    """Unlock an account locked after too many wrong passwords."""
    from cleanheat.auth import service
    from cleanheat.auth.service import Actor
    from cleanheat.cli.common import db_session

    with reported_errors(), db_session() as session:
        was_locked = service.unlock_account(session, Actor.system(), username)
    console.print(f"unlocked {username}" if was_locked else f"{username} was not locked")


@user_app.command("token")
def user_token(username: str, name: str = "cli") -> None:
    """Issue an API bearer token for a user (printed once)."""
    from cleanheat.auth import service
    from cleanheat.cli.common import db_session

    settings = load_settings()
    with reported_errors(), db_session(settings) as session:
        user = service.find_user(session, username)
        if user is None:
            raise typer.BadParameter(f"no user {username!r}")
        print(service.issue_token(session, user, name=name, max_age_days=settings.token_max_age_days))


_register_area_commands()


def main() -> None:
    from cleanheat.auth.config import AuthConfig
    from cleanheat.auth.passwords import configure_hasher

    auth = AuthConfig()  # the argon2 parameters of the passwords the CLI sets (users, demo logins)
    configure_hasher(auth.argon2_time_cost, auth.argon2_memory_kib, auth.argon2_parallelism)
    app()


if __name__ == "__main__":
    main()
