"""Persistence: SQLite by default, PostgreSQL by URL; a restart resumes from it.

SQLAlchemy Core (not the ORM): the controller writes many small rows (every OCPP message
for the audit trail, every meter value), so rows are plain dicts and high-volume writes are
batched. All database work runs on one writer thread, so the event loop never blocks on disk
and SQLite never sees two writers.
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

from alembic import command
from alembic.config import Config as AlembicConfig
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
    bindparam,
    create_engine,
    delete,
    event,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.sql.dml import Update

log = logging.getLogger(__name__)
T = TypeVar("T")


class StoreError(RuntimeError):
    """The database could not be opened or written."""


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

MIGRATIONS_DIR = Path(__file__).with_name("migrations")


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest Alembic revision."""
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    with engine.begin() as connection:
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, "head")


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return create_engine(url, pool_pre_ping=True)


def redact_url(url: str) -> str:
    """The URL with its password masked, for messages and logs."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # not a URL SQLAlchemy can read: show only its scheme
        return url.split(":", 1)[0] + "://***"


class Store:
    """Synchronous database access; use it through ``AsyncStore`` from the event loop."""

    def __init__(self, url: str) -> None:
        self.url = url
        try:
            self.engine = make_engine(url)
            migrate(self.engine)
        except Exception as exc:  # the message must reach the operator, whatever the driver
            shown = redact_url(url)
            detail = str(exc).replace(url, shown)
            raise StoreError(f"store {shown!r}: cannot open or migrate: {detail}") from exc

    def close(self) -> None:
        self.engine.dispose()

    # chargers ---------------------------------------------------------------------------
    def upsert_charger(self, charger_id: str, **fields: Any) -> None:
        with self.engine.begin() as conn:
            found = conn.execute(
                select(chargers.c.charger_id).where(chargers.c.charger_id == charger_id)
            ).first()
            if found is None:
                conn.execute(insert(chargers).values(charger_id=charger_id, **fields))
            elif fields:
                conn.execute(
                    update(chargers).where(chargers.c.charger_id == charger_id).values(**fields)
                )

    def charger_rows(self) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(select(chargers))]

    # sessions ---------------------------------------------------------------------------
    def start_session(self, **fields: Any) -> int:
        with self.engine.begin() as conn:
            result = conn.execute(insert(sessions).values(**fields))
            return int(result.inserted_primary_key[0])

    def update_session(self, transaction_id: int, **fields: Any) -> None:
        with self.engine.begin() as conn:
            conn.execute(_session_update(tuple(fields)), _session_params(transaction_id, fields))

    def update_sessions(self, changes: Iterable[tuple[int, dict[str, Any]]]) -> None:
        """Many ``update_session`` calls in one transaction: one executemany per set of fields."""
        groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
        for transaction_id, fields in changes:
            groups.setdefault(tuple(fields), []).append(_session_params(transaction_id, fields))
        if groups:
            with self.engine.begin() as conn:
                for names, params in groups.items():
                    conn.execute(_session_update(names), params)

    def session_row(self, transaction_id: int) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            row = conn.execute(
                select(sessions).where(sessions.c.transaction_id == transaction_id)
            ).first()
            return dict(row._mapping) if row else None

    def open_sessions(self) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(sessions).where(sessions.c.stop_utc.is_(None)))
            return [dict(r._mapping) for r in rows]

    def session_rows(self, limit: int = 1000) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(sessions).order_by(sessions.c.transaction_id.desc()).limit(limit)
            )
            return [dict(r._mapping) for r in rows]

    # batched, high-volume rows ----------------------------------------------------------
    def insert_many(self, table: Table, rows: list[dict[str, Any]]) -> None:
        if rows:
            with self.engine.begin() as conn:
                conn.execute(insert(table), rows)

    def insert_batches(self, batches: list[tuple[Table, list[dict[str, Any]]]]) -> set[int]:
        """Insert every batch in one transaction; if that fails, isolate the failing rows.

        Returns the ``id()`` of each row that could not be written: one bad row (from a
        charger that slipped past the edge checks) must not cost any other row.
        """
        try:
            with self.engine.begin() as conn:
                for table, rows in batches:
                    if rows:
                        conn.execute(insert(table), rows)
            return set()
        except Exception as exc:
            log.warning("store: a batch failed (%s); writing its rows one by one", _short(exc))
        failed: set[int] = set()
        for table, rows in batches:
            for row in rows:
                try:
                    with self.engine.begin() as conn:
                        conn.execute(insert(table), [row])
                except Exception as exc:
                    failed.add(id(row))
                    log.error("store: %s row dropped: %s", table.name, _short(exc))
        return failed

    def count(self, table: Table) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(table)).scalar_one())

    def rows(self, table: Table, *, limit: int = 1000, **equal: Any) -> list[dict[str, Any]]:
        query = select(table)
        for name, value in equal.items():
            query = query.where(table.c[name] == value)
        first_key = next(iter(table.primary_key.columns))
        query = query.order_by(first_key.desc()).limit(limit)
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(query)]

    # audit and limit events -------------------------------------------------------------
    def audit(
        self,
        *,
        at_utc: datetime,
        actor: str,
        action: str,
        target: str | None,
        old_value: Any = None,
        new_value: Any = None,
    ) -> None:
        self.insert_many(
            audit_log,
            [
                {
                    "at_utc": at_utc,
                    "actor": actor,
                    "action": action,
                    "target": target,
                    "old_value": _jsonable(old_value),
                    "new_value": _jsonable(new_value),
                }
            ],
        )

    def save_limit_event(self, row: dict[str, Any]) -> None:
        with self.engine.begin() as conn:
            exists = conn.execute(
                select(limit_events.c.event_id).where(limit_events.c.event_id == row["event_id"])
            ).first()
            if exists:
                conn.execute(
                    update(limit_events)
                    .where(limit_events.c.event_id == row["event_id"])
                    .values(**row)
                )
            else:
                conn.execute(insert(limit_events).values(**row))

    def limit_event_rows(self) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(select(limit_events))]

    # retention --------------------------------------------------------------------------
    def prune(self, now_utc: datetime, *, meter_days: float, audit_days: float) -> dict[str, int]:
        """Delete meter values and audit rows past retention; sessions are never deleted."""
        removed = {}
        with self.engine.begin() as conn:
            cutoff = now_utc - timedelta(days=meter_days)
            result = conn.execute(delete(meter_values).where(meter_values.c.timestamp_utc < cutoff))
            removed["meter_values"] = result.rowcount
            cutoff = now_utc - timedelta(days=audit_days)
            result = conn.execute(delete(ocpp_messages).where(ocpp_messages.c.at_utc < cutoff))
            removed["ocpp_messages"] = result.rowcount
            result = conn.execute(delete(audit_log).where(audit_log.c.at_utc < cutoff))
            removed["audit_log"] = result.rowcount
        return removed


@functools.lru_cache(maxsize=64)
def _session_update(names: tuple[str, ...]) -> Update:
    """UPDATE sessions SET <names> WHERE transaction_id = ?, built once per set of columns.

    Building the statement for every call cost about two thirds of each update's CPU time
    (2,000 open sessions are persisted every watchdog tick).
    """
    columns = sessions.c
    return (
        update(sessions)
        .where(columns.transaction_id == bindparam("_transaction_id", type_=Integer))
        .values(
            {
                # an unknown name fails in SQLAlchemy, as with .values(**fields)
                name: bindparam(f"_v_{name}", type_=columns[name].type if name in columns else None)
                for name in names
            }
        )
    )


def _session_params(transaction_id: int, fields: dict[str, Any]) -> dict[str, Any]:
    params = {f"_v_{name}": value for name, value in fields.items()}
    params["_transaction_id"] = transaction_id
    return params


def _short(exc: BaseException) -> str:
    """An exception's first line, without the statement and parameters SQLAlchemy appends."""
    text = str(getattr(exc, "orig", None) or exc)
    return f"{type(exc).__name__}: {text.splitlines()[0][:200] if text else ''}"


def _jsonable(value: Any) -> Any:
    return None if value is None else json.loads(json.dumps(value, default=str))
