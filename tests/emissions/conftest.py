"""Fixtures of the emissions tests: a migrated database (SQLite and PostgreSQL) with the programme, the test users,
a few heat sources (created directly through the ORM) and their monitoring points."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from cleanheat.assets.tables import HeatSource, HeatSourceEvent
from cleanheat.auth.service import Actor
from cleanheat.auth.tables import Organisation
from cleanheat.config import Settings
from cleanheat.emissions import service
from cleanheat.emissions.service import PointInput
from cleanheat.store.engine import session_scope
from tests.helpers import bootstrap

#: code, owner, kind, fuel, class, capacity_t_h, capacity_mw, served m2, unit, area type, events
SOURCES = [
    ("T-CHP1", "veolia", "coal_chp", "coal", "ultra_low", 670.0, None, 5_000_000.0, "daoli", "urban",
     [("commissioned", date(2005, 1, 1)), ("ultra_low_retrofitted", date(2018, 9, 1))]),
    ("T-BLR1", "htjt", "coal_boiler", "coal", "ultra_low", None, 58.0, 1_200_000.0, "nangang", "urban",
     [("ultra_low_retrofitted", date(2019, 8, 1))]),
    ("T-BIO1", "htjt", "biomass_boiler", "biomass", "ordinary", 20.0, None, 300_000.0, "binxian", "county_fringe", []),
    ("T-GAS1", "veolia", "gas_boiler", "gas", "ordinary", None, 14.0, 250_000.0, "daoli", "urban", []),
    ("T-BLR2", "huaneng", "coal_boiler", "coal", "ordinary", 40.0, None, 400_000.0, "daowai", "urban", []),
    ("T-HP1", "htjt", "heat_pump", "electricity", "ordinary", None, 5.0, 80_000.0, "daoli", "urban", []),
]
#: MN, source, password
POINTS = [
    ("010000A8900016F000169DC0", "T-CHP1", "123456"),
    ("010000A8900016F000169DC1", "T-BLR1", "223344"),
    ("010000A8900016F000169DC2", "T-BIO1", "334455"),
    ("010000A8900016F000169DC3", "T-GAS1", "445566"),
]


def make_sources(session: Session, prefix: str = "") -> dict[str, int]:
    orgs = {o.code: o.id for o in session.scalars(select(Organisation))}
    out = {}
    for code, owner, kind, fuel, klass, cap_t, cap_mw, area, unit, area_type, events in SOURCES:
        src = HeatSource(code=prefix + code, name_zh=f"测试热源{code}", org_id=orgs[owner], admin_unit_code=unit,
                         area_type=area_type, kind=kind, fuel=fuel, current_fuel=fuel, capacity_t_h=cap_t,
                         capacity_mw=cap_mw, emission_class=klass, vintage="existing", served_area_m2=area,
                         status="in_service")
        src.events = [HeatSourceEvent(event=e, effective_date=d) for e, d in events]
        session.add(src)
        session.flush()
        out[code] = src.id
    return out


@dataclass
class World:
    settings: Settings
    session_factory: object
    sources: dict[str, int]
    points: dict[str, int]  # source code -> point id

    def session(self):
        return session_scope(self.session_factory)


@pytest.fixture
def world(settings, session_factory) -> World:
    bootstrap(settings)
    with session_scope(session_factory) as s:
        sources = make_sources(s)
        points = {}
        for mn, src, pw in POINTS:
            p = service.register_point(s, Actor.system("test"), PointInput(mn=mn, password=pw, source_code=src,
                                                                          stack_no="1"))
            points[src] = p.id
    return World(settings, session_factory, sources, points)


def store_hours(session: Session, rows: list[dict]) -> None:
    """Store evaluated hours and, as the rollup does after ingest, the daily values the programme evaluation
    reads (``rollup.rebuild_days``)."""
    from cleanheat.config import Settings
    from cleanheat.emissions.processing import read_rules
    from cleanheat.emissions.rollup import local_day, rebuild_days, upsert
    from cleanheat.emissions.tables import HourValue

    days: dict[int, set] = {}
    for r in rows:
        days.setdefault(r["point_id"], set()).add(local_day(r["ts"]))
    for i in range(0, len(rows), 5000):
        upsert(session, HourValue.__table__, rows[i:i + 5000], ("point_id", "ts", "pollutant"))
    for pid, ds in days.items():
        rebuild_days(session, pid, ds, read_rules(Settings().data_dir))
