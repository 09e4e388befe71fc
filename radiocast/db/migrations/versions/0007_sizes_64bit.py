"""Sizes in bytes as 64-bit integers: a station's free space passes 2 GiB. SQLite's INTEGER
is 64-bit already (nothing to do there); PostgreSQL's `integer` is 32-bit.

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

COLUMNS = (("programme", "source_size"), ("programme", "size"), ("station", "free_bytes"),
           ("delivery", "bytes_sent"))


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        return
    for table, column in COLUMNS:
        op.alter_column(table, column, type_=sa.BigInteger, existing_type=sa.Integer)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        return
    for table, column in COLUMNS:
        op.alter_column(table, column, type_=sa.Integer, existing_type=sa.BigInteger)
