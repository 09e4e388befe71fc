"""Proof of play is per station: an event is unique per (station, event id), not across
stations (one station could otherwise take another's id and have its real event dropped), and
the seqs a station wrote that the hub handled without storing an event (refused, or the same
event written again under a new seq) are kept, so its acknowledgement moves past them.

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

UNIQUE = "uq_asrun_event_station_event"
COLUMNS = ("id", "event_id", "station_id", "seq", "airing_id", "status", "started_at",
           "finished_at", "detail", "raw", "received_at")


def _columns() -> list[sa.Column[object]]:
    return [
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("event_id", sa.String(36), nullable=False),
        sa.Column("station_id", sa.String(64), sa.ForeignKey("station.id"), nullable=False),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("airing_id", sa.Integer, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("started_at", sa.DateTime, nullable=True),
        sa.Column("finished_at", sa.DateTime, nullable=True),
        sa.Column("detail", sa.Text, nullable=True),
        sa.Column("raw", sa.Text, nullable=False),
        sa.Column("received_at", sa.DateTime, nullable=False),
    ]


def _rebuild_sqlite() -> None:
    """SQLite cannot drop the unnamed unique constraint: copy into a table without it."""
    op.create_table("asrun_event_new", *_columns(),
                    sa.UniqueConstraint("station_id", "event_id", name=UNIQUE))
    cols = ", ".join(COLUMNS)
    op.execute(f"INSERT INTO asrun_event_new ({cols}) SELECT {cols} FROM asrun_event")
    op.drop_table("asrun_event")
    op.rename_table("asrun_event_new", "asrun_event")
    op.create_index("ix_asrun_event_airing_id", "asrun_event", ["airing_id"])
    op.create_index("ix_asrun_event_station_seq", "asrun_event", ["station_id", "seq"])


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        _rebuild_sqlite()
    else:
        for uc in sa.inspect(bind).get_unique_constraints("asrun_event"):
            if uc["name"]:  # PostgreSQL names every constraint
                op.drop_constraint(uc["name"], "asrun_event", type_="unique")
        op.create_unique_constraint(UNIQUE, "asrun_event", ["station_id", "event_id"])
    op.create_table(
        "asrun_skip",
        sa.Column("station_id", sa.String(64), sa.ForeignKey("station.id"), primary_key=True),
        sa.Column("seq", sa.Integer, primary_key=True),
        sa.Column("event_id", sa.String(36), nullable=False),
        sa.Column("reason", sa.String(300), nullable=False),
        sa.Column("received_at", sa.DateTime, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("asrun_skip")
    with op.batch_alter_table("asrun_event") as batch:
        batch.drop_constraint(UNIQUE, type_="unique")
        batch.create_unique_constraint("uq_asrun_event_event_id", ["event_id"])
