"""Store the plan in the database and read it back as :class:`PlanData`."""

from __future__ import annotations

import threading

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from cleanheat.errors import NotFoundError
from cleanheat.programme import tables as t
from cleanheat.programme.model import (
    AdminUnitSpec,
    BaselineAreaSpec,
    BaselineFactSpec,
    PlanData,
    ProjectSpec,
    RateTargetSpec,
    TaskSpec,
    TaskTargetSpec,
    TechnologySpec,
    TechnologyTargetSpec,
)
from cleanheat.store.base import utcnow

_REFERENCE_TABLES = (t.AdminUnit, t.Technology, t.BaselineArea, t.BaselineFact, t.RateTarget,
                     t.TechnologyTarget, t.Task, t.Project)


def save_plan(session: Session, plan: PlanData) -> t.Plan:
    """Insert or replace the plan's reference rows (reports keep pointing at the same plan row)."""
    row = session.scalar(select(t.Plan).where(t.Plan.code == plan.code))
    if row is None:
        row = t.Plan(code=plan.code)
        session.add(row)
    row.city, row.title_zh, row.title_en = plan.city, plan.title_zh, plan.title_en
    row.baseline_year, row.start_year, row.end_year = plan.baseline_year, plan.start_year, plan.end_year
    row.loaded_at = utcnow()  # a new version of the plan: load_plan reads it again
    row.meta = dict(plan.meta) | {
        "technology_groups": [list(g) for g in plan.technology_groups],
        "reference_city_targets": [
            {"year": r.year, "min_rate": r.min_rate, "confidence": r.confidence, "source": r.source}
            for r in plan.reference_city_targets
        ],
    }
    session.flush()
    for table in _REFERENCE_TABLES:
        if table is t.Task:
            for task in session.scalars(select(t.Task).where(t.Task.plan_id == row.id)):
                session.delete(task)
            session.flush()
        else:
            session.execute(delete(table).where(table.plan_id == row.id))
    pid = row.id
    session.add_all(t.AdminUnit(plan_id=pid, code=u.code, name_zh=u.name_zh, name_en=u.name_en, kind=u.kind,
                                area_types=list(u.area_types), sort_order=i) for i, u in enumerate(plan.units))
    session.add_all(t.Technology(plan_id=pid, code=x.code, name_zh=x.name_zh, name_en=x.name_en, group=x.group,
                                 clean_rule=x.clean_rule, fuel=x.fuel, sort_order=i)
                    for i, x in enumerate(plan.technologies))
    session.add_all(t.BaselineArea(plan_id=pid, area_type=b.area_type, heated_area_m2=b.heated_area_m2,
                                   clean_area_m2=b.clean_area_m2, stated_rate=b.stated_rate,
                                   central_heating_share=b.central_heating_share, clause=b.clause)
                    for b in plan.baseline_areas)
    session.add_all(t.BaselineFact(plan_id=pid, family=f.family, key=f.key, name_zh=f.name_zh, value=f.value,
                                   unit=f.unit, clause=f.clause) for f in plan.baseline_facts)
    session.add_all(t.RateTarget(plan_id=pid, area_type=r.area_type, year=r.year, min_rate=r.min_rate,
                                 clause=r.clause, confidence=r.confidence, source=r.source)
                    for r in plan.rate_targets)
    session.add_all(t.TechnologyTarget(plan_id=pid, group=x.group, year=x.year, area_m2=x.area_m2, basis=x.basis,
                                       comparator=x.comparator, baseline_area_m2=x.baseline_area_m2, text=x.text,
                                       clause=x.clause) for x in plan.technology_targets)
    for i, task in enumerate(plan.tasks):
        session.add(t.Task(
            plan_id=pid, code=task.code, name_zh=task.name_zh, name_en=task.name_en, measure=task.measure,
            unit_zh=task.unit_zh, area_scope=list(task.area_scope), clause=task.clause,
            responsible=list(task.responsible), registry_rule=task.registry_rule, note=task.note, sort_order=i,
            targets=[t.TaskTarget(year=x.year, value=x.value, basis=x.basis, comparator=x.comparator, text=x.text,
                                  note=x.note) for x in task.targets],
        ))
    session.add_all(t.Project(plan_id=pid, code=p.code, name_zh=p.name_zh, technology=p.technology, spec=p.spec,
                              capacity_mw=p.capacity_mw, area_m2=p.area_m2, target_year=p.target_year, text=p.text,
                              clause=p.clause) for p in plan.projects)
    session.flush()
    return row


