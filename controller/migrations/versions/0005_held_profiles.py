"""The dispatch ledger in the store: the newest profile each charger accepted, per connector
and purpose (TxDefaultProfile on connector 0, TxProfile per connector), so a restarted
controller reserves an offline charger at the most its held profiles allow until they lapse.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

from controller.store_tables import UtcDateTime

revision = "0005"
down_revision = "0004"


def upgrade() -> None:
    op.create_table(
        "held_profiles",
        sa.Column("charger_id", sa.String(64), primary_key=True),
        sa.Column("connector_id", sa.Integer, primary_key=True),
        sa.Column("purpose", sa.String(32), primary_key=True),
        sa.Column("transaction_id", sa.Integer),
        sa.Column("stack_level", sa.Integer, nullable=False),
        sa.Column("phases", sa.Integer, nullable=False),
        sa.Column("voltage_v", sa.Float, nullable=False),
        sa.Column("accepted_utc", UtcDateTime(), nullable=False),
        sa.Column("valid_from_utc", UtcDateTime()),
        sa.Column("valid_to_utc", UtcDateTime()),
        sa.Column("profile", sa.JSON, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("held_profiles")
