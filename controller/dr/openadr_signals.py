"""OpenADR 2.0b events (as openleadr hands them over: dicts) -> site limit windows.

Pure: no I/O, no clock. Each interval of a limiting signal becomes its own window, so a
stepped event is followed step by step. What limits the site:

- ``LOAD_DISPATCH`` / ``setpoint``: an absolute cap (in the signal's unit, else the default);
- ``LOAD_CONTROL`` / ``x-loadControlCapacity``: a fraction 0–1 of the grid connection;
- ``LOAD_CONTROL`` / ``x-loadControlSetpoint``: an absolute cap;
- ``LOAD_CONTROL`` / ``x-loadControlPercentOffset``: a reduction in percent of the baseline;
- ``LOAD_CONTROL`` / ``x-loadControlLevelOffset``: integer levels mapped to caps by the config;
- ``SIMPLE`` / ``level``: levels 1–3 mapped to caps by the config, 0 is no limit.

Other signal names (prices, bids, ...) do not limit power and are reported as ignored. A
limiting signal that cannot be read (unknown type, unmapped level, value out of range)
raises SignalError naming the event, signal and interval.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from controller.clock import require_utc
from controller.dr.base import SignalError

SOURCE = "openadr"
LIMITING_SIGNALS = ("LOAD_DISPATCH", "LOAD_CONTROL", "SIMPLE")
CANCELLED = "cancelled"

# SI scale codes as openleadr and the OpenADR schema name them.
_SCALE = {
    "p": 1e-12,
    "n": 1e-9,
    "micro": 1e-6,
    "m": 1e-3,
    "c": 1e-2,
    "d": 1e-1,
    "none": 1.0,
    "k": 1e3,
    "M": 1e6,
    "G": 1e9,
    "T": 1e12,
}


@dataclass(frozen=True)
class SignalSettings:
    """What the translation needs from the site and its ``[dr.openadr]`` table."""

    grid_limit_kw: float
    simple_levels_kw: Mapping[int, float] = field(default_factory=dict)
    level_offsets_kw: Mapping[int, float] = field(default_factory=dict)
    default_power_unit: str = "kW"
    percent_offset_reduces: str = "negative"


@dataclass(frozen=True)
class DrLimit:
    """One interval of one signal as a limit window: ``limit_kw`` or ``reduction_pct``."""

    entry_id: str
    start_utc: datetime
    end_utc: datetime | None
    signal: str  # "<signal_name>/<signal_type>", for the audit trail
    payload: float
    limit_kw: float | None = None
    reduction_pct: float | None = None
    ramp_s: float = 0.0

    def level_kw(self, grid_limit_kw: float) -> float:
        """The site limit this window asks for [kW] (reductions are relative to the grid)."""
        if self.limit_kw is not None:
            return min(grid_limit_kw, self.limit_kw)
        return grid_limit_kw * (1.0 - (self.reduction_pct or 0.0) / 100.0)

    def spec(self, event_id: str, modification_number: int) -> dict[str, Any]:
        """The LimitBook spec: its window keys plus where it came from (JSON-ready)."""
        return {
            "start_utc": self.start_utc.isoformat(),
            "end_utc": self.end_utc.isoformat() if self.end_utc else None,
            "limit_kw": self.limit_kw,
            "reduction_pct": self.reduction_pct,
            "ramp_s": self.ramp_s,
            "event_id": event_id,
            "modification_number": modification_number,
            "signal": self.signal,
            "payload": self.payload,
        }


@dataclass(frozen=True)
class EventLimits:
    event_id: str
    modification_number: int
    status: str  # far | near | active | completed | cancelled
    test_event: bool
    limits: tuple[DrLimit, ...]
    read_signals: tuple[str, ...] = ()  # the limiting signals read ("<name>/<type>")
    ignored_signals: tuple[str, ...] = ()  # signals that do not limit power

    @property
    def cancelled(self) -> bool:
        return self.status == CANCELLED

    @property
    def limiting(self) -> bool:
        """Whether the event carries at least one signal that limits the site."""
        return bool(self.read_signals)


def entry_prefix(event_id: str) -> str:
    """Every LimitBook entry of one event starts with this."""
    return f"{SOURCE}:{event_id}:"


def event_limits(event: Mapping[str, Any], settings: SignalSettings) -> EventLimits:
    """Translate one event; raise SignalError if a limiting signal cannot be read."""
    descriptor = _get(event, "event_descriptor", "event")
    event_id = str(_get(descriptor, "event_id", "event"))
    where = f"event {event_id!r}"
    modification_number = int(descriptor.get("modification_number") or 0)
    status = str(descriptor.get("event_status") or "far").lower()
    test_event = bool(descriptor.get("test_event") or False)
    period = _get(event, "active_period", where)
    period_start = _utc(_get(period, "dtstart", f"{where} active_period"), where)
    ramp = period.get("ramp_up") or period.get("ramp_up_period")
    ramp_s = ramp.total_seconds() if isinstance(ramp, timedelta) else 0.0

    signals = event.get("event_signals") or []
    if isinstance(signals, Mapping):  # some openleadr paths nest the list one level deeper
        signals = signals.get("event_signals") or []
    limiting = [s for s in signals if s.get("signal_name") in LIMITING_SIGNALS]
    ignored = tuple(
        f"{s.get('signal_name')}/{s.get('signal_type')}"
        for s in signals
        if s.get("signal_name") not in LIMITING_SIGNALS
    )
    limits: list[DrLimit] = []
    for index, signal in enumerate(limiting):
        tag = f"{index}." if len(limiting) > 1 else ""
        limits.extend(_signal_limits(signal, event_id, tag, period_start, ramp_s, settings, where))
    return EventLimits(
        event_id=event_id,
        modification_number=modification_number,
        status=status,
        test_event=test_event,
        limits=tuple(limits),
        read_signals=tuple(f"{s.get('signal_name')}/{s.get('signal_type')}" for s in limiting),
        ignored_signals=ignored,
    )


def _signal_limits(
    signal: Mapping[str, Any],
    event_id: str,
    tag: str,
    period_start: datetime,
    ramp_s: float,
    settings: SignalSettings,
    where: str,
) -> list[DrLimit]:
    name, kind = str(signal.get("signal_name")), str(signal.get("signal_type"))
    where = f"{where} signal {name}/{kind}"
    intervals = _ordered(signal.get("intervals") or [], where)
    if not intervals:
        raise SignalError(f"{where}: no intervals")
    limits = []
    cursor = period_start
    for position, interval in enumerate(intervals):
        uid = interval.get("uid", position)
        at = f"{where} interval {uid}"
        start = _utc(interval["dtstart"], at) if interval.get("dtstart") else cursor
        duration = interval.get("duration")
        if not isinstance(duration, timedelta) or duration < timedelta(0):
            raise SignalError(f"{at}: duration must be a non-negative time span, got {duration!r}")
        last = position == len(intervals) - 1
        if duration == timedelta(0) and not last:
            raise SignalError(f"{at}: only the last interval may be open-ended (duration 0)")
        end = start + duration if duration > timedelta(0) else None
        if end is not None:
            cursor = end
        payload = _number(interval.get("signal_payload"), at)
        window = _window(name, kind, payload, signal, settings, at)
        if window is None:  # level 0: normal operation, nothing to limit
            continue
        limit_kw, reduction_pct = window
        limits.append(
            DrLimit(
                entry_id=f"{SOURCE}:{event_id}:{tag}{uid}",
                start_utc=start,
                end_utc=end,
                signal=f"{name}/{kind}",
                payload=payload,
                limit_kw=limit_kw,
                reduction_pct=reduction_pct,
                ramp_s=ramp_s if start == period_start else 0.0,
            )
        )
    return limits


def _window(
    name: str,
    kind: str,
    payload: float,
    signal: Mapping[str, Any],
    settings: SignalSettings,
    at: str,
) -> tuple[float | None, float | None] | None:
    """(limit_kw, reduction_pct) for one interval, or None for 'no limit'."""
    if (name, kind) in (("LOAD_DISPATCH", "setpoint"), ("LOAD_CONTROL", "x-loadControlSetpoint")):
        limit_kw = _power_kw(payload, signal.get("measurement"), settings.default_power_unit, at)
        if limit_kw < 0:
            raise SignalError(f"{at}: setpoint {payload} is negative (export is not supported)")
        return limit_kw, None
    if (name, kind) == ("LOAD_CONTROL", "x-loadControlCapacity"):
        if not 0.0 <= payload <= 1.0:
            raise SignalError(f"{at}: capacity must be a fraction within 0..1, got {payload}")
        return payload * settings.grid_limit_kw, None
    if (name, kind) == ("LOAD_CONTROL", "x-loadControlPercentOffset"):
        reduction = -payload if settings.percent_offset_reduces == "negative" else payload
        if reduction <= 0:
            return None  # more load allowed than normal: not a limit
        if reduction > 100:
            raise SignalError(f"{at}: a reduction of {reduction} % is beyond 100 %")
        return None, reduction
    if (name, kind) == ("LOAD_CONTROL", "x-loadControlLevelOffset"):
        level = _level(payload, at)
        if level == 0:
            return None
        if level not in settings.level_offsets_kw:
            raise SignalError(
                f"{at}: level {level} has no cap in dr.openadr.level_offsets_kw "
                f"(mapped: {sorted(settings.level_offsets_kw)})"
            )
        return settings.level_offsets_kw[level], None
    if (name, kind) == ("SIMPLE", "level"):
        level = _level(payload, at)
        if level == 0:
            return None
        if level not in settings.simple_levels_kw:
            raise SignalError(
                f"{at}: SIMPLE level {level} has no cap in dr.openadr.simple_levels_kw "
                f"(mapped: {sorted(settings.simple_levels_kw)})"
            )
        return settings.simple_levels_kw[level], None
    raise SignalError(f"{at}: signal type {kind!r} is not supported for {name}")


def _power_kw(value: float, measurement: Any, default_unit: str, at: str) -> float:
    if not isinstance(measurement, Mapping) or not measurement.get("unit"):
        return value / 1000.0 if default_unit == "W" else value
    unit = str(measurement["unit"])
    scale = str(measurement.get("scale") or "none")
    if scale not in _SCALE:
        raise SignalError(f"{at}: unknown SI scale code {scale!r}")
    if unit == "W":
        return value * _SCALE[scale] / 1000.0
    if unit == "kW":
        return value * _SCALE[scale]
    raise SignalError(f"{at}: unit {unit!r} is not a power (W)")


def _level(payload: float, at: str) -> int:
    if payload != int(payload):
        raise SignalError(f"{at}: a level must be an integer, got {payload}")
    return int(payload)


def _number(value: Any, at: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise SignalError(f"{at}: signal_payload must be a finite number, got {value!r}")
    return float(value)


def _ordered(intervals: Sequence[Mapping[str, Any]], where: str) -> list[Mapping[str, Any]]:
    uids = [i.get("uid") for i in intervals]
    if all(isinstance(u, int) for u in uids):
        if len(set(uids)) != len(uids):
            raise SignalError(f"{where}: interval uids repeat: {uids}")
        return sorted(intervals, key=lambda i: i["uid"])
    return list(intervals)


def _utc(value: Any, where: str) -> datetime:
    if not isinstance(value, datetime):
        raise SignalError(f"{where}: dtstart must be a date-time, got {value!r}")
    try:
        return require_utc(value, f"{where} dtstart")
    except ValueError as exc:
        raise SignalError(str(exc)) from None


def _get(mapping: Any, key: str, where: str) -> Any:
    if not isinstance(mapping, Mapping) or mapping.get(key) is None:
        raise SignalError(f"{where}: missing {key}")
    return mapping[key]
