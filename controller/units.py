"""The one place where amps, phases and volts become kW and back.

OCPP limits in A are per phase; the optimiser works in kW. Voltage is phase-to-neutral.
"""

from __future__ import annotations

import math


def kw_from_a(current_a: float, phases: int, voltage_v: float) -> float:
    """Power [kW] drawn at ``current_a`` [A] per phase on ``phases`` phases."""
    return current_a * phases * voltage_v / 1000.0


def a_from_kw(power_kw: float, phases: int, voltage_v: float) -> float:
    """Current [A] per phase that gives ``power_kw`` [kW] on ``phases`` phases."""
    if phases <= 0 or voltage_v <= 0:
        raise ValueError(f"phases ({phases}) and voltage_v ({voltage_v}) must be positive")
    return power_kw * 1000.0 / (phases * voltage_v)


def floor_to_step(value: float, step: float = 0.1) -> float:
    """Round down to the OCPP resolution: a limit rounded up would exceed the allocation."""
    if value <= 0:
        return 0.0
    # The epsilon absorbs binary noise (16.0 stored as 15.999999) without ever rounding up
    # by more than a negligible 1e-9 of a step.
    return round(math.floor(value / step + 1e-9) * step, 6)


def w_from_kw(power_kw: float) -> float:
    return power_kw * 1000.0


def kw_from_w(power_w: float) -> float:
    return power_w / 1000.0


def to_kw(value: float, unit: str) -> float:
    """A power reading in W or kW as kW."""
    unit_lower = unit.lower()
    if unit_lower == "w":
        return value / 1000.0
    if unit_lower == "kw":
        return value
    raise ValueError(f"unsupported power unit {unit!r} (W or kW)")


def to_kwh(value: float, unit: str) -> float:
    """An energy reading in Wh or kWh as kWh."""
    unit_lower = unit.lower()
    if unit_lower == "wh":
        return value / 1000.0
    if unit_lower == "kwh":
        return value
    raise ValueError(f"unsupported energy unit {unit!r} (Wh or kWh)")
