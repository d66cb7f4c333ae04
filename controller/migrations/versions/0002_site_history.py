"""Site history: measured power, limit and price per sample (one a minute by default).

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

from controller.store import UtcDateTime

revision = "0002"
down_revision = "0001"


def upgrade() -> None:
    op.create_table(
        "site_history",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("at_utc", UtcDateTime(), nullable=False),
        sa.Column("measured_kw", sa.Float, nullable=False),
        sa.Column("ev_kw", sa.Float, nullable=False),
        sa.Column("limit_kw", sa.Float, nullable=False),
        sa.Column("limit_source", sa.String(160), nullable=False),
        sa.Column("planned_kw", sa.Float),
        sa.Column("price_per_kwh", sa.Float),
    )
    op.create_index("ix_site_history_time", "site_history", ["at_utc"])


def downgrade() -> None:
    op.drop_table("site_history")
