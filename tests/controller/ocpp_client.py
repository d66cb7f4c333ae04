"""A real OCPP 1.6J charge point for the controller's tests (the ocpp package's client side).

It answers the central system's requests the way a plain charger does and records them,
so tests can drive a session frame by frame over a real socket.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
from typing import Any

import websockets
from ocpp.routing import on
from ocpp.v16 import ChargePoint, call, call_result
from ocpp.v16.enums import Action

CONFIG = {
    "ChargeProfileMaxStackLevel": "8",
    "ChargingScheduleAllowedChargingRateUnit": "Current,Power",
    "ChargingScheduleMaxPeriods": "24",
    "MaxChargingProfilesInstalled": "10",
    "MeterValueSampleInterval": "300",
    "MeterValuesSampledData": "Energy.Active.Import.Register",
    "HeartbeatInterval": "300",
}


class ClientChargePoint(ChargePoint):
    def __init__(self, charger_id: str, connection: Any) -> None:
        super().__init__(charger_id, connection, response_timeout=10)
        self.config = dict(CONFIG)
        self.received: list[tuple[str, dict[str, Any]]] = []
        self.profiles: list[dict[str, Any]] = []
        self.raw_replies: asyncio.Queue[list[Any]] = asyncio.Queue()
        self.configured = asyncio.Event()

    async def route_message(self, raw_msg: str) -> None:
        frame = json.loads(raw_msg)
        if frame[0] in (3, 4) and (str(frame[1]).startswith("raw-") or frame[1] == "-1"):
            self.raw_replies.put_nowait(frame)
            return
        await super().route_message(raw_msg)

    async def send_raw(self, text: str, unique_id: str | None = None) -> list[Any]:
        """Send a frame as-is and wait for the answer with ``unique_id``."""
        await self._connection.send(text)
        frame = await asyncio.wait_for(self.raw_replies.get(), 5)
        if unique_id is not None:
            assert frame[1] == unique_id
        return frame

    @on(Action.get_configuration)
    def on_get_configuration(self, key: list[str] | None = None, **_: Any):
        self.received.append(("GetConfiguration", {"key": key}))
        keys = key or list(self.config)
        known = [
            {"key": k, "readonly": False, "value": self.config[k]} for k in keys if k in self.config
        ]
        unknown = [k for k in keys if k not in self.config]
        return call_result.GetConfiguration(configuration_key=known, unknown_key=unknown or None)

    @on(Action.change_configuration)
    def on_change_configuration(self, key: str, value: str):
        self.received.append(("ChangeConfiguration", {"key": key, "value": value}))
        self.config[key] = value
        if key == "MeterValuesSampledData":
            self.configured.set()
        return call_result.ChangeConfiguration(status="Accepted")

    @on(Action.set_charging_profile)
    def on_set_charging_profile(self, connector_id: int, cs_charging_profiles: dict[str, Any]):
        self.received.append(("SetChargingProfile", {"connector_id": connector_id}))
        self.profiles.append({"connector_id": connector_id, **cs_charging_profiles})
        return call_result.SetChargingProfile(status="Accepted")

    @on(Action.clear_charging_profile)
    def on_clear_charging_profile(self, **kwargs: Any):
        self.received.append(("ClearChargingProfile", kwargs))
        return call_result.ClearChargingProfile(status="Accepted")

    @on(Action.reset)
    def on_reset(self, type: str):
        self.received.append(("Reset", {"type": type}))
        return call_result.Reset(status="Accepted")

    @on(Action.trigger_message)
    def on_trigger_message(self, requested_message: str, **kwargs: Any):
        self.received.append(("TriggerMessage", {"requested_message": requested_message}))
        return call_result.TriggerMessage(status="Accepted")

    @on(Action.update_firmware)
    def on_update_firmware(self, location: str, retrieve_date: str, **_: Any):
        self.received.append(("UpdateFirmware", {"location": location}))
        return call_result.UpdateFirmware()

    @on(Action.get_diagnostics)
    def on_get_diagnostics(self, location: str, **_: Any):
        self.received.append(("GetDiagnostics", {"location": location}))
        return call_result.GetDiagnostics(file_name="diag.log")

    async def boot(self) -> Any:
        return await self.call(
            call.BootNotification(charge_point_vendor="TestVendor", charge_point_model="T1"),
            suppress=False,
        )


@contextlib.asynccontextmanager
async def connect(
    url: str,
    charger_id: str,
    *,
    password: str | None = None,
    ssl: Any = None,
    subprotocols: list[str] | None = None,
    charge_point_class: type[ClientChargePoint] = ClientChargePoint,
):
    headers = {}
    if password is not None:
        token = base64.b64encode(f"{charger_id}:{password}".encode()).decode()
        headers["Authorization"] = f"Basic {token}"
    async with websockets.connect(
        f"{url}/{charger_id}",
        subprotocols=subprotocols or ["ocpp1.6"],
        additional_headers=headers,
        ssl=ssl,
        open_timeout=10,
    ) as ws:
        cp = charge_point_class(charger_id, ws)
        task = asyncio.create_task(cp.start())
        try:
            yield cp
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task


def meter_values(
    connector_id: int,
    timestamp: str,
    *,
    energy_wh: float,
    power_w: float,
    currents_a: tuple[float, float, float],
    soc: float | None = None,
    transaction_id: int | None = None,
) -> call.MeterValues:
    sampled = [
        {"value": str(energy_wh), "measurand": "Energy.Active.Import.Register", "unit": "Wh"},
        {"value": str(power_w), "measurand": "Power.Active.Import", "unit": "W"},
    ]
    for phase, amps in zip(("L1", "L2", "L3"), currents_a, strict=True):
        sampled.append(
            {"value": str(amps), "measurand": "Current.Import", "phase": phase, "unit": "A"}
        )
    if soc is not None:
        sampled.append({"value": str(soc), "measurand": "SoC", "unit": "Percent"})
    return call.MeterValues(
        connector_id=connector_id,
        transaction_id=transaction_id,
        meter_value=[{"timestamp": timestamp, "sampled_value": sampled}],
    )
