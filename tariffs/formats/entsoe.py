"""ENTSO-E Transparency Platform day-ahead prices (`Publication_MarketDocument`, A44).

Prices are per MWh (EUR); each `Period` has a start, a resolution (PT15M, PT60M, ...) and
numbered `Point`s. With curve type A03 an absent position repeats the price before it; with
A01 (or no curve type) every position must be present. Parsed with xml.etree only.
"""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET

from tariffs.errors import PriceDataError
from tariffs.formats import PricePoint
from tariffs.timeutil import parse_iso_utc

_RESOLUTION = re.compile(r"^PT(?:(\d+)H)?(?:(\d+)M)?$")
_PRICE_UNITS = {"MWH": 1 / 1000.0, "KWH": 1.0}


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _child(element: ET.Element, name: str) -> ET.Element | None:
    return next((c for c in element if _local(c.tag) == name), None)


def _children(element: ET.Element, name: str) -> list[ET.Element]:
    return [c for c in element if _local(c.tag) == name]


def _text(element: ET.Element, path: str, *, source: str, where: str) -> str:
    node: ET.Element | None = element
    for name in path.split("/"):
        node = _child(node, name) if node is not None else None
    if node is None or node.text is None or not node.text.strip():
        raise PriceDataError(f"{where}: missing <{path}>", source=source)
    return node.text.strip()


def parse_resolution_s(text: str, *, source: str, where: str) -> int:
    match = _RESOLUTION.match(text.strip())
    if not match or not any(match.groups()):
        raise PriceDataError(f"{where}: unsupported resolution {text!r}", source=source)
    hours, minutes = (int(g) if g else 0 for g in match.groups())
    return hours * 3600 + minutes * 60


def parse_entsoe_xml(
    text: str, *, source: str = "<entsoe>", area: str | None = None
) -> list[PricePoint]:
    """All points of all matching TimeSeries, each with its explicit end; `area` filters by
    `in_Domain.mRID` (an EIC code) when a document holds several bidding zones."""
    try:
        root = ET.fromstring(text)
    except ET.ParseError as exc:
        raise PriceDataError(f"not well-formed XML: {exc}", source=source) from None
    if _local(root.tag) != "Publication_MarketDocument":
        if _local(root.tag) == "Acknowledgement_MarketDocument":
            reason = root.findtext(".//{*}Reason/{*}text") or "no reason given"
            raise PriceDataError(f"ENTSO-E returned no data: {reason}", source=source)
        raise PriceDataError(
            f"root element is <{_local(root.tag)}>, expected <Publication_MarketDocument>",
            source=source,
        )
    points: list[PricePoint] = []
    series_list = _children(root, "TimeSeries")
    if not series_list:
        raise PriceDataError("no <TimeSeries> in document", source=source)
    for s_index, series in enumerate(series_list, start=1):
        s_where = f"TimeSeries {s_index}"
        domain = _child(series, "in_Domain.mRID")
        if area is not None and domain is not None and (domain.text or "").strip() != area:
            continue
        unit = _text(series, "price_Measure_Unit.name", source=source, where=s_where).upper()
        if unit not in _PRICE_UNITS:
            raise PriceDataError(f"{s_where}: unsupported price unit {unit!r}", source=source)
        scale = _PRICE_UNITS[unit]
        curve_node = _child(series, "curveType")
        curve_type = (curve_node.text or "").strip() if curve_node is not None else "A01"
        if curve_type not in ("A01", "A03"):
            raise PriceDataError(f"{s_where}: unsupported curveType {curve_type}", source=source)
        for p_index, period in enumerate(_children(series, "Period"), start=1):
            where = f"{s_where} Period {p_index}"
            points.extend(_period_points(period, scale, curve_type, source=source, where=where))
    if not points:
        raise PriceDataError(f"no prices for area {area!r}", source=source)
    return points


def _period_points(
    period: ET.Element, scale: float, curve_type: str, *, source: str, where: str
) -> list[PricePoint]:
    start = parse_iso_utc(
        _text(period, "timeInterval/start", source=source, where=where), source=source
    )
    end = parse_iso_utc(
        _text(period, "timeInterval/end", source=source, where=where), source=source
    )
    step_s = parse_resolution_s(
        _text(period, "resolution", source=source, where=where), source=source, where=where
    )
    start_s, end_s = int(start.timestamp()), int(end.timestamp())
    span = end_s - start_s
    if span <= 0 or span % step_s:
        raise PriceDataError(
            f"{where}: interval {start.isoformat()}..{end.isoformat()} is not a whole number"
            f" of {step_s // 60}-minute steps",
            source=source,
        )
    count = span // step_s
    by_position: dict[int, float] = {}
    for point in _children(period, "Point"):
        raw_pos = _text(point, "position", source=source, where=where)
        raw_price = _text(point, "price.amount", source=source, where=f"{where} position {raw_pos}")
        try:
            position = int(raw_pos)
        except ValueError:
            raise PriceDataError(
                f"{where}: position {raw_pos!r} is not an integer", source=source
            ) from None
        try:
            price = float(raw_price)
        except ValueError:
            price = math.nan
        if not math.isfinite(price):
            raise PriceDataError(
                f"{where} position {position}: price {raw_price!r} is not a number", source=source
            )
        if not 1 <= position <= count:
            raise PriceDataError(f"{where}: position {position} outside 1..{count}", source=source)
        if position in by_position:
            raise PriceDataError(f"{where}: position {position} appears twice", source=source)
        by_position[position] = price * scale
    if 1 not in by_position:
        raise PriceDataError(f"{where}: position 1 is missing", source=source)
    result: list[PricePoint] = []
    price = by_position[1]
    for position in range(1, count + 1):
        if position in by_position:
            price = by_position[position]
        elif curve_type != "A03":
            raise PriceDataError(
                f"{where}: position {position} is missing (a gap; curveType {curve_type})",
                source=source,
            )
        slot_start = start_s + (position - 1) * step_s
        result.append(
            PricePoint(slot_start, slot_start + step_s, price, f"{where} position {position}")
        )
    return result
