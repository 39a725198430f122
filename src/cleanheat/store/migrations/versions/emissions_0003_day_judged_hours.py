"""emissions: daily values carry the hours a compliance share needs (judged and with-data hours)

The programme evaluation adds up daily values instead of hourly ones (one row per point, day and pollutant, not
24): a day now also stores ``judged_hours`` (valid hours with a limit and a converted value, the denominator of
the share within the limit), ``data_hours`` (hours with any data) and ``computed_at`` (when the row was written;
indexed: the evaluation cache keys on its maximum). Existing rows are filled from their hours
where those are stored; a day without stored hours keeps NULL and is read as judged = valid hours when it has a
limit (cleanheat.emissions.service.day_segment_counts).

Revision ID: emissions_0003
Revises: emissions_0002
Create Date: 2026-12-07 06:30:00
"""
import sqlalchemy as sa
from alembic import op

from cleanheat.store.base import UTCDateTime

revision = 'emissions_0003'
down_revision = 'emissions_0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('emissions_days', schema=None) as batch_op:
        batch_op.add_column(sa.Column('judged_hours', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('data_hours', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('computed_at', UTCDateTime(timezone=True), nullable=True))
        batch_op.create_index('ix_emissions_days_computed_at', ['computed_at'], unique=False)
    bind = op.get_bind()
    day = ("date(emissions_hours.ts, '+8 hours')" if bind.dialect.name == "sqlite"
           else "((emissions_hours.ts AT TIME ZONE 'UTC') + interval '8 hours')::date")
    # Beijing day of each stored hour (UTC+8, no daylight saving), as the rollup computes it
    bind.execute(sa.text(f"""
        UPDATE emissions_days SET
          judged_hours = (SELECT count(*) FROM emissions_hours WHERE emissions_hours.point_id = emissions_days.point_id
                          AND emissions_hours.pollutant = emissions_days.pollutant AND {day} = emissions_days.day
                          AND emissions_hours.valid AND emissions_hours.limit_mg_m3 IS NOT NULL
                          AND emissions_hours.conc_zs_mg_m3 IS NOT NULL),
          data_hours = (SELECT count(*) FROM emissions_hours WHERE emissions_hours.point_id = emissions_days.point_id
                        AND emissions_hours.pollutant = emissions_days.pollutant AND {day} = emissions_days.day)
        WHERE EXISTS (SELECT 1 FROM emissions_hours WHERE emissions_hours.point_id = emissions_days.point_id)
    """))


def downgrade() -> None:
    with op.batch_alter_table('emissions_days', schema=None) as batch_op:
        batch_op.drop_index('ix_emissions_days_computed_at')
        batch_op.drop_column('computed_at')
        batch_op.drop_column('data_hours')
        batch_op.drop_column('judged_hours')
