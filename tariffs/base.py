"""The Tariff protocol the controller relies on, and the result it returns.

A plain array cannot say which prices are published and which are guessed, so `prices()`
returns a `PriceSeries` with a forecast mask; `prices_per_kwh()` is the array shortcut.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol, runtime_checkable

import numpy as np

from tariffs.curve import Curve, mean_over
from tariffs.timeutil import require_utc, slot_edges_s


@dataclass(frozen=True)
class PriceSeries:
    """Mean price [currency/kWh] per slot of a grid starting at `start_utc`."""

    start_utc: datetime
    slot_s: int
    prices_per_kwh: np.ndarray  # float64, (slots,)
    forecast: np.ndarray  # bool, (slots,): True where any part of the slot is a fallback guess
    first_slot_s: int | None = None  # length of slot 0 when partial; None means slot_s

    @property
    def slots(self) -> int:
        return int(self.prices_per_kwh.size)

    def slot_starts_utc(self) -> list[datetime]:
        """Start of each slot (slot 0 at `start_utc`, the rest on the slot grid)."""
        first = self.slot_s if self.first_slot_s is None else self.first_slot_s
        starts = [self.start_utc]
        for i in range(1, self.slots):
            starts.append(self.start_utc + timedelta(seconds=first + (i - 1) * self.slot_s))
        return starts


@runtime_checkable
class Tariff(Protocol):
    """What the controller asks of any price source."""

    def prices(
        self, start_utc: datetime, slot_s: int, slots: int, *, first_slot_s: int | None = None
    ) -> PriceSeries: ...

    def prices_per_kwh(
        self, start_utc: datetime, slot_s: int, slots: int, *, first_slot_s: int | None = None
    ) -> np.ndarray: ...


class CurveTariff(ABC):
    """A tariff defined by its step curve; slot means are exact integrals of that curve."""

    name: str = "tariff"

    @abstractmethod
    def curve(self, start_s: int, end_s: int) -> Curve:
        """Prices covering at least [start_s, end_s) (epoch seconds, UTC)."""

    def prices(
        self, start_utc: datetime, slot_s: int, slots: int, *, first_slot_s: int | None = None
    ) -> PriceSeries:
        start_utc = require_utc(start_utc, "start_utc")
        edges = slot_edges_s(start_utc, int(slot_s), int(slots), first_slot_s)
        means, forecast = mean_over(self.curve(int(edges[0]), int(edges[-1])), edges)
        means.setflags(write=False)
        forecast.setflags(write=False)
        return PriceSeries(
            start_utc=start_utc,
            slot_s=int(slot_s),
            prices_per_kwh=means,
            forecast=forecast,
            first_slot_s=None if first_slot_s in (None, slot_s) else int(first_slot_s),
        )

    def prices_per_kwh(
        self, start_utc: datetime, slot_s: int, slots: int, *, first_slot_s: int | None = None
    ) -> np.ndarray:
        return self.prices(start_utc, slot_s, slots, first_slot_s=first_slot_s).prices_per_kwh
