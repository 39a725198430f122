"""The demo city: loading it twice adds nothing; the web app runs it in-process so the pages are alive."""

from __future__ import annotations

import time
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from cleanheat.assets.tables import Device, Household, Point
from cleanheat.auth.tables import AuditLog, User
from cleanheat.config import Settings
from cleanheat.demo_accounts import demo_password
from cleanheat.programme.bootstrap import load_reference
from cleanheat.store import migrate
from cleanheat.store.engine import make_engine, make_sessionmaker, session_scope
from cleanheat.telemetry.bootstrap import load_reference as load_rules
from cleanheat.telemetry.tables import Reading
from cleanheat.twin.demo import load_demo
from cleanheat.web.app import create_app


def _init(settings: Settings, sessions) -> list[str]:
    out = []
    for loader in (load_reference, load_rules, load_demo):
        with session_scope(sessions) as s:
            out.append(loader(s, settings))
    return out


def test_demo_is_idempotent(settings, session_factory):
    first = _init(settings, session_factory)
    assert "stations +4" in first[2] and "devices +213" in first[2]
    with session_factory() as s:
        counts = (s.scalar(select(func.count()).select_from(Device)), s.scalar(select(func.count()).select_from(Point)))
        resident = s.scalar(select(User).where(User.username == "resident"))
        assert resident.role == "resident" and resident.organisation.kind == "residents"
        assert s.scalar(select(Household.code).where(Household.resident_user_id == resident.id)) == "HB-S01-B01-H01"
        audits = s.scalar(select(func.count()).select_from(AuditLog).where(AuditLog.actor == "system:demo"))
    with session_scope(session_factory) as s:
        again = load_demo(s, settings)
    assert "stations +0" in again and "devices +0" in again and "logins +0" in again
    with session_factory() as s:
        assert (s.scalar(select(func.count()).select_from(Device)),
                s.scalar(select(func.count()).select_from(Point))) == counts == (213, 313)
        assert s.scalar(select(func.count()).select_from(AuditLog).where(AuditLog.actor == "system:demo")) == audits


def test_web_app_runs_the_demo_city(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("CLEANHEAT_TELEMETRY_DEMO_BACKFILL_H", "1")
    monkeypatch.setenv("CLEANHEAT_TELEMETRY_JOBS_INTERVAL_S", "1")
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'demo.db'}", var_dir=tmp_path / "var",
                        secret_key="demo-test")
    migrate.upgrade(settings.database_url)
    engine = make_engine(settings.database_url)
    _init(settings, make_sessionmaker(engine))
    with TestClient(create_app(settings, background=True)) as client:
        r = client.post("/api/auth/token", data={"username": "htjt", "password": demo_password()})
        headers = {"Authorization": f"Bearer {r.json()['access_token']}"}
        deadline = time.time() + 60
        overview = []
        while time.time() < deadline:
            overview = client.get("/api/telemetry/overview", headers=headers).json()
            if overview and all(s["online"] for s in overview):
                break
            time.sleep(0.5)
        assert [s["code"] for s in overview] == ["HB-S01", "HB-S02", "HB-S03", "HB-S04"]
        assert all(s["online"] and s["values"]["s_supply_temp_c"] for s in overview)
        with engine.connect() as conn:
            n0 = conn.execute(select(func.count()).select_from(Reading)).scalar()
        # live readings keep coming (stations report every 10 s): wait for the next ones, however slow the machine
        deadline, n = time.time() + 120, n0
        while n <= n0 and time.time() < deadline:
            time.sleep(0.5)
            with engine.connect() as conn:
                n = conn.execute(select(func.count()).select_from(Reading)).scalar()
        assert n > n0
        r = client.post("/api/auth/token", data={"username": "resident", "password": demo_password()})
        home = client.get("/api/resident/home", headers={"Authorization": f"Bearer {r.json()['access_token']}"})
        assert home.json()["household"] == "HB-S01-B01-H01" and 10 < home.json()["room_temp_c"] < 30
    engine.dispose()
