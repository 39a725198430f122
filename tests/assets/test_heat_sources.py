"""Heat-source registry: import (all or nothing, located errors), events, scoping, task counting."""

import io
from datetime import date

import pytest
from openpyxl import Workbook
from sqlalchemy import func, select

from cleanheat.assets import heat_sources as hs
from cleanheat.assets.heat_source_import import EVENT_SHEET, SOURCE_COLUMNS, SOURCE_SHEET, import_registry
from cleanheat.assets.tables import HeatSource, HeatSourceEvent
from cleanheat.auth.service import Actor
from cleanheat.auth.tables import User
from cleanheat.errors import ConflictError, InputError, NotFoundError, PermissionDeniedError
from cleanheat.programme.plan_data import read_plan
from cleanheat.store.engine import session_scope
from tests.helpers import bootstrap, make_client, token

HEAD = [v[0] for v in SOURCE_COLUMNS.values()]


def workbook(sources: list[list], events: list[list] | None = None) -> bytes:
    wb = Workbook()
    ws = wb.active
    ws.title = SOURCE_SHEET
    ws.append(HEAD)
    for row in sources:
        ws.append(row)
    if events is not None:
        ev = wb.create_sheet(EVENT_SHEET)
        ev.append(["编码", "事件", "日期", "备注"])
        for row in events:
            ev.append(row)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def row(code, unit="道里区", at="城市城区", owner="htjt", kind="燃煤锅炉", fuel="燃煤", t_h=58, mw="", area=100,
        lon=126.6, lat=45.7):
    return [code, f"锅炉{code}", owner, unit, at, "厂", "1#", kind, fuel, t_h, mw, "", "在用", 2005, area, "",
            lon, lat, ""]


@pytest.fixture
def db(settings, session_factory):
    bootstrap(settings)
    return session_factory


def actor(session, username):
    return Actor.for_user(session.scalar(select(User).where(User.username == username)))


def test_import_sources_and_events_then_count_tasks(db, settings):
    plan = read_plan(settings.city_dir)
    data = workbook(
        [row("B1", t_h=58), row("B2", t_h=420, kind="热电联产机组"), row("B3", t_h=20),
         row("B4", unit="宾县", at="县城和城乡结合部", t_h="", mw=29)],
        [["B1", "超低排放改造", "2019-08-01", ""], ["B2", "ultra_low_retrofitted", date(2020, 9, 1), ""],
         ["B3", "拆除", "2019-07-01", ""], ["B4", "超低排放改造", "2021-06-30", ""]],
    )
    with session_scope(db) as s:
        result = import_registry(s, actor(s, "htjt"), data, "r.xlsx", plan.units, 0.7)
    assert result == {"created": 4, "updated": 0, "events": 4}
    with session_scope(db) as s:
        b4 = s.scalar(select(HeatSource).where(HeatSource.code == "B4"))
        assert b4.capacity_t_h == pytest.approx(29 / 0.7) and b4.extra["capacity_t_h_derived"]
        b1 = s.scalar(select(HeatSource).where(HeatSource.code == "B1"))
        assert b1.status == "ultra_low" and b1.emission_class == "ultra_low" and b1.served_area_m2 == 100e4
        rules = {t.code: dict(t.registry_rule, measure=t.measure) for t in plan.tasks if t.registry_rule}
        c2019 = hs.count_for_rules(s, rules, date(2019, 1, 1), date(2019, 12, 31), 0.7)
        c2021 = hs.count_for_rules(s, rules, date(2019, 1, 1), date(2021, 12, 31), 0.7)
    assert c2019["coal_ultralow_count"] == 1 and c2019["coal_ultralow_capacity"] == 58
    assert c2021["coal_ultralow_count"] == 3
    assert c2021["coal_ultralow_capacity"] == pytest.approx(58 + 420 + 29 / 0.7)
    assert c2021["coal_ultralow_urban_35"] == 2 and c2021["coal_ultralow_county_35"] == 1
    assert c2021["coal_demolish_urban_count"] == 1 and c2021["coal_demolish_urban_capacity"] == 20


def test_bad_registry_rows_import_nothing_and_are_located(db, settings):
    plan = read_plan(settings.city_dir)
    data = workbook([row("B1"), row("B2", unit="火星区"), row("B3", kind="核反应堆"), row("B4", t_h="五十"),
                     row("B5", area=2_500_000), row("B1"), row("B6", lon=10.0),
                     row("B7", at="农村", unit="南岗区", t_h=-4)],
                    [["B1", "爆炸", "2019-01-01", ""], ["B1", "拆除", "2099-01-01", ""]])
    with pytest.raises(InputError) as exc, session_scope(db) as s:
        import_registry(s, actor(s, "office"), data, "r.xlsx", plan.units, 0.7)
    where = {(i.sheet, i.row, i.column) for i in exc.value.issues}
    assert ("热源", 3, "D") in where  # unknown unit
    assert ("热源", 4, "H") in where  # unknown kind
    assert ("热源", 5, "J") in where  # non-numeric capacity
    assert ("热源", 6, "O") in where  # area typed in m²
    assert ("热源", 7, "A") in where  # duplicate code
    assert ("热源", 8, "Q") in where  # longitude outside China
    assert ("热源", 9, "J") in where  # negative capacity
    assert ("状态变化", 2, "B") in where and ("状态变化", 3, "C") in where
    with session_scope(db) as s:
        assert s.scalar(select(func.count()).select_from(HeatSource)) == 0
        assert s.scalar(select(func.count()).select_from(HeatSourceEvent)) == 0


