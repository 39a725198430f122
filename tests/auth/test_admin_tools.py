"""Administration (issue 12 item 7) without a browser: user text in the audit export stays text, the audit log
filters and pages within the reader's scope, and the guards of the user edits and the household link."""

from __future__ import annotations

import io
from datetime import UTC, datetime

import pytest
from openpyxl import load_workbook
from sqlalchemy import select

from cleanheat.auth import service as auth_service
from cleanheat.auth.service import Actor, AuditFilter
from cleanheat.auth.tables import AuditLog, User
from cleanheat.errors import ConflictError, InputError
from cleanheat.store.engine import session_scope
from cleanheat.web.audit_export import audit_workbook
from tests.helpers import login


def _actor(s, username: str) -> Actor:
    return Actor.for_user(s.scalar(select(User).where(User.username == username)))


def test_audit_export_writes_user_text_as_text():
    row = AuditLog(id=1, at=datetime(2026, 1, 1, tzinfo=UTC), actor="daoli", action="update", entity="report",
                   entity_id="=1+1", summary='=HYPERLINK("http://evil.example","x")',
                   detail={"changes": {"note": ["@SUM(A1)", "-2+3"]}})
    ws = load_workbook(io.BytesIO(audit_workbook([row], False, "Asia/Shanghai"))).active
    cells = {c.column_letter: c for c in ws[2]}
    assert cells["F"].value == '=HYPERLINK("http://evil.example","x")' and cells["F"].data_type == "s"
    assert cells["E"].value == "=1+1" and cells["E"].data_type == "s"
    assert cells["A"].value == "2026-01-01 08:00:00"  # Beijing time
    assert cells["G"].value == "note: @SUM(A1) → -2+3"


def test_audit_search_filters_pages_and_scopes(app_client, session_factory):
    with session_scope(session_factory) as s:
        admin = _actor(s, "admin")
        for i in range(7):
            auth_service.audit(s, admin, "update", "thing", i, {"changes": {"x": [i, i + 1]}}, summary=f"改 100% {i}")
        auth_service.audit(s, _actor(s, "daoli"), "update", "thing", 99, summary="daoli's own")
    with session_scope(session_factory) as s:
        admin, daoli = _actor(s, "admin"), _actor(s, "daoli")
        rows, total = auth_service.search_audit(s, admin, AuditFilter(entity="thing", actor="admin"), page=2,
                                                per_page=3)
        assert total == 7 and [r.entity_id for r in rows] == ["3", "2", "1"]
        rows, total = auth_service.search_audit(s, admin, AuditFilter(text="100% 6"))
        assert total == 1 and rows[0].entity_id == "6"
        rows, total = auth_service.search_audit(s, admin, AuditFilter(text="_"))  # a wildcard only as itself
        assert total == 0
        with pytest.raises(auth_service.PermissionDeniedError):
            auth_service.search_audit(s, daoli, AuditFilter())


def test_audit_page_and_export_over_http(app_client):
    login(app_client, "office")
    r = app_client.get("/admin/audit", params={"who": "admin", "since": "2000-01-01", "page": 1})
    assert r.status_code == 200 and 'id="audit-table"' in r.text
    assert app_client.get("/admin/audit", params={"since": "yesterday"}).status_code == 422
    assert app_client.get("/admin/audit", params={"page": 0}).status_code == 422
    x = app_client.get("/admin/audit.xlsx", params={"action": "create"})
    assert x.status_code == 200 and x.headers["content-disposition"].startswith("attachment")
    ws = load_workbook(io.BytesIO(x.content)).active
    assert {r[2] for r in ws.iter_rows(min_row=2, values_only=True)} == {"create"}
    r = app_client.get("/admin/audit", params={"action": "export"})
    assert "office" in r.text and "audit_log" in r.text  # the export is audited
    login(app_client, "daoli")
    assert app_client.get("/admin/audit.xlsx", follow_redirects=False).status_code in (403, 404)


def test_user_edit_guards(app_client, session_factory):
    with session_scope(session_factory) as s:
        admin = _actor(s, "admin")
        with pytest.raises(InputError):  # a district's user cannot be a heat company
            auth_service.update_user(s, admin, "daoli", role="heat_company", org_code="gov-daoli")
        with pytest.raises(ConflictError):  # nor can the administrator demote themselves
            auth_service.update_user(s, admin, "admin", role="programme_office", org_code="office")
        u = auth_service.update_user(s, admin, "veolia", role="reporting_unit", org_code="veolia")
        assert u.role == "reporting_unit"
        entry = s.scalars(select(AuditLog).where(AuditLog.action == "update", AuditLog.entity == "user")).all()[-1]
        assert entry.detail["changes"] == {"role": ["heat_company", "reporting_unit"]}
        with pytest.raises(auth_service.PermissionDeniedError):
            auth_service.update_user(s, _actor(s, "office"), "veolia", role="heat_company", org_code="veolia")


def test_household_link_refuses_non_residents_and_unknown_households(app_client, session_factory):
    from cleanheat.assets import service as assets

    with session_scope(session_factory) as s:
        admin = _actor(s, "admin")
        with pytest.raises(InputError):
            assets.link_resident(s, admin, "daoli", "H-1")
        with pytest.raises(auth_service.PermissionDeniedError):
            assets.link_resident(s, _actor(s, "office"), "daoli", "H-1")
