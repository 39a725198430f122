"""The demo city for ``cleanheat init --demo`` (synthetic, labelled so): its records, a resident login.

Creates, idempotently, for the demo heat company ``htjt``: a network (fed by one of its registered heat sources
if the registry has one), 4 stations, 16 buildings, 96 households with room sensors and heat meters, and a
resident (``resident``, organisation ``htjt-residents``) linked to the first household. ``cleanheat serve`` then
runs the city in-process (``twin.live``) so that the pages are alive.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from cleanheat.assets.tables import HeatSource
from cleanheat.auth import service as auth_service
from cleanheat.auth.roles import OrgKind
from cleanheat.auth.service import Actor
from cleanheat.auth.tables import Organisation
from cleanheat.config import Settings
from cleanheat.demo_accounts import DemoAccount, ensure_demo_accounts
from cleanheat.twin.city import CityConfig, ensure_city, make_city

ORDER = 60
DEMO_ORG = "htjt"
RESIDENT_ORG = "htjt-residents"
RESIDENT = DemoAccount("resident", "resident", RESIDENT_ORG, "演示居民 王女士")
#: the live demo samples stations every 10 s and rooms every minute so that the pages visibly move
DEMO_CITY = CityConfig(prefix="HB", stations=4, buildings_per_station=4, households_per_building=6,
                       station_interval_s=10, building_meter_interval_s=60, room_interval_s=60,
                       household_meter_interval_s=300, weather_interval_s=60)


def load_demo(session: Session, settings: Settings) -> str:
    actor = Actor.system("demo")
    if session.scalar(select(Organisation).where(Organisation.code == DEMO_ORG)) is None:
        return f"skipped: organisation {DEMO_ORG!r} is missing (load the programme first)"
    if session.scalar(select(Organisation).where(Organisation.code == RESIDENT_ORG)) is None:
        auth_service.upsert_org(session, actor, code=RESIDENT_ORG, name_zh="哈投供热居民用户（演示）",
                                name_en="HIG heating residents (demo)", kind=OrgKind.RESIDENTS)
    users = ensure_demo_accounts(session, extra=(RESIDENT,))
    source = session.scalar(select(HeatSource.code).join(Organisation, HeatSource.org_id == Organisation.id)
                            .where(Organisation.code == DEMO_ORG).order_by(HeatSource.id).limit(1))
    created = ensure_city(session, actor, make_city(DEMO_CITY), DEMO_ORG, heat_source_code=source,
                          data_dir=settings.data_dir, resident_username=RESIDENT.username)
    parts = ", ".join(f"{k} +{v}" for k, v in created.items())
    return f"demo city {DEMO_CITY.prefix} for {DEMO_ORG}: {parts}; logins +{users} (resident: {RESIDENT.username})"
