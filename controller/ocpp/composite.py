"""A charger's GetCompositeSchedule answer (OCPP 1.6 or 2.0.1), read as limits over time."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from controller.ocpp.profiles import iso_utc


@dataclass(frozen=True)
class Composite:
    """A charger's GetCompositeSchedule answer: periods from ``start_utc`` [s], in ``unit``."""

    start_utc: datetime
    duration_s: int
    unit: str  # "A" (per phase) or "W"
    periods: tuple[tuple[int, float, int | None], ...]  # (start [s], limit, number_phases)

    def limit_a_at(self, at_utc: datetime, phases: int, voltage_v: float) -> float | None:
        offset_s = (at_utc - self.start_utc).total_seconds()
        if offset_s < 0 or offset_s >= self.duration_s:
            return None
        found: tuple[int, float, int | None] | None = None
        for period in self.periods:
            if period[0] <= offset_s:
                found = period
        if found is None:
            return None
        _, limit, number_phases = found
        if self.unit == "A":
            return limit
        return limit / ((number_phases or phases) * voltage_v)

    def change_times(self) -> list[datetime]:
        return [self.start_utc + timedelta(seconds=start) for start, _, _ in self.periods]

    def as_profile(self) -> dict[str, Any]:
        """The composite in the ledger's (OCPP 1.6 snake_case) profile shape, for no session:
        the next plan's TxProfile is sent as to a charger whose profiles are unknown."""
        return {
            "charging_profile_id": None,
            "transaction_id": None,
            "stack_level": 0,
            "charging_profile_purpose": "Composite",
            "charging_profile_kind": "Absolute",
            "valid_to": iso_utc(self.start_utc + timedelta(seconds=self.duration_s)),
            "charging_schedule": {
                "duration": self.duration_s,
                "start_schedule": iso_utc(self.start_utc),
                "charging_rate_unit": self.unit,
                "charging_schedule_period": [
                    {"start_period": start, "limit": limit, "number_phases": phases}
                    for start, limit, phases in self.periods
                ],
            },
        }


def parse_composite(answer: Any, asked_utc: datetime, duration_s: int) -> Composite | None:
    """An accepted answer of either OCPP version as a :class:`Composite`; None otherwise."""
    if getattr(answer, "status", None) != "Accepted":
        return None
    schedule = getattr(answer, "charging_schedule", None) or getattr(answer, "schedule", None)
    if not isinstance(schedule, dict):
        return None
    start_text = (
        getattr(answer, "schedule_start", None)
        or schedule.get("schedule_start")
        or schedule.get("start_schedule")
    )
    start = utc(start_text) if start_text else asked_utc
    periods = tuple(
        (int(p["start_period"]), float(p["limit"]), p.get("number_phases"))
        for p in schedule.get("charging_schedule_period") or []
    )
    if not periods:
        return None
    unit = str(schedule.get("charging_rate_unit") or "A")
    return Composite(start, int(schedule.get("duration") or duration_s), unit, periods)


def utc(text: str) -> datetime:
    return datetime.fromisoformat(str(text).replace("Z", "+00:00"))
