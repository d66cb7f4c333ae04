"""Initial schema: chargers, sessions, meter values, OCPP audit, operator audit, limit events.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

from controller.store import UtcDateTime

revision = "0001"
down_revision = None


def upgrade() -> None:
    op.create_table(
        "chargers",
        sa.Column("charger_id", sa.String(64), primary_key=True),
        sa.Column("vendor", sa.String(64)),
        sa.Column("model", sa.String(64)),
        sa.Column("serial_number", sa.String(64)),
        sa.Column("firmware_version", sa.String(64)),
        sa.Column("first_seen_utc", UtcDateTime()),
        sa.Column("last_boot_utc", UtcDateTime()),
        sa.Column("last_seen_utc", UtcDateTime()),
        sa.Column("capabilities", sa.JSON),
    )
    op.create_table(
        "sessions",
        sa.Column("transaction_id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("charger_id", sa.String(64), nullable=False),
        sa.Column("connector_id", sa.Integer, nullable=False),
        sa.Column("id_tag", sa.String(20), nullable=False),
        sa.Column("start_utc", UtcDateTime(), nullable=False),
        sa.Column("meter_start_wh", sa.Float, nullable=False),
        sa.Column("stop_utc", UtcDateTime()),
        sa.Column("meter_stop_wh", sa.Float),
        sa.Column("stop_reason", sa.String(32)),
        sa.Column("energy_kwh", sa.Float, nullable=False),
        sa.Column("last_power_kw", sa.Float),
        sa.Column("soc_percent", sa.Float),
        sa.Column("overrides", sa.JSON),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_sessions_open", "sessions", ["stop_utc"])
    op.create_table(
        "meter_values",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("charger_id", sa.String(64), nullable=False),
        sa.Column("connector_id", sa.Integer, nullable=False),
        sa.Column("transaction_id", sa.Integer),
        sa.Column("timestamp_utc", UtcDateTime(), nullable=False),
        sa.Column("measurand", sa.String(48), nullable=False),
        sa.Column("phase", sa.String(8)),
        sa.Column("context", sa.String(32)),
        sa.Column("value", sa.Float, nullable=False),
        sa.Column("unit", sa.String(16), nullable=False),
    )
    op.create_index("ix_meter_values_time", "meter_values", ["timestamp_utc"])
    op.create_index("ix_meter_values_tx", "meter_values", ["transaction_id"])
    op.create_table(
        "ocpp_messages",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("at_utc", UtcDateTime(), nullable=False),
        sa.Column("charger_id", sa.String(64), nullable=False),
        sa.Column("direction", sa.String(3), nullable=False),
        sa.Column("frame", sa.Text, nullable=False),
    )
    op.create_index("ix_ocpp_messages_time", "ocpp_messages", ["at_utc"])
    op.create_index("ix_ocpp_messages_charger", "ocpp_messages", ["charger_id"])
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("at_utc", UtcDateTime(), nullable=False),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("target", sa.String(128)),
        sa.Column("old_value", sa.JSON),
        sa.Column("new_value", sa.JSON),
    )
    op.create_index("ix_audit_log_time", "audit_log", ["at_utc"])
    op.create_table(
        "limit_events",
        sa.Column("event_id", sa.String(128), primary_key=True),
        sa.Column("source", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("spec", sa.JSON, nullable=False),
        sa.Column("created_utc", UtcDateTime(), nullable=False),
        sa.Column("updated_utc", UtcDateTime(), nullable=False),
        sa.Column("cancelled_utc", UtcDateTime()),
    )


def downgrade() -> None:
    for table in ("limit_events", "audit_log", "ocpp_messages", "meter_values", "sessions"):
        op.drop_table(table)
    op.drop_table("chargers")
