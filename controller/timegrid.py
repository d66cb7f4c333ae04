"""The one time grid: slots from now, aligned to the interval, split at every limit change.

A plan holds each car's power constant over a slot. If slots were only the aligned 15-minute
blocks, a cap from 17:00:30 would have to apply to the whole block from 17:00 (a slot early)
and a 90-second cap to a whole block. So the grid is cut at every moment a limit starts, ends
or (during a ramp) steps, and each piece keeps the index of the aligned slot it lies in, where
prices and demand-charge terms are looked up. Planning, prices, dispatch and the API share it.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np

RAMP_STEP_S = 60  # a ramp is followed in steps of at most a minute


@dataclass(frozen=True)
class SlotGrid:
    """Slots of whole seconds from ``start_utc``; ``base_index`` maps each to its aligned slot."""

    start_utc: datetime
    slot_s: int
    durations_s: tuple[int, ...]
    base_index: tuple[int, ...]
    base_first_slot_s: int  # length of the first aligned slot (now to the next boundary)

    @property
    def n_slots(self) -> int:
        return len(self.durations_s)

    @property
    def first_slot_s(self) -> int:
        return self.durations_s[0]

    @property
    def n_base_slots(self) -> int:
        return self.base_index[-1] + 1

    def offsets_s(self) -> list[int]:
        out, at = [], 0
        for duration in self.durations_s:
            out.append(at)
            at += duration
        return out

    def starts_utc(self) -> list[datetime]:
        return [self.start_utc + timedelta(seconds=o) for o in self.offsets_s()]

    def ends_utc(self) -> list[datetime]:
        return [
            self.start_utc + timedelta(seconds=o + d)
            for o, d in zip(self.offsets_s(), self.durations_s, strict=True)
        ]

    def end_utc(self) -> datetime:
        return self.start_utc + timedelta(seconds=sum(self.durations_s))

    def hours(self) -> np.ndarray:
        return np.asarray(self.durations_s, dtype=float) / 3600.0

    def slot_of(self, at_utc: datetime) -> int:
        """Index of the slot holding ``at_utc`` (n_slots if beyond the horizon)."""
        offset_s = (at_utc - self.start_utc).total_seconds()
        if offset_s < 0:
            return 0
        for index, end_s in enumerate(np.cumsum(self.durations_s).tolist()):
            if offset_s < end_s:
                return index
        return self.n_slots

    def spread(self, per_base_slot: np.ndarray) -> np.ndarray:
        """Values given per aligned slot (prices, on-peak flags), per slot of this grid."""
        return np.asarray(per_base_slot)[list(self.base_index)]


def slot_grid(
    now_utc: datetime,
    slot_s: int,
    horizon_s: float,
    breaks_utc: Iterable[datetime] = (),
) -> SlotGrid:
    """Aligned slots from now (the first runs to the next boundary), cut at ``breaks_utc``.

    ``now_utc`` is floored to the whole second, so every boundary falls exactly on its time.
    """
    now = now_utc.astimezone(UTC).replace(microsecond=0)
    epoch_s = int(now.timestamp())
    first_s = slot_s - epoch_s % slot_s
    n_base = max(1, 1 + math.ceil(max(0.0, horizon_s - first_s) / slot_s))
    base_bounds = [0, *[first_s + k * slot_s for k in range(n_base)]]
    end_s = base_bounds[-1]
    cuts = set(base_bounds)
    for when in breaks_utc:
        offset = (when.astimezone(UTC) - now).total_seconds()
        if 0 < offset < end_s:
            # Between whole seconds: cut at both, so the limit covers no more than that second.
            cuts.update((math.floor(offset), math.ceil(offset)))
    bounds = sorted(cuts)
    durations, base_index = [], []
    base = 0
    for begin, end in itertools.pairwise(bounds):
        while base_bounds[base + 1] <= begin:
            base += 1
        durations.append(end - begin)
        base_index.append(base)
    return SlotGrid(now, slot_s, tuple(durations), tuple(base_index), first_s)


def ramp_breaks(start_utc: datetime, end_utc: datetime) -> list[datetime]:
    """Moments at most a minute apart from ``start_utc`` to ``end_utc`` (a ramp's steps)."""
    span_s = (end_utc - start_utc).total_seconds()
    steps = max(1, math.ceil(span_s / RAMP_STEP_S))
    return [start_utc + timedelta(seconds=span_s * k / steps) for k in range(steps + 1)]
