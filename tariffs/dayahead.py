"""Day-ahead price series: checked for gaps, resampled to any slot grid, and extended
beyond the published horizon by a fallback that is marked as forecast.

Fallbacks: "none" (asking beyond the data is an error), "day_before" / "week_before" (the
same UTC time 1 or 7 days earlier, repeating the last published day or week), or any other
tariff (e.g. the time-of-use rules). `repeat_daily` tiles a whole-day series over every date
as if published (for demos with a recorded shape); `shift_series_to` moves it to a date.
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Sequence
from datetime import datetime

import numpy as np

from tariffs.base import CurveTariff
from tariffs.curve import Curve, clip, make_curve, shift, splice, tile
from tariffs.errors import PriceDataError, TariffConfigError
from tariffs.formats import PricePoint
from tariffs.timeutil import from_epoch_s, to_epoch_s

DAY_S = 86_400
FALLBACK_PERIODS_S = {"day_before": DAY_S, "week_before": 7 * DAY_S}


def _iso(seconds: int) -> str:
    return from_epoch_s(seconds).isoformat().replace("+00:00", "Z")


def series_from_points(
    points: Sequence[PricePoint], *, source: str, resolution_s: int | None = None
) -> Curve:
    """A gap-free curve from published points.

    Points without an end last one resolution (given, or the most common step between
    timestamps); every step must equal it, so a missing hour is reported, not bridged.
    """
    if not points:
        raise PriceDataError("no prices", source=source)
    starts = [p.start_s for p in points]
    for prev, cur in itertools.pairwise(points):
        if cur.start_s <= prev.start_s:
            raise PriceDataError(
                f"{cur.where}: timestamp {_iso(cur.start_s)} does not come after"
                f" {_iso(prev.start_s)} ({prev.where})",
                source=source,
            )
    if all(p.end_s is None for p in points):
        if resolution_s is None:
            if len(points) < 2:
                raise PriceDataError(
                    "one price and no resolution: set resolution_minutes", source=source
                )
            resolution_s = Counter(np.diff(starts).tolist()).most_common(1)[0][0]
        ends = [s + int(resolution_s) for s in starts]
    elif any(p.end_s is None for p in points):
        raise PriceDataError("some points have an end time and some do not", source=source)
    else:
        ends = [int(p.end_s) for p in points if p.end_s is not None]
    for point, end in zip(points, ends, strict=True):
        if end <= point.start_s:
            raise PriceDataError(f"{point.where}: ends before it starts", source=source)
    for i in range(len(points) - 1):
        if ends[i] != starts[i + 1]:
            kind = "gap" if ends[i] < starts[i + 1] else "overlap"
            raise PriceDataError(
                f"{kind} in the price series: {points[i].where} ends {_iso(ends[i])},"
                f" {points[i + 1].where} starts {_iso(starts[i + 1])}",
                source=source,
            )
    return make_curve([*starts, ends[-1]], [p.price_per_kwh for p in points], False)


class DayAheadTariff(CurveTariff):
    """Published prices, plus a fallback (forecast) beyond them."""

    name = "dayahead"

    def __init__(
        self,
        series: Curve,
        *,
        fallback: str | CurveTariff = "day_before",
        repeat_daily: bool = False,
        source: str = "prices",
    ):
        self.series = series
        self.source = source
        self.repeat_daily = repeat_daily
        span = series.end_s - series.start_s
        if repeat_daily and span % DAY_S:
            raise TariffConfigError(
                f"repeat_daily needs whole days of prices; {source} spans {span / 3600:g} h",
                source="tariff.repeat_daily",
            )
        if isinstance(fallback, str):
            if fallback not in ("none", *FALLBACK_PERIODS_S):
                raise TariffConfigError(
                    f"unknown fallback {fallback!r} (use none, day_before, week_before or a table)",
                    source="tariff.fallback",
                )
            period = FALLBACK_PERIODS_S.get(fallback, 0)
            if span < period:
                raise TariffConfigError(
                    f"fallback {fallback} needs {period // 3600} h of prices; {source} has"
                    f" {span / 3600:g} h",
                    source="tariff.fallback",
                )
        self.fallback = fallback

    @property
    def published_until_utc(self) -> datetime:
        return from_epoch_s(self.series.end_s)

    def curve(self, start_s: int, end_s: int) -> Curve:
        series = self.series
        if self.repeat_daily:
            return tile(series, start_s, end_s)
        if series.start_s <= start_s and end_s <= series.end_s:
            return clip(series, start_s, end_s)
        if self.fallback == "none":
            raise PriceDataError(
                f"prices cover {_iso(series.start_s)}..{_iso(series.end_s)}, asked"
                f" {_iso(start_s)}..{_iso(end_s)} and no fallback is configured",
                source=self.source,
            )
        if isinstance(self.fallback, str):
            period = FALLBACK_PERIODS_S[self.fallback]
            pattern = clip(series, series.end_s - period, series.end_s)
            filler = tile(pattern, start_s, end_s, forecast=True)
        else:
            guess = self.fallback.curve(start_s, end_s)
            filler = Curve(guess.edges_s, guess.values, np.ones_like(guess.forecast))
        return clip(splice(series, filler), start_s, end_s)


def shift_series_to(series: DayAheadTariff | Curve, start_utc: datetime) -> DayAheadTariff | Curve:
    """The same price shape moved so that it starts at `start_utc` (e.g. a recorded demo day)."""
    offset = to_epoch_s(start_utc)
    if isinstance(series, Curve):
        return shift(series, offset - series.start_s)
    moved = shift(series.series, offset - series.series.start_s)
    return DayAheadTariff(
        moved, fallback=series.fallback, repeat_daily=series.repeat_daily, source=series.source
    )
