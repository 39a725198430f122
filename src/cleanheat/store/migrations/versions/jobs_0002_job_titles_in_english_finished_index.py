"""jobs: English job titles, an index on finished_at for the retention round

Revision ID: jobs_0002
Revises: jobs_0001
Create Date: 2026-12-07 20:40:00.000000
"""
from alembic import op
import sqlalchemy as sa


revision = 'jobs_0002'
down_revision = 'jobs_0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('jobs_queue', schema=None) as batch_op:
        batch_op.add_column(sa.Column('title_en', sa.String(length=300), server_default='', nullable=False))
        batch_op.create_index('ix_jobs_queue_finished_at', ['finished_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('jobs_queue', schema=None) as batch_op:
        batch_op.drop_index('ix_jobs_queue_finished_at')
        batch_op.drop_column('title_en')
