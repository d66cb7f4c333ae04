"""A charging profile in the 1.6 shape the control loop builds -> the OCPP 2.0.1 shape.

The loop builds one profile shape for every charger (``controller/ocpp/profiles.py``); for a
2.0.1 station it becomes: connectorId -> evseId (0 = the station, as connector 0 was the
charger), ChargePointMaxProfile -> ChargingStationMaxProfile, the schedule a list of one with
the profile's id as the schedule id, the transaction's internal id -> the station's string id,
and the stack level and period count within what the station reported
(SmartChargingCtrlr.ProfileStackLevel and .PeriodsPerSchedule). Truncation keeps the first
periods and ends with the lowest of the rest, so it can only lower a limit.
"""

from __future__ import annotations

from typing import Any

from controller.site import Capabilities

PURPOSES = {"ChargePointMaxProfile": "ChargingStationMaxProfile"}
_SCHEDULE_KEYS = ("start_schedule", "duration", "min_charging_rate")
_PROFILE_KEYS = ("charging_profile_kind", "recurrency_kind", "valid_from", "valid_to")


class ProfileNotApplicable(ValueError):
    """The profile cannot be sent to this station (e.g. its transaction has ended)."""


def fit_periods(periods: list[dict[str, Any]], max_periods: int | None) -> list[dict[str, Any]]:
    if max_periods is None or max_periods < 1 or len(periods) <= max_periods:
        return [dict(p) for p in periods]
    head = [dict(p) for p in periods[: max_periods - 1]]
    rest = periods[max_periods - 1 :]
    tail = dict(rest[0], limit=min(float(p["limit"]) for p in rest))
    if head and float(head[-1]["limit"]) == tail["limit"]:
        return head
    return [*head, tail]


def profile_v201(
    profile: dict[str, Any],
    *,
    transaction_id: str | None,
    capabilities: Capabilities,
    starting: bool = False,
) -> dict[str, Any]:
    """``profile`` (1.6 shape, snake_case keys) as a 2.0.1 ChargingProfileType; ``starting``:
    sent with RequestStartTransaction, where a TxProfile has no transaction id yet."""
    purpose = PURPOSES.get(profile["charging_profile_purpose"], profile["charging_profile_purpose"])
    source = profile["charging_schedule"]
    schedule: dict[str, Any] = {
        "id": int(profile["charging_profile_id"]),
        "charging_rate_unit": source["charging_rate_unit"],
        "charging_schedule_period": fit_periods(
            source["charging_schedule_period"], capabilities.max_periods
        ),
    }
    for key in _SCHEDULE_KEYS:
        if source.get(key) is not None:
            schedule[key] = source[key]
    stack_level = int(profile["stack_level"])
    if capabilities.max_stack_level is not None:
        stack_level = max(0, min(stack_level, capabilities.max_stack_level))
    result: dict[str, Any] = {
        "id": int(profile["charging_profile_id"]),
        "stack_level": stack_level,
        "charging_profile_purpose": purpose,
        "charging_schedule": [schedule],
    }
    for key in _PROFILE_KEYS:
        if profile.get(key) is not None:
            result[key] = profile[key]
    result.setdefault("charging_profile_kind", "Absolute")
    if purpose == "TxProfile" and not starting:
        if not transaction_id:
            raise ProfileNotApplicable("a TxProfile needs the station's transaction id")
        result["transaction_id"] = transaction_id
    return result
