"""telemetry: resident requests carry the desired temperature, a contact phone and the company's reply

Revision ID: telemetry_0002
Revises: telemetry_0001
Create Date: 2026-12-07 06:05:00
"""
import sqlalchemy as sa
from alembic import op

revision = 'telemetry_0002'
down_revision = 'telemetry_0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("telemetry_resident_requests") as batch:
        batch.add_column(sa.Column("desired_temp_c", sa.Float(), nullable=True))
        batch.add_column(sa.Column("contact_phone", sa.String(32), nullable=False, server_default=""))
        batch.add_column(sa.Column("reply", sa.Text(), nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("telemetry_resident_requests") as batch:
        batch.drop_column("reply")
        batch.drop_column("contact_phone")
        batch.drop_column("desired_temp_c")
