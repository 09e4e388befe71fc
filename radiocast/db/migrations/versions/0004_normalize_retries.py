"""Normalizing is retried with backoff when the machine fails (disk full, I/O error).

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("programme", sa.Column("attempts", sa.Integer, nullable=False,
                                         server_default="0"))
    op.add_column("programme", sa.Column("next_attempt_at", sa.DateTime, nullable=True))
    op.add_column("programme", sa.Column("last_error", sa.Text, nullable=True))


def downgrade() -> None:
    for column in ("last_error", "next_attempt_at", "attempts"):
        if op.get_bind().dialect.name == "sqlite":
            op.execute(f"ALTER TABLE programme DROP COLUMN {column}")
        else:
            op.drop_column("programme", column)
