"""OCPP 2.0.1: the station's string transaction id beside the internal integer key; idTokens
of up to 36 characters.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"


def upgrade() -> None:
    op.add_column("sessions", sa.Column("ocpp_transaction_id", sa.String(36)))
    op.create_index(
        "ix_sessions_ocpp_tx", "sessions", ["charger_id", "ocpp_transaction_id"], unique=False
    )
    if op.get_context().dialect.name != "sqlite":  # SQLite does not enforce VARCHAR lengths
        op.alter_column("sessions", "id_tag", type_=sa.String(36), existing_nullable=False)


def downgrade() -> None:
    if op.get_context().dialect.name != "sqlite":
        op.alter_column("sessions", "id_tag", type_=sa.String(20), existing_nullable=False)
    op.drop_index("ix_sessions_ocpp_tx", table_name="sessions")
    op.drop_column("sessions", "ocpp_transaction_id")