def get_plan_row(session: Session, code: str | None = None) -> t.Plan:
    q = select(t.Plan).order_by(t.Plan.id)
    if code:
        q = q.where(t.Plan.code == code)
    row = session.scalars(q).first()
    if row is None:
        raise NotFoundError("no programme loaded: run `cleanheat init`")
    return row


def load_plan(session: Session, code: str | None = None) -> PlanData:
    """The plan (the first loaded, or ``code``) as immutable data: one object per stored version of the plan in
    this process (the plan changes only through :func:`save_plan`, which stamps ``loaded_at``), so the
    figures prepared from it are found again (:mod:`cleanheat.programme.prepared`)."""
    row = session.execute(select(t.Plan.id, t.Plan.loaded_at).where(*([t.Plan.code == code] if code else []))
                          .order_by(t.Plan.id).limit(1)).first()
    if row is None:
        raise NotFoundError("no programme loaded: run `cleanheat init`")
    key = (str(session.get_bind().url), row.id, row.loaded_at)
    with _PLANS_LOCK:
        plan = _PLANS.get(key)
    if plan is None:
        plan = _read_plan(session, row.id)
        with _PLANS_LOCK:
            _PLANS[key] = plan
            while len(_PLANS) > 8:
                _PLANS.pop(next(iter(_PLANS)))
    return plan


_PLANS: dict[tuple, PlanData] = {}
_PLANS_LOCK = threading.Lock()


def _read_plan(session: Session, pid: int) -> PlanData:
    row = session.get(t.Plan, pid)

    def rows(table, order=None):
        q = select(table).where(table.plan_id == pid)
        return list(session.scalars(q.order_by(order if order is not None else table.id)))

    units = tuple(AdminUnitSpec(u.code, u.name_zh, u.name_en, u.kind, tuple(u.area_types))
                  for u in rows(t.AdminUnit, t.AdminUnit.sort_order))
    techs = tuple(TechnologySpec(x.code, x.name_zh, x.name_en, x.group, x.clean_rule, x.fuel)
                  for x in rows(t.Technology, t.Technology.sort_order))
    tasks = tuple(
        TaskSpec(x.code, x.name_zh, x.name_en, x.measure, x.unit_zh, tuple(x.area_scope), x.clause,
                 tuple(x.responsible),
                 tuple(TaskTargetSpec(g.year, g.value, g.basis, g.comparator, g.text, g.note) for g in x.targets),
                 x.registry_rule, x.note)
        for x in rows(t.Task, t.Task.sort_order)
    )
    meta = dict(row.meta or {})
    return PlanData(
        code=row.code, city=row.city, title_zh=row.title_zh, title_en=row.title_en,
        baseline_year=row.baseline_year, start_year=row.start_year, end_year=row.end_year,
        units=units, technologies=techs,
        technology_groups=tuple(tuple(g) for g in meta.get("technology_groups", [])),
        baseline_areas=tuple(BaselineAreaSpec(b.area_type, b.heated_area_m2, b.clean_area_m2, b.clause,
                                              b.stated_rate, b.central_heating_share) for b in rows(t.BaselineArea)),
        baseline_facts=tuple(BaselineFactSpec(f.family, f.key, f.name_zh, f.value, f.unit, f.clause)
                             for f in rows(t.BaselineFact)),
        rate_targets=tuple(RateTargetSpec(r.area_type, r.year, r.min_rate, r.clause, r.confidence, r.source)
                           for r in rows(t.RateTarget)),
        reference_city_targets=tuple(RateTargetSpec("city", r["year"], r["min_rate"], "", r["confidence"],
                                                    r["source"]) for r in meta.get("reference_city_targets", [])),
        technology_targets=tuple(TechnologyTargetSpec(x.group, x.year, x.area_m2, x.basis, x.comparator, x.clause,
                                                      x.text, x.baseline_area_m2) for x in rows(t.TechnologyTarget)),
        tasks=tasks,
        projects=tuple(ProjectSpec(p.code, p.name_zh, p.clause, p.technology, p.spec, p.capacity_mw, p.area_m2,
                                   p.target_year, p.text) for p in rows(t.Project)),
        meta={k: v for k, v in meta.items() if k not in ("technology_groups", "reference_city_targets")},
    )
