"""Effective site limit per slot = min(grid connection, operator caps, demand-response events).

Every slot's limit carries its source (which cap or event set it) for the audit trail and
the operator's view. Pure functions over plain data: the API and the DR sources keep the
windows; the cycle asks for a slot grid's limits.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

import numpy as np

from controller.clock import require_utc
from controller.timegrid import ramp_breaks

GRID = "grid"


class LimitError(ValueError):
    """A limit window that cannot be applied; the message names the field."""


@dataclass(frozen=True)
class LimitWindow:
    """A cap or a demand-response event over one time window (``end_utc`` None: open-ended).

    Exactly one of ``limit_kw`` (an absolute cap), ``reduction_kw`` or ``reduction_pct``
    (relative to the baseline, the limit in force without this window). ``ramp_s`` lowers the
    limit linearly from the baseline during the ``ramp_s`` before ``start_utc``, so the site
    reaches the event's level by its start.
    """

    window_id: str
    source: str
    start_utc: datetime | None = None
    end_utc: datetime | None = None
    limit_kw: float | None = None
    reduction_kw: float | None = None
    reduction_pct: float | None = None
    ramp_s: float = 0.0
    kind: Literal["cap", "dr"] = "cap"

    def __post_init__(self) -> None:
        given = [v for v in (self.limit_kw, self.reduction_kw, self.reduction_pct) if v is not None]
        if len(given) != 1:
            raise LimitError(
                f"{self.window_id}: give exactly one of limit_kw, reduction_kw, reduction_pct"
            )
        for name in ("limit_kw", "reduction_kw"):
            value = getattr(self, name)
            if value is not None and (not np.isfinite(value) or value < 0):
                raise LimitError(f"{self.window_id}: {name} must be a finite number >= 0")
        if self.reduction_pct is not None and not 0 <= self.reduction_pct <= 100:
            raise LimitError(f"{self.window_id}: reduction_pct must be within 0..100")
        if self.ramp_s < 0:
            raise LimitError(f"{self.window_id}: ramp_s must be >= 0")
        for name in ("start_utc", "end_utc"):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, require_utc(value, f"{self.window_id}.{name}"))
        if self.start_utc and self.end_utc and self.end_utc <= self.start_utc:
            raise LimitError(f"{self.window_id}: end_utc must be after start_utc")

    def level_kw(self, baseline_kw: float) -> float:
        if self.limit_kw is not None:
            return self.limit_kw
        if self.reduction_kw is not None:
            return max(0.0, baseline_kw - self.reduction_kw)
        return max(0.0, baseline_kw * (1 - (self.reduction_pct or 0.0) / 100.0))

    def as_dict(self) -> dict[str, Any]:
        return {
            "window_id": self.window_id,
            "source": self.source,
            "kind": self.kind,
            "start_utc": self.start_utc.isoformat() if self.start_utc else None,
            "end_utc": self.end_utc.isoformat() if self.end_utc else None,
            "limit_kw": self.limit_kw,
            "reduction_kw": self.reduction_kw,
            "reduction_pct": self.reduction_pct,
            "ramp_s": self.ramp_s,
        }


@dataclass(frozen=True)
class RecurringCap:
    """A cap in local time that repeats, e.g. 60 kW from 17:00 to 20:00 on weekdays."""

    cap_id: str
    limit_kw: float
    start_local: time
    end_local: time
    weekdays: frozenset[int] = field(default_factory=lambda: frozenset(range(7)))  # Mon=0
    timezone: str = "UTC"
    source: str = "operator"

    def __post_init__(self) -> None:
        if not np.isfinite(self.limit_kw) or self.limit_kw < 0:
            raise LimitError(f"{self.cap_id}: limit_kw must be a finite number >= 0")
        if self.start_local == self.end_local:
            raise LimitError(f"{self.cap_id}: end_local must differ from start_local")
        if not self.weekdays or not set(self.weekdays) <= set(range(7)):
            raise LimitError(f"{self.cap_id}: weekdays must be a non-empty subset of 0..6")

    def windows(self, start_utc: datetime, end_utc: datetime) -> list[LimitWindow]:
        """Concrete windows overlapping [start_utc, end_utc), built in local time (DST-safe)."""
        zone = ZoneInfo(self.timezone)
        first = start_utc.astimezone(zone).date() - timedelta(days=1)
        last = end_utc.astimezone(zone).date()
        windows = []
        day: date = first
        while day <= last:
            if day.weekday() in self.weekdays:
                begin = datetime.combine(day, self.start_local, zone)
                end_day = day if self.end_local > self.start_local else day + timedelta(days=1)
                end = datetime.combine(end_day, self.end_local, zone)
                begin_utc, end_utc_w = begin.astimezone(UTC), end.astimezone(UTC)
                if begin_utc < end_utc and end_utc_w > start_utc:
                    windows.append(
                        LimitWindow(
                            window_id=f"{self.cap_id}@{day.isoformat()}",
                            source=self.source,
                            start_utc=begin_utc,
                            end_utc=end_utc_w,
                            limit_kw=self.limit_kw,
                        )
                    )
            day += timedelta(days=1)
        return windows


@dataclass(frozen=True)
class SlotLimits:
    limit_kw: np.ndarray  # (slot,)
    source: tuple[str, ...]  # which window set each slot's limit ("grid" when none)


def effective_limits(
    grid_limit_kw: float,
    windows: Iterable[LimitWindow],
    slot_starts_utc: Sequence[datetime],
    slot_ends_utc: Sequence[datetime],
) -> SlotLimits:
    """The lowest limit in force at any moment of each slot, and where it comes from.

    Windows compose by taking the minimum; reductions are relative to the grid connection, so
    overlapping events never stack reductions on one another (they combine to the lowest).
    A window that touches any part of a slot applies to the whole slot: a plan holds its power
    constant over a slot, so only that keeps the site inside the limit at every instant. The
    time grid is cut at every window's start, end and ramp step (:func:`window_breaks`), so in
    the controller "the whole slot" is exactly the window's time.
    """
    n = len(slot_starts_utc)
    limit = np.full(n, float(grid_limit_kw))
    source = [GRID] * n
    for window in windows:
        level = min(grid_limit_kw, window.level_kw(grid_limit_kw))
        for i in range(n):
            slot_start, slot_end = slot_starts_utc[i], slot_ends_utc[i]
            value = _lowest_in_slot(window, level, grid_limit_kw, slot_start, slot_end)
            if value is not None and value < limit[i] - 1e-9:
                limit[i] = value
                source[i] = f"{window.source}:{window.window_id}"
    return SlotLimits(limit, tuple(source))


def _lowest_in_slot(
    window: LimitWindow, level: float, baseline: float, slot_start: datetime, slot_end: datetime
) -> float | None:
    if window.end_utc is not None and window.end_utc <= slot_start:
        return None
    if window.start_utc is None or window.start_utc < slot_end:
        return level
    if window.ramp_s > 0:
        ramp_start = window.start_utc - timedelta(seconds=window.ramp_s)
        if ramp_start < slot_end:
            # Linear from baseline at ramp_start to level at start: lowest at the slot's end.
            done = (slot_end - ramp_start).total_seconds() / window.ramp_s
            return baseline + (level - baseline) * min(1.0, done)
    return None


def window_breaks(windows: Iterable[LimitWindow]) -> list[datetime]:
    """Every moment a window's limit changes: its start and end, and a ramp's steps."""
    breaks: list[datetime] = []
    for window in windows:
        breaks.extend(t for t in (window.start_utc, window.end_utc) if t is not None)
        if window.start_utc is not None and window.ramp_s > 0:
            ramp_start = window.start_utc - timedelta(seconds=window.ramp_s)
            breaks.extend(ramp_breaks(ramp_start, window.start_utc))
    return breaks


def limit_at(
    grid_limit_kw: float, windows: Iterable[LimitWindow], at_utc: datetime
) -> tuple[float, str]:
    """The limit in force at one instant (for the operator's 'now' view)."""
    result = effective_limits(grid_limit_kw, windows, [at_utc], [at_utc + timedelta(seconds=1)])
    return float(result.limit_kw[0]), result.source[0]
