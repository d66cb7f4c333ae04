"""A real OCPP 2.0.1 charging station for the controller's tests (the ocpp package's v201
client side): answers the central system's requests like a plain station and records them."""

from __future__ import annotations

import asyncio
import contextlib
import json
from datetime import datetime
from typing import Any

import websockets
from ocpp.routing import on
from ocpp.v201 import ChargePoint, call, call_result
from ocpp.v201.enums import Action

VARIABLES = {
    "SmartChargingCtrlr.Enabled": "true",
    "SmartChargingCtrlr.RateUnit": "A,W",
    "SmartChargingCtrlr.PeriodsPerSchedule": "24",
    "SmartChargingCtrlr.ProfileStackLevel": "8",
    "SmartChargingCtrlr.Entries[ChargingProfiles]": "10",
    "SampledDataCtrlr.TxUpdatedMeasurands": "Energy.Active.Import.Register",
    "SampledDataCtrlr.TxUpdatedInterval": "300",
}


def _key(item: dict[str, Any]) -> str:
    variable = item["variable"]
    instance = variable.get("instance")
    return f"{item['component']['name']}.{variable['name']}" + (f"[{instance}]" if instance else "")


class Station(ChargePoint):
    def __init__(self, station_id: str, connection: Any) -> None:
        super().__init__(station_id, connection, response_timeout=10)
        self.variables = dict(VARIABLES)
        self.reject_variables: set[str] = set()  # keys answered Rejected on set
        self.profile_status = "Accepted"
        self.received: list[tuple[str, dict[str, Any]]] = []
        self.profiles: list[dict[str, Any]] = []
        self.raw_replies: asyncio.Queue[list[Any]] = asyncio.Queue()
        self.configured = asyncio.Event()
        self.seq_no = 0

    async def route_message(self, raw_msg: str) -> None:
        frame = json.loads(raw_msg)
        if frame[0] in (3, 4) and (str(frame[1]).startswith("raw-") or frame[1] == "-1"):
            self.raw_replies.put_nowait(frame)
            return
        await super().route_message(raw_msg)

    async def send_raw(self, text: str) -> list[Any]:
        await self._connection.send(text)
        return await asyncio.wait_for(self.raw_replies.get(), 5)

    @on(Action.get_variables)
    def on_get_variables(self, get_variable_data: list[dict[str, Any]], **_: Any):
        self.received.append(("GetVariables", {"count": len(get_variable_data)}))
        results = []
        for item in get_variable_data:
            value = self.variables.get(_key(item))
            result = {"component": item["component"], "variable": item["variable"]}
            if value is None:
                result["attribute_status"] = "UnknownVariable"
            else:
                result.update(attribute_status="Accepted", attribute_value=value)
            results.append(result)
        return call_result.GetVariables(get_variable_result=results)

    @on(Action.set_variables)
    def on_set_variables(self, set_variable_data: list[dict[str, Any]], **_: Any):
        results = []
        for item in set_variable_data:
            key = _key(item)
            self.received.append(("SetVariables", {"key": key, "value": item["attribute_value"]}))
            status = "Rejected" if key in self.reject_variables else "Accepted"
            if status == "Accepted":
                self.variables[key] = item["attribute_value"]
            results.append(
                {
                    "attribute_status": status,
                    "component": item["component"],
                    "variable": item["variable"],
                }
            )
            if key == "SampledDataCtrlr.TxUpdatedMeasurands":
                self.configured.set()
        return call_result.SetVariables(set_variable_result=results)

    @on(Action.set_charging_profile)
    def on_set_charging_profile(self, evse_id: int, charging_profile: dict[str, Any], **_: Any):
        self.received.append(("SetChargingProfile", {"evse_id": evse_id}))
        self.profiles.append({"evse_id": evse_id, **charging_profile})
        return call_result.SetChargingProfile(status=self.profile_status)

    @on(Action.clear_charging_profile)
    def on_clear_charging_profile(self, **kwargs: Any):
        self.received.append(("ClearChargingProfile", kwargs))
        return call_result.ClearChargingProfile(status="Accepted")

    @on(Action.get_composite_schedule)
    def on_get_composite_schedule(self, duration: int, evse_id: int, **kwargs: Any):
        self.received.append(("GetCompositeSchedule", {"duration": duration, "evse_id": evse_id}))
        return call_result.GetCompositeSchedule(status="Rejected")

    @on(Action.request_start_transaction)
    def on_request_start(self, id_token: dict[str, Any], remote_start_id: int, **kwargs: Any):
        self.received.append(("RequestStartTransaction", {"id_token": id_token, **kwargs}))
        return call_result.RequestStartTransaction(status="Accepted")

    @on(Action.request_stop_transaction)
    def on_request_stop(self, transaction_id: str, **_: Any):
        self.received.append(("RequestStopTransaction", {"transaction_id": transaction_id}))
        return call_result.RequestStopTransaction(status="Accepted")

    @on(Action.trigger_message)
    def on_trigger_message(self, requested_message: str, **kwargs: Any):
        self.received.append(("TriggerMessage", {"requested_message": requested_message, **kwargs}))
        return call_result.TriggerMessage(status="Accepted")

    @on(Action.reset)
    def on_reset(self, type: str, **_: Any):
        self.received.append(("Reset", {"type": type}))
        return call_result.Reset(status="Accepted")

    @on(Action.change_availability)
    def on_change_availability(self, operational_status: str, **kwargs: Any):
        self.received.append(
            ("ChangeAvailability", {"operational_status": operational_status, **kwargs})
        )
        return call_result.ChangeAvailability(status="Accepted")

    @on(Action.unlock_connector)
    def on_unlock_connector(self, evse_id: int, connector_id: int, **_: Any):
        self.received.append(
            ("UnlockConnector", {"evse_id": evse_id, "connector_id": connector_id})
        )
        return call_result.UnlockConnector(status="Unlocked")

    @on(Action.get_charging_profiles)
    def on_get_charging_profiles(self, request_id: int, charging_profile: dict, **kwargs: Any):
        self.received.append(("GetChargingProfiles", {"criterion": charging_profile, **kwargs}))
        return call_result.GetChargingProfiles(status="NoProfiles")

    @on(Action.get_base_report)
    def on_get_base_report(self, request_id: int, report_base: str, **_: Any):
        self.received.append(("GetBaseReport", {"report_base": report_base}))
        return call_result.GetBaseReport(status="Accepted")

    @on(Action.update_firmware)
    def on_update_firmware(self, request_id: int, firmware: dict[str, Any], **_: Any):
        self.received.append(("UpdateFirmware", {"location": firmware["location"]}))
        return call_result.UpdateFirmware(status="Accepted")

    @on(Action.get_log)
    def on_get_log(self, log: dict[str, Any], log_type: str, request_id: int, **_: Any):
        self.received.append(("GetLog", {"location": log["remote_location"], "type": log_type}))
        return call_result.GetLog(status="Accepted", filename="diag.log")

    async def boot(self) -> Any:
        return await self.call(
            call.BootNotification(
                charging_station={
                    "model": "T2",
                    "vendor_name": "TestVendor",
                    "serial_number": "SN1",
                },
                reason="PowerUp",
            ),
            suppress=False,
        )

    async def status(self, evse_id: int, status: str, at: datetime) -> Any:
        return await self.call(
            call.StatusNotification(
                timestamp=iso(at), connector_status=status, evse_id=evse_id, connector_id=1
            ),
            suppress=False,
        )

    async def event(
        self,
        event_type: str,
        tx: str,
        at: datetime,
        *,
        evse_id: int = 1,
        energy_wh: float | None = None,
        power_w: float | None = None,
        state: str | None = None,
        seq_no: int | None = None,
        id_token: str | None = None,
        context: str = "Sample.Periodic",
        **extra: Any,
    ) -> Any:
        """One TransactionEvent; ``seq_no`` counts up by itself unless given."""
        if seq_no is None:
            seq_no = self.seq_no
        self.seq_no = seq_no + 1
        sampled = []
        if energy_wh is not None:
            sampled.append(
                {
                    "value": energy_wh,
                    "measurand": "Energy.Active.Import.Register",
                    "context": context,
                    "unit_of_measure": {"unit": "Wh"},
                }
            )
        if power_w is not None:
            sampled.append(
                {"value": power_w, "measurand": "Power.Active.Import", "context": context}
            )
        info: dict[str, Any] = {"transaction_id": tx}
        if state:
            info["charging_state"] = state
        if event_type == "Ended":
            info["stopped_reason"] = extra.pop("stopped_reason", "EVDisconnected")
        return await self.call(
            call.TransactionEvent(
                event_type=event_type,
                timestamp=iso(at),
                trigger_reason=extra.pop("trigger_reason", "MeterValuePeriodic"),
                seq_no=seq_no,
                transaction_info=info,
                meter_value=[{"timestamp": iso(at), "sampled_value": sampled}] if sampled else None,
                evse={"id": evse_id, "connector_id": 1},
                id_token={"id_token": id_token, "type": "ISO14443"} if id_token else None,
                **extra,
            ),
            suppress=False,
        )


def iso(dt: datetime) -> str:
    return dt.isoformat().replace("+00:00", "Z")


@contextlib.asynccontextmanager
async def connect_v201(url: str, station_id: str, *, subprotocols: list[str] | None = None):
    async with websockets.connect(
        f"{url}/{station_id}", subprotocols=subprotocols or ["ocpp2.0.1"], open_timeout=10
    ) as ws:
        station = Station(station_id, ws)
        task = asyncio.create_task(station.start())
        try:
            yield station
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
