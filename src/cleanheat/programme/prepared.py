"""Prepared figures: what the overview, unit and area pages show is computed once per change of its inputs
(issue #13 item 1) and kept per process, keyed by a fingerprint of those inputs read with one cheap query.

The fingerprint covers every input of the evaluation that can change while the platform runs:

* the programme's accepted reports (a report accepted, or superseded by an accepted correction: the set of
  accepted ids and the newest review; a report's areas and tasks are written with it and never changed), and the
  organisations (report owners by code); a report awaiting review changes nothing;
* the heat-source registry (sources added, changed or removed; dated events recorded) — the task progress
  counted from the registry and the sources' evidence;
* the plan (by identity: :func:`cleanheat.programme.plan_store.load_plan` returns one object per stored plan
  version) and the rule files (``conversions.yaml`` here; the emissions area adds its own inputs: monitoring
  points, daily values, rule files, see ``emissions.ledger_link.inputs_fingerprint``).

A cached value is shared by every request of the process: treat it as read-only.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import event, func, select
from sqlalchemy.orm import Session

from cleanheat.assets.tables import HeatSource, HeatSourceEvent
from cleanheat.auth.tables import Organisation
from cleanheat.programme.tables import Report


class PlanKey:
    """A plan as part of a cache key: by identity (``PlanData`` holds a dict and is not hashable). The key holds
    the plan, so its id is not reused while the entry lives."""

    __slots__ = ("plan",)

    def __init__(self, plan: object) -> None:
        self.plan = plan

    def __hash__(self) -> int:
        return id(self.plan)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PlanKey) and other.plan is self.plan


class FiguresCache:
    """Values per key, least recently used first out, computed once per key even when several requests ask at
    the same moment (the others wait for the first)."""

    def __init__(self, size: int = 256) -> None:
        self.size = size
        self._data: OrderedDict[tuple, Any] = OrderedDict()
        self._lock = threading.Lock()
        self._pending: dict[tuple, threading.Lock] = {}

    def get(self, key: tuple) -> Any | None:
        with self._lock:
            value = self._data.get(key)
            if value is not None:
                self._data.move_to_end(key)
            return value

    def put(self, key: tuple, value: Any) -> None:
        with self._lock:
            self._data[key] = value
            self._data.move_to_end(key)
            while len(self._data) > self.size:
                self._data.popitem(last=False)

    def get_or_compute(self, key: tuple, compute: Callable[[], Any],
                       fresh: Callable[[Any], bool] = lambda _value: True) -> Any:
        """The value of ``key``, computed when there is none or ``fresh(value)`` says it is out of date."""
        value = self.get(key)
        if value is not None and fresh(value):
            return value
        with self._lock:
            gate = self._pending.setdefault(key, threading.Lock())
        try:
            with gate:
                value = self.get(key)
                if value is None or not fresh(value):
                    value = compute()
                    self.put(key, value)
        finally:
            with self._lock:
                self._pending.pop(key, None)
        return value

    def clear(self) -> None:
        with self._lock:
            self._data.clear()


def inputs_stamp(session: Session) -> tuple:
    """The accepted reports, organisations and registry as one tuple (one query; changes whenever any of them does)."""
    accepted = Report.status == "accepted"
    parts = [
        select(func.count()).where(accepted), select(func.coalesce(func.sum(Report.id), 0)).where(accepted),
        select(func.max(Report.id)).where(accepted), select(func.max(Report.reviewed_at)),
        select(func.count()).select_from(Organisation), select(func.max(Organisation.id)),
        select(func.count()).select_from(HeatSource), select(func.max(HeatSource.id)),
        select(func.max(HeatSource.updated_at)),
        select(func.count()).select_from(HeatSourceEvent), select(func.max(HeatSourceEvent.id)),
        select(func.max(HeatSourceEvent.recorded_at)),
    ]
    row = session.execute(select(*(p.scalar_subquery() for p in parts))).one()
    return (str(session.get_bind().url), *row)


def file_stamp(path: Path) -> tuple:
    """A rule file as part of a key: its path, modification time and size (None when missing)."""
    try:
        st = path.stat()
    except OSError:
        return (str(path), None, None)
    return (str(path), st.st_mtime_ns, st.st_size)


_MEMO = "cleanheat.prepared.stamps"


def memo(session: Session) -> dict:
    """Stamps already read in the session's current transaction, before its own next write (a page asks for
    several evaluations; their inputs are read once). Emptied after every flush and when the transaction ends
    (commit, rollback, close): a request's session is new, so every request reads the stamps again. Pending
    changes not flushed yet empty it too (the next stamp query flushes them)."""
    if session.new or session.dirty or session.deleted:
        session.info.pop(_MEMO, None)
    return session.info.setdefault(_MEMO, {})


def _forget(session: Session, *_args) -> None:
    session.info.pop(_MEMO, None)


event.listen(Session, "after_flush", _forget)
event.listen(Session, "after_transaction_end", _forget)
