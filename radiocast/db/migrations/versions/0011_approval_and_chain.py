"""Approval before air: each programme's approval state, the approvers' decisions, and the
tamper-evident chain over decisions and proof-of-play events.

Revision ID: 0011
Revises: 0010
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("programme") as batch:
        batch.add_column(sa.Column("approval", sa.String(24), nullable=False,
                                   server_default="not_required"))
        batch.add_column(sa.Column("approved_at", sa.DateTime, nullable=True))
    op.create_table(
        "approval_decision",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("programme_id", sa.Integer, sa.ForeignKey("programme.id"), nullable=False,
                  index=True),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("decision", sa.String(16), nullable=False),
        sa.Column("station_id", sa.String(64), nullable=True),
        sa.Column("approver_id", sa.String(64), nullable=False),
        sa.Column("approver_name", sa.String(200), nullable=False),
        sa.Column("approver_title", sa.String(200), nullable=False),
        sa.Column("comment", sa.Text, nullable=False),
        sa.Column("at", sa.DateTime, nullable=False),
    )
    op.create_table(
        "chain_entry",
        sa.Column("seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True,
                  autoincrement=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("ref_id", sa.BigInteger, nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
    )
    # entry 0 marks where the chain begins: proof of play stored before it is older than it
    op.execute("INSERT INTO chain_entry (seq, kind, ref_id, digest) SELECT 0, 'start', "
               "COALESCE(MAX(id), 0), '" + "0" * 64 + "' FROM asrun_event")


def downgrade() -> None:
    op.drop_table("chain_entry")
    op.drop_table("approval_decision")
    with op.batch_alter_table("programme") as batch:
        batch.drop_column("approved_at")
        batch.drop_column("approval")
