"""telemetry: the rollup dirty log records (point, minute) windows, not (point, hour)

Recomputing a whole hour of raw readings for every new reading cost, at 10,000 readings/s, up to 36 million rows
per jobs round by the end of an hour; a dirty minute is recomputed from its own readings and its hour from its
minutes. Pending hour windows become their 60 minutes.

Revision ID: telemetry_0004
Revises: telemetry_0003
Create Date: 2026-12-07 20:40:00
"""
import sqlalchemy as sa
from alembic import op

revision = 'telemetry_0004'
down_revision = 'telemetry_0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("telemetry_rollup_dirty") as batch:
        batch.alter_column("hour_ms", new_column_name="minute_ms", existing_type=sa.BigInteger())
    op.execute("WITH RECURSIVE m(k) AS (SELECT 1 UNION ALL SELECT k + 1 FROM m WHERE k < 59) "
               "INSERT INTO telemetry_rollup_dirty (point_id, minute_ms) "
               "SELECT d.point_id, d.minute_ms + m.k * 60000 FROM telemetry_rollup_dirty d CROSS JOIN m")


def downgrade() -> None:
    op.execute("UPDATE telemetry_rollup_dirty SET minute_ms = minute_ms - minute_ms % 3600000")
    with op.batch_alter_table("telemetry_rollup_dirty") as batch:
        batch.alter_column("minute_ms", new_column_name="hour_ms", existing_type=sa.BigInteger())
