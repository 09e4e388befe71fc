"""Airings (the plan and the as-run record) and station health columns.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "airing",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("programme_id", sa.Integer, sa.ForeignKey("programme.id"), index=True),
        sa.Column("station_id", sa.String(64), sa.ForeignKey("station.id"), index=True),
        sa.Column("month", sa.String(7), nullable=False, index=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("planned_at", sa.DateTime, nullable=False, index=True),
        sa.Column("state", sa.String(16), nullable=False, index=True),
        sa.Column("started_at", sa.DateTime, nullable=True),
        sa.Column("finished_at", sa.DateTime, nullable=True),
        sa.Column("detail", sa.Text, nullable=True),
        sa.Column("replaces_id", sa.Integer, sa.ForeignKey("airing.id"), nullable=True),
        sa.Column("created_at", sa.DateTime, nullable=False),
    )
    with op.batch_alter_table("station") as batch:
        batch.add_column(sa.Column("last_error_at", sa.DateTime, nullable=True))
        batch.add_column(sa.Column("unreachable_since", sa.DateTime, nullable=True))
        batch.add_column(sa.Column("free_bytes", sa.Integer, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("station") as batch:
        batch.drop_column("free_bytes")
        batch.drop_column("unreachable_since")
        batch.drop_column("last_error_at")
    op.drop_table("airing")
