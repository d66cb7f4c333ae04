"""Plan -> OCPP 1.6 charging profiles, within what each charger says it can take.

Limits are rounded down to the 0.1 resolution (never up: a ceiling above the allocation
breaks the site limit), equal consecutive periods are merged, and a schedule longer than the
charger's ChargingScheduleMaxPeriods keeps its first periods and ends with the lowest of the
rest, so truncation can only lower a limit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from controller.site import Capabilities
from controller.units import a_from_kw, floor_to_step

TX_DEFAULT_PROFILE_ID = 1
CHARGE_POINT_MAX_PROFILE_ID = 2
TX_PROFILE_ID_BASE = 100  # + connector id: a new TxProfile on a connector replaces its last


@dataclass(frozen=True)
class RateChoice:
    unit: str  # "A" or "W"
    number_phases: int


def choose_rate_unit(capabilities: Capabilities) -> str:
    """Amps where the charger takes them (per-phase limits are what circuits care about)."""
    units = {u.lower() for u in capabilities.allowed_rate_units}
    if "current" in units or "a" in units or not units:
        return "A"
    return "W"


def iso_utc(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


def limit_from_kw(
    power_kw: float, unit: str, phases: int, voltage_v: float, whole_amps: bool = False
) -> float:
    if unit == "A":
        amps = floor_to_step(a_from_kw(power_kw, phases, voltage_v), 1.0 if whole_amps else 0.1)
        return amps
    return floor_to_step(power_kw * 1000.0, 0.1)


def schedule_periods(
    limits: Sequence[float],
    starts_s: Sequence[int],
    max_periods: int | None,
    number_phases: int,
    raise_delay_s: int = 0,
) -> list[dict[str, Any]]:
    """Merge equal neighbours, then fit into ``max_periods`` without raising any limit.

    A raise inside a schedule starts ``raise_delay_s`` late: chargers' clocks differ by
    seconds, and a charger that raises at a slot boundary before its neighbour cuts would push
    the site over its limit. Delaying raises (never cuts) keeps cuts before raises there too.
    """
    merged: list[tuple[int, float]] = []
    for i, (start_s, limit) in enumerate(zip(starts_s, limits, strict=True)):
        if merged and merged[-1][1] == limit:
            continue
        if merged and limit > merged[-1][1] and raise_delay_s > 0:
            next_start = starts_s[i + 1] if i + 1 < len(starts_s) else None
            if next_start is None or start_s + raise_delay_s < next_start:
                start_s += raise_delay_s
        merged.append((start_s, limit))
    if max_periods is not None and max_periods >= 1 and len(merged) > max_periods:
        head = merged[: max_periods - 1]
        tail_start = merged[max_periods - 1][0]
        tail_limit = min(limit for _, limit in merged[max_periods - 1 :])
        merged = [*head, (tail_start, tail_limit)]
        if len(merged) >= 2 and merged[-1][1] == merged[-2][1]:
            merged.pop()
    return [
        {"start_period": start_s, "limit": limit, "number_phases": number_phases}
        for start_s, limit in merged
    ]


def tx_profile(
    *,
    transaction_id: int,
    connector_id: int,
    power_kw: Sequence[float],
    start_utc: datetime,
    durations_s: Sequence[int],
    phases: int,
    voltage_v: float,
    capabilities: Capabilities,
    valid_for_s: int,
    whole_amps: bool = False,
    raise_delay_s: int = 0,
) -> dict[str, Any]:
    """A TxProfile for one transaction covering the plan's horizon, valid for ``valid_for_s``;
    one period per slot of ``durations_s`` [s] (merged where equal), so a limit that starts
    mid-slot starts in the profile at its exact time.

    The bounded validity means a controller that falls silent leaves no stale high limit:
    once it lapses, the charger falls back to its TxDefaultProfile (the safe share).
    """
    unit = choose_rate_unit(capabilities)
    starts_s, at_s = [], 0
    for slot_duration_s in durations_s:
        starts_s.append(at_s)
        at_s += int(slot_duration_s)
    limits = [limit_from_kw(p, unit, phases, voltage_v, whole_amps) for p in power_kw]
    periods = schedule_periods(limits, starts_s, capabilities.max_periods, phases, raise_delay_s)
    duration_s = at_s
    stack_level = 1 if (capabilities.max_stack_level or 0) >= 1 else 0
    return {
        "charging_profile_id": TX_PROFILE_ID_BASE + connector_id,
        "transaction_id": transaction_id,
        "stack_level": stack_level,
        "charging_profile_purpose": "TxProfile",
        "charging_profile_kind": "Absolute",
        "valid_from": iso_utc(start_utc),
        "valid_to": iso_utc(start_utc + timedelta(seconds=valid_for_s)),
        "charging_schedule": {
            "duration": int(duration_s),
            "start_schedule": iso_utc(start_utc),
            "charging_rate_unit": unit,
            "charging_schedule_period": periods,
        },
    }


def tx_default_profile(
    *,
    current_a: float,
    phases: int,
    voltage_v: float,
    capabilities: Capabilities,
    start_utc: datetime,
) -> dict[str, Any]:
    """The standing safe share: what any new transaction may draw before its plan arrives."""
    unit = choose_rate_unit(capabilities)
    limit = (
        floor_to_step(current_a, 0.1)
        if unit == "A"
        else floor_to_step(current_a * phases * voltage_v, 0.1)
    )
    return {
        "charging_profile_id": TX_DEFAULT_PROFILE_ID,
        "stack_level": 0,
        "charging_profile_purpose": "TxDefaultProfile",
        "charging_profile_kind": "Absolute",
        "charging_schedule": {
            "start_schedule": iso_utc(start_utc),
            "charging_rate_unit": unit,
            "charging_schedule_period": [
                {"start_period": 0, "limit": limit, "number_phases": phases}
            ],
        },
    }


def limit_kw_at(
    profile: dict[str, Any], at_utc: datetime, phases: int, voltage_v: float
) -> float | None:
    """The limit a profile sets at ``at_utc`` as kW; None where it sets none (before its start,
    after its duration or validity), so the charger's default applies there."""
    schedule = profile["charging_schedule"]
    start = datetime.fromisoformat(str(schedule["start_schedule"]).replace("Z", "+00:00"))
    offset_s = (at_utc - start).total_seconds()
    if offset_s < 0:
        return None
    duration = schedule.get("duration")
    if duration is not None and offset_s >= float(duration):
        return None
    valid_to = profile.get("valid_to")
    if valid_to and at_utc >= datetime.fromisoformat(str(valid_to).replace("Z", "+00:00")):
        return None
    limit = None
    for period in schedule["charging_schedule_period"]:
        if period["start_period"] <= offset_s:
            limit = float(period["limit"])
    if limit is None:
        return None
    if schedule["charging_rate_unit"] == "A":
        return limit * phases * voltage_v / 1000.0
    return limit / 1000.0
