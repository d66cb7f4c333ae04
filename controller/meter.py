"""OCPP 1.6 MeterValues -> normalised samples (kW, kWh, A, %), once, at the edge."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from controller.clock import require_utc
from controller.units import to_kw, to_kwh

ENERGY_REGISTER = "Energy.Active.Import.Register"
POWER = "Power.Active.Import"
CURRENT = "Current.Import"
CURRENT_OFFERED = "Current.Offered"
SOC = "SoC"

# A decimal, or NaN/Infinity (parsed, then dropped and counted at the edge as implausible
# rather than costing the message's other samples); never 1_0 or 0x1, which float() takes.
_DECIMAL = re.compile(
    r"^\s*([+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?|[+-]?(nan|inf|infinity))\s*$", re.IGNORECASE
)
_DEFAULT_UNITS = {ENERGY_REGISTER: "Wh", POWER: "W", CURRENT: "A", CURRENT_OFFERED: "A"}


@dataclass(frozen=True, slots=True)
class Sample:
    timestamp_utc: datetime
    measurand: str
    phase: str | None
    context: str | None
    value: float  # kW for power, kWh for energy, A for current, % for SoC
    unit: str  # the normalised unit: kW, kWh, A, Percent, or the charger's own for others


def parse_timestamp(text: str, field: str) -> datetime:
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
        return require_utc(value, field)
    except OverflowError as exc:  # 9999-12-31T23:59:59-12:00 is past the end of time in UTC
        raise ValueError(f"{field}: out of range: {text!r:.40}") from exc
    except ValueError as exc:
        if "naive" in str(exc):
            raise
        raise ValueError(f"{field}: not an ISO 8601 timestamp: {text!r:.40}") from exc


def parse_meter_values(meter_value: list[dict[str, Any]]) -> list[Sample]:
    """Flatten ``meterValue`` (snake_case, as the ocpp package delivers it) into samples.

    Raises ValueError naming the element on a non-numeric value or an unknown unit.
    """
    samples: list[Sample] = []
    for i, entry in enumerate(meter_value):
        at = parse_timestamp(entry["timestamp"], f"meterValue[{i}].timestamp")
        for j, sampled in enumerate(entry.get("sampled_value", [])):
            where = f"meterValue[{i}].sampledValue[{j}]"
            measurand = sampled.get("measurand", ENERGY_REGISTER)
            if sampled.get("format") == "SignedData":
                continue  # signed meter data carries no plain number
            text = sampled.get("value")
            if not isinstance(text, str) or not _DECIMAL.match(text):
                raise ValueError(f"{where}.value: not a decimal number: {text!r:.40}")
            raw = float(text)
            unit = sampled.get("unit", _DEFAULT_UNITS.get(measurand, ""))
            value, norm_unit = _normalise(measurand, raw, unit, where)
            samples.append(
                Sample(
                    at, measurand, sampled.get("phase"), sampled.get("context"), value, norm_unit
                )
            )
    return samples


def _normalise(measurand: str, raw: float, unit: str, where: str) -> tuple[float, str]:
    try:
        if measurand.startswith("Power."):
            return to_kw(raw, unit or "W"), "kW"
        if measurand.startswith("Energy."):
            return to_kwh(raw, unit or "Wh"), "kWh"
    except ValueError as exc:
        raise ValueError(f"{where}.unit: {exc}") from exc
    if measurand == SOC:
        return raw, "Percent"
    return raw, unit


@dataclass(frozen=True, slots=True)
class Reading:
    """What one MeterValues message says about one connector, already summed over phases."""

    timestamp_utc: datetime
    energy_register_kwh: float | None = None
    power_kw: float | None = None
    current_a: tuple[float, ...] | None = None  # per phase L1, L2, L3 where reported
    current_offered_a: float | None = None
    soc_percent: float | None = None


def summarise(samples: list[Sample]) -> Reading | None:
    """The latest instant's values; per-phase power is summed, per-phase currents kept."""
    if not samples:
        return None
    latest = max(s.timestamp_utc for s in samples)
    now = [s for s in samples if s.timestamp_utc == latest]
    energy = _total(now, ENERGY_REGISTER)
    power = _total(now, POWER)
    currents = {s.phase[:2]: s.value for s in now if s.measurand == CURRENT and s.phase}
    total_current = [s.value for s in now if s.measurand == CURRENT and not s.phase]
    current: tuple[float, ...] | None = None
    if currents:
        current = tuple(currents.get(p, 0.0) for p in ("L1", "L2", "L3"))
    elif total_current:
        current = (total_current[0],)
    offered = [s.value for s in now if s.measurand == CURRENT_OFFERED]
    soc = [s.value for s in now if s.measurand == SOC]
    return Reading(
        timestamp_utc=latest,
        energy_register_kwh=energy,
        power_kw=power,
        current_a=current,
        current_offered_a=max(offered) if offered else None,
        soc_percent=soc[-1] if soc else None,
    )


def _total(samples: list[Sample], measurand: str) -> float | None:
    values = [s for s in samples if s.measurand == measurand]
    if not values:
        return None
    unphased = [s.value for s in values if not s.phase or s.phase == "N"]
    if unphased:
        return unphased[-1]
    # Per-phase only: sum L1..L3 (line-to-neutral values; ignore line-to-line duplicates).
    return sum(s.value for s in values if s.phase in ("L1", "L2", "L3", "L1-N", "L2-N", "L3-N"))
