"""After a 2.0.1 station boots: read its device model, set the sampling the controller needs.

The 1.6 side reads configuration keys (``v16_setup.configure_charger``); a 2.0.1 station has
variables instead: SmartChargingCtrlr (RateUnit, PeriodsPerSchedule, ProfileStackLevel, Entries),
SampledDataCtrlr (TxUpdatedMeasurands, TxUpdatedInterval) and OCPPCommCtrlr. A station that
rejects or lacks a variable keeps the defaults; the charger is ready either way.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from controller.ocpp.errors import ChargerRequestError
from controller.site import Capabilities

if TYPE_CHECKING:
    from controller.ocpp.server import CentralSystem
    from controller.ocpp.v201_outbound import V201Requests

log = logging.getLogger(__name__)

SMART = "SmartChargingCtrlr"
SAMPLED = "SampledDataCtrlr"
COMM = "OCPPCommCtrlr"
READ: list[tuple[str, str] | tuple[str, str, str]] = [
    (SMART, "Enabled"),
    (SMART, "RateUnit"),
    (SMART, "PeriodsPerSchedule"),
    (SMART, "ProfileStackLevel"),
    (SMART, "Entries", "ChargingProfiles"),
    (SAMPLED, "TxUpdatedMeasurands"),
    (SAMPLED, "TxUpdatedInterval"),
    (COMM, "MessageTimeout", "Default"),
]
# the measurands the 1.6 side asks for, then a fallback a plain meter has
WANTED_MEASURANDS = (
    "Energy.Active.Import.Register,Power.Active.Import,Current.Import,Current.Offered,SoC"
)
FALLBACK_MEASURANDS = "Energy.Active.Import.Register,Power.Active.Import"


def _key(component: str, variable: str, instance: str | None = None) -> str:
    return f"{component}.{variable}" + (f"[{instance}]" if instance else "")


def parse_variables(answer: Any) -> dict[str, str]:
    """GetVariables results that were Accepted, as ``Component.Variable[instance]`` -> value."""
    values = {}
    for item in getattr(answer, "get_variable_result", None) or []:
        if item.get("attribute_status") != "Accepted" or item.get("attribute_value") is None:
            continue
        variable = item.get("variable") or {}
        key = _key(item["component"]["name"], variable.get("name", ""), variable.get("instance"))
        values[key] = str(item["attribute_value"])
    return values


def capabilities_from(values: dict[str, str]) -> Capabilities:
    def as_int(key: str) -> int | None:
        try:
            return int(values[key].strip())
        except (KeyError, ValueError):
            return None

    units = tuple(u.strip() for u in values.get(f"{SMART}.RateUnit", "A").split(",") if u.strip())
    return Capabilities(
        max_stack_level=as_int(f"{SMART}.ProfileStackLevel"),
        allowed_rate_units=units or ("A",),
        max_periods=as_int(f"{SMART}.PeriodsPerSchedule"),
        max_profiles_installed=as_int(f"{SMART}.Entries[ChargingProfiles]"),
        meter_value_sample_interval_s=as_int(f"{SAMPLED}.TxUpdatedInterval"),
        meter_values_sampled_data=values.get(f"{SAMPLED}.TxUpdatedMeasurands"),
        raw=dict(values),
    )


async def _set(requests: V201Requests, component: str, variable: str, value: str) -> bool:
    try:
        answer = await requests.set_variables([((component, variable), value)])
    except ChargerRequestError as exc:
        log.info("%s: %s.%s not set: %s", requests.charger_id, component, variable, exc)
        return False
    results = getattr(answer, "set_variable_result", None) or []
    status = results[0].get("attribute_status") if results else "no result"
    if status not in ("Accepted", "RebootRequired"):
        log.info(
            "%s: %s.%s=%s answered %s", requests.charger_id, component, variable, value, status
        )
        return False
    return True


async def configure_station(central: CentralSystem, charger_id: str) -> None:
    """Read the device model, set sampling, store the capabilities, then announce readiness."""
    try:
        requests: V201Requests = central.requests(charger_id)  # type: ignore[assignment]
        try:
            values = parse_variables(await requests.get_variables(READ))
        except ChargerRequestError as exc:
            log.warning("%s: could not read the device model: %s", charger_id, exc)
            values = {}
        capabilities = capabilities_from(values)
        interval = str(central.config.ocpp.meter_value_sample_interval_s)
        if values.get(f"{SAMPLED}.TxUpdatedInterval") != interval:
            if await _set(requests, SAMPLED, "TxUpdatedInterval", interval):
                capabilities.meter_value_sample_interval_s = int(interval)
        if values.get(f"{SAMPLED}.TxUpdatedMeasurands") != WANTED_MEASURANDS:
            for measurands in (WANTED_MEASURANDS, FALLBACK_MEASURANDS):
                if await _set(requests, SAMPLED, "TxUpdatedMeasurands", measurands):
                    capabilities.meter_values_sampled_data = measurands
                    break
        if values.get(f"{SMART}.Enabled", "true").lower() == "false":
            log.warning(
                "%s: SmartChargingCtrlr.Enabled is false: profiles may be refused", charger_id
            )
        central.site.charger(charger_id).capabilities = capabilities
        await central.store.run(
            central.store.store.upsert_charger, charger_id, capabilities=capabilities.as_dict()
        )
    except ChargerRequestError as exc:
        log.warning("%s: could not configure: %s", charger_id, exc)
    await central.charger_ready(charger_id)
