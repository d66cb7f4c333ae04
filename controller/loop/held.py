"""The dispatch ledger kept in the store: after a restart the controller still knows what each
charger holds, so a charger that stays offline is reserved at the most its held profiles let it
draw until they lapse (a charger that dropped its connection during a cap steps up on its own
schedule once the cap ends, whether or not this controller is the one that sent it).

Every ledger change is queued as a row replacement on the store's batched flush (one row per
charger, connector and purpose: the newest profile), so an acknowledgement never waits for the
disk. The TxDefaultProfile each charger accepted is read from ``CycleState.default_a`` (where
the standing defaults record it) once per cycle, and restored there too.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from controller.async_store import AsyncStore
from controller.config import SiteConfig
from controller.loop.ledger import TX_DEFAULT, HeldProfile, Ledger, LedgerChange
from controller.ocpp.profiles import tx_default_profile
from controller.site import SiteState
from controller.store import held_profiles

log = logging.getLogger(__name__)


def held_row(held: HeldProfile) -> dict[str, Any]:
    return {
        "charger_id": held.charger_id,
        "connector_id": held.connector_id,
        "purpose": held.purpose,
        "transaction_id": held.transaction_id,
        "stack_level": held.stack_level,
        "phases": held.phases,
        "voltage_v": held.voltage_v,
        "accepted_utc": held.accepted_utc,
        "valid_from_utc": held.valid_from_utc,
        "valid_to_utc": held.valid_to_utc,
        "profile": held.profile,
    }


def held_from_row(row: dict[str, Any]) -> HeldProfile:
    return HeldProfile(
        charger_id=row["charger_id"],
        connector_id=int(row["connector_id"]),
        transaction_id=row["transaction_id"],
        profile=row["profile"],
        phases=int(row["phases"]),
        voltage_v=float(row["voltage_v"]),
        accepted_utc=row["accepted_utc"],
    )


def _default_limit(profile: dict[str, Any]) -> tuple[str, list[Any]]:
    schedule = profile["charging_schedule"]
    return schedule["charging_rate_unit"], schedule["charging_schedule_period"]


class HeldStore:
    """Writes every ledger change to the store (batched) and reads it back at start."""

    def __init__(
        self, config: SiteConfig, site: SiteState, ledger: Ledger, store: AsyncStore
    ) -> None:
        self.config = config
        self.site = site
        self.ledger = ledger
        self.store = store
        self._synced_a: dict[str, float] = {}  # the default last recorded, per charger [A]
        ledger.listeners.append(self._changed)

    def _changed(self, change: LedgerChange) -> None:
        key = (change.charger_id, change.connector_id, change.purpose)
        self.store.replace(
            held_profiles, key, None if change.held is None else held_row(change.held)
        )

    def sync_defaults(self, default_a: dict[str, float], now: datetime) -> None:
        """Record in the ledger the TxDefaultProfile each charger accepted, as the standing
        defaults left it in ``default_a`` [A per phase]; forget the ones no longer known."""
        for charger_id in [c for c in self.ledger.chargers_with_default() if c not in default_a]:
            self.ledger.forget_default(charger_id)
        for charger_id, current_a in default_a.items():
            if (
                self._synced_a.get(charger_id) == current_a
                and self.ledger.default(charger_id) is not None
            ):
                continue  # the usual case: nothing to build
            charger_cfg = self.site.charger_config(charger_id)
            if charger_cfg is None:
                continue
            voltage_v = self.config.charger_voltage_v(charger_cfg)
            profile = tx_default_profile(
                current_a=current_a,
                phases=charger_cfg.phases,
                voltage_v=voltage_v,
                capabilities=self.site.charger(charger_id).capabilities,
                start_utc=now - timedelta(minutes=1),
            )
            self._synced_a[charger_id] = current_a
            held = self.ledger.default(charger_id)
            if held is not None and _default_limit(held.profile) == _default_limit(profile):
                continue
            self.ledger.accept(
                HeldProfile(
                    charger_id=charger_id,
                    connector_id=0,
                    transaction_id=None,
                    profile=profile,
                    phases=charger_cfg.phases,
                    voltage_v=voltage_v,
                    accepted_utc=now,
                )
            )

    async def restore(self, default_a: dict[str, float], now: datetime) -> int:
        """Put what the chargers held at the last run back into the ledger: TxProfiles of
        transactions still open and still valid, and every charger's TxDefaultProfile
        (into ``default_a`` too). Rows that no longer count are deleted. Returns how many
        profiles were restored."""
        rows = await self.store.run(self.store.store.held_profile_rows)
        restored = 0
        for row in rows:
            held = held_from_row(row)
            key = (held.charger_id, held.connector_id, held.purpose)
            charger_cfg = self.site.charger_config(held.charger_id)
            if held.purpose == TX_DEFAULT and charger_cfg is not None:
                unit, periods = _default_limit(held.profile)
                limit = float(periods[0]["limit"])
                default_a[held.charger_id] = (
                    limit if unit == "A" else limit / (held.phases * held.voltage_v)
                )
            elif (
                held.purpose == TX_DEFAULT
                or held.lapsed(now)
                or held.transaction_id not in self.site.sessions
            ):
                self.store.replace(held_profiles, key, None)
                continue
            self.ledger.accept(held, tell=False)
            restored += 1
        if rows:
            log.info("ledger: %d of %d held profiles restored from the store", restored, len(rows))
        return restored
