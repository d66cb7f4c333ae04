"""OCPP 2.0.1 shapes -> what the site model already understands (pure functions).

A 2.0.1 station's EVSE is the site's connector (one car at a time), numbered the same way:
EVSE 0 is the station as a whole, like connector 0 of a 1.6 charger.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from controller.meter import parse_timestamp
from controller.units import kw_from_a

# TransactionEvent chargingState -> the 1.6 connector status the rest of the controller knows
CHARGING_STATE_STATUS = {
    "Charging": "Charging",
    "SuspendedEV": "SuspendedEV",
    "SuspendedEVSE": "SuspendedEVSE",
    "EVConnected": "Preparing",
    "Idle": "Available",
}


def meter_values_as_v16(meter_value: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """2.0.1 meter values (numeric ``value``, ``unit_of_measure`` with a power-of-ten
    ``multiplier``) in the 1.6 shape ``controller.meter.parse_meter_values`` reads."""
    converted = []
    for entry in meter_value:
        sampled = []
        for value in entry.get("sampled_value", []):
            unit = value.get("unit_of_measure") or {}
            multiplier = unit.get("multiplier") or 0
            number = value.get("value")
            if isinstance(number, int | float) and not isinstance(number, bool) and multiplier:
                number = number * 10.0**multiplier
            item = {
                "value": str(number),
                "measurand": value.get("measurand", "Energy.Active.Import.Register"),
            }
            for key in ("phase", "context"):
                if value.get(key) is not None:
                    item[key] = value[key]
            if unit.get("unit"):
                item["unit"] = unit["unit"]
            sampled.append(item)
        converted.append({"timestamp": entry.get("timestamp"), "sampled_value": sampled})
    return converted


def id_token_info(info_v16: dict[str, str]) -> dict[str, Any]:
    """The authorizer's 1.6 idTagInfo as a 2.0.1 idTokenInfo (the statuses share names)."""
    result: dict[str, Any] = {"status": info_v16["status"]}
    if info_v16.get("expiry_date"):
        result["cache_expiry_date_time"] = info_v16["expiry_date"]
    return result


@dataclass(frozen=True)
class ChargingNeed:
    """What a car said it needs (ISO 15118 via NotifyEVChargingNeeds)."""

    departure_utc: datetime | None
    energy_kwh: float | None  # still wanted from now [kWh]
    max_kw: float | None  # the car's own limit [kW]


def charging_need(
    charging_needs: dict[str, Any], *, phases: int, voltage_v: float, now_utc: datetime
) -> ChargingNeed:
    """Departure, energy still wanted and the car's limit from a NotifyEVChargingNeeds.

    AC: ``energy_amount`` [Wh], ``ev_max_current`` [A per phase]. DC: ``energy_amount`` or the
    SoC targets (``full_soc`` or ``bulk_soc`` above ``state_of_charge`` of
    ``ev_energy_capacity`` [Wh]), ``ev_max_power`` [W]. A departure in the past is ignored.
    """
    departure = None
    if charging_needs.get("departure_time"):
        departure = parse_timestamp(str(charging_needs["departure_time"]), "departureTime")
        if departure <= now_utc:
            departure = None
    energy_kwh = max_kw = None
    ac = charging_needs.get("ac_charging_parameters")
    dc = charging_needs.get("dc_charging_parameters")
    if ac:
        energy_kwh = float(ac["energy_amount"]) / 1000.0
        max_kw = kw_from_a(float(ac["ev_max_current"]), phases, voltage_v)
    elif dc:
        if dc.get("energy_amount") is not None:
            energy_kwh = float(dc["energy_amount"]) / 1000.0
        else:
            target = dc.get("full_soc", dc.get("bulk_soc"))
            soc, capacity = dc.get("state_of_charge"), dc.get("ev_energy_capacity")
            if target is not None and soc is not None and capacity is not None:
                energy_kwh = max(0.0, (target - soc) / 100.0 * float(capacity) / 1000.0)
        if dc.get("ev_max_power") is not None:
            max_kw = float(dc["ev_max_power"]) / 1000.0
        else:
            max_kw = float(dc["ev_max_current"]) * float(dc["ev_max_voltage"]) / 1000.0
    return ChargingNeed(departure, energy_kwh, max_kw if max_kw and max_kw > 0 else None)


def need_overrides(
    need: ChargingNeed, delivered_kwh: float, overrides: dict[str, Any]
) -> dict[str, Any]:
    """The session's overrides with the car's need: what the planning reads.

    ``energy_kwh`` is the session's total by departure (the operator's override means the
    same), so the car's remaining amount is added to what it already has. An operator's
    override is not replaced by the car's (the operator may know better).
    """
    if overrides.get("need_source") == "operator":
        return dict(overrides)
    result = dict(overrides)
    if need.departure_utc is not None:
        result["departure_utc"] = need.departure_utc.isoformat()
    if need.energy_kwh is not None:
        result["energy_kwh"] = round(delivered_kwh + need.energy_kwh, 3)
    if need.departure_utc is not None or need.energy_kwh is not None:
        result["need_source"] = "car"
    return result


def external_limit_kw(
    schedules: list[dict[str, Any]],
    *,
    received_utc: datetime,
    now_utc: datetime,
    phases: int,
    voltage_v: float,
) -> float | None:
    """The lowest limit a NotifyChargingLimit's schedules set from now on [kW] (conservative:
    the plan is not built per period of the station's schedule); None if it gives no number."""
    lowest = None
    for schedule in schedules:
        start = received_utc
        if schedule.get("start_schedule"):
            start = parse_timestamp(str(schedule["start_schedule"]), "startSchedule")
        offset_s = (now_utc - start).total_seconds()
        duration = schedule.get("duration")
        if duration is not None and offset_s >= float(duration):
            continue
        periods = sorted(schedule.get("charging_schedule_period", []), key=_start_period)
        for i, period in enumerate(periods):
            following = periods[i + 1]["start_period"] if i + 1 < len(periods) else None
            if following is not None and following <= offset_s:
                continue  # over already
            limit = float(period["limit"])
            if schedule.get("charging_rate_unit") == "A":
                kw = kw_from_a(limit, int(period.get("number_phases") or phases), voltage_v)
            else:
                kw = limit / 1000.0
            lowest = kw if lowest is None else min(lowest, kw)
    return lowest


def _start_period(period: dict[str, Any]) -> float:
    return float(period["start_period"])
