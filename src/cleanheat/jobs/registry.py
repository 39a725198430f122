"""What an area runs in the background, declared in ``cleanheat.<area>.background`` (a plug-in module):

- ``JOBS``: :class:`JobKind` — long work a user asks for (a PDF, a planner solve, a seasonal analysis), run once
  by one worker, with progress shown on the job's page;
- ``PERIODIC``: :class:`Periodic` — rounds every so often (rollups, alarms, evaluation), each round run once by one
  of the workers;
- ``SERVICES``: :class:`Service` — long-running singletons (the demo twin, the demo HJ 212 feed), run by one
  process at a time under a lease.

This module imports no area: discovery finds the modules by name (``BACKGROUND_CONTRACT``).
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlalchemy import Engine
from sqlalchemy.orm import sessionmaker

from cleanheat.auth.service import Actor
from cleanheat.config import Settings
from cleanheat.plugins import Contract, list_of


@dataclass
class Context:
    """What background work gets: the settings, the database and a place to keep state between rounds."""

    settings: Settings
    engine: Engine
    sessions: sessionmaker
    worker: str
    #: per task name: what a periodic task keeps from one round to the next (clients, caches)
    state: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class JobRun:
    """The job being run: its id, parameters and the user who asked (their permissions apply)."""

    id: int
    params: dict
    actor: Actor


@dataclass(frozen=True)
class Outcome:
    """What a finished job leaves: ``result`` ({"url": ...} to open, {"file": name, "media_type": ...} to download,
    plus anything to show) and the file's bytes."""

    result: dict
    data: bytes | None = None


#: progress(fraction [0..1], message): records progress and the worker's heartbeat
Progress = Callable[[float, str], None]


@dataclass(frozen=True)
class JobKind:
    kind: str
    run: Callable[[Context, JobRun, Progress], Outcome]


@dataclass(frozen=True)
class Periodic:
    name: str
    #: seconds between rounds (read from the settings of the context)
    interval_s: Callable[[Context], float]
    run: Callable[[Context], None]
    enabled: Callable[[Context], bool] = lambda ctx: True


class Running(Protocol):
    def stop(self) -> None: ...

    def status(self) -> dict: ...


@dataclass(frozen=True)
class Service:
    name: str
    start: Callable[[Context], Running | None]
    enabled: Callable[[Context], bool] = lambda ctx: True


BACKGROUND_CONTRACT = Contract("background module", optional={
    "JOBS": list_of(JobKind), "PERIODIC": list_of(Periodic), "SERVICES": list_of(Service)})


@dataclass(frozen=True)
class Registry:
    jobs: dict[str, JobKind]
    periodic: tuple[Periodic, ...]
    services: tuple[Service, ...]


def discover() -> Registry:
    """Every area's ``background`` module, checked against its contract (a misspelt name fails loudly)."""
    import cleanheat

    jobs: dict[str, JobKind] = {}
    periodic: list[Periodic] = []
    services: list[Service] = []
    for mod in sorted(pkgutil.iter_modules(cleanheat.__path__), key=lambda m: m.name):
        if not mod.ispkg:
            continue
        name = f"cleanheat.{mod.name}.background"
        try:
            module = BACKGROUND_CONTRACT.check(importlib.import_module(name))
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            continue
        for k in getattr(module, "JOBS", ()):
            if k.kind in jobs:
                raise ValueError(f"job kind {k.kind} declared twice")
            jobs[k.kind] = k
        periodic.extend(getattr(module, "PERIODIC", ()))
        services.extend(getattr(module, "SERVICES", ()))
    return Registry(jobs, tuple(periodic), tuple(services))


class AsyncService:
    """A service written as an async context manager (``factory()`` → ``async with``), run on an event loop of
    its own thread until ``stop()``; ``status_of(value)`` turns what the block yields into the page status."""

    def __init__(self, factory: Callable[[], Any], status_of: Callable[[Any], dict] = lambda v: {},
                 start_timeout_s: float = 60.0) -> None:
        import asyncio
        import threading

        self._status_of = status_of
        self._value: Any = None
        self._error: BaseException | None = None
        self._started = threading.Event()
        self._loop = asyncio.new_event_loop()
        self._done: asyncio.Event | None = None

        async def main() -> None:
            self._done = asyncio.Event()
            try:
                async with factory() as value:
                    self._value = value
                    self._started.set()
                    await self._done.wait()
            except BaseException as exc:  # reported by start(); logged by the worker
                self._error = exc
                self._started.set()

        self._thread = threading.Thread(target=self._loop.run_until_complete, args=(main(),), daemon=True,
                                        name="async-service")
        self._thread.start()
        if not self._started.wait(start_timeout_s):
            raise TimeoutError("the service did not start in time")
        if self._error is not None:
            raise self._error

    @property
    def value(self) -> Any:
        return self._value

    def stop(self) -> None:
        if self._done is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._done.set)
        self._thread.join(timeout=30)

    def status(self) -> dict:
        return self._status_of(self._value)
