"""A rejection's code and detail stored apart; the planner's shortfalls as rows.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("programme", sa.Column("reason_detail", sa.Text, nullable=True))
    # `reason` held "<Vietnamese text> (<detail>)": keep the detail, drop the rendered text
    find = "strpos" if op.get_bind().dialect.name == "postgresql" else "instr"  # same meaning
    op.execute("UPDATE programme SET reason_detail = CASE "
               "WHEN reason LIKE '%(%)' THEN "
               f"substr(reason, {find}(reason, '(') + 1, length(reason) - {find}(reason, '(') - 1) "
               "ELSE NULL END WHERE reason IS NOT NULL")
    _drop_column("programme", "reason")
    op.create_table(
        "shortfall",
        sa.Column("station_id", sa.String(64), sa.ForeignKey("station.id"), primary_key=True),
        sa.Column("programme_id", sa.Integer, sa.ForeignKey("programme.id"), primary_key=True),
        sa.Column("month", sa.String(7), nullable=False, index=True),
        sa.Column("missing", sa.Integer, nullable=False),
        sa.Column("since", sa.DateTime, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("shortfall")
    op.add_column("programme", sa.Column("reason", sa.Text, nullable=True))
    op.execute("UPDATE programme SET reason = reason_code WHERE reason_code IS NOT NULL")
    _drop_column("programme", "reason_detail")


def _drop_column(table: str, column: str) -> None:
    # SQLite ≥ 3.35 drops a plain column in place; a batch copy of `programme` would have to
    # drop a table other tables' foreign keys point at
    if op.get_bind().dialect.name == "sqlite":
        op.execute(f"ALTER TABLE {table} DROP COLUMN {column}")
    else:
        op.drop_column(table, column)
