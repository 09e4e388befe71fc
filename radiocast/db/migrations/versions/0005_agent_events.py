"""Station agents: their proof-of-play events (each stored once) and their heartbeat.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

STATION_COLUMNS = (
    ("heartbeat_at", sa.DateTime), ("clock_offset_s", sa.Float), ("agent_version", sa.String(40)),
    ("playbook_version", sa.Integer), ("asrun_acked", sa.Integer), ("agent_error", sa.Text),
)


def upgrade() -> None:
    op.create_table(
        "asrun_event",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("event_id", sa.String(36), nullable=False, unique=True),
        sa.Column("station_id", sa.String(64), sa.ForeignKey("station.id"), nullable=False),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("airing_id", sa.Integer, nullable=False, index=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("started_at", sa.DateTime, nullable=True),
        sa.Column("finished_at", sa.DateTime, nullable=True),
        sa.Column("detail", sa.Text, nullable=True),
        sa.Column("raw", sa.Text, nullable=False),
        sa.Column("received_at", sa.DateTime, nullable=False),
        sa.UniqueConstraint("station_id", "seq", "event_id"),
    )
    op.create_index("ix_asrun_event_station_seq", "asrun_event", ["station_id", "seq"])
    for name, kind in STATION_COLUMNS:
        op.add_column("station", sa.Column(name, kind, nullable=True))


def downgrade() -> None:
    for name, _ in STATION_COLUMNS:
        if op.get_bind().dialect.name == "sqlite":
            op.execute(f"ALTER TABLE station DROP COLUMN {name}")
        else:
            op.drop_column("station", name)
    op.drop_table("asrun_event")
