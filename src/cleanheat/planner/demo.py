"""Demo data of the planner (``cleanheat init --demo``): the example scenarios, solved once. Idempotent: a
scenario that exists (by name) is left alone, and a scenario with a result is not solved again."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from cleanheat.auth.service import Actor
from cleanheat.config import Settings
from cleanheat.planner import engine, service
from cleanheat.planner.tables import PlannerResult, PlannerScenario

ORDER = 70
DEMO_SCENARIOS = ("harbin_2019_2021.yaml", "harbin_tight_limits.yaml")


def load_demo(session: Session, settings: Settings) -> str:
    actor = Actor.system("demo")
    inp = service.inputs(settings)
    saved = solved = 0
    for fname in DEMO_SCENARIOS:
        path = engine.planner_dir(settings.data_dir) / "scenarios" / fname
        text = path.read_text(encoding="utf-8")
        sc = engine.parse(text, str(path), inp)
        row = session.scalar(select(PlannerScenario).where(PlannerScenario.name == sc.name))
        if row is None:
            row = service.save_scenario(session, actor, settings, text)
            saved += 1
        has_result = session.scalar(select(PlannerResult.id).where(PlannerResult.scenario_id == row.id).limit(1))
        if has_result is None:
            service.solve_scenario(session, actor, settings, row.id)
            solved += 1
    return f"{saved} scenario(s) saved, {solved} solved (synthetic Harbin areas)"
