"""households: one household per resident user

A resident user may be linked to one household only, of the heat company their residents organisation belongs to
(its code is the company's code, a hyphen and a suffix: ``htjt-residents``). Links that break either rule are
removed before the index becomes unique: for a user linked to several households the link of the lowest household
id is kept (``household_of_user`` returned an arbitrary one of them before); a link to another company's household
is removed. Each removal is written to the audit log.

Revision ID: assets_0003
Revises: assets_0002
Create Date: 2026-11-25 23:50:16.815532
"""
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

from cleanheat.store.base import UTCDateTime

revision = 'assets_0003'
down_revision = 'assets_0002'
branch_labels = None
depends_on = None


_AUDIT = sa.table("audit_log", sa.column("at", UTCDateTime()), sa.column("user_id", sa.Integer),
                  sa.column("org_id", sa.Integer), sa.column("actor", sa.String), sa.column("action", sa.String),
                  sa.column("entity", sa.String), sa.column("entity_id", sa.String), sa.column("detail", sa.JSON),
                  sa.column("summary", sa.Text))


def _owner(code: str, companies: dict[str, int]) -> int | None:
    owners = [c for c in companies if code.startswith(c + "-")]
    return companies[max(owners, key=len)] if owners else None


def _unlink_bad_links(conn) -> None:
    companies = dict(conn.execute(sa.text("SELECT code, id FROM organisations WHERE kind = 'heat_company'")).all())
    rows = conn.execute(sa.text(
        "SELECT h.id, h.code, h.org_id, h.resident_user_id, o.kind, o.code FROM assets_households h "
        "JOIN users u ON u.id = h.resident_user_id JOIN organisations o ON o.id = u.org_id "
        "WHERE h.resident_user_id IS NOT NULL ORDER BY h.id")).all()
    seen: set[int] = set()
    for hid, hcode, org_id, uid, org_kind, org_code in rows:
        if org_kind != "residents" or _owner(org_code, companies) != org_id:
            why = f"resident's organisation {org_code} does not belong to the household's company"
        elif uid in seen:
            why = "the resident is linked to an earlier household"
        else:
            seen.add(uid)
            continue
        conn.execute(sa.text("UPDATE assets_households SET resident_user_id = NULL WHERE id = :id"), {"id": hid})
        conn.execute(_AUDIT.insert().values(
            at=datetime.now(UTC), user_id=None, org_id=org_id, actor="migration assets_0003",
            action="unlink_resident", entity="household", entity_id=str(hid), detail={"user_id": uid, "reason": why},
            summary=f"住户 {hcode} 解除居民账号关联: {why}"))


def upgrade() -> None:
    _unlink_bad_links(op.get_bind())
    with op.batch_alter_table('assets_households', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_assets_households_resident_user_id'))
        batch_op.create_index(batch_op.f('ix_assets_households_resident_user_id'), ['resident_user_id'], unique=True)


def downgrade() -> None:
    with op.batch_alter_table('assets_households', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_assets_households_resident_user_id'))
        batch_op.create_index(batch_op.f('ix_assets_households_resident_user_id'), ['resident_user_id'], unique=False)
