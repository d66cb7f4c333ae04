"""OCPP 2.0.1 handlers for everything a station starts: thin, update the same site model, answer.

A station's EVSE is the site's connector; its string transaction id maps onto a session with
an internal integer key (the one planning and dispatch use), the string kept beside it in the
store and the API. Work that must follow an answer (reading the device model after a boot)
is scheduled with ``after_response``.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ocpp.routing import on
from ocpp.v201 import call_result
from ocpp.v201.enums import Action

from controller.meter import Reading, parse_meter_values, parse_timestamp, summarise
from controller.ocpp.protocol import V201ProtocolChargePoint
from controller.ocpp.v201_mapping import CHARGING_STATE_STATUS, id_token_info, meter_values_as_v16
from controller.ocpp.v201_outbound import V201Requests
from controller.ocpp.v201_setup import configure_station
from controller.ocpp.v201_smart_charging import SmartChargingHandlers
from controller.site import SessionState
from controller.store import meter_values

if TYPE_CHECKING:
    from controller.ocpp.server import CentralSystem

log = logging.getLogger(__name__)


class V201CentralChargePoint(SmartChargingHandlers, V201ProtocolChargePoint):
    """One 2.0.1 station's connection with the handlers of the central system."""

    async def configure_after_reconnect(self, charger_id: str) -> None:
        """What a boot sets up, for a station that reconnected without booting."""
        await configure_station(self.central, charger_id)

    requests_factory = V201Requests

    def __init__(self, charger_id: str, connection: Any, central: CentralSystem) -> None:
        super().__init__(
            charger_id,
            connection,
            response_timeout_s=central.config.ocpp.response_timeout_s,
            frame_sink=central.frame_sink(charger_id),
        )
        self.central = central

    async def route_message(self, raw_msg: str | bytes) -> None:
        self.central.site.mark_seen(self.id, self.central.clock.now())
        await super().route_message(raw_msg)

    def _now_iso(self) -> str:
        return self.central.clock.now().isoformat().replace("+00:00", "Z")

    def session_of(self, transaction_id: str) -> SessionState | None:
        """The open session of this station's ``transaction_id`` (its own string)."""
        for session in self.central.site.sessions.values():
            if session.charger_id == self.id and session.ocpp_transaction_id == transaction_id:
                return session
        return None

    def _closed_session_of(self, transaction_id: str) -> SessionState | None:
        for session in reversed(self.central.site.closed_sessions.values()):
            if session.charger_id == self.id and session.ocpp_transaction_id == transaction_id:
                return session
        return None

    # boot and presence -------------------------------------------------------------------
    @on(Action.boot_notification)
    async def on_boot_notification(
        self, charging_station: dict[str, Any], reason: str, **kwargs: Any
    ) -> call_result.BootNotification:
        central = self.central
        if (
            central.config.charger(self.id) is None
            and not central.config.ocpp.allow_unknown_chargers
        ):
            log.warning("%s: boot rejected: not in the site's charger list", self.id)
            return call_result.BootNotification(
                current_time=self._now_iso(), interval=60, status="Rejected"
            )
        now = central.clock.now()
        state = central.site.charger(self.id)
        state.vendor = charging_station.get("vendor_name")
        state.model = charging_station.get("model")
        state.serial_number = charging_station.get("serial_number")
        state.firmware_version = charging_station.get("firmware_version")
        state.last_boot_utc = now
        state.booted = True
        await central.store.run(
            central.store.store.upsert_charger,
            self.id,
            vendor=state.vendor,
            model=state.model,
            serial_number=state.serial_number,
            firmware_version=state.firmware_version,
            last_boot_utc=now,
            last_seen_utc=now,
        )
        log.info("%s: booted (%s), OCPP 2.0.1", self.id, reason)
        self.after_response(
            lambda: central.charger_booted(self.id, lambda cid: configure_station(central, cid))
        )
        return call_result.BootNotification(
            current_time=self._now_iso(),
            interval=central.config.ocpp.heartbeat_interval_s,
            status="Accepted",
        )

    @on(Action.heartbeat)
    def on_heartbeat(self) -> call_result.Heartbeat:
        return call_result.Heartbeat(current_time=self._now_iso())

    @on(Action.status_notification)
    def on_status_notification(
        self, timestamp: str, connector_status: str, evse_id: int, connector_id: int, **_: Any
    ) -> call_result.StatusNotification:
        connector = self.central.site.charger(self.id).connector(evse_id)
        previous = connector.status
        connector.status = connector_status
        connector.info = f"connector {connector_id}"
        connector.updated_utc = parse_timestamp(timestamp, "timestamp")
        if previous != connector_status:
            self.central.site.emit(
                "connector_status", self.id, connector_id=evse_id, status=connector_status
            )
        return call_result.StatusNotification()

    @on(Action.authorize)
    def on_authorize(self, id_token: dict[str, Any], **_: Any) -> call_result.Authorize:
        info = self.central.authorizer.id_tag_info(id_token["id_token"], self.central.clock.now())
        return call_result.Authorize(id_token_info=id_token_info(info))

    # transactions ------------------------------------------------------------------------
    @on(Action.transaction_event)
    async def on_transaction_event(
        self,
        event_type: str,
        timestamp: str,
        trigger_reason: str,
        seq_no: int,
        transaction_info: dict[str, Any],
        **kwargs: Any,
    ) -> call_result.TransactionEvent:
        central = self.central
        at_utc = parse_timestamp(timestamp, "timestamp")
        tx = transaction_info["transaction_id"]
        token = (kwargs.get("id_token") or {}).get("id_token")
        info = central.authorizer.id_tag_info(token, central.clock.now()) if token else None
        samples = parse_meter_values(meter_values_as_v16(kwargs.get("meter_value") or []))
        if kwargs.get("offline"):
            log.info(
                "%s: transaction %s: %s event #%d queued offline", self.id, tx, event_type, seq_no
            )
        session = self.session_of(tx)
        if session is None:
            closed = self._closed_session_of(tx)
            if closed is not None:
                log.info("%s: %s event for ended transaction %s ignored", self.id, event_type, tx)
                return self._answer(info)
            if event_type == "Ended" and not samples:
                log.warning("%s: Ended for unknown transaction %s", self.id, tx)
                return self._answer(info)
            if event_type != "Started":
                log.warning("%s: %s for unknown transaction %s: opened", self.id, event_type, tx)
            evse_id = (kwargs.get("evse") or {}).get("id", 1)
            session = await self._open(tx, evse_id, token, info, at_utc, samples)
            if session is None:
                return self._answer(info)
        else:
            self._check_seq_no(session, seq_no)
        session.last_seq_no = max(seq_no, session.last_seq_no or seq_no)
        if kwargs.get("number_of_phases_used"):
            session.phases_used = int(kwargs["number_of_phases_used"])
        state = transaction_info.get("charging_state")
        if state in CHARGING_STATE_STATUS:
            connector = central.site.charger(self.id).connector(session.connector_id)
            connector.status = CHARGING_STATE_STATUS[state]
            connector.updated_utc = at_utc
        self._record_samples(session.connector_id, session.transaction_id, samples)
        reading = summarise(samples)
        if reading is not None:
            central.site.apply_reading(session, reading, central.voltage_v(self.id))
            central.site.emit("meter_values", self.id, transaction_id=session.transaction_id)
        if event_type == "Ended":
            await central.finish_session(
                session,
                stop_utc=at_utc,
                meter_stop_wh=_register_wh(reading),
                reason=transaction_info.get("stopped_reason") or "Local",
            )
        return self._answer(info)

    def _answer(self, info: dict[str, str] | None) -> call_result.TransactionEvent:
        return call_result.TransactionEvent(id_token_info=id_token_info(info) if info else None)

    def _check_seq_no(self, session: SessionState, seq_no: int) -> None:
        last = session.last_seq_no
        if last is None or seq_no == last + 1:
            return
        if seq_no > last + 1:
            log.warning(
                "%s: transaction %s: seqNo %d after %d: %d event(s) missing",
                self.id,
                session.ocpp_transaction_id,
                seq_no,
                last,
                seq_no - last - 1,
            )
        else:
            log.info(
                "%s: transaction %s: seqNo %d arrives after %d (repeated or late)",
                self.id,
                session.ocpp_transaction_id,
                seq_no,
                last,
            )

    async def _open(
        self,
        tx: str,
        evse_id: int,
        token: str | None,
        info: dict[str, str] | None,
        start_utc: datetime,
        samples: list[Any],
    ) -> SessionState | None:
        central = self.central
        stale = central.site.session_on(self.id, evse_id)
        if stale is not None:
            log.warning(
                "%s: EVSE %d starts transaction %s while %s is open; closing it",
                self.id,
                evse_id,
                tx,
                stale.ocpp_transaction_id or stale.transaction_id,
            )
            await central.finish_session(
                stale, stop_utc=start_utc, meter_stop_wh=None, reason="Superseded"
            )
        begin = summarise([s for s in samples if s.context in (None, "Transaction.Begin")])
        meter_start_wh = _register_wh(begin) or 0.0
        id_tag = token or ""
        internal_id = await central.store.run(
            central.store.store.start_session,
            charger_id=self.id,
            connector_id=evse_id,
            id_tag=id_tag,
            start_utc=start_utc,
            meter_start_wh=meter_start_wh,
            energy_kwh=0.0,
            ocpp_transaction_id=tx,
        )
        session = SessionState(
            transaction_id=internal_id,
            charger_id=self.id,
            connector_id=evse_id,
            id_tag=id_tag,
            start_utc=start_utc,
            meter_start_wh=meter_start_wh,
            id_tag_group=central.authorizer.group(id_tag) if token else None,
            ocpp_transaction_id=tx,
        )
        if info is not None and info["status"] != "Accepted":
            # The station stops it; remember the id so its later events change nothing.
            await central.store.run(
                central.store.store.update_session,
                internal_id,
                stop_utc=start_utc,
                stop_reason="DeAuthorized",
            )
            session.stop_utc, session.stop_reason = start_utc, "DeAuthorized"
            central.site.closed_sessions[internal_id] = session
            return None
        central.site.open_session(session)
        if central.site.charger(self.id).charging_limits:
            self._apply_external_limits()
        log.info(
            "%s: transaction %s (session %d) started on EVSE %d (idToken %s)",
            self.id,
            tx,
            internal_id,
            evse_id,
            token,
        )
        return session

    @on(Action.meter_values)
    def on_meter_values(
        self, evse_id: int, meter_value: list[dict[str, Any]], **_: Any
    ) -> call_result.MeterValues:
        central = self.central
        samples = parse_meter_values(meter_values_as_v16(meter_value))
        session = central.site.session_on(self.id, evse_id) if evse_id > 0 else None
        self._record_samples(evse_id, session.transaction_id if session else None, samples)
        reading = summarise(samples)
        if reading is None:
            return call_result.MeterValues()
        central.site.charger(self.id).connector(evse_id).last_reading = reading
        if evse_id == 0 and self.id == central.config.site.site_meter_charger_id:
            if reading.power_kw is not None:
                central.site.site_meter_kw = reading.power_kw
                central.site.site_meter_utc = reading.timestamp_utc
        elif session is not None:
            central.site.apply_reading(session, reading, central.voltage_v(self.id))
            central.site.emit("meter_values", self.id, transaction_id=session.transaction_id)
        return call_result.MeterValues()

    # reports and notifications -----------------------------------------------------------
    @on(Action.notify_report)
    def on_notify_report(
        self, request_id: int, seq_no: int, **kwargs: Any
    ) -> call_result.NotifyReport:
        log.info(
            "%s: report %d part %d: %d item(s)",
            self.id,
            request_id,
            seq_no,
            len(kwargs.get("report_data") or []),
        )
        return call_result.NotifyReport()

    @on(Action.notify_event)
    def on_notify_event(self, seq_no: int, event_data: list, **_: Any) -> call_result.NotifyEvent:
        for event in event_data:
            component = (event.get("component") or {}).get("name")
            variable = (event.get("variable") or {}).get("name")
            log.info(
                "%s: event %s.%s = %s", self.id, component, variable, event.get("actual_value")
            )
        return call_result.NotifyEvent()

    @on(Action.security_event_notification)
    def on_security_event_notification(
        self, type: str, timestamp: str, **kwargs: Any
    ) -> call_result.SecurityEventNotification:
        log.warning(
            "%s: security event %s at %s (%s)", self.id, type, timestamp, kwargs.get("tech_info")
        )
        return call_result.SecurityEventNotification()

    @on(Action.firmware_status_notification)
    def on_firmware_status_notification(
        self, status: str, **_: Any
    ) -> call_result.FirmwareStatusNotification:
        self.central.site.charger(self.id).firmware_status = status
        return call_result.FirmwareStatusNotification()

    @on(Action.log_status_notification)
    def on_log_status_notification(
        self, status: str, **_: Any
    ) -> call_result.LogStatusNotification:
        self.central.site.charger(self.id).diagnostics_status = status
        return call_result.LogStatusNotification()

    @on(Action.data_transfer)
    async def on_data_transfer(self, vendor_id: str, **kwargs: Any) -> call_result.DataTransfer:
        handler = self.central.data_transfer_handlers.get(vendor_id)
        if handler is None:
            return call_result.DataTransfer(status="UnknownVendorId")
        data = kwargs.get("data")
        status, answer = await handler(
            self.id, kwargs.get("message_id"), None if data is None else str(data)
        )
        return call_result.DataTransfer(status=status, data=answer)

    def _record_samples(self, evse_id: int, transaction_id: int | None, samples: list) -> None:
        self.central.store.enqueue(
            meter_values,
            (
                {
                    "charger_id": self.id,
                    "connector_id": evse_id,
                    "transaction_id": transaction_id,
                    "timestamp_utc": s.timestamp_utc,
                    "measurand": s.measurand,
                    "phase": s.phase,
                    "context": s.context,
                    "value": s.value,
                    "unit": s.unit,
                }
                for s in samples
            ),
        )


def _register_wh(reading: Reading | None) -> float | None:
    if reading is None or reading.energy_register_kwh is None:
        return None
    return reading.energy_register_kwh * 1000.0
