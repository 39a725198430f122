"""The emissions demo's scenarios: which registered sources get a monitoring point for which kind of evidence, and
that the generated hours carry the departures each scenario promises (NOx-only exceedances keeping the pooled share
above 95 %, a logger offline, January-April exceedances, torn bag filters)."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime

import numpy as np
import pytest
from sqlalchemy import select

from cleanheat.assets import heat_sources as hs
from cleanheat.assets.heat_sources import SourceInput
from cleanheat.auth.service import Actor
from cleanheat.auth.tables import User
from cleanheat.config import REPO_ROOT
from cleanheat.emissions import demo
from cleanheat.emissions.hj212.passwords import hash_password
from cleanheat.emissions.limits import limits_path, read_limit_table
from cleanheat.emissions.rollup import local_day, point_context
from cleanheat.emissions.simstacks import model_for
from cleanheat.emissions.tables import MonitoringPoint
from cleanheat.store.engine import session_scope
from tests.helpers import bootstrap

DATA = REPO_ROOT / "data"

NOW = datetime(2022, 6, 1, tzinfo=UTC)


def _src(code, kind, fuel, t_h, owner="htjt", vintage="existing", year=2005):
    return SourceInput(code=code, name_zh=code, owner_org_code=owner, admin_unit_code="daoli", area_type="urban",
                       kind=kind, fuel=fuel, capacity_t_h=t_h, vintage=vintage, commissioned_year=year,
                       served_area_m2=1e5)


@pytest.fixture
def registry(settings, session_factory):
    bootstrap(settings)
    items = ([_src(f"CHP{i}", "chp", "coal", 410.0, owner="veolia") for i in range(5)]
             + [_src(f"B{i}", "coal_boiler", "coal", 58.0) for i in range(6)]
             + [_src("LATE", "coal_boiler", "coal", 58.0), _src("SMALL", "coal_boiler", "coal", 20.0)]
             + [_src(f"BIO{i}", "coal_boiler", "coal", 2.0, owner="gov-binxian") for i in range(4)]
             + [_src("GP", "gas_boiler", "gas", 30.0, vintage="new", year=2020)])
    events = ([(f"CHP{i}", "ultra_low_retrofitted", date(2019, 6, 1), "") for i in range(5)]
              + [(f"B{i}", "ultra_low_retrofitted", date(2019, 7, 1), "") for i in range(6)]
              + [("LATE", "ultra_low_retrofitted", date(2020, 8, 1), "")]
              + [(f"BIO{i}", "converted_biomass", date(2019, 6, 1), "") for i in range(4)]
              + [("GP", "commissioned", date(2020, 9, 1), "")])
    with session_scope(session_factory) as s:
        office = Actor.for_user(s.scalar(select(User).where(User.username == "office")))
        hs.upsert_sources(s, office, items, mw_per_t_h_value=0.7)
        hs.add_events_bulk(s, office, events, today=date(2026, 1, 1))
    return session_factory


def test_sources_are_chosen_for_every_role(registry):
    with session_scope(registry) as s:
        chosen = demo._choose(s, list(s.scalars(select(hs.HeatSource))), hs.mw_per_t_h(DATA / "harbin"))
        roles = {}
        for src, scenario in chosen:
            roles.setdefault(scenario.role, []).append(src.code)
    assert len(roles["chp"]) == 3 and len(roles["chp_late"]) == 1
    assert all(c.startswith("CHP") for c in roles["chp"] + roles["chp_late"])
    assert len(roles["coal"]) == 3 and roles["coal_nox"] and roles["coal_offline"]
    # only boilers >= 35 t/h ultra-low before the first programme season are judged in every season
    picked_coal = roles["coal"] + roles["coal_nox"] + roles["coal_offline"]
    assert "LATE" not in picked_coal and "SMALL" not in picked_coal and len(set(picked_coal)) == 5
    assert len(roles["biomass"]) == 3 and len(roles["biomass_failing"]) == 1
    assert roles["gas"] == ["GP"]


def _hours(session, code: str, scenario: demo.Scenario, season: int) -> demo.SeasonHours:
    src = session.scalar(select(hs.HeatSource).where(hs.HeatSource.code == code))
    point = MonitoringPoint(mn=f"TEST{src.id:020d}", password_hash=hash_password("x"), source_id=src.id, name_zh=code)
    session.add(point)
    session.flush()
    ctx = point_context(session, point, read_limit_table(limits_path(DATA)), hs.mw_per_t_h(DATA / "harbin"))
    model = model_for(ctx.limits_on(date(2020, 1, 1)), point.mn, "x", seed=1,
                      exceedance_rate=scenario.exceedance_rate)
    first, last = demo.HISTORY[season]
    return demo._season_hours(ctx, model, scenario, season, first, last, random.Random(7), NOW)


def _exceeded(rows: demo.SeasonHours, pollutant: str) -> list[bool]:
    assert not np.isnan(rows.limits[pollutant]).any()
    return (rows.zs[pollutant] > rows.limits[pollutant]).tolist()


def test_nox_only_exceedances_fail_per_pollutant_but_not_pooled(registry):
    with session_scope(registry) as s:
        rows = _hours(s, "B0", demo.ROLES["coal_nox"][1], 1)
    nox = _exceeded(rows, "a21002")
    share_nox = sum(nox) / len(nox)
    assert 0.10 < share_nox < 0.16
    pooled = sum(sum(_exceeded(rows, p)) for p in ("a34013", "a21026", "a21002")) / (3 * len(rows))
    assert pooled < 0.05  # the share within limits over all pollutants stays above 95 %


def test_offline_logger_leaves_most_of_the_season_without_data(registry):
    with session_scope(registry) as s:
        rows = _hours(s, "B1", demo.ROLES["coal_offline"][1], 1)  # the 2019-2020 season
    days = {local_day(t) for t in rows.times()}
    assert not any(date(2019, 11, 10) <= d <= date(2020, 2, 29) for d in days)
    assert len(rows) < 0.75 * 24 * 184  # below the 75 % capture the compliance rules ask for


def test_late_season_exceedances_fall_in_january_to_april(registry):
    with session_scope(registry) as s:
        rows = _hours(s, "CHP0", demo.ROLES["chp_late"][1], 2)  # the 2020-2021 season
    by_month = {}
    for t, exc in zip(rows.times(), _exceeded(rows, "a21002"), strict=True):
        m = local_day(t).month
        by_month.setdefault(m >= 10, []).append(exc)
    assert sum(by_month[True]) / len(by_month[True]) < 0.03  # October-December: clean
    assert sum(by_month[False]) / len(by_month[False]) > 0.15  # January-April: breaking down


def test_failing_bag_filter_shows_torn_bags_in_its_failing_seasons():
    scenario = demo.ROLES["biomass_failing"][1]
    rows = demo._bag_filter_days(MonitoringPoint(id=1), scenario, random.Random(1), NOW)
    assert {r["factor"] for r in rows} == {demo.BAG_FILTER_DP}
    season0 = [r["avg"] for r in rows if r["ts"] < datetime(2020, 6, 1, tzinfo=UTC)]
    later = [r["avg"] for r in rows if r["ts"] >= datetime(2020, 6, 1, tzinfo=UTC)]
    assert min(season0) >= 900 and max(later) <= 350


def test_a_boiler_registered_in_mw_only_is_judged_by_its_steam_capacity(settings, session_factory):
    bootstrap(settings)
    with session_scope(session_factory) as s:
        office = Actor.for_user(s.scalar(select(User).where(User.username == "office")))
        hs.upsert_sources(s, office, [SourceInput(code="MW1", name_zh="MW1", owner_org_code="htjt",
                                                  admin_unit_code="daoli", area_type="urban", kind="coal_boiler",
                                                  fuel="coal", capacity_mw=29.0, emission_class="ultra_low")],
                          mw_per_t_h_value=0.7)
        s.execute(hs.HeatSource.__table__.update().values(capacity_t_h=None))  # as a registry row giving MW only
        s.expire_all()
        chosen = demo._choose(s, list(s.scalars(select(hs.HeatSource))), hs.mw_per_t_h(DATA / "harbin"))
    assert [(src.code, sc.role) for src, sc in chosen] == [("MW1", "coal")]  # 29 MW = 41 t/h >= 35