def test_company_registers_only_its_own_sources_and_sees_only_them(db, settings):
    plan = read_plan(settings.city_dir)
    with session_scope(db) as s:
        import_registry(s, actor(s, "office"), workbook([row("H1", owner="htjt"), row("V1", owner="veolia")]),
                        "r.xlsx", plan.units, 0.7)
    with session_scope(db) as s:
        assert [x.code for x in hs.list_sources(s, actor(s, "htjt"))] == ["H1"]
        assert [x.code for x in hs.list_sources(s, actor(s, "eeb"))] == ["H1", "V1"]
        with pytest.raises(PermissionDeniedError) as exc:
            import_registry(s, actor(s, "htjt"), workbook([row("V2", owner="veolia")]), "r.xlsx", plan.units, 0.7)
        assert "own" in str(exc.value)
    with session_scope(db) as s, pytest.raises(NotFoundError):  # another company's source is invisible
        hs.add_event(s, actor(s, "htjt"), "V1", "demolished", date(2020, 1, 1))


def test_events_rules(db, settings):
    plan = read_plan(settings.city_dir)
    with session_scope(db) as s:
        import_registry(s, actor(s, "office"), workbook([row("B1")]), "r.xlsx", plan.units, 0.7)
    with session_scope(db) as s:
        a = actor(s, "htjt")
        hs.add_event(s, a, "B1", "converted_gas", date(2019, 5, 1))
        src = hs.get_source(s, a, "B1")
        assert src.current_fuel == "gas" and src.fuel == "coal" and src.status == "converted_gas"
        hs.add_event(s, a, "B1", "demolished", date(2020, 5, 1))
        with pytest.raises(ConflictError):
            hs.add_event(s, a, "B1", "connected_network", date(2021, 1, 1))
        with pytest.raises(InputError):
            hs.add_event(s, a, "B1", "converted_gas", date(2999, 1, 1))


def test_registry_api_scoping(settings):
    bootstrap(settings)
    with make_client(settings) as c:
        office, htjt, veolia = token(c, "office"), token(c, "htjt"), token(c, "veolia")
        files = {"file": ("r.xlsx", workbook([row("H1", owner="htjt")]), "application/octet-stream")}
        assert c.post("/api/assets/heat-sources/import", files=files, headers=htjt).status_code == 200
        assert c.get("/api/assets/heat-sources/H1", headers=veolia).status_code == 404
        assert c.get("/api/assets/heat-sources/H1", headers=office).json()["capacity_mw"] == pytest.approx(58 * 0.7)
        r = c.post("/api/assets/heat-sources/H1/events", json={"event": "ultra_low_retrofitted",
                                                                "effective_date": "2020-10-01"}, headers=htjt)
        assert r.status_code == 201 and r.json()["status"] == "ultra_low"
        assert c.post("/api/assets/heat-sources/H1/events",
                      json={"event": "demolished", "effective_date": "2020-10-02"},
                      headers=veolia).status_code in (403, 404)
        bad = {"file": ("r.csv", "编码,名称\nX,Y\n".encode(), "text/csv")}
        r = c.post("/api/assets/heat-sources/import", files=bad, headers=htjt)
        assert r.status_code == 422 and "表头" in r.json()["issues"][0]["message"]


def test_task_counts_use_the_fuel_at_the_time_of_the_event(db, settings):
    plan = read_plan(settings.city_dir)
    data = workbook([row("C1", t_h=20)], [["C1", "煤改气", "2019-05-01", ""], ["C1", "拆除", "2020-05-01", ""]])
    with session_scope(db) as s:
        import_registry(s, actor(s, "office"), data, "r.xlsx", plan.units, 0.7)
    with session_scope(db) as s:
        rules = {t.code: dict(t.registry_rule, measure=t.measure) for t in plan.tasks if t.registry_rule}
        c = hs.count_for_rules(s, rules, date(2019, 1, 1), date(2021, 12, 31), 0.7)
        assert c["coal_to_gas_count"] == 1
        # The conversion took the coal boiler out of coal service (替代) and counts once toward the removal task;
        # the later demolition (it burned gas then) does not count again.
        assert c["coal_demolish_urban_count"] == 1 and c["coal_demolish_urban_capacity"] == 20
        # Re-importing the source row keeps the status its events give.
        import_registry(s, actor(s, "office"), workbook([row("C1", t_h=20)]), "r.xlsx", plan.units, 0.7)
        src = hs.get_source(s, actor(s, "office"), "C1")
        assert src.status == "demolished" and src.current_fuel == "gas"


def test_the_shipped_template_imports_as_it_is(db, settings):
    """The example rows of `cleanheat sources template` are valid input (a user fills the template from them)."""
    from cleanheat.assets.heat_source_import import registry_template

    plan = read_plan(settings.city_dir)
    with session_scope(db) as s:
        result = import_registry(s, actor(s, "htjt"), registry_template(), "热源.xlsx", plan.units, 0.7)
    assert result == {"created": 1, "updated": 0, "events": 1}
    with session_scope(db) as s:
        src = s.scalar(select(HeatSource).where(HeatSource.code == "HTJT-B01"))
        assert (src.emission_class, src.status, src.vintage) == ("ultra_low", "ultra_low", "existing")


def test_unknown_emission_class_lists_the_allowed_ones(db, settings):
    plan = read_plan(settings.city_dir)
    bad = row("B1")
    bad[11] = "在用"
    with pytest.raises(InputError) as exc, session_scope(db) as s:
        import_registry(s, actor(s, "office"), workbook([bad]), "r.xlsx", plan.units, 0.7)
    (issue,) = exc.value.issues
    assert (issue.row, issue.column) == (2, "L") and "超低排放" in issue.message and "一般排放限值" in issue.message
