"""The OCPP 2.0.1 side of one simulated station's connection: thin handlers that translate
the central system's requests for :class:`simulator.charger201.SimChargePoint201`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ocpp.routing import after, on
from ocpp.v201 import ChargePoint as OcppChargePoint201
from ocpp.v201 import call_result
from ocpp.v201.enums import Action

from simulator.charger import OCPP_LOG

if TYPE_CHECKING:
    from simulator.charger201 import SimChargePoint201

PURPOSE_TO_V16 = {"ChargingStationMaxProfile": "ChargePointMaxProfile"}


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


class Link201(OcppChargePoint201):
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
