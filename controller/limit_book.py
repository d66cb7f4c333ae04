"""Operator caps and demand-response events: kept, changed, cancelled, persisted, restored.

The book is the one place the API, the DR sources and the cycle meet: writers change it and
the cycle asks it for the windows over its horizon. Every change is persisted before it is
acknowledged, and announced so the loop re-plans at once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, time
from typing import Any

from controller.async_store import AsyncStore
from controller.clock import Clock
from controller.limits import LimitWindow, RecurringCap

log = logging.getLogger(__name__)


@dataclass
class Entry:
    entry_id: str
    source: str
    kind: str  # "permanent" | "window" | "recurring" | "dr"
    spec: dict[str, Any]
    created_utc: datetime
    updated_utc: datetime
    cancelled_utc: datetime | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.entry_id,
            "source": self.source,
            "kind": self.kind,
            **self.spec,
            "created_utc": self.created_utc.isoformat(),
            "updated_utc": self.updated_utc.isoformat(),
            "cancelled_utc": self.cancelled_utc.isoformat() if self.cancelled_utc else None,
        }


def windows_of(
    entry: Entry, timezone: str, start_utc: datetime, end_utc: datetime
) -> list[LimitWindow]:
    spec = entry.spec
    if entry.kind == "recurring":
        cap = RecurringCap(
            cap_id=entry.entry_id,
            limit_kw=float(spec["limit_kw"]),
            start_local=time.fromisoformat(spec["start_local"]),
            end_local=time.fromisoformat(spec["end_local"]),
            weekdays=frozenset(spec.get("weekdays", range(7))),
            timezone=spec.get("timezone") or timezone,
            source=entry.source,
        )
        return cap.windows(start_utc, end_utc)
    return [
        LimitWindow(
            window_id=entry.entry_id,
            source=entry.source,
            kind="dr" if entry.kind == "dr" else "cap",
            start_utc=_dt(spec.get("start_utc")),
            end_utc=_dt(spec.get("end_utc")),
            limit_kw=spec.get("limit_kw"),
            reduction_kw=spec.get("reduction_kw"),
            reduction_pct=spec.get("reduction_pct"),
            ramp_s=float(spec.get("ramp_s") or 0.0),
        )
    ]


def _dt(value: Any) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))


class LimitBook:
    def __init__(self, clock: Clock, store: AsyncStore, timezone: str) -> None:
        self.clock = clock
        self.store = store
        self.timezone = timezone
        self.entries: dict[str, Entry] = {}
        self._listeners: list[Callable[[str], None]] = []

    def subscribe(self, listener: Callable[[str], None]) -> None:
        self._listeners.append(listener)

    async def restore(self) -> int:
        rows = await self.store.run(self.store.store.limit_event_rows)
        for row in rows:
            self.entries[row["event_id"]] = Entry(
                entry_id=row["event_id"],
                source=row["source"],
                kind=row["kind"],
                spec=row["spec"],
                created_utc=row["created_utc"],
                updated_utc=row["updated_utc"],
                cancelled_utc=row["cancelled_utc"],
            )
        return len(rows)

    def active(self) -> list[Entry]:
        return [e for e in self.entries.values() if e.cancelled_utc is None]

    def windows(self, start_utc: datetime, end_utc: datetime) -> list[LimitWindow]:
        result: list[LimitWindow] = []
        for entry in self.active():
            result.extend(windows_of(entry, self.timezone, start_utc, end_utc))
        return result

    async def put(
        self, entry_id: str, *, source: str, kind: str, spec: dict[str, Any], actor: str
    ) -> tuple[Entry, Entry | None]:
        """Create or replace an entry (validated first: a bad one raises and changes nothing)."""
        now = self.clock.now()
        previous = self.entries.get(entry_id)
        entry = Entry(entry_id, source, kind, spec, previous.created_utc if previous else now, now)
        windows_of(entry, self.timezone, now, now)  # raises LimitError on a bad spec
        await self._persist(entry)
        self.entries[entry_id] = entry
        await self._audit(actor, "update" if previous else "create", entry, previous)
        self._announce(entry_id)
        return entry, previous

    async def cancel(self, entry_id: str, *, actor: str) -> Entry | None:
        previous = self.entries.get(entry_id)
        if previous is None or previous.cancelled_utc is not None:
            return None
        entry = Entry(**{**previous.__dict__, "cancelled_utc": self.clock.now()})
        await self._persist(entry)
        self.entries[entry_id] = entry
        await self._audit(actor, "cancel", entry, previous)
        self._announce(entry_id)
        return entry

    async def _persist(self, entry: Entry) -> None:
        await self.store.run(
            self.store.store.save_limit_event,
            {
                "event_id": entry.entry_id,
                "source": entry.source,
                "kind": entry.kind,
                "spec": entry.spec,
                "created_utc": entry.created_utc,
                "updated_utc": entry.updated_utc,
                "cancelled_utc": entry.cancelled_utc,
            },
        )

    async def _audit(self, actor: str, action: str, entry: Entry, previous: Entry | None) -> None:
        await self.store.run(
            self.store.store.audit,
            at_utc=self.clock.now(),
            actor=actor,
            action=f"{entry.kind}.{action}",
            target=entry.entry_id,
            old_value=previous.as_dict() if previous else None,
            new_value=entry.as_dict(),
        )

    def _announce(self, entry_id: str) -> None:
        for listener in self._listeners:
            try:
                listener(entry_id)
            except Exception:
                log.exception("limit listener failed")
