"""Demo data of the programme (``cleanheat init --demo``): demo logins, synthetic quarterly reports 2019Q1–2021Q4
for every unit and the named heat companies, and a synthetic heat-source registry. Idempotent."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cleanheat.assets import heat_sources
from cleanheat.auth.service import Actor
from cleanheat.auth.tables import Organisation, User
from cleanheat.config import Settings
from cleanheat.demo_accounts import ensure_demo_accounts
from cleanheat.programme import service, synthetic
from cleanheat.programme.model import Period
from cleanheat.programme.plan_store import load_plan
from cleanheat.programme.tables import Report

ORDER = 20


def load_demo(session: Session, settings: Settings) -> str:
    created_users = ensure_demo_accounts(session)
    plan = load_plan(session)
    office = Actor.for_user(session.scalar(select(User).where(User.username == "office")))
    system = Actor.system("demo")
    msg = []
    if session.scalar(select(func.count()).select_from(Report).where(Report.synthetic.is_(True))):
        msg.append("synthetic reports already loaded")
    else:
        names = {o.code: o.name_zh for o in session.scalars(select(Organisation))}
        reports = synthetic.synthesise_reports(plan, names)
        last = Period(plan.end_year, 4)
        n = 0
        for rep in reports:
            stored = service.submit_report(session, system, plan, rep.as_parsed(), synthetic=True)
            stored.note = "合成演示数据 synthetic demo data"
            # Leave the newest quarter partly unreviewed so the review queue has work; return one report.
            if rep.period == last and rep.admin_unit_code in ("bayan", "mulan", "yilan"):
                continue
            if rep.period == last and rep.admin_unit_code == "tonghe":
                service.review_report(session, office, stored.id, "return",
                                      "农村取暖面积与上季度相比减少 8%，请核实后重新报送（演示）")
                continue
            service.review_report(session, office, stored.id, "accept", "")
            n += 1
        msg.append(f"{len(reports)} synthetic reports ({n} accepted)")
    if heat_sources.registry_is_empty(session) or not session.scalar(
            select(func.count()).select_from(heat_sources.HeatSource).where(heat_sources.HeatSource.code.like("SYN-%"))):
        sources, events = synthetic.synthesise_registry(plan)
        heat_sources.upsert_sources(session, system, sources,
                                    mw_per_t_h_value=heat_sources.mw_per_t_h(settings.city_dir), origin="synthetic")
        heat_sources.add_events_bulk(session, system, events)
        msg.append(f"{len(sources)} synthetic heat sources, {len(events)} events")
    else:
        msg.append("synthetic registry already loaded")
    msg.append(f"{created_users} demo logins created")
    return "; ".join(msg)
