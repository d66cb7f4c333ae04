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

from ocpp.routing import after, on
from ocpp.v201 import ChargePoint as OcppChargePoint201
from ocpp.v201 import call, call_result
from ocpp.v201.enums import Action

from simulator import profiles as prof
from simulator.charger import OCPP_LOG, Connector, SimChargePoint
from simulator.ev import EVState
from simulator.profiles import format_time

PURPOSE_TO_V16 = {"ChargingStationMaxProfile": "ChargePointMaxProfile"}
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


def _variable_key(item: dict[str, Any]) -> str:
    variable = item["variable"]
    instance = variable.get("instance")
    return f"{item['component']['name']}.{variable['name']}" + (f"[{instance}]" if instance else "")


def sampled_v201(meter_value: dict[str, Any]) -> dict[str, Any]:
    """A 1.6 meter value (string values, ``unit``) in the 2.0.1 shape."""
    sampled = []
    for value in meter_value["sampled_value"]:
        item: dict[str, Any] = {"value": float(value["value"]), "measurand": value["measurand"]}
        for key in ("context", "phase", "location"):
            if value.get(key):
                item[key] = value[key]
        if value.get("unit"):
            item["unit_of_measure"] = {"unit": value["unit"]}
        sampled.append(item)
    return {"timestamp": meter_value["timestamp"], "sampled_value": sampled}


class _Link201(OcppChargePoint201):
    """The 2.0.1 side of one connection; thin handlers delegating to the station."""

    def __init__(self, owner: SimChargePoint201, connection: Any, timeout_s: float) -> None:
        super().__init__(owner.spec.charger_id, connection, timeout_s, logger=OCPP_LOG)
        self.owner = owner

    async def route_message(self, raw_msg: str) -> None:
        if self.owner.spec.faults.no_response and raw_msg.lstrip("[ ").startswith("2"):
            return
        await super().route_message(raw_msg)

    @on(Action.get_variables)
    def on_get_variables(self, get_variable_data: list[dict[str, Any]], **_: Any) -> Any:
        results = []
        for item in get_variable_data:
            value = self.owner.variable(_variable_key(item))
            result = {"component": item["component"], "variable": item["variable"]}
            if value is None:
                result["attribute_status"] = "UnknownVariable"
            else:
                result.update(attribute_status="Accepted", attribute_value=value)
            results.append(result)
        return call_result.GetVariables(get_variable_result=results)

    @on(Action.set_variables)
    def on_set_variables(self, set_variable_data: list[dict[str, Any]], **_: Any) -> Any:
        results = []
        for item in set_variable_data:
            key = _variable_key(item)
            status = self.owner.set_variable(key, str(item["attribute_value"]))
            results.append(
                {
                    "attribute_status": status,
                    "component": item["component"],
                    "variable": item["variable"],
                }
            )
        return call_result.SetVariables(set_variable_result=results)

    @on(Action.set_charging_profile)
    def on_set_charging_profile(self, evse_id: int, charging_profile: dict, **_: Any) -> Any:
        status = self.owner.set_charging_profile_v201(evse_id, charging_profile)
        return call_result.SetChargingProfile(status=status)

    @on(Action.clear_charging_profile)
    def on_clear_charging_profile(self, **kwargs: Any) -> Any:
        criteria = kwargs.get("charging_profile_criteria") or {}
        purpose = criteria.get("charging_profile_purpose")
        removed = self.owner.clear_charging_profile(
            kwargs.get("charging_profile_id"),
            criteria.get("evse_id"),
            PURPOSE_TO_V16.get(purpose, purpose) if purpose else None,
            criteria.get("stack_level"),
        )
        return call_result.ClearChargingProfile(status="Accepted" if removed else "Unknown")

    @on(Action.get_composite_schedule)
    def on_get_composite_schedule(self, duration: int, evse_id: int, **kwargs: Any) -> Any:
        answer = self.owner.get_composite_schedule(
            evse_id, duration, kwargs.get("charging_rate_unit")
        )
        if answer.status != "Accepted":
            return call_result.GetCompositeSchedule(status=answer.status)
        schedule = dict(answer.charging_schedule)
        schedule.pop("start_schedule", None)
        schedule.pop("min_charging_rate", None)
        schedule.update(evse_id=evse_id, schedule_start=answer.schedule_start)
        schedule.setdefault("duration", duration)
        return call_result.GetCompositeSchedule(status="Accepted", schedule=schedule)

    @on(Action.request_start_transaction)
    def on_request_start(self, id_token: dict, remote_start_id: int, **kwargs: Any) -> Any:
        ok = self.owner.find_remote_start_connector(kwargs.get("evse_id")) is not None
        return call_result.RequestStartTransaction(status="Accepted" if ok else "Rejected")

    @after(Action.request_start_transaction)
    async def after_request_start(self, id_token: dict, remote_start_id: int, **kw: Any) -> None:
        await self.owner.remote_start(id_token["id_token"], kw.get("evse_id"), None)

    @on(Action.request_stop_transaction)
    def on_request_stop(self, transaction_id: str, **_: Any) -> Any:
        found = self.owner.connector_of_station_tx(transaction_id) is not None
        return call_result.RequestStopTransaction(status="Accepted" if found else "Rejected")

    @after(Action.request_stop_transaction)
    async def after_request_stop(self, transaction_id: str, **_: Any) -> None:
        connector = self.owner.connector_of_station_tx(transaction_id)
        if connector is not None:
            await self.owner.stop_transaction(connector, "Remote")

    @on(Action.trigger_message)
    def on_trigger_message(self, requested_message: str, **_: Any) -> Any:
        supported = {"BootNotification", "Heartbeat", "MeterValues", "StatusNotification"}
        status = "Accepted" if requested_message in supported else "NotImplemented"
        return call_result.TriggerMessage(status=status)

    @after(Action.trigger_message)
    async def after_trigger_message(self, requested_message: str, **kwargs: Any) -> None:
        evse = kwargs.get("evse") or {}
        await self.owner.triggered(requested_message, evse.get("id"))

    @on(Action.change_availability)
    def on_change_availability(self, operational_status: str, **kwargs: Any) -> Any:
        evse_id = (kwargs.get("evse") or {}).get("id", 0)
        status = self.owner.change_availability(evse_id, operational_status)
        return call_result.ChangeAvailability(status=status)

    @on(Action.reset)
    def on_reset(self, type: str, **_: Any) -> Any:
        return call_result.Reset(status="Accepted")

    @after(Action.reset)
    async def after_reset(self, type: str, **_: Any) -> None:
        await self.owner.reset("Hard" if type == "Immediate" else "Soft")

    @on(Action.unlock_connector)
    def on_unlock_connector(self, evse_id: int, connector_id: int, **_: Any) -> Any:
        if not 1 <= evse_id <= self.owner.spec.n_connectors:
            return call_result.UnlockConnector(status="UnknownConnector")
        return call_result.UnlockConnector(status="Unlocked")


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
        return _Link201(self, ws, self._timeout_s())

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
