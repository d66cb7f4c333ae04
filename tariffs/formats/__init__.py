"""Parsers for published price formats, one module per source (the evcc way).

Each parser is a pure function of the document's text returning `PricePoint`s in
[currency/kWh]; `tariffs.dayahead.series_from_points` turns them into a checked curve.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PricePoint:
    """One published price: from `start_s` until `end_s` (None: until the next point)."""

    start_s: int
    end_s: int | None
    price_per_kwh: float
    where: str  # "line 7", "Period 2 position 5", "data[3]": for error messages
