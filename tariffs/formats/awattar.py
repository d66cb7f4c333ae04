"""aWATTar market data JSON (`/v1/marketdata`): `data[]` with epoch-millisecond
`start_timestamp`/`end_timestamp` and `marketprice` in `unit` (normally "Eur/MWh")."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping

from tariffs.errors import PriceDataError
from tariffs.formats import PricePoint


def _number(item: Mapping[str, object], key: str, *, source: str, where: str) -> float:
    value = item.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise PriceDataError(f"{where}.{key}: expected a number, got {value!r}", source=source)
    return float(value)


def parse_awattar_json(text: str, *, source: str = "<awattar>") -> list[PricePoint]:
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise PriceDataError(f"not JSON: {exc}", source=source, line=exc.lineno) from None
    data = document.get("data") if isinstance(document, dict) else None
    if not isinstance(data, list) or not data:
        raise PriceDataError("missing non-empty 'data' list", source=source)
    points = []
    for i, item in enumerate(data):
        where = f"data[{i}]"
        if not isinstance(item, dict):
            raise PriceDataError(f"{where}: expected an object", source=source)
        unit = str(item.get("unit", "Eur/MWh")).lower()
        scale = 1 / 1000.0 if unit.endswith("/mwh") else 1.0 if unit.endswith("/kwh") else None
        if scale is None:
            raise PriceDataError(f"{where}.unit: unsupported unit {unit!r}", source=source)
        start_ms = _number(item, "start_timestamp", source=source, where=where)
        end_ms = _number(item, "end_timestamp", source=source, where=where)
        price = _number(item, "marketprice", source=source, where=where)
        points.append(PricePoint(int(start_ms // 1000), int(end_ms // 1000), price * scale, where))
    return sorted(points, key=lambda p: p.start_s)
