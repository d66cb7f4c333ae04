"""Compliance as a lifecycle: a charger drawing more than the profile it held is flagged after
a grace period (shorter while a cap or demand-response event binds), its measured draw is then
reserved and its profile re-sent each cycle, and the flag clears once it follows its limit."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from controller.clock import Clock
from controller.config import SiteConfig
from controller.limits import GRID
from controller.loop.records import CycleState
from controller.site import SessionState, SiteState

log = logging.getLogger(__name__)


class Compliance:
    def __init__(
        self,
        config: SiteConfig,
        clock: Clock,
        site: SiteState,
        state: CycleState,
        trigger: Callable[[str], None],
        on_overdraw: Callable[[SessionState], None] | None = None,
    ) -> None:
        self.config = config
        self.clock = clock
        self.site = site
        self.state = state
        self.trigger = trigger
        self.on_overdraw = on_overdraw  # ask the charger what it holds (the ledger may be wrong)
        self.over_since: dict[int, datetime] = {}

    def binding(self) -> bool:
        """A cap or DR event sets the limit now, or the last plan filled the limit."""
        limits, history = self.state.limits, self.state.history
        if limits is None:
            return False
        if limits.source[0] != GRID:
            return True
        return bool(history) and history[-1].planned_site_kw >= 0.95 * history[-1].limit_kw

    def grace_s(self) -> float:
        control = self.config.control
        if self.binding():
            return min(control.compliance_grace_s, control.compliance_grace_binding_s)
        return control.compliance_grace_s

    def on_reading(self, transaction_id: int | None) -> None:
        """Judge the session's latest reading against the profile in force when it was taken."""
        if transaction_id is None:
            return
        session = self.site.sessions.get(transaction_id)
        if session is None or session.power_kw is None:
            return
        now = self.clock.now()
        at = min(session.last_meter_utc or now, now)  # a charger clock ahead of ours: now
        held = self.state.ledger.in_force(session.charger_id, session.connector_id, at)
        if held is None or held.transaction_id != transaction_id:
            self.over_since.pop(transaction_id, None)  # grace counts against a profile of ours
            return
        assigned = held.limit_kw_at(at)
        if assigned is None:
            return
        control = self.config.control
        charger = self.site.charger(session.charger_id)
        over = session.power_kw > assigned + control.compliance_tolerance_kw
        if not over:
            self.over_since.pop(transaction_id, None)
            if charger.non_compliant:
                charger.non_compliant = False
                log.info(
                    "%s: follows its limit again (%.1f kW of %.1f kW): compliant",
                    session.charger_id,
                    session.power_kw,
                    assigned,
                )
                self.site.emit("compliant", session.charger_id, transaction_id=transaction_id)
            return
        if charger.non_compliant:
            return
        if (at - held.accepted_utc).total_seconds() < control.compliance_reaction_s:
            return  # the charger has not had time to apply it yet
        if transaction_id not in self.over_since and self.on_overdraw is not None:
            self.on_overdraw(session)
        since = self.over_since.setdefault(transaction_id, at)
        if (at - since).total_seconds() >= self.grace_s():
            charger.non_compliant = True
            log.warning(
                "%s: draws %.1f kW against %.1f kW assigned: non-compliant",
                session.charger_id,
                session.power_kw,
                assigned,
            )
            self.site.emit("non_compliant", session.charger_id, transaction_id=transaction_id)
