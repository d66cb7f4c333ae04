"""The store's tables (SQLAlchemy Core) and the one column type they share.

Kept apart from :mod:`controller.store` (the queries) so each stays small; the migrations in
``controller/migrations`` create these tables, and the two must agree.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Column,
    DateTime,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
)


class UtcDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in, aware UTC datetimes out, whatever the backend stores."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value.isoformat()} reached the store")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


metadata = MetaData()

chargers = Table(
    "chargers",
    metadata,
    Column("charger_id", String(64), primary_key=True),
    Column("vendor", String(64)),
    Column("model", String(64)),
    Column("serial_number", String(64)),
    Column("firmware_version", String(64)),
    Column("first_seen_utc", UtcDateTime()),
    Column("last_boot_utc", UtcDateTime()),
    Column("last_seen_utc", UtcDateTime()),
    Column("capabilities", JSON),
    Column("control", JSON),  # what the control loop learned: flags and why (controller/loop)
)

sessions = Table(
    "sessions",
    metadata,
    Column("transaction_id", Integer, primary_key=True, autoincrement=True),
    Column("charger_id", String(64), nullable=False),
    Column("connector_id", Integer, nullable=False),
    Column("id_tag", String(36), nullable=False),  # 2.0.1 idTokens take up to 36
    Column("start_utc", UtcDateTime(), nullable=False),
    Column("meter_start_wh", Float, nullable=False),
    Column("stop_utc", UtcDateTime()),
    Column("meter_stop_wh", Float),
    Column("stop_reason", String(32)),
    Column("energy_kwh", Float, nullable=False, default=0.0),
    Column("last_power_kw", Float),
    Column("soc_percent", Float),
    Column("overrides", JSON),
    Column("ocpp_transaction_id", String(36)),  # OCPP 2.0.1: the station's string id
    Index("ix_sessions_open", "stop_utc"),
    Index("ix_sessions_ocpp_tx", "charger_id", "ocpp_transaction_id"),
    sqlite_autoincrement=True,  # never reuse a transaction id, even after deletes
)

meter_values = Table(
    "meter_values",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("charger_id", String(64), nullable=False),
    Column("connector_id", Integer, nullable=False),
    Column("transaction_id", Integer),
    Column("timestamp_utc", UtcDateTime(), nullable=False),
    Column("measurand", String(48), nullable=False),
    Column("phase", String(8)),
    Column("context", String(32)),
    Column("value", Float, nullable=False),
    Column("unit", String(16), nullable=False),
    Index("ix_meter_values_time", "timestamp_utc"),
    Index("ix_meter_values_tx", "transaction_id"),
)

ocpp_messages = Table(
    "ocpp_messages",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at_utc", UtcDateTime(), nullable=False),
    Column("charger_id", String(64), nullable=False),
    Column("direction", String(3), nullable=False),  # "in" | "out"
    Column("frame", Text, nullable=False),
    Index("ix_ocpp_messages_time", "at_utc"),
    Index("ix_ocpp_messages_charger", "charger_id"),
)

audit_log = Table(
    "audit_log",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at_utc", UtcDateTime(), nullable=False),
    Column("actor", String(64), nullable=False),
    Column("action", String(64), nullable=False),
    Column("target", String(128)),
    Column("old_value", JSON),
    Column("new_value", JSON),
    Index("ix_audit_log_time", "at_utc"),
)

limit_events = Table(
    "limit_events",
    metadata,
    Column("event_id", String(128), primary_key=True),
    Column("source", String(64), nullable=False),  # "operator" | "rest" | "openadr" | ...
    Column("kind", String(32), nullable=False),
    Column("spec", JSON, nullable=False),
    Column("created_utc", UtcDateTime(), nullable=False),
    Column("updated_utc", UtcDateTime(), nullable=False),
    Column("cancelled_utc", UtcDateTime()),
)

site_history = Table(
    "site_history",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at_utc", UtcDateTime(), nullable=False),
    Column("measured_kw", Float, nullable=False),
    Column("ev_kw", Float, nullable=False),
    Column("limit_kw", Float, nullable=False),
    Column("limit_source", String(160), nullable=False),
    Column("planned_kw", Float),
    Column("price_per_kwh", Float),
    Index("ix_site_history_time", "at_utc"),
)

held_profiles = Table(
    "held_profiles",
    metadata,
    # What each charger accepted, newest per (charger, connector, purpose): the dispatch
    # ledger (controller/loop/ledger.py), so a restarted controller knows what an offline
    # charger may still draw on its own. Connector 0 is the charger-wide TxDefaultProfile.
    Column("charger_id", String(64), primary_key=True),
    Column("connector_id", Integer, primary_key=True),
    Column("purpose", String(32), primary_key=True),
    Column("transaction_id", Integer),
    Column("stack_level", Integer, nullable=False),
    Column("phases", Integer, nullable=False),
    Column("voltage_v", Float, nullable=False),
    Column("accepted_utc", UtcDateTime(), nullable=False),
    Column("valid_from_utc", UtcDateTime()),
    Column("valid_to_utc", UtcDateTime()),
    Column("profile", JSON, nullable=False),  # the profile as sent: its limits over time
)
