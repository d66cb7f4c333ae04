"""OCPP 2.0.1 smart-charging messages a station starts: the car's charging needs and
schedule, the limits the station reports, its installed profiles. Thin: update the site model
(a session's need and external limit, which the planning reads), ask for a re-plan, answer.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from ocpp.routing import on
from ocpp.v201 import call_result
from ocpp.v201.enums import Action

from controller.ocpp.v201_mapping import charging_need, external_limit_kw, need_overrides

if TYPE_CHECKING:
    from controller.ocpp.server import CentralSystem

log = logging.getLogger(__name__)


class SmartChargingHandlers:
    """Mixed into the 2.0.1 connection (``controller.ocpp.v201_handlers``)."""

    id: str
    central: CentralSystem

    @on(Action.notify_ev_charging_needs)
    async def on_notify_ev_charging_needs(
        self, charging_needs: dict[str, Any], evse_id: int, **_: Any
    ) -> call_result.NotifyEVChargingNeeds:
        central = self.central
        session = central.site.session_on(self.id, evse_id)
        if session is None:
            log.warning("%s: charging needs for EVSE %d without a transaction", self.id, evse_id)
            return call_result.NotifyEVChargingNeeds(status="Rejected")
        configured = central.config.charger(self.id)
        need = charging_need(
            charging_needs,
            phases=configured.phases if configured else 3,
            voltage_v=central.voltage_v(self.id),
            now_utc=central.clock.now(),
        )
        session.overrides = need_overrides(need, session.energy_kwh, session.overrides)
        if need.max_kw is not None:
            session.car_max_kw = need.max_kw
        await central.store.run(
            central.store.store.update_session,
            session.transaction_id,
            overrides=session.overrides or None,
        )
        log.info(
            "%s: transaction %s: the car needs %s kWh by %s",
            self.id,
            session.ocpp_transaction_id,
            need.energy_kwh,
            need.departure_utc,
        )
        central.site.emit("session_needs", self.id, transaction_id=session.transaction_id)
        return call_result.NotifyEVChargingNeeds(status="Accepted")

    @on(Action.notify_ev_charging_schedule)
    def on_notify_ev_charging_schedule(
        self, time_base: str, charging_schedule: dict[str, Any], evse_id: int, **_: Any
    ) -> call_result.NotifyEVChargingSchedule:
        periods = charging_schedule.get("charging_schedule_period", [])
        log.info("%s: EVSE %d: the car's schedule has %d periods", self.id, evse_id, len(periods))
        return call_result.NotifyEVChargingSchedule(status="Accepted")

    @on(Action.notify_charging_limit)
    def on_notify_charging_limit(
        self, charging_limit: dict[str, Any], **kwargs: Any
    ) -> call_result.NotifyChargingLimit:
        evse_id = int(kwargs.get("evse_id") or 0)
        entry = {
            "limit": charging_limit,
            "schedules": kwargs.get("charging_schedule") or [],
            "received_utc": self.central.clock.now(),
        }
        self.central.site.charger(self.id).charging_limits[evse_id] = entry
        self._apply_external_limits()
        log.warning(
            "%s: EVSE %d: the station reports a %s limit",
            self.id,
            evse_id,
            charging_limit.get("charging_limit_source"),
        )
        return call_result.NotifyChargingLimit()

    @on(Action.cleared_charging_limit)
    def on_cleared_charging_limit(
        self, charging_limit_source: str, **kwargs: Any
    ) -> call_result.ClearedChargingLimit:
        self.central.site.charger(self.id).charging_limits.pop(
            int(kwargs.get("evse_id") or 0), None
        )
        self._apply_external_limits()
        return call_result.ClearedChargingLimit()

    def _apply_external_limits(self) -> None:
        """The station's reported limits onto its sessions, for the next plan: an EVSE's own
        limit, and an equal part of a station-wide one (EVSE 0)."""
        central = self.central
        limits = central.site.charger(self.id).charging_limits
        configured = central.config.charger(self.id)
        phases = configured.phases if configured else 3
        evses = configured.connectors if configured else 1
        now = central.clock.now()

        def limit_kw(evse_id: int) -> float | None:
            entry = limits.get(evse_id)
            if entry is None:
                return None
            return external_limit_kw(
                entry["schedules"],
                received_utc=entry["received_utc"],
                now_utc=now,
                phases=phases,
                voltage_v=central.voltage_v(self.id),
            )

        station_kw = limit_kw(0)
        changed = False
        for session in list(central.site.sessions.values()):
            if session.charger_id != self.id:
                continue
            candidates = [limit_kw(session.connector_id)]
            if station_kw is not None:
                candidates.append(station_kw / evses)
            known = [c for c in candidates if c is not None]
            new = min(known) if known else None
            if new != session.external_limit_kw:
                session.external_limit_kw, changed = new, True
                central.site.emit("session_needs", self.id, transaction_id=session.transaction_id)
        if changed:
            log.info("%s: reported limits now %s", self.id, sorted(limits))

    @on(Action.report_charging_profiles)
    def on_report_charging_profiles(
        self,
        request_id: int,
        charging_limit_source: str,
        charging_profile: list,
        evse_id: int,
        **_: Any,
    ) -> call_result.ReportChargingProfiles:
        log.info(
            "%s: EVSE %d has %d %s profile(s)",
            self.id,
            evse_id,
            len(charging_profile),
            charging_limit_source,
        )
        return call_result.ReportChargingProfiles()
