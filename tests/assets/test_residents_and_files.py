"""Registry fixes from the code review: who may be linked to a household as its resident (one household per
resident, of the household's own company), the assets_0003 migration that enforces it on existing data, and
registry files read through ``cleanheat.tabular`` (GBK CSV, damaged workbooks)."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from openpyxl import Workbook
from sqlalchemy import create_engine, select, text
from sqlalchemy.exc import IntegrityError

from cleanheat.assets import io as assets_io
from cleanheat.assets import service
from cleanheat.assets.schemas import BuildingIn, HouseholdIn, NetworkIn, StationIn
from cleanheat.assets.tables import Household, Station
from cleanheat.auth import service as auth_service
from cleanheat.auth.roles import OrgKind, Role
from cleanheat.auth.service import Actor
from cleanheat.auth.tables import AuditLog, Organisation
from cleanheat.errors import InputError
from cleanheat.store import migrate
from cleanheat.store.engine import session_scope
from tests.conftest import create_pg_database, drop_pg_database
from tests.helpers import PASSWORD, bootstrap, login, make_client, token


def company(session, code: str) -> Actor:
    org = session.scalar(select(Organisation).where(Organisation.code == code))
    return Actor(actor=f"{code}-user", role=Role.HEAT_COMPANY, org_id=org.id, org_code=code)


@pytest.fixture
def db(settings, session_factory):
    bootstrap(settings)
    admin = Actor.system("test")
    with session_scope(session_factory) as s:
        auth_service.upsert_org(s, admin, code="htjt-x", name_zh="另一家供热公司", kind=OrgKind.HEAT_COMPANY)
        for code in ("htjt-residents", "veolia-residents", "htjt-x-residents"):
            auth_service.upsert_org(s, admin, code=code, name_zh="居民", kind=OrgKind.RESIDENTS)
        auth_service.upsert_org(s, admin, code="res", name_zh="居民", kind=OrgKind.RESIDENTS)
        for user, org in (("wang", "htjt-residents"), ("li", "htjt-residents"), ("zhao", "veolia-residents"),
                          ("sun", "res"), ("qian", "htjt-x-residents")):
            auth_service.create_user(s, admin, username=user, password=PASSWORD, role="resident", org_code=org)
        htjt = company(s, "htjt")
        service.upsert(s, htjt, "networks", NetworkIn(code="N1", name_zh="一号热网"))
        service.upsert(s, htjt, "stations", StationIn(code="S1", name_zh="一号站", network_code="N1"))
        service.upsert(s, htjt, "buildings", BuildingIn(code="B1", name_zh="1号楼", station_code="S1", area_m2=6000))
    return session_factory


def _household(code: str, resident: str | None) -> HouseholdIn:
    return HouseholdIn(code=code, building_code="B1", area_m2=80, account_no=f"A-{code}", resident_username=resident)


def test_a_company_links_only_its_own_residents_once(db):
    with session_scope(db) as s:
        htjt = company(s, "htjt")
        h1 = service.upsert(s, htjt, "households", _household("H1", "wang"))
        assert h1.resident_user_id is not None
        service.upsert(s, htjt, "households", _household("H1", "wang"))  # unchanged: still fine
        for user, why in (("zhao", "is not a resident of htjt"),   # another company's residents
                          ("sun", "is not a resident of htjt"),    # a residents organisation of nobody
                          ("qian", "is not a resident of htjt"),   # htjt-x-residents belongs to htjt-x
                          ("htjt", "unknown resident user"),        # not a resident at all
                          ("wang", "already linked to household 'H1'")):
            with pytest.raises(InputError) as info:
                service.upsert(s, htjt, "households", _household("H2", user))
            assert why in info.value.summary, (user, info.value.summary)
        service.upsert(s, htjt, "households", _household("H2", "li"))
        # moving a resident: unlink first, then link elsewhere
        service.upsert(s, htjt, "households", _household("H1", None))
        service.upsert(s, htjt, "households", _household("H2", "wang"))
    with db() as s:
        wang = s.scalar(select(auth_service.User).where(auth_service.User.username == "wang"))
        assert service.household_of_user(s, Actor.for_user(wang)).code == "H2"


def test_the_database_refuses_a_second_link(db):
    with session_scope(db) as s:
        service.upsert(s, company(s, "htjt"), "households", _household("H1", "wang"))
        service.upsert(s, company(s, "htjt"), "households", _household("H2", None))
    with db() as s, pytest.raises(IntegrityError):
        uid = s.scalar(select(Household.resident_user_id).where(Household.code == "H1"))
        s.scalar(select(Household).where(Household.code == "H2")).resident_user_id = uid
        s.flush()


def test_an_import_reports_a_foreign_resident_at_its_row(db, settings):
    rows = assets_io.read_assets_file(
        b"code,building_code,area_m2,account_no,resident_username\nH1,B1,80,A-1,wang\nH2,B1,80,A-2,zhao\n"
, "households.csv")
    with session_scope(db) as s, pytest.raises(InputError) as info:
        service.import_rows(s, company(s, "htjt"), rows, file="households.csv", data_dir=settings.data_dir)
    assert [(i.row, "not a resident of htjt" in i.message) for i in info.value.issues] == [(3, True)]


# --- the migration ---------------------------------------------------------------------------------------------

@pytest.fixture(params=["sqlite", "postgresql"])
def unmigrated_url(request, tmp_path: Path):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'm.db'}"
    else:
        admin = request.getfixturevalue("pg_admin_url")
        url = create_pg_database(admin)
        yield url
        drop_pg_database(admin, url)


def test_assets_0003_removes_links_that_break_the_rules(unmigrated_url):
    migrate.upgrade(unmigrated_url, "assets_0002")
    eng = create_engine(unmigrated_url.replace("postgresql://", "postgresql+psycopg://"))
    with eng.begin() as c:
        now = "2025-01-01 00:00:00"
        for i, (code, kind) in enumerate((("htjt", "heat_company"), ("veolia", "heat_company"),
                                          ("htjt-residents", "residents")), start=1):
            c.execute(text("INSERT INTO organisations (id, code, name_zh, name_en, kind, created_at) "
                           "VALUES (:i, :c, 'x', '', :k, :t)"), {"i": i, "c": code, "k": kind, "t": now})
        for uid in (1, 2):
            c.execute(text("INSERT INTO users (id, username, display_name, password_hash, role, org_id, is_active, "
                           "language, created_at) VALUES (:i, :u, '', 'x', 'resident', 3, true, 'zh', :t)"),
                      {"i": uid, "u": f"r{uid}", "t": now})
        for bid, code, org in ((1, "B1", 1), (2, "VB1", 2)):
            c.execute(text("INSERT INTO assets_buildings (id, code, name_zh, org_id, address, area_m2, "
                           "energy_standard, "
                           "design_heat_index_w_m2, note, created_at, updated_at) "
                           "VALUES (:i, :c, 'x', :o, '', 100, 'none', 50, '', :t, :t)"),
                      {"i": bid, "c": code, "o": org, "t": now})
        # r1 linked twice within htjt; r2 linked to a veolia household
        for hid, code, org, bld, uid in ((1, "H1", 1, 1, 1), (2, "H2", 1, 1, 1), (3, "V1", 2, 2, 2)):
            c.execute(text("INSERT INTO assets_households (id, code, org_id, building_id, unit_no, room_no, area_m2, "
                           "account_no, meter_no, status, resident_user_id, created_at, updated_at) VALUES "
                           "(:i, :c, :o, :b, '', '', 80, :c, '', 'heating', :u, :t, :t)"),
                      {"i": hid, "c": code, "o": org, "b": bld, "u": uid, "t": now})
    migrate.upgrade(unmigrated_url)
    with eng.connect() as c:
        links = dict(c.execute(text("SELECT code, resident_user_id FROM assets_households")).all())
        audit = c.execute(text("SELECT entity_id, action FROM audit_log ORDER BY entity_id")).all()
    eng.dispose()
    assert links == {"H1": 1, "H2": None, "V1": None}
    assert [tuple(a) for a in audit] == [("2", "unlink_resident"), ("3", "unlink_resident")]


# --- registry files through cleanheat.tabular -------------------------------------------------------------

def test_gbk_csv_and_damaged_workbook(db, settings):
    gbk = "code,name_zh,network_code,address\nS2,二号换热站,N1,道里区友谊路\n".encode("gbk")
    with make_client(settings) as client:
        htjt = token(client, "htjt")
        r = client.post("/api/assets/import", headers=htjt, files={"file": ("换热站.csv", gbk, "text/csv")})
        assert r.status_code == 200 and r.json()["created"] == {"stations": 1}, r.text
        wb = Workbook()
        wb.active.title = "stations"
        wb.active.append(["code", "name_zh"])
        buf = io.BytesIO()
        wb.save(buf)
        damaged = buf.getvalue()[:300]
        r = client.post("/api/assets/import", headers=htjt, files={"file": ("assets.xlsx", damaged, "x")})
        assert r.status_code == 422 and r.json()["issues"][0]["file"] == "assets.xlsx", r.text
        # the upload page says so, and writes nothing
        csrf = login(client, "htjt")
        r = client.post("/assets/import", data={"csrf_token": csrf}, follow_redirects=True,
                        files={"file": ("assets.xlsx", damaged, "x")})
        assert "导入失败" in r.text and "assets.xlsx" in r.text
        # a located problem in a GBK file keeps its row and column
        bad = "code,name_zh,network_code,design_load_kw\nS3,三号站,N1,很多\n".encode("gbk")
        r = client.post("/api/assets/import", headers=htjt, data={"kind": "stations"},
                        files={"file": ("s.csv", bad, "text/csv")})
        assert r.status_code == 422
        assert {(i["row"], i["column"]) for i in r.json()["issues"]} == {(2, "design_load_kw")}
    with db() as s:
        st = s.scalar(select(Station).where(Station.code == "S2"))
        assert (st.name_zh, st.address) == ("二号换热站", "道里区友谊路")
        assert s.scalar(select(Station).where(Station.code == "S3")) is None
        assert s.scalar(select(AuditLog.id).where(AuditLog.entity == "assets", AuditLog.entity_id == "s.csv")) is None
