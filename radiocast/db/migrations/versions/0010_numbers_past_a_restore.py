"""A hub restored from an older backup numbers its airings past what its stations report
(`station.airing_id_seen`), and the numbers a station reports are 64-bit on PostgreSQL (on
SQLite every INTEGER is 64-bit already): a station's report can never overflow a column.

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

WIDE = (("airing", "id"), ("airing", "replaces_id"), ("asrun_event", "seq"),
        ("asrun_event", "airing_id"), ("asrun_skip", "seq"), ("station", "playbook_version"),
        ("station", "asrun_acked"))


def upgrade() -> None:
    op.add_column("station", sa.Column("airing_id_seen", sa.BigInteger, nullable=True))
    if op.get_bind().dialect.name == "sqlite":
        return
    for table, column in WIDE:
        op.alter_column(table, column, type_=sa.BigInteger, existing_type=sa.Integer)
    op.execute("ALTER SEQUENCE IF EXISTS airing_id_seq AS bigint")


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        op.execute("ALTER SEQUENCE IF EXISTS airing_id_seq AS integer")
        for table, column in WIDE:
            op.alter_column(table, column, type_=sa.Integer, existing_type=sa.BigInteger)
    with op.batch_alter_table("station") as batch:
        batch.drop_column("airing_id_seen")
