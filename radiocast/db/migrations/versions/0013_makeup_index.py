"""An index on the airing a make-up replaces: `status` asks it of every missed airing, and
without it each question read the whole airing table (1.6 s at 3,321 stations and a year).
And an event's states hold 24 characters (`approved_after_air` is 18; SQLite never checked).

Revision ID: 0013
Revises: 0012
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_airing_replaces_id", "airing", ["replaces_id"])
    if op.get_bind().dialect.name != "sqlite":
        for column in ("from_state", "to_state"):
            op.alter_column("event", column, type_=sa.String(24), existing_type=sa.String(16))


def downgrade() -> None:
    op.drop_index("ix_airing_replaces_id", "airing")
