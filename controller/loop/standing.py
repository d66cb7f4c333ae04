"""Standing defaults: every charger that can connect holds a TxDefaultProfile at the safe
share, so the whole site stays inside its limits when the controller is gone; chargers that
refuse one are uncontrollable (their full power reserved) and probed again now and then."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from controller.clock import Clock
from controller.config import SiteConfig
from controller.limit_book import LimitBook
from controller.limits import effective_limits
from controller.loop.reconcile import Reconciler
from controller.loop.records import CycleState
from controller.ocpp.errors import ChargerRequestError
from controller.ocpp.profiles import tx_default_profile
from controller.ocpp.server import CentralSystem
from controller.safety import safe_share_a
from controller.site import SiteState
from controller.units import kw_from_a

log = logging.getLogger(__name__)


class Standing:
    def __init__(
        self,
        config: SiteConfig,
        clock: Clock,
        site: SiteState,
        central: CentralSystem,
        limit_book: LimitBook,
        state: CycleState,
        trigger: Callable[[str], None],
    ) -> None:
        self.config = config
        self.clock = clock
        self.site = site
        self.central = central
        self.limit_book = limit_book
        self.state = state
        self.trigger = trigger
        self.reconcile = Reconciler(config, clock, site, central, state, self, trigger)

    def safe_a(self, now: datetime) -> float:
        """The safe share [A per phase] under the lowest limit of the next hour, with the full
        power of every uncontrollable charger set aside."""
        windows = self.limit_book.windows(now, now + timedelta(hours=1))
        limits = effective_limits(
            self.config.site.grid_limit_kw, windows, [now], [now + timedelta(hours=1)]
        )
        roster = self.site.roster()
        uncontrollable_kw = sum(
            kw_from_a(c.max_current_a, c.phases, self.config.charger_voltage_v(c)) * c.connectors
            for c in roster
            if not self.site.charger(c.id).controllable
        )
        return safe_share_a(self.config, float(limits.limit_kw[0]), uncontrollable_kw, roster)

    async def on_ready(self, charger_id: str) -> None:
        """A charger (re)connected and was configured. After a boot what it holds is unknown;
        back without one, it is asked (its composite schedule) and the ledger kept where it
        agrees. Its default is sent again either way; where a newcomer lowers the safe
        share, the others' defaults are lowered first."""
        if self.central.reconnected_without_boot(charger_id):
            await self.reconcile.after_reconnect(charger_id)
        else:
            self.state.ledger.forget(charger_id)
        self.state.default_a.pop(charger_id, None)
        now = self.clock.now()
        safe_a = self.safe_a(now)
        lower = [
            cid
            for cid, held_a in self.state.default_a.items()
            if held_a > safe_a and cid in self.central.connections
        ]
        await asyncio.gather(*(self.send(cid, safe_a, now) for cid in lower))
        await self.send(charger_id, safe_a, now)

    async def refresh(self, now: datetime) -> None:
        """Send the default to every connected charger whose default is not the safe share."""
        safe_a = self.safe_a(now)
        stale = [
            cid
            for cid in self.central.connections
            if self.state.default_a.get(cid) != safe_a
            and self.site.charger(cid).booted
            and self.site.charger(cid).controllable
        ]
        await asyncio.gather(*(self.send(cid, safe_a, now) for cid in stale))

    async def send(self, charger_id: str, safe_a: float, now: datetime) -> None:
        charger_cfg = self.site.charger_config(charger_id)
        if charger_cfg is None:
            return
        state = self.site.charger(charger_id)
        profile = tx_default_profile(
            current_a=safe_a,
            phases=charger_cfg.phases,
            voltage_v=self.config.charger_voltage_v(charger_cfg),
            capabilities=state.capabilities,
            start_utc=now - timedelta(minutes=1),
        )
        try:
            answer = await self.central.requests(charger_id).set_charging_profile(0, profile)
            status = answer.status
        except ChargerRequestError as exc:
            status = str(exc)
        if status == "Accepted":
            self.state.default_a[charger_id] = safe_a
            if not state.controllable:
                log.info(
                    "%s: takes profiles again (was: %s)", charger_id, state.uncontrollable_reason
                )
                state.controllable, state.uncontrollable_reason = True, None
                state.uncontrollable_since_utc = None
                self.trigger(f"controllable:{charger_id}")
            return
        # A charger without a standing safe default may draw its full rating at any moment.
        log.warning("%s: TxDefaultProfile not set (%s); marked uncontrollable", charger_id, status)
        if state.controllable:
            self.mark_uncontrollable(charger_id, f"TxDefaultProfile: {status}")

    def mark_uncontrollable(self, charger_id: str, why: str) -> None:
        """Reserve the charger's full power from the next plan on, until it is tried again."""
        state = self.site.charger(charger_id)
        state.controllable, state.uncontrollable_reason = False, why
        state.uncontrollable_since_utc = self.clock.now()
        self.trigger(f"uncontrollable:{charger_id}")

    async def retry_uncontrollable(self, now: datetime) -> None:
        """Probe chargers marked uncontrollable once in a while: a firmware that rejected one
        profile, or a link that timed out once, may take the next. The probe is the standing
        TxDefaultProfile; only its acceptance makes the charger count as controllable again, so
        no plan counts on a charger before it has taken a profile."""
        retry_s = self.config.control.uncontrollable_retry_s
        due = []
        for state in self.site.chargers.values():
            since = state.uncontrollable_since_utc
            if (
                not state.controllable
                and since is not None
                and state.charger_id in self.central.connections
                and (now - since).total_seconds() >= retry_s
            ):
                state.uncontrollable_since_utc = now  # next probe one period later
                due.append(state.charger_id)
        if due:
            safe_a = self.safe_a(now)
            await asyncio.gather(*(self.send(cid, safe_a, now) for cid in due))
