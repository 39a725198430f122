"""Boiler tasks counted from registry events (并网 and replacement count as removal; the 专项整治 bands and the
2021 100 % requirement as shares; the gas peak-boiler task only for HIG's new urban gas boilers), and the registry
warning on a new or expanded coal source that is not ultra-low. Small registries, every expected value by hand."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select

from cleanheat.assets import heat_sources as hs
from cleanheat.assets.heat_sources import SourceInput
from cleanheat.assets.registry_checks import registry_warnings
from cleanheat.auth.service import Actor
from cleanheat.auth.tables import User
from cleanheat.programme.plan_data import read_plan
from cleanheat.store.engine import session_scope
from tests.helpers import bootstrap, login, make_client, token

TODAY = date(2026, 1, 1)


@pytest.fixture
def db(settings, session_factory):
    bootstrap(settings)
    return session_factory


def office(session) -> Actor:
    return Actor.for_user(session.scalar(select(User).where(User.username == "office")))


def src(code, t_h, *, unit="daoli", at="urban", owner="htjt", kind="coal_boiler", fuel="coal", vintage="existing",
        cls="ordinary", year=2005) -> SourceInput:
    return SourceInput(code=code, name_zh=f"锅炉{code}", owner_org_code=owner, admin_unit_code=unit, area_type=at,
                       kind=kind, fuel=fuel, capacity_t_h=float(t_h), emission_class=cls, vintage=vintage,
                       commissioned_year=year, served_area_m2=1e5)


SOURCES = [
    src("U1", 20), src("U2", 30), src("U3", 35), src("U4", 8), src("U5", 58),
    src("C1", 6, unit="binxian", at="county_fringe", owner="gov-binxian"),
    src("C2", 9, unit="binxian", at="rural", owner="gov-binxian"),
    src("S1", 20, unit="songbei"),
    src("G1", 30, kind="gas_boiler", fuel="gas", vintage="new", year=2020),
    src("G2", 30, owner="veolia", kind="gas_boiler", fuel="gas", vintage="new", year=2020),
    src("G3", 30, unit="binxian", at="county_fringe", kind="gas_boiler", fuel="gas", vintage="new", year=2020),
]
EVENTS = [
    ("U1", "connected_network", date(2019, 9, 1)), ("U2", "converted_gas", date(2020, 6, 1)),
    ("U4", "demolished", date(2019, 5, 1)), ("U5", "ultra_low_retrofitted", date(2021, 7, 1)),
    ("C1", "converted_biomass", date(2019, 8, 1)), ("S1", "demolished", date(2021, 3, 1)),
    ("G1", "commissioned", date(2020, 9, 1)), ("G2", "commissioned", date(2020, 9, 1)),
    ("G3", "commissioned", date(2020, 9, 1)),
]


def counts(session, plan, until: date) -> dict[str, float]:
    rules = {t.code: dict(t.registry_rule, measure=t.measure) for t in plan.tasks if t.registry_rule}
    return hs.count_for_rules(session, rules, date(2019, 1, 1), until, 0.7)


def test_tasks_are_counted_from_connection_replacement_and_band_events(db, settings):
    plan = read_plan(settings.city_dir)
    with session_scope(db) as s:
        hs.upsert_sources(s, office(s), SOURCES, mw_per_t_h_value=0.7)
        hs.add_events_bulk(s, office(s), [(c, e, d, "") for c, e, d in EVENTS], today=TODAY)
    with session_scope(db) as s:
        c2019, c2021 = counts(s, plan, date(2019, 12, 31)), counts(s, plan, date(2021, 12, 31))
    # Urban boilers < 35 t/h removed: U1 connected (并网), U4 demolished in 2019; U2 converted to gas (2020),
    # S1 demolished (2021). U3 (35 t/h) is not below 35.
    assert c2019["coal_demolish_urban_count"] == 2 and c2019["coal_demolish_urban_capacity"] == 28
    assert c2021["coal_demolish_urban_count"] == 4 and c2021["coal_demolish_urban_capacity"] == 78
    assert c2021["coal_demolish_county_rural_count"] == 1  # C1 replaced by biomass
    # 专项整治 urban 10-35 t/h inclusive: U1, U2, U3 (35 counts), S1; dealt with: U1 (2019), U2 (2020), S1 (2021).
    assert c2019["coal_rectify_urban_10_35"] == pytest.approx(1 / 4)
    assert c2021["coal_rectify_urban_10_35"] == pytest.approx(3 / 4)
    # county/fringe and rural below 10 t/h: C1 (converted), C2 (untouched).
    assert c2021["coal_rectify_county_rural_below_10"] == pytest.approx(1 / 2)
    # the New Area (Songbei) below 25 t/h: S1, demolished in 2021.
    assert c2019["coal_phaseout_new_area_below_25"] == 0 and c2021["coal_phaseout_new_area_below_25"] == 1
    # 2021: every urban and county coal boiler ultra-low, connected or replaced: U1-U5, C1, S1 (C2 is rural).
    assert c2019["coal_boilers_all_clean_2021"] == pytest.approx(3 / 7)  # U1, U4, C1
    assert c2021["coal_boilers_all_clean_2021"] == pytest.approx(6 / 7)  # all but U3
    # HIG's gas peak-load boilers: new, urban, owned by htjt; G2 (another owner) and G3 (county) do not count.
    assert c2019["gas_peaking_boilers_count"] == 0
    assert c2021["gas_peaking_boilers_count"] == 1 and c2021["gas_peaking_boilers_capacity"] == 30


def test_share_tasks_reach_the_evaluation_as_registry_figures(db, settings):
    from cleanheat.programme import service
    from cleanheat.programme.model import Period
    from cleanheat.programme.plan_store import load_plan

    with session_scope(db) as s:
        hs.upsert_sources(s, office(s), SOURCES, mw_per_t_h_value=0.7)
        hs.add_events_bulk(s, office(s), [(c, e, d, "") for c, e, d in EVENTS], today=TODAY)
    with session_scope(db) as s:
        plan = load_plan(s)
        got = service.registry_counts(s, plan, Period(2021, 4))
    assert got["coal_boilers_all_clean_2021"] == pytest.approx(6 / 7)
    assert got["coal_demolish_urban_count"] == 4


def test_a_registered_ultra_low_source_counts_as_dealt_with_but_a_later_retrofit_only_from_its_date(db, settings):
    plan = read_plan(settings.city_dir)
    with session_scope(db) as s:
        hs.upsert_sources(s, office(s), [src("A", 58, cls="ultra_low"), src("B", 58)], mw_per_t_h_value=0.7)
        hs.add_events_bulk(s, office(s), [("B", "ultra_low_retrofitted", date(2021, 5, 1), "")], today=TODAY)
    with session_scope(db) as s:
        assert counts(s, plan, date(2020, 12, 31))["coal_boilers_all_clean_2021"] == pytest.approx(1 / 2)
        assert counts(s, plan, date(2021, 12, 31))["coal_boilers_all_clean_2021"] == 1


def test_new_or_expanded_coal_source_not_ultra_low_is_warned(db, settings):
    items = [src("N1", 40, vintage="new", year=2018),  # registered as a new boiler
             src("N2", 40, year=2020, cls="ultra_low"),  # new and ultra-low: fine
             src("N3", 40),  # existing, expanded below
             src("E1", 40),  # existing, untouched: fine
             src("N4", 40, year=2020, kind="gas_boiler", fuel="gas")]  # not coal: ultra-low does not apply
    with session_scope(db) as s:
        hs.upsert_sources(s, office(s), items, mw_per_t_h_value=0.7)
        hs.add_event(s, office(s), "N3", "expanded", date(2020, 8, 1), today=TODAY)
        n3 = hs.get_source(s, office(s), "N3")
        assert n3.status == "in_service"  # an expansion keeps the status
    with session_scope(db) as s:
        warned = {w.code: w for w in registry_warnings(s)}
        assert set(warned) == {"N1", "N3"}
        assert "超低排放" in warned["N1"].message_zh and "2020-08-01" in warned["N3"].message_zh
        hs.add_event(s, office(s), "N3", "ultra_low_retrofitted", date(2020, 9, 1), today=TODAY)
    with session_scope(db) as s:
        assert {w.code for w in hs.warnings(s, office(s))} == {"N1"}
    with make_client(settings) as c:
        headers = token(c, "office")
        assert c.get("/api/assets/heat-sources/N1", headers=headers).json()["warnings"]
        assert c.get("/api/assets/heat-sources/E1", headers=headers).json()["warnings"] == []
        login(c, "office")
        page = c.get("/assets/sources")
        assert page.status_code == 200 and 'id="registry-warnings"' in page.text and "/assets/sources/N1" in page.text
        assert "/assets/sources/E1\"" not in page.text.split('id="registry-warnings"')[1].split("</div>")[0]
        assert "data-warning=\"new_not_ultra_low\"" in c.get("/assets/sources/N1").text
