"""Plain CSV: `timestamp,price` with ISO 8601 timestamps (with offset) and prices per kWh.

A header row is optional; with one, the timestamp column is found by name (timestamp, time,
start, ...) and the price column by a name starting with "price" (a name containing "mwh"
means prices per MWh). ';' works as a separator too. '#' starts a comment line.
"""

from __future__ import annotations

import math

from tariffs.errors import PriceDataError, TariffError
from tariffs.formats import PricePoint
from tariffs.timeutil import parse_iso_utc

_TIME_NAMES = ("timestamp", "time", "start", "start_utc", "datetime", "valid_from", "date")


def _looks_like_time(field: str) -> bool:
    try:
        parse_iso_utc(field)
    except TariffError:
        return False
    return True


def parse_price_csv(
    text: str, *, source: str = "<csv>", price_scale: float = 1.0
) -> list[PricePoint]:
    """Points in file order; `price_scale` converts the file's unit to currency/kWh."""
    rows = [
        (number, line)
        for number, line in enumerate(text.lstrip("\ufeff").splitlines(), start=1)
        if line.strip() and not line.lstrip().startswith("#")
    ]
    if not rows:
        raise PriceDataError("no price rows", source=source)
    sep = ";" if ";" in rows[0][1] and "," not in rows[0][1] else ","
    time_col, price_col = 0, 1
    first_fields = [f.strip() for f in rows[0][1].split(sep)]
    if not _looks_like_time(first_fields[0]):
        header_line = rows[0][0]
        names = [f.lower().strip('"') for f in first_fields]
        time_col = next((names.index(n) for n in _TIME_NAMES if n in names), -1)
        price_col = next((i for i, n in enumerate(names) if n.startswith("price")), -1)
        if time_col < 0:
            raise PriceDataError(
                f"no timestamp column in header {first_fields} (expected one of {_TIME_NAMES})",
                source=source,
                line=header_line,
            )
        if price_col < 0:
            raise PriceDataError(
                f"missing price column in header {first_fields} (a name starting with 'price')",
                source=source,
                line=header_line,
            )
        if "mwh" in names[price_col]:
            price_scale = price_scale / 1000.0
        rows = rows[1:]
        if not rows:
            raise PriceDataError("no price rows after the header", source=source)
    points: list[PricePoint] = []
    for number, line in rows:
        fields = [f.strip().strip('"') for f in line.split(sep)]
        if len(fields) <= max(time_col, price_col) or not fields[price_col]:
            raise PriceDataError("missing price column", source=source, line=number)
        start = parse_iso_utc(fields[time_col], source=source, line=number)
        try:
            price = float(fields[price_col])
        except ValueError:
            price = math.nan
        if not math.isfinite(price):
            raise PriceDataError(
                f"price {fields[price_col]!r} is not a number", source=source, line=number
            )
        points.append(
            PricePoint(int(start.timestamp()), None, price * price_scale, f"line {number}")
        )
    return points
