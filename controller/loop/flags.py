"""What the loop learned about each charger, kept in the store: a charger flagged
non-compliant or uncontrollable stays so across a restart (it gets no fresh grace period) until
it shows otherwise — follows its limit again, or takes a profile."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from controller.async_store import AsyncStore
from controller.site import ChargerState, SiteState


def _flags(state: ChargerState) -> dict[str, Any]:
    since = state.uncontrollable_since_utc
    return {
        "non_compliant": state.non_compliant,
        "controllable": state.controllable,
        "uncontrollable_reason": state.uncontrollable_reason,
        "uncontrollable_since_utc": since.isoformat() if since else None,
    }


class ChargerFlags:
    def __init__(self, site: SiteState, store: AsyncStore) -> None:
        self.site = site
        self.store = store
        self._saved: dict[str, dict[str, Any]] = {}

    async def save(self) -> None:
        """Write the flags that changed since the last save."""
        for charger_id, state in list(self.site.chargers.items()):
            flags = _flags(state)
            if self._saved.get(charger_id, _flags(ChargerState(charger_id, None))) != flags:
                await self.store.run(self.store.store.upsert_charger, charger_id, control=flags)
                self._saved[charger_id] = flags

    async def restore(self) -> None:
        for row in await self.store.run(self.store.store.charger_rows):
            flags = row.get("control")
            if not flags:
                continue
            state = self.site.chargers.get(row["charger_id"])
            if state is None:
                continue  # an admitted charger: judged afresh when it connects again
            state.non_compliant = bool(flags.get("non_compliant"))
            state.controllable = bool(flags.get("controllable", True))
            state.uncontrollable_reason = flags.get("uncontrollable_reason")
            since = flags.get("uncontrollable_since_utc")
            state.uncontrollable_since_utc = datetime.fromisoformat(since) if since else None
            self._saved[state.charger_id] = _flags(state)
