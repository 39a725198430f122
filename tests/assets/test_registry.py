"""The network registry: import/export round trip, all-or-nothing imports with located errors, scoping."""

from __future__ import annotations

import io

import pytest
from openpyxl import Workbook
from sqlalchemy import func, select

from cleanheat.assets import io as assets_io
from cleanheat.assets import service
from cleanheat.assets.registry_errors import AssetImportError
from cleanheat.assets.schemas import PointIn
from cleanheat.assets.tables import Building, Device, Point, Station
from cleanheat.auth.roles import Role
from cleanheat.auth.service import Actor
from cleanheat.auth.tables import AuditLog, Organisation
from cleanheat.errors import NotFoundError, PermissionDeniedError
from cleanheat.store.engine import session_scope
from tests.helpers import bootstrap, login, make_client, token


def company(session, code: str) -> Actor:
    org = session.scalar(select(Organisation).where(Organisation.code == code))
    return Actor(actor=f"{code}-user", role=Role.HEAT_COMPANY, org_id=org.id, org_code=code)


def workbook(sheets: dict[str, list[list]]) -> bytes:
    wb = Workbook()
    wb.remove(wb.active)
    for name, rows in sheets.items():
        ws = wb.create_sheet(name)
        for r in rows:
            ws.append(r)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


GOOD = {
    "热网": [["code", "name_zh"], ["N1", "一号热网"]],
    "换热站": [["code", "name_zh", "network_code", "design_load_kw", "served_area_m2", "emitter"],
            ["S1", "一号站", "N1", 3000, 60000, "radiator"], ["S2", "二号站", "N1", 1500, 30000, "floor"]],
    "楼栋": [["code", "name_zh", "station_code", "area_m2", "year_built", "energy_standard"],
           ["B1", "1号楼", "S1", 6000, 1998, "50%"]],
    "住户": [["code", "building_code", "area_m2", "account_no", "room_no"], ["H1", "B1", 86.5, "AC-1", "301"]],
    "设备": [["code", "kind", "station_code", "household_code"], ["S1-C", "station_controller", "S1", None],
           ["H1-T", "room_sensor", None, "H1"]],
    "测点": [["device_code", "key", "sampling_interval_s", "min_value"], ["S1-C", "s_supply_temp_c", 60, None],
           ["S1-C", "s_return_temp_c", 60, None], ["H1-T", "room_temp_c", 600, 5]],
}


@pytest.fixture
def db(settings, session_factory):
    bootstrap(settings)
    return session_factory


def test_excel_import_and_round_trip(db, settings):
    with session_scope(db) as s:
        rows = assets_io.read_assets_file(workbook(GOOD), "registry.xlsx")
        summary = service.import_rows(s, company(s, "htjt"), rows, file="registry.xlsx", data_dir=settings.data_dir)
    assert summary.created == {"networks": 1, "stations": 2, "buildings": 1, "households": 1, "devices": 2,
                               "points": 3}
    with db() as s:
        room = s.scalar(select(Point).where(Point.key == "room_temp_c"))
        # the catalogue filled in what the file left out; the file's own value wins
        assert (room.unit, room.min_value, room.max_value, room.stuck_after_s) == ("°C", 5.0, 40.0, 21600)
        assert s.scalar(select(Station).where(Station.code == "S2")).emitter == "floor"
        exported = service.export_rows(s, company(s, "htjt"))
    assert [r["code"] for r in exported["stations"]] == ["S1", "S2"]
    assert {d["code"]: d["household_code"] for d in exported["devices"]} == {"H1-T": "H1", "S1-C": None}
    # an exported workbook imports unchanged: everything is an update, nothing new
    data = assets_io.write_assets_xlsx(exported)
    with session_scope(db) as s:
        again = service.import_rows(s, company(s, "htjt"), assets_io.read_assets_file(data, "export.xlsx"),
                                    file="export.xlsx", data_dir=settings.data_dir)
    assert again.created == {} and sum(again.updated.values()) == 10
    with db() as s:
        assert service.export_rows(s, company(s, "htjt")) == exported
    # and CSV, one kind per file
    csv_text = assets_io.write_assets_csv(exported, "buildings")
    assert csv_text.splitlines()[1].startswith("B1,htjt,1号楼,S1,")
    rows = assets_io.read_assets_file(csv_text.encode(), "buildings.csv")
    assert rows[0].kind == "buildings" and rows[0].cells["area_m2"] == "6000.0"


def test_bad_import_names_every_problem_and_writes_nothing(db, settings):
    bad = {k: [list(r) for r in v] for k, v in GOOD.items()}
    bad["换热站"][2][3] = "lots"                 # not a number
    bad["楼栋"][1][2] = "S9"                     # unknown station
    bad["住户"].append(["H1", "B1", 70, "AC-2"])  # duplicate code
    bad["设备"][2][2] = "S1"                     # attached to two parents
    bad["测点"].append(["S1-C", "mystery_value", 60, None])  # not in the catalogue, no unit given
    with session_scope(db) as s, pytest.raises(AssetImportError) as info:
        service.import_rows(s, company(s, "htjt"), assets_io.read_assets_file(workbook(bad), "bad.xlsx"),
                            file="bad.xlsx", data_dir=settings.data_dir)
    where = {(i.sheet, i.row, i.column) for i in info.value.issues}
    assert ("stations", 3, "design_load_kw") in where
    assert ("households", 3, "code") in where
    assert any(i.sheet == "devices" and i.row == 3 and "exactly one" in i.message for i in info.value.issues)
    # the first pass found the schema problems; fix them and the reference problems are reported next
    bad["换热站"][2][3] = 1500
    bad["住户"].pop()
    bad["设备"][2][2] = None
    with session_scope(db) as s, pytest.raises(AssetImportError) as info:
        service.import_rows(s, company(s, "htjt"), assets_io.read_assets_file(workbook(bad), "bad.xlsx"),
                            file="bad.xlsx", data_dir=settings.data_dir)
    msgs = {(i.sheet, i.row): i.message for i in info.value.issues}
    assert msgs[("buildings", 2)] == "unknown station 'S9'"
    assert "mystery_value" in msgs[("points", 5)]
    with db() as s:
        assert s.scalar(select(func.count()).select_from(Station)) == 0  # nothing at all was written
        assert s.scalar(select(func.count()).select_from(AuditLog).where(AuditLog.entity == "assets")) == 0


