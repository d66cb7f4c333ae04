"""What the control loop learned about each charger (non-compliant, uncontrollable and why),
so a restart does not hand a misbehaving charger a fresh grace period.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"


def upgrade() -> None:
    with op.batch_alter_table("chargers") as batch:
        batch.add_column(sa.Column("control", sa.JSON))


def downgrade() -> None:
    with op.batch_alter_table("chargers") as batch:
        batch.drop_column("control")
