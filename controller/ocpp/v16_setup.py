"""After an OCPP 1.6 charger boots (or reconnects without booting): read its smart-charging
keys, set the sampling the controller needs, then tell the loop it is ready."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from controller.ocpp.errors import ChargerRequestError
from controller.ocpp.outbound import ChargerRequests
from controller.site import Capabilities

if TYPE_CHECKING:
    from controller.ocpp.server import CentralSystem

log = logging.getLogger(__name__)

SMART_CHARGING_KEYS = [
    "ChargeProfileMaxStackLevel",
    "ChargingScheduleAllowedChargingRateUnit",
    "ChargingScheduleMaxPeriods",
    "MaxChargingProfilesInstalled",
    "MeterValueSampleInterval",
    "MeterValuesSampledData",
]
WANTED_MEASURANDS = (
    "Energy.Active.Import.Register,Power.Active.Import,Current.Import,Current.Offered,SoC"
)


async def configure_charger(central: CentralSystem, charger_id: str) -> None:
    """Read the smart-charging keys and set the sampling the controller needs."""
    try:
        requests = central.requests(charger_id)
        answer = await requests.get_configuration(SMART_CHARGING_KEYS)
        keys = {
            item["key"]: item.get("value")
            for item in (answer.configuration_key or [])
            if isinstance(item, dict) and "key" in item
        }
        capabilities = parse_capabilities(keys)
        interval = str(central.config.ocpp.meter_value_sample_interval_s)
        if keys.get("MeterValueSampleInterval") != interval:
            await _change(requests, "MeterValueSampleInterval", interval)
            capabilities.meter_value_sample_interval_s = int(interval)
        if keys.get("MeterValuesSampledData") != WANTED_MEASURANDS:
            if await _change(requests, "MeterValuesSampledData", WANTED_MEASURANDS):
                capabilities.meter_values_sampled_data = WANTED_MEASURANDS
            else:
                fallback = "Energy.Active.Import.Register,Power.Active.Import"
                if await _change(requests, "MeterValuesSampledData", fallback):
                    capabilities.meter_values_sampled_data = fallback
        central.site.charger(charger_id).capabilities = capabilities
        await central.store.run(
            central.store.store.upsert_charger, charger_id, capabilities=capabilities.as_dict()
        )
    except ChargerRequestError as exc:
        log.warning("%s: could not read or set configuration: %s", charger_id, exc)
    await central.charger_ready(charger_id)


async def _change(requests: ChargerRequests, key: str, value: str) -> bool:
    try:
        answer = await requests.change_configuration(key, value)
    except ChargerRequestError as exc:
        log.info("%s: %s not changed: %s", requests.charger_id, key, exc)
        return False
    accepted = answer.status in ("Accepted", "RebootRequired")
    if not accepted:
        log.info("%s: %s=%s answered %s", requests.charger_id, key, value, answer.status)
    return accepted


def parse_capabilities(keys: dict[str, str | None]) -> Capabilities:
    def as_int(name: str) -> int | None:
        try:
            return int(str(keys.get(name)).strip())
        except ValueError:
            return None

    units_text = keys.get("ChargingScheduleAllowedChargingRateUnit") or "Current"
    units = tuple(u.strip() for u in units_text.split(",") if u.strip()) or ("Current",)
    return Capabilities(
        max_stack_level=as_int("ChargeProfileMaxStackLevel"),
        allowed_rate_units=units,
        max_periods=as_int("ChargingScheduleMaxPeriods"),
        max_profiles_installed=as_int("MaxChargingProfilesInstalled"),
        meter_value_sample_interval_s=as_int("MeterValueSampleInterval"),
        meter_values_sampled_data=keys.get("MeterValuesSampledData"),
        raw={k: v for k, v in keys.items() if v is not None},
    )