def test_companies_see_and_touch_only_their_own(db, settings):
    with session_scope(db) as s:
        service.import_rows(s, company(s, "htjt"), assets_io.read_assets_file(workbook(GOOD), "a.xlsx"),
                            file="a.xlsx", data_dir=settings.data_dir)
    with session_scope(db) as s:
        veolia = company(s, "veolia")
        assert service.list_records(s, veolia, "stations") == []
        sid = s.scalar(select(Station.id).where(Station.code == "S1"))
        with pytest.raises(NotFoundError):
            service.get_record(s, veolia, "stations", sid)
        # the same code cannot be taken over by another company, nor can its devices get points
        with pytest.raises(AssetImportError) as info:
            service.import_rows(s, veolia, [service.SheetRow("stations", 2, {"code": "S1", "name_zh": "x"})],
                                file="v.csv")
        # issue #10.11: say only that the code is taken, not that another organisation holds it
        message = info.value.issues[0].message
        assert "is taken" in message and "organisation" not in message and "htjt" not in message
        with pytest.raises(PermissionDeniedError):
            service.upsert(s, veolia, "points", PointIn(device_code="S1-C", key="p_flow_kg_s"))
        with pytest.raises(PermissionDeniedError):
            service.upsert(s, veolia, "buildings", service.KIND_SCHEMAS["buildings"].model_validate(
                {"code": "VB", "name_zh": "x", "area_m2": 10, "org_code": "htjt"}))
        office = Actor(actor="office", role=Role.PROGRAMME_OFFICE)
        assert len(service.list_records(s, office, "stations")) == 2
        with pytest.raises(PermissionDeniedError):
            service.upsert(s, office, "buildings", service.KIND_SCHEMAS["buildings"].model_validate(
                {"code": "OB", "name_zh": "x", "area_m2": 10, "org_code": "htjt"}))


def test_api_and_upload_page(db, settings):
    with make_client(settings) as client:
        htjt = token(client, "htjt")
        r = client.post("/api/assets/import", headers=htjt,
                        files={"file": ("registry.xlsx", workbook(GOOD), "application/octet-stream")})
        assert r.status_code == 200, r.text
        r = client.post("/api/assets/devices", headers=htjt, json={
            "code": "S2-C", "kind": "station_controller", "station_code": "S2",
            "points": ["s_supply_temp_c", {"key": "s_flow_kg_s", "sampling_interval_s": 10}]})
        assert r.status_code == 200, r.text
        assert [(p["key"], p["sampling_interval_s"]) for p in r.json()["points"]] == [
            ("s_supply_temp_c", 60), ("s_flow_kg_s", 10)]
        assert client.get("/api/assets/stations", headers=token(client, "veolia")).json() == []
        assert len(client.get("/api/assets/stations", headers=token(client, "office")).json()) == 2
        assert client.post("/api/assets/stations", headers=token(client, "office"),
                           json={"code": "X", "name_zh": "x", "org_code": "htjt"}).status_code == 403
        bad = client.post("/api/assets/buildings", headers=htjt, json={"code": "B9", "name_zh": "x", "area_m2": -1})
        assert bad.status_code == 422 and bad.json()["issues"][0]["field"] == "area_m2"
        x = client.get("/api/assets/export?format=xlsx", headers=htjt)
        assert x.status_code == 200 and x.content[:2] == b"PK"
        # the upload form: a refused file is reported on the page, nothing written
        csrf = login(client, "htjt")
        bad_csv = "code,name_zh,area_m2\nB7,七号楼,abc\n"
        r = client.post("/assets/import", data={"csrf_token": csrf, "kind": "buildings"},
                        files={"file": ("b.csv", bad_csv.encode(), "text/csv")}, follow_redirects=True)
        assert "导入失败" in r.text and "b.csv / 工作表 buildings / 第 2 行 / 列 area_m2" in r.text
    with db() as s:
        assert s.scalar(select(Building).where(Building.code == "B7")) is None
        assert s.scalar(select(func.count()).select_from(Device)) == 3


def test_registry_routes_leave_heat_source_paths_alone(db, settings):
    """The registry's API paths are explicit per kind: /api/assets/heat-sources/... stays the heat-source API's."""
    from cleanheat.web.app import all_routes, create_app

    paths = {r.path for r in all_routes(create_app(settings, background=False)) if r.path.startswith("/api/assets/")}
    assert {"/api/assets/stations", "/api/assets/stations/{record_id}", "/api/assets/points",
            "/api/assets/import", "/api/assets/export"} <= paths
    assert not any(p.startswith("/api/assets/{") for p in paths)
    with make_client(settings) as client:
        htjt = token(client, "htjt")
        r = client.post("/api/assets/points", headers=htjt, json={"device_code": "nope", "key": "room_temp_c"})
        assert r.status_code == 422 and "unknown device" in r.json()["detail"]
