"""An index on the airing a make-up replaces: `status` asks it of every missed airing, and
without it each question read the whole airing table (1.6 s at 3,321 stations and a year).

Revision ID: 0013
Revises: 0012
"""

from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_airing_replaces_id", "airing", ["replaces_id"])


def downgrade() -> None:
    op.drop_index("ix_airing_replaces_id", "airing")
