"""Octopus Energy (Agile) unit rates JSON: `results[]` with ISO `valid_from`/`valid_to` and
`value_inc_vat`/`value_exc_vat` in pence per kWh; the API lists the newest first."""

from __future__ import annotations

import json
import math

from tariffs.errors import PriceDataError
from tariffs.formats import PricePoint
from tariffs.timeutil import parse_iso_utc


def parse_octopus_json(
    text: str, *, source: str = "<octopus>", include_vat: bool = True
) -> list[PricePoint]:
    """Points in GBP/kWh, oldest first."""
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise PriceDataError(f"not JSON: {exc}", source=source, line=exc.lineno) from None
    results = document.get("results") if isinstance(document, dict) else None
    if not isinstance(results, list) or not results:
        raise PriceDataError("missing non-empty 'results' list", source=source)
    key = "value_inc_vat" if include_vat else "value_exc_vat"
    points = []
    for i, item in enumerate(results):
        where = f"results[{i}]"
        if not isinstance(item, dict):
            raise PriceDataError(f"{where}: expected an object", source=source)
        value = item.get(key)
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
        ):
            raise PriceDataError(f"{where}.{key}: expected a number, got {value!r}", source=source)
        for field in ("valid_from", "valid_to"):
            if not isinstance(item.get(field), str):
                raise PriceDataError(f"{where}.{field}: missing timestamp", source=source)
        start = parse_iso_utc(item["valid_from"], source=f"{source}: {where}.valid_from")
        end = parse_iso_utc(item["valid_to"], source=f"{source}: {where}.valid_to")
        points.append(
            PricePoint(int(start.timestamp()), int(end.timestamp()), float(value) / 100.0, where)
        )
    return sorted(points, key=lambda p: p.start_s)
