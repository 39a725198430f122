"""emissions: HJ 212 passwords stored as salted hashes (password -> password_hash)

Each existing plain password is replaced by its hash (salted PBKDF2-SHA256, the format of
cleanheat.emissions.hj212.passwords, copied here so that this migration never changes). The data loggers keep
working: they send the same PW, which the receiver now checks against the hash. The downgrade cannot bring the
passwords back: it leaves them empty (every logger is then refused until each password is set again with
``cleanheat emissions points set-password``).

Revision ID: emissions_0002
Revises: emissions_0001
Create Date: 2026-12-07 03:30:00
"""
import base64
import hashlib
import os

import sqlalchemy as sa
from alembic import op

revision = 'emissions_0002'
down_revision = 'emissions_0001'
branch_labels = None
depends_on = None

_ITERATIONS = 10_000


def _b64(b: bytes) -> str:
    return base64.b64encode(b).decode("ascii").rstrip("=")


def _hash(password: str) -> str:
    salt = os.urandom(16)
    dk = hashlib.pbkdf2_hmac("sha256", password.encode("utf-8"), salt, _ITERATIONS)
    return f"pbkdf2_sha256${_ITERATIONS}${_b64(salt)}${_b64(dk)}"


def upgrade() -> None:
    with op.batch_alter_table('emissions_points', schema=None) as batch_op:
        batch_op.add_column(sa.Column('password_hash', sa.String(length=128), nullable=True))
    conn = op.get_bind()
    points = sa.table('emissions_points', sa.column('id', sa.Integer), sa.column('password', sa.String),
                      sa.column('password_hash', sa.String))
    rows = conn.execute(sa.select(points.c.id, points.c.password)).all()
    if rows:
        conn.execute(points.update().where(points.c.id == sa.bindparam('pid'))
                     .values(password_hash=sa.bindparam('h')),
                     [{'pid': pid, 'h': _hash(pw or '')} for pid, pw in rows])
    with op.batch_alter_table('emissions_points', schema=None) as batch_op:
        batch_op.alter_column('password_hash', existing_type=sa.String(length=128), nullable=False)
        batch_op.drop_column('password')


def downgrade() -> None:
    with op.batch_alter_table('emissions_points', schema=None) as batch_op:
        batch_op.add_column(sa.Column('password', sa.String(length=64), nullable=False, server_default=''))
    with op.batch_alter_table('emissions_points', schema=None) as batch_op:
        batch_op.alter_column('password', existing_type=sa.String(length=64), server_default=None)
        batch_op.drop_column('password_hash')
