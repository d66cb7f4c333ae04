"""A simulated OCPP 2.0.1 charging station: the same physics as the 1.6 charger, another wire.

:class:`SimChargePoint201` reuses :class:`~simulator.charger.SimChargePoint` (connectors, cars,
profiles, meters) and speaks 2.0.1: BootNotification with the station's identity, status per
EVSE, TransactionEvent Started / Updated / Ended carrying the meter values with a ``seqNo`` per
transaction, the station's own string transaction ids, and NotifyEVChargingNeeds when a car
says when it leaves and how much energy it wants (an ISO 15118 car). Profiles and settings
arrive as 2.0.1 requests and are translated to the 1.6 shapes the profile engine keeps.
"""

from __future__ import annotations

import itertools
from datetime import datetime
from typing import Any

from ocpp.v201 import call

from simulator import profiles as prof
from simulator.charger import OCPP_LOG, Connector, SimChargePoint
from simulator.ev import EVState
from simulator.link201 import PURPOSE_TO_V16, Link201, sampled_v201
from simulator.profiles import format_time

STATUS = {"Available": "Available", "Unavailable": "Unavailable", "Faulted": "Faulted"}
CHARGING_STATES = {
    "Charging": "Charging",
    "SuspendedEV": "SuspendedEV",
    "SuspendedEVSE": "SuspendedEVSE",
    "Preparing": "EVConnected",
    "Finishing": "EVConnected",
}
# (component, variable[, instance]) -> the 1.6 key holding the value, or a spec attribute
_VARIABLE_KEYS = {
    "SampledDataCtrlr.TxUpdatedInterval": "MeterValueSampleInterval",
    "SampledDataCtrlr.TxUpdatedMeasurands": "MeterValuesSampledData",
    "OCPPCommCtrlr.HeartbeatInterval": "HeartbeatInterval",
}
_tx_numbers = itertools.count(1)


