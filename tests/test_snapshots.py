"""tests/snapshots.py: ``bootstrap`` on a fresh database copies the session's bootstrapped snapshot, and the result
is the same as bootstrapping it (rows, logins, sequences); a database already written to is bootstrapped as usual."""

from __future__ import annotations

from sqlalchemy import func, select

from cleanheat.auth import service as auth_service
from cleanheat.auth.roles import OrgKind
from cleanheat.auth.service import Actor
from cleanheat.auth.tables import Organisation, User
from cleanheat.store.engine import session_scope
from tests import snapshots
from tests.helpers import TEST_USERS, _bootstrap, bootstrap


def _rows(session_factory) -> dict:
    with session_factory() as s:
        return {"orgs": sorted((o.code, o.kind) for o in s.scalars(select(Organisation))),
                "users": sorted((u.username, u.role) for u in s.scalars(select(User)))}


def test_a_fresh_database_gets_the_snapshot_and_it_equals_a_bootstrap(settings, session_factory):
    backend = settings.database_url.split(":", 1)[0].split("+")[0]
    bootstrap(settings)
    key = next(k for k in snapshots._SNAPSHOTS if k[0] == backend)
    snap = snapshots._SNAPSHOTS[key]
    assert "users" in snap.tables and "organisations" in snap.tables
    ops = snapshots._SQLITE if backend == "sqlite" else snapshots._PG
    assert ops.counts(settings.database_url) == ops.counts(snap.url)  # copied in whole
    # the same as bootstrapping a fresh database directly
    direct = settings.model_copy(update={"database_url": ops.fresh()})
    try:
        _bootstrap(direct, TEST_USERS)
        assert ops.counts(direct.database_url) == ops.counts(settings.database_url)
    finally:
        if backend == "postgresql":
            ops.drop(direct.database_url)
    rows = _rows(session_factory)
    assert {u for u, _ in rows["users"]} == set(TEST_USERS)
    with session_scope(session_factory) as s:
        assert auth_service.authenticate(s, "office", "test-password-1") is not None
        # the sequences were copied too: a new organisation gets a new id
        org = auth_service.upsert_org(s, Actor.system("test"), code="new-co", name_zh="新公司",
                                      kind=OrgKind.HEAT_COMPANY)
        s.flush()
        assert org.id > max(o.id for o in s.scalars(select(Organisation)) if o.code != "new-co")


def test_a_database_already_written_to_is_bootstrapped_as_usual(settings, session_factory):
    with session_scope(session_factory) as s:
        auth_service.upsert_org(s, Actor.system("test"), code="early-co", name_zh="早到公司",
                                kind=OrgKind.HEAT_COMPANY)
    bootstrap(settings)
    with session_factory() as s:
        codes = set(s.scalars(select(Organisation.code)))
        assert "early-co" in codes and "gov-daoli" in codes  # kept, and the reference data is there
        assert s.scalar(select(func.count()).select_from(User)) == len(TEST_USERS)
