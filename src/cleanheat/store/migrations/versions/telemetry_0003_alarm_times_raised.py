"""telemetry: an alarm counts how often it was raised (one that comes back soon after clearing is re-opened)

Revision ID: telemetry_0003
Revises: telemetry_0002
Create Date: 2026-12-07 14:09:48
"""
import sqlalchemy as sa
from alembic import op

revision = 'telemetry_0003'
down_revision = 'telemetry_0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("telemetry_alarms") as batch:
        batch.add_column(sa.Column("times_raised", sa.Integer(), server_default=sa.text("1"), nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("telemetry_alarms") as batch:
        batch.drop_column("times_raised")