class SimChargePoint201(SimChargePoint):
    """A simulated 2.0.1 station; EVSE n is the 1.6 charger's connector n."""

    SUBPROTOCOL = "ocpp2.0.1"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.station_tx: dict[int, str] = {}  # connector -> the running transaction's id
        self.seq_no: dict[str, int] = {}
        self.needs: dict[int, tuple[datetime, float]] = {}  # connector -> (departure, kWh)
        self.needs_answers: list[str] = []

    def _new_link(self, ws: Any) -> Any:
        return Link201(self, ws, self._timeout_s())

    # device model ------------------------------------------------------------------------
    def variable(self, key: str) -> str | None:
        spec = self.spec
        if key in _VARIABLE_KEYS:
            return self.config[_VARIABLE_KEYS[key]][0]
        words = {w.strip() for w in spec.allowed_units.split(",")}
        fixed = {
            "SmartChargingCtrlr.Enabled": "true",
            "SmartChargingCtrlr.RateUnit": ",".join(
                u for u, w in (("A", "Current"), ("W", "Power")) if w in words
            ),
            "SmartChargingCtrlr.PeriodsPerSchedule": str(spec.max_periods),
            "SmartChargingCtrlr.ProfileStackLevel": str(spec.max_stack_level),
            "SmartChargingCtrlr.Entries[ChargingProfiles]": str(spec.max_profiles),
        }
        return fixed.get(key)

    def set_variable(self, key: str, value: str) -> str:
        if key not in _VARIABLE_KEYS:
            return "Rejected" if self.variable(key) is not None else "UnknownVariable"
        status = self.change_configuration(_VARIABLE_KEYS[key], value)
        return "Accepted" if status == "Accepted" else "Rejected"

    def set_charging_profile_v201(self, evse_id: int, profile: dict[str, Any]) -> str:
        """Translate to the 1.6 shape the profile engine checks and installs."""
        schedules = profile.get("charging_schedule") or []
        if len(schedules) != 1:
            self.rejected_profiles.append(f"{len(schedules)} schedules: one is supported")
            return "Rejected"
        schedule = {k: v for k, v in schedules[0].items() if k != "id"}
        purpose = profile["charging_profile_purpose"]
        data: dict[str, Any] = {
            "charging_profile_id": profile["id"],
            "stack_level": profile["stack_level"],
            "charging_profile_purpose": PURPOSE_TO_V16.get(purpose, purpose),
            "charging_profile_kind": profile["charging_profile_kind"],
            "charging_schedule": schedule,
        }
        for key in ("recurrency_kind", "valid_from", "valid_to"):
            if profile.get(key) is not None:
                data[key] = profile[key]
        if profile.get("transaction_id") is not None:
            connector = self.connector_of_station_tx(profile["transaction_id"])
            if connector is None:
                self.rejected_profiles.append(f"unknown transaction {profile['transaction_id']}")
                return "Rejected"
            data["transaction_id"] = connector.transaction_id
        return self.set_charging_profile(evse_id, data)

    def connector_of_station_tx(self, transaction_id: str) -> Connector | None:
        for connector_id, tx in self.station_tx.items():
            if tx == transaction_id:
                return self.connectors[connector_id]
        return None

    # messages the station starts ---------------------------------------------------------
    async def _boot(self, link: Any) -> bool:
        while not self._stopping:
            station = {"model": self.spec.model, "vendor_name": self.spec.vendor}
            request = call.BootNotification(charging_station=station, reason="PowerUp")
            try:
                result = await link.call(request, suppress=False)
            except Exception as exc:  # a CALLERROR or a timeout: try again later
                OCPP_LOG.warning("%s: BootNotification failed: %s", self.spec.charger_id, exc)
                await self.clock.sleep(self.spec.reconnect_delay_s)
                continue
            if result.status == "Accepted":
                if result.interval:
                    self.config["HeartbeatInterval"] = (str(result.interval), False)
                self.booted_count += 1
                return True
            await self.clock.sleep(max(1, result.interval or 10))
        return False

    async def _announce(self) -> None:
        for connector in self.connectors.values():
            await self._send_status(connector)
        if self._resume_after_boot:
            self._resume_after_boot = False
            for connector in self.connectors.values():
                if connector.ev is not None and connector.transaction_id is None:
                    await self._start_transaction(connector, connector.id_tag or "SIM")

    async def _heartbeat_loop(self, link: Any) -> None:
        while True:
            await self.clock.sleep(max(1, self.config_int("HeartbeatInterval")))
            await self._send(call.Heartbeat())

    def expect_needs(self, connector_id: int, departure_utc: datetime, energy_kwh: float) -> None:
        """The next car on ``connector_id`` will tell its departure and energy wanted."""
        if self.spec.sends_charging_needs:
            self.needs[connector_id] = (departure_utc, energy_kwh)

    async def plug_in(
        self,
        connector_id: int,
        ev: EVState,
        id_tag: str,
        session_key: str | None = None,
        *,
        authorize: bool = True,
    ) -> int | None:
        connector = self.connectors[connector_id]
        if connector.ev is not None:
            raise ValueError(f"{self.spec.charger_id}: EVSE {connector_id} is occupied")
        self._integrate(self.clock.now())
        connector.ev, connector.session_key, connector.id_tag = ev, session_key, id_tag
        connector.soc_start = ev.soc
        connector.status = "Preparing"
        await self._send_status(connector)
        if authorize:
            token = {"id_token": id_tag, "type": "ISO14443"}
            await self._send(call.Authorize(id_token=token), wait_connected_s=60)
        return await self._start_transaction(connector, id_tag)

    def _event(self, event_type: str, connector: Connector, trigger: str, **extra: Any) -> Any:
        tx = self.station_tx[connector.connector_id]
        seq_no = self.seq_no.get(tx, 0)
        self.seq_no[tx] = seq_no + 1
        info: dict[str, Any] = {"transaction_id": tx}
        if "charging_state" in extra:
            info["charging_state"] = extra.pop("charging_state")
        if "stopped_reason" in extra:
            info["stopped_reason"] = extra.pop("stopped_reason")
        return call.TransactionEvent(
            event_type=event_type,
            timestamp=format_time(self.clock.now()),
            trigger_reason=trigger,
            seq_no=seq_no,
            transaction_info=info,
            evse={"id": connector.connector_id, "connector_id": 1},
            **extra,
        )

    async def _start_transaction(self, connector: Connector, id_tag: str) -> int | None:
        now = self.clock.now()
        self._integrate(now)
        connector.meter_start_wh = int(connector.register_wh)
        connector.tx_start_utc = now
        number = next(_tx_numbers)
        connector.transaction_id = number
        self.station_tx[connector.connector_id] = f"{self.spec.charger_id}-{number:06d}"
        begin = self._meter_value(connector, now, "Transaction.Begin")
        connector.transaction_data = [begin]
        await self._send(
            self._event(
                "Started",
                connector,
                "Authorized",
                id_token={"id_token": id_tag, "type": "ISO14443"},
                meter_value=[sampled_v201(begin)],
                charging_state="EVConnected",
            ),
            wait_connected_s=60,
        )
        await self._send_needs(connector)
        self._integrate(self.clock.now())
        self._evaluate(connector, self.clock.now())
        self._wake.set()
        return number

    async def _send_needs(self, connector: Connector) -> None:
        need = self.needs.pop(connector.connector_id, None)
        if need is None or connector.ev is None:
            return
        departure_utc, energy_kwh = need
        spec = connector.ev.spec
        answer = await self._send(
            call.NotifyEVChargingNeeds(
                evse_id=connector.connector_id,
                charging_needs={
                    "requested_energy_transfer": "AC_three_phase"
                    if spec.phases == 3
                    else "AC_single_phase",
                    "departure_time": format_time(departure_utc),
                    "ac_charging_parameters": {
                        "energy_amount": int(energy_kwh * 1000),
                        "ev_min_current": int(spec.min_current_a),
                        "ev_max_current": int(spec.max_current_a),
                        "ev_max_voltage": int(self.spec.voltage_v),
                    },
                },
            )
        )
        self.needs_answers.append(answer.status if answer is not None else "no answer")

    async def stop_transaction(self, connector: Connector, reason: str | None) -> None:
        if connector.transaction_id is None:
            return
        now = self.clock.now()
        self._integrate(now)
        end_value = self._meter_value(connector, now, "Transaction.End")
        event = self._event(
            "Ended",
            connector,
            "EVCommunicationLost" if reason == "EVDisconnected" else "StopAuthorized",
            meter_value=[sampled_v201(end_value)],
            stopped_reason=reason or "Local",
            charging_state="Idle",
        )
        connector.transaction_id = None
        self.station_tx.pop(connector.connector_id, None)
        self.profiles = prof.end_transaction(self.profiles, connector.connector_id)
        await self._send(event, wait_connected_s=60)
        self._evaluate(connector, now)
        connector.status = "Finishing"
        await self._send_status(connector)

    async def _send_meter_values(self, connector: Connector, now: datetime, context: str) -> None:
        if connector.ev is None:
            return
        value = sampled_v201(self._meter_value(connector, now, context))
        if connector.connector_id in self.station_tx:
            trigger = "Trigger" if context == "Trigger" else "MeterValuePeriodic"
            await self._send(self._event("Updated", connector, trigger, meter_value=[value]))
        else:
            await self._send(call.MeterValues(evse_id=connector.connector_id, meter_value=[value]))

    async def _send_status(self, connector: Connector) -> None:
        status = STATUS.get(connector.status, "Occupied")
        await self._send(
            call.StatusNotification(
                timestamp=format_time(self.clock.now()),
                connector_status=status,
                evse_id=connector.connector_id,
                connector_id=1,
            )
        )
        state = CHARGING_STATES.get(connector.status)
        if state and connector.connector_id in self.station_tx:
            await self._send(
                self._event("Updated", connector, "ChargingStateChanged", charging_state=state)
            )

    async def triggered(self, message: str, connector_id: int | None) -> None:
        if message == "Heartbeat":
            await self._send(call.Heartbeat())
            return
        await super().triggered(message, connector_id)
