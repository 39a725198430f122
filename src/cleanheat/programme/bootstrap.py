"""Reference data every installation needs: the city's programme and its organisations."""

from __future__ import annotations

from sqlalchemy.orm import Session

from cleanheat.auth import service as auth_service
from cleanheat.auth.roles import OrgKind
from cleanheat.auth.service import Actor
from cleanheat.config import Settings
from cleanheat.programme.plan_data import read_organisations, read_plan
from cleanheat.programme.plan_store import save_plan

ORDER = 10


def load_reference(session: Session, settings: Settings) -> str:
    plan = read_plan(settings.city_dir)
    actor = Actor.system("init")
    save_plan(session, plan)
    auth_service.audit(session, actor, "load", "programme_plan", plan.code,
                       {"units": len(plan.units), "tasks": len(plan.tasks)}, summary=f"加载方案 {plan.title_zh}")
    orgs = read_organisations(settings.city_dir)
    n = 0
    for key, kind in (("platform", OrgKind.PLATFORM), ("programme_office", OrgKind.PROGRAMME_OFFICE),
                      ("ecology_bureau", OrgKind.ECOLOGY_BUREAU)):
        o = orgs[key]
        auth_service.upsert_org(session, actor, code=o["code"], name_zh=o["name_zh"], name_en=o.get("name_en", ""),
                                kind=kind)
        n += 1
    for u in plan.units:
        kind = OrgKind.DISTRICT if u.kind == "district" else OrgKind.COUNTY
        auth_service.upsert_org(session, actor, code=f"gov-{u.code}", name_zh=f"{u.name_zh}人民政府",
                                name_en=f"{u.name_en} Government", kind=kind, admin_unit_code=u.code)
        n += 1
    for o in orgs.get("heat_companies", []):
        auth_service.upsert_org(session, actor, code=o["code"], name_zh=o["name_zh"], name_en=o.get("name_en", ""),
                                kind=OrgKind.HEAT_COMPANY)
        n += 1
    return (f"{plan.title_zh}: {len(plan.units)} units, {len(plan.tasks)} tasks, "
            f"{len(plan.projects)} projects; {n} organisations")
