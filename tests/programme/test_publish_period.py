"""A publication for a period outside the programme is refused before any work: the quarterly trend up to a far
period (one evaluation per quarter) used to run to its end in a thread before the refusal (20 s and more)."""

from __future__ import annotations

import pytest

from cleanheat.auth.service import Actor
from cleanheat.errors import InputError
from cleanheat.programme import publish, service
from cleanheat.programme.model import Period
from cleanheat.programme.plan_store import load_plan
from tests.helpers import bootstrap


def test_a_period_outside_the_programme_is_refused_before_the_trend_starts(settings, session_factory, monkeypatch):
    bootstrap(settings)
    started = []
    monkeypatch.setattr(service, "trend", lambda *a, **k: started.append(a) or [])
    with session_factory() as s:
        plan = load_plan(s)
        with pytest.raises(InputError, match="period outside the programme"):
            publish.render(s, Actor.system("test"), plan, Period(2099, 4), annual=False, fmt="html",
                           settings=settings)
    assert started == []
