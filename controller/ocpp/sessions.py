"""Sessions as the store keeps them: restored at start, their progress written now and then,
closed with the energy the charger's meter says (where it could have delivered it)."""

from __future__ import annotations

import logging
from datetime import datetime

from controller.async_store import AsyncStore
from controller.authorization import Authorizer
from controller.config import SiteConfig
from controller.site import SessionState, SiteState
from controller.units import kw_from_a

log = logging.getLogger(__name__)

#: meterStop - meterStart beyond this share of the charger's rating is a register gone astray
PLAUSIBLE_RATING_SHARE = 1.25
PLAUSIBLE_SLACK_KWH = 0.05


def charger_voltage_v(config: SiteConfig, charger_id: str) -> float:
    """A listed charger's voltage, or the site's for an admitted one [V]."""
    configured = config.charger(charger_id)
    if configured is None:
        return config.site.voltage_v
    return config.charger_voltage_v(configured)


class SessionKeeper:
    def __init__(
        self, config: SiteConfig, site: SiteState, store: AsyncStore, authorizer: Authorizer
    ) -> None:
        self.config = config
        self.site = site
        self.store = store
        self.authorizer = authorizer

    async def restore(self) -> int:
        """Load open sessions from the store, so they continue when chargers reconnect."""
        rows = await self.store.run(self.store.store.open_sessions)
        for row in rows:
            session = SessionState(
                transaction_id=row["transaction_id"],
                charger_id=row["charger_id"],
                connector_id=row["connector_id"],
                id_tag=row["id_tag"],
                start_utc=row["start_utc"],
                meter_start_wh=row["meter_start_wh"],
                energy_kwh=row["energy_kwh"] or 0.0,
                power_kw=row["last_power_kw"],
                soc_percent=row["soc_percent"],
                overrides=row["overrides"] or {},
                id_tag_group=self.authorizer.group(row["id_tag"]),
                ocpp_transaction_id=row.get("ocpp_transaction_id"),
            )
            self.site.sessions[session.transaction_id] = session
        if rows:
            log.info("restored %d open sessions from the store", len(rows))
        return len(rows)

    async def finish(
        self, session: SessionState, *, stop_utc: datetime, meter_stop_wh: float | None, reason: str
    ) -> None:
        if meter_stop_wh is not None:
            self._take_meter_stop(session, stop_utc, meter_stop_wh)
        session.stop_utc = stop_utc
        session.stop_reason = reason
        session.power_kw = 0.0
        self.site.close_session(session.transaction_id)
        await self.store.run(
            self.store.store.update_session,
            session.transaction_id,
            stop_utc=stop_utc,
            meter_stop_wh=meter_stop_wh,
            stop_reason=reason,
            energy_kwh=session.energy_kwh,
            last_power_kw=0.0,
            soc_percent=session.soc_percent,
        )
        log.info(
            "%s: transaction %d stopped (%s), %.2f kWh",
            session.charger_id,
            session.transaction_id,
            reason,
            session.energy_kwh,
        )

    def _take_meter_stop(self, session: SessionState, stop_utc: datetime, meter_stop_wh: float):
        """meterStop - meterStart is the session's energy, where the charger could have
        delivered it; otherwise what the readings added up to stands."""
        start_wh = session.meter_start_wh
        energy_wh = meter_stop_wh - start_wh if meter_stop_wh >= start_wh else meter_stop_wh
        hours = max(0.0, (stop_utc - session.start_utc).total_seconds() / 3600.0)
        charger = self.site.charger_config(session.charger_id)
        rating_kw = (
            kw_from_a(
                charger.max_current_a,
                charger.phases,
                charger_voltage_v(self.config, charger.id),
            )
            if charger is not None
            else float("inf")
        )
        if energy_wh / 1000.0 <= PLAUSIBLE_RATING_SHARE * rating_kw * hours + PLAUSIBLE_SLACK_KWH:
            session.energy_kwh = energy_wh / 1000.0
            return
        log.warning(
            "%s: transaction %d: meterStop - meterStart = %.3f kWh is more than the "
            "charger can deliver in %.2f h; the readings' %.3f kWh stand",
            session.charger_id,
            session.transaction_id,
            energy_wh / 1000.0,
            hours,
            session.energy_kwh,
        )

    async def persist(self) -> None:
        """Write the open sessions' progress, so a restart resumes from recent values."""
        changes = [
            (
                session.transaction_id,
                {
                    "energy_kwh": session.energy_kwh,
                    "last_power_kw": session.power_kw,
                    "soc_percent": session.soc_percent,
                    "overrides": session.overrides or None,
                },
            )
            for session in list(self.site.sessions.values())
        ]
        if changes:  # one transaction for all of them
            await self.store.run(self.store.store.update_sessions, changes)
