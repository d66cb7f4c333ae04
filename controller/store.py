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
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy import (
    Integer,
    Table,
    bindparam,
    create_engine,
    delete,
    event,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.sql.dml import Update

from controller.store_tables import (  # the tables, re-exported for the code that uses them
    UtcDateTime,
    audit_log,
    chargers,
    held_profiles,
    limit_events,
    metadata,
    meter_values,
    ocpp_messages,
    sessions,
    site_history,
)

__all__ = [  # the tables are defined in controller.store_tables; most code reads them here
    "Store",
    "StoreError",
    "UtcDateTime",
    "audit_log",
    "chargers",
    "held_profiles",
    "limit_events",
    "metadata",
    "meter_values",
    "ocpp_messages",
    "sessions",
    "site_history",
]

log = logging.getLogger(__name__)
T = TypeVar("T")


class StoreError(RuntimeError):
    """The database could not be opened or written."""


@dataclass(frozen=True)
class Replacement:
    """The row of ``table`` whose primary key is ``key`` becomes ``row`` (None: deleted)."""

    table: Table
    key: tuple[Any, ...]  # the primary key's values, in the table's column order
    row: dict[str, Any] | None


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

    def insert_batches(
        self,
        batches: list[tuple[Table, list[dict[str, Any]]]],
        replacements: Sequence[Replacement] = (),
    ) -> set[int]:
        """Insert every batch and apply every replacement in one transaction; if that fails,
        isolate the failing rows.

        Returns the ``id()`` of each inserted row that could not be written: one bad row (from
        a charger that slipped past the edge checks) must not cost any other row.
        """
        try:
            with self.engine.begin() as conn:
                _replace(conn, replacements)
                for table, rows in batches:
                    if rows:
                        conn.execute(insert(table), rows)
            return set()
        except Exception as exc:
            log.warning("store: a batch failed (%s); writing its rows one by one", _short(exc))
        for replacement in replacements:
            try:
                with self.engine.begin() as conn:
                    _replace(conn, [replacement])
            except Exception as exc:
                log.error("store: %s row not replaced: %s", replacement.table.name, _short(exc))
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

    def held_profile_rows(self) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(select(held_profiles))]

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


def _replace(conn: Connection, replacements: Iterable[Replacement]) -> None:
    """Delete each replaced row by its key, then insert the new rows: one executemany each
    per table (portable across SQLite and PostgreSQL, unlike their upsert dialects)."""
    by_table: dict[str, tuple[Table, list[Replacement]]] = {}
    for replacement in replacements:
        by_table.setdefault(replacement.table.name, (replacement.table, []))[1].append(replacement)
    for table, items in by_table.values():
        columns = list(table.primary_key.columns)
        where = [c == bindparam(f"_k_{c.name}", type_=c.type) for c in columns]
        keys = [{f"_k_{c.name}": v for c, v in zip(columns, r.key, strict=True)} for r in items]
        conn.execute(delete(table).where(*where), keys)
        rows = [r.row for r in items if r.row is not None]
        if rows:
            conn.execute(insert(table), rows)


def _short(exc: BaseException) -> str:
    """An exception's first line, without the statement and parameters SQLAlchemy appends."""
    text = str(getattr(exc, "orig", None) or exc)
    return f"{type(exc).__name__}: {text.splitlines()[0][:200] if text else ''}"


def _jsonable(value: Any) -> Any:
    return None if value is None else json.loads(json.dumps(value, default=str))
