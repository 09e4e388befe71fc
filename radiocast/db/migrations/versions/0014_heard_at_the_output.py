"""What a station's capture heard while an airing played (`[capture]` at the agent): the
integrated loudness at the output, the share of silent seconds, and why a capture gave no
level. An airing the capture heard as silent is `silent` (the state column holds it as is).

Revision ID: 0014
Revises: 0013
"""

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("airing") as batch:
        batch.add_column(sa.Column("heard_lufs", sa.Float, nullable=True))
        batch.add_column(sa.Column("heard_silent", sa.Float, nullable=True))
        batch.add_column(sa.Column("heard_note", sa.String(300), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("airing") as batch:
        batch.drop_column("heard_note")
        batch.drop_column("heard_silent")
        batch.drop_column("heard_lufs")
