"""OCPP 1.6J handlers for everything a charger starts: thin, update state and answer.

No optimisation here, no waiting on other chargers; work that must follow an answer (reading
the charger's configuration after its boot) is scheduled with ``after_response``.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from ocpp.routing import on
from ocpp.v16 import call_result
from ocpp.v16.enums import Action

from controller.meter import Sample, parse_meter_values, parse_timestamp, summarise
from controller.ocpp.plausible import EdgeChecks
from controller.ocpp.protocol import ProtocolChargePoint
from controller.ocpp.rate import TokenBucket
from controller.site import SessionState
from controller.store import meter_values

if TYPE_CHECKING:
    from controller.ocpp.server import CentralSystem

log = logging.getLogger(__name__)

NO_TRANSACTION = frozenset({"Available", "Preparing"})  # OCPP 1.6 statuses without one

MAX_LEARNT_CONNECTORS = 8  # an unlisted charger's connectors, as the config allows at most


class CentralChargePoint(ProtocolChargePoint):
    """One charger's connection with the handlers of the central system."""

    def __init__(self, charger_id: str, connection: Any, central: CentralSystem) -> None:
        super().__init__(
            charger_id,
            connection,
            response_timeout_s=central.config.ocpp.response_timeout_s,
            frame_sink=central.frame_sink(charger_id),
            stats=central.stats,
        )
        self.central = central
        self.checks = EdgeChecks(charger_id, central.config, central.stats)
        limits = central.config.ocpp.limits
        self.bucket = TokenBucket(limits.messages_per_charger_per_s, limits.message_burst)

    async def route_message(self, raw_msg: str | bytes) -> None:
        now = self.central.clock.now()
        self.central.site.mark_seen(self.id, now)
        if not self.bucket.take(now):  # on the controller's clock: replay is not throttled
            await self.refuse_flood(raw_msg)
            return
        await super().route_message(raw_msg)

    def _max_connector(self) -> int:
        configured = self.central.config.charger(self.id)
        return configured.connectors if configured is not None else MAX_LEARNT_CONNECTORS

    def _has_connector(self, connector_id: int) -> bool:
        """A connector the charger has: listed in the config, or reported by the charger."""
        if not 1 <= connector_id <= self._max_connector():
            return False
        if self.central.config.charger(self.id) is not None:
            return True
        state = self.central.site.chargers.get(self.id)
        return state is not None and connector_id in state.connectors

    def _now_iso(self) -> str:
        return self.central.clock.now().isoformat().replace("+00:00", "Z")

    @on(Action.boot_notification)
    async def on_boot_notification(
        self, charge_point_vendor: str, charge_point_model: str, **kwargs: Any
    ) -> call_result.BootNotification:
        central = self.central
        known = central.config.charger(self.id) is not None
        if not known and not central.config.ocpp.allow_unknown_chargers:
            log.warning("%s: boot rejected: not in the site's charger list", self.id)
            return call_result.BootNotification(
                current_time=self._now_iso(), interval=60, status="Rejected"
            )
        now = central.clock.now()
        state = central.site.charger(self.id)
        state.vendor = charge_point_vendor
        state.model = charge_point_model
        state.serial_number = kwargs.get("charge_point_serial_number")
        state.firmware_version = kwargs.get("firmware_version")
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
        self.after_response(lambda: central.charger_booted(self.id))
        return call_result.BootNotification(
            current_time=self._now_iso(),
            interval=central.config.ocpp.heartbeat_interval_s,
            status="Accepted",
        )

    @on(Action.heartbeat)
    def on_heartbeat(self) -> call_result.Heartbeat:
        return call_result.Heartbeat(current_time=self._now_iso())

    @on(Action.status_notification)
    async def on_status_notification(
        self, connector_id: int, error_code: str, status: str, **kwargs: Any
    ) -> call_result.StatusNotification:
        if not 0 <= connector_id <= self._max_connector():
            log.warning("%s: StatusNotification for unknown connector %d", self.id, connector_id)
            return call_result.StatusNotification()
        state = self.central.site.charger(self.id)
        self.central.site.learn_connector(self.id, connector_id)
        connector = state.connector(connector_id)
        previous = connector.status
        connector.status = status
        connector.error_code = error_code
        connector.info = kwargs.get("info")
        connector.updated_utc = self.central.clock.now()
        if previous != status:
            self.central.site.emit(
                "connector_status", self.id, connector_id=connector_id, status=status
            )
        if status in NO_TRANSACTION and connector_id > 0:
            await self._close_stale(connector_id, status)
        return call_result.StatusNotification()

    async def _close_stale(self, connector_id: int, status: str) -> None:
        """A connector that says no transaction runs on it (Available, Preparing) while the
        controller still holds one open: the charger lost it (a reboot, an outage). Closing it
        here stops its profiles being rejected and its full power being reserved."""
        central = self.central
        stale = central.site.session_on(self.id, connector_id)
        if stale is None:
            return
        log.warning(
            "%s: connector %d reports %s while transaction %d is open; closing it",
            self.id,
            connector_id,
            status,
            stale.transaction_id,
        )
        await central.finish_session(
            stale, stop_utc=central.clock.now(), meter_stop_wh=None, reason="Reconciled"
        )
        await central.store.run(
            central.store.store.audit,
            at_utc=central.clock.now(),
            actor=self.id,
            action="session.reconciled",
            target=str(stale.transaction_id),
            new_value={"connector_status": status, "reason": "charger has no transaction"},
        )

    @on(Action.authorize)
    def on_authorize(self, id_tag: str) -> call_result.Authorize:
        info = self.central.authorizer.id_tag_info(id_tag, self.central.clock.now())
        return call_result.Authorize(id_tag_info=info)

    @on(Action.start_transaction)
    async def on_start_transaction(
        self, connector_id: int, id_tag: str, meter_start: int, timestamp: str, **kwargs: Any
    ) -> call_result.StartTransaction:
        central = self.central
        now = central.clock.now()
        start_utc = self.checks.timestamp(parse_timestamp(timestamp, "timestamp"), now, "timestamp")
        info = central.authorizer.id_tag_info(id_tag, now)
        if not self._has_connector(connector_id):  # it would stay open for ever
            log.warning("%s: StartTransaction on unknown connector %d", self.id, connector_id)
            info = {"status": "Invalid"}
        known = self._has_connector(connector_id)
        stale = central.site.session_on(self.id, connector_id) if known else None
        if stale is not None:
            # The charger lost the old transaction (a reboot mid-session): close it here too.
            log.warning(
                "%s: connector %d starts a new transaction while %d is open; closing it",
                self.id,
                connector_id,
                stale.transaction_id,
            )
            await central.finish_session(
                stale, stop_utc=start_utc, meter_stop_wh=None, reason="Superseded"
            )
        transaction_id = await central.store.run(
            central.store.store.start_session,
            charger_id=self.id,
            connector_id=connector_id,
            id_tag=id_tag,
            start_utc=start_utc,
            meter_start_wh=float(meter_start),
            energy_kwh=0.0,
        )
        if info["status"] == "Accepted":
            session = SessionState(
                transaction_id=transaction_id,
                charger_id=self.id,
                connector_id=connector_id,
                id_tag=id_tag,
                start_utc=start_utc,
                meter_start_wh=float(meter_start),
                id_tag_group=central.authorizer.group(id_tag),
            )
            central.site.open_session(session)
            log.info(
                "%s: transaction %d started on connector %d (idTag %s)",
                self.id,
                transaction_id,
                connector_id,
                id_tag,
            )
        else:
            # The charger will stop it; keep the id used so it is never handed out again.
            await central.store.run(
                central.store.store.update_session,
                transaction_id,
                stop_utc=start_utc,
                stop_reason="DeAuthorized" if known else "UnknownConnector",
            )
        return call_result.StartTransaction(transaction_id=transaction_id, id_tag_info=info)

    @on(Action.stop_transaction)
    async def on_stop_transaction(
        self, meter_stop: int, timestamp: str, transaction_id: int, **kwargs: Any
    ) -> call_result.StopTransaction:
        central = self.central
        now = central.clock.now()
        stop_utc = self.checks.timestamp(parse_timestamp(timestamp, "timestamp"), now, "timestamp")
        id_tag = kwargs.get("id_tag")
        info = central.authorizer.id_tag_info(id_tag, central.clock.now()) if id_tag else None
        session = central.site.sessions.get(transaction_id)
        if session is None or session.charger_id != self.id:
            if transaction_id in central.site.closed_sessions:
                log.info("%s: repeated StopTransaction for %d ignored", self.id, transaction_id)
            else:
                log.warning(
                    "%s: StopTransaction for unknown transaction %d", self.id, transaction_id
                )
            return call_result.StopTransaction(id_tag_info=info)
        samples = self.checks.samples(parse_meter_values(kwargs.get("transaction_data") or []), now)
        await self._record_samples(session.connector_id, transaction_id, samples)
        reading = summarise(samples)
        if reading is not None:
            central.site.apply_reading(session, reading, central.voltage_v(self.id))
        await central.finish_session(
            session,
            stop_utc=stop_utc,
            meter_stop_wh=float(meter_stop),
            reason=kwargs.get("reason") or "Local",
        )
        return call_result.StopTransaction(id_tag_info=info)

    @on(Action.meter_values)
    async def on_meter_values(
        self, connector_id: int, meter_value: list[dict[str, Any]], **kwargs: Any
    ) -> call_result.MeterValues:
        central = self.central
        samples = self.checks.samples(parse_meter_values(meter_value), central.clock.now())
        if not 0 <= connector_id <= self._max_connector():
            log.warning("%s: MeterValues for unknown connector %d ignored", self.id, connector_id)
            return call_result.MeterValues()
        transaction_id = kwargs.get("transaction_id")
        # Durable before confirmed: a charger drops what we confirm, so a crash must not.
        await self._record_samples(connector_id, transaction_id, samples)
        reading = summarise(samples)
        if reading is None:
            return call_result.MeterValues()
        central.site.charger(self.id).connector(connector_id).last_reading = reading
        if connector_id == 0 and self.id == central.config.site.site_meter_charger_id:
            if reading.power_kw is not None:
                central.site.site_meter_kw = reading.power_kw
                central.site.site_meter_utc = reading.timestamp_utc
            return call_result.MeterValues()
        session = None
        if transaction_id is not None:
            session = central.site.sessions.get(transaction_id)
        if session is None and connector_id > 0:
            session = central.site.session_on(self.id, connector_id)
        if session is not None and session.charger_id == self.id:
            central.site.apply_reading(session, reading, central.voltage_v(self.id))
            central.site.emit("meter_values", self.id, transaction_id=session.transaction_id)
        return call_result.MeterValues()

    @on(Action.data_transfer)
    async def on_data_transfer(self, vendor_id: str, **kwargs: Any) -> call_result.DataTransfer:
        handler = self.central.data_transfer_handlers.get(vendor_id)
        if handler is None:
            return call_result.DataTransfer(status="UnknownVendorId")
        status, data = await handler(self.id, kwargs.get("message_id"), kwargs.get("data"))
        return call_result.DataTransfer(status=status, data=data)

    @on(Action.firmware_status_notification)
    def on_firmware_status_notification(
        self, status: str
    ) -> call_result.FirmwareStatusNotification:
        self.central.site.charger(self.id).firmware_status = status
        return call_result.FirmwareStatusNotification()

    @on(Action.diagnostics_status_notification)
    def on_diagnostics_status_notification(
        self, status: str
    ) -> call_result.DiagnosticsStatusNotification:
        self.central.site.charger(self.id).diagnostics_status = status
        return call_result.DiagnosticsStatusNotification()

    async def _record_samples(
        self, connector_id: int, transaction_id: int | None, samples: list[Sample]
    ) -> None:
        if not samples:
            return
        await self.central.store.write(
            meter_values,
            (
                {
                    "charger_id": self.id,
                    "connector_id": connector_id,
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
