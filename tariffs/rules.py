"""Flat and time-of-use prices, written in the site's local time (an IANA zone).

Bands are local wall-clock times, converted to UTC day by day, so "17:00-20:00" stays at
local 17:00 across DST changes and a spring-forward day has 23 hours of prices.

TOML shape (`type = "tou"`)::

    default_price_per_kwh = 0.20          # optional; without it the bands must cover each day
    holidays = ["2026-12-25"]             # dates priced by "holidays" periods (else like Sunday)
    [[tariff.periods]]                    # or [[tariff.seasons]] each with its own periods
    days = "weekdays"                     # mon..sun, weekdays, weekends, holidays, all, or a list
    start = "16:00"                       # local; end may be "24:00"; with end < start the
                                          # period covers start-24:00 and 00:00-end of each day
    end = "21:00"
    price_per_kwh = 0.45
    [[tariff.seasons]]
    name = "summer"; start = "06-01"; end = "09-30"   # inclusive month-day range, may wrap the year
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np

from tariffs.base import CurveTariff
from tariffs.curve import Curve, clip, constant_curve, make_curve
from tariffs.errors import TariffConfigError
from tariffs.timeutil import from_epoch_s, load_zone, local_to_utc, to_epoch_s

DAY_MIN = 24 * 60
HOLIDAY = 7  # day kind index after mon=0 .. sun=6
_DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_KIND_LABELS = (*_DAY_NAMES, "holidays")
_DAY_TOKENS: dict[str, tuple[int, ...]] = {
    **{name: (i,) for i, name in enumerate(_DAY_NAMES)},
    "weekdays": (0, 1, 2, 3, 4),
    "weekends": (5, 6),
    "holidays": (HOLIDAY,),
    "all": (0, 1, 2, 3, 4, 5, 6, HOLIDAY),
}

Band = tuple[int, int, float]  # (start minute, end minute, value), local wall clock


@dataclass(frozen=True)
class Season:
    name: str
    start_md: tuple[int, int]
    end_md: tuple[int, int]
    day_bands: tuple[tuple[Band, ...], ...]  # per day kind 0..7, covering 0..1440 in order
    has_holiday_bands: bool

    def covers(self, month_day: tuple[int, int]) -> bool:
        if self.start_md <= self.end_md:
            return self.start_md <= month_day <= self.end_md
        return month_day >= self.start_md or month_day <= self.end_md


@dataclass(frozen=True)
class TouRules:
    """Validated time-of-use rules: every local day of every season is covered exactly once."""

    zone: ZoneInfo
    seasons: tuple[Season, ...]
    holidays: frozenset[date]

    def bands_for(self, day: date) -> tuple[Band, ...]:
        md = (day.month, day.day)
        season = next(s for s in self.seasons if s.covers(md))
        if day in self.holidays:
            kind = HOLIDAY if season.has_holiday_bands else 6
        else:
            kind = day.weekday()
        return season.day_bands[kind]

    def curve(self, start_s: int, end_s: int, *, forecast: bool = False) -> Curve:
        first_day = from_epoch_s(start_s).astimezone(self.zone).date() - timedelta(days=1)
        last_day = from_epoch_s(end_s).astimezone(self.zone).date() + timedelta(days=1)
        edges: list[int] = []
        values: list[float] = []
        day = first_day
        while day <= last_day:
            for start_min, end_min, value in self.bands_for(day):
                band_start = to_epoch_s(local_to_utc(day, start_min, self.zone))
                band_end = to_epoch_s(local_to_utc(day, end_min, self.zone))
                if band_end > band_start:  # bands inside a spring-forward gap vanish
                    edges.append(band_start)
                    values.append(value)
            day += timedelta(days=1)
        edges.append(to_epoch_s(local_to_utc(last_day, DAY_MIN, self.zone)))
        return clip(make_curve(edges, values, forecast), start_s, end_s)


def parse_hhmm(text: object, field: str, *, allow_24: bool) -> int:
    """Minutes after local midnight of "HH:MM"."""
    if not isinstance(text, str):
        raise TariffConfigError(f'expected a time "HH:MM", got {text!r}', source=field)
    parts = text.strip().split(":")
    try:
        hours, minutes = (int(p) for p in parts) if len(parts) == 2 else (-1, -1)
    except ValueError:
        hours, minutes = -1, -1
    total = hours * 60 + minutes
    if not (0 <= hours <= 24 and 0 <= minutes < 60) or total > DAY_MIN:
        raise TariffConfigError(f'expected a time "HH:MM", got {text!r}', source=field)
    if total == DAY_MIN and not allow_24:
        raise TariffConfigError("24:00 is only allowed as an end time", source=field)
    return total


def _parse_month_day(text: object, field: str) -> tuple[int, int]:
    try:
        month, day = (int(p) for p in str(text).split("-"))
        date(2024, month, day)  # leap year: accepts 02-29
    except ValueError:
        raise TariffConfigError(f'expected a date "MM-DD", got {text!r}', source=field) from None
    return month, day


def _parse_days(value: object, field: str) -> tuple[int, ...]:
    tokens = [value] if isinstance(value, str) else value
    if not isinstance(tokens, Sequence) or not tokens:
        raise TariffConfigError(f"expected a day name or list, got {value!r}", source=field)
    kinds: set[int] = set()
    for token in tokens:
        key = str(token).strip().lower()
        if key not in _DAY_TOKENS:
            choices = ", ".join(_DAY_TOKENS)
            raise TariffConfigError(f"unknown day {token!r} (use {choices})", source=field)
        kinds.update(_DAY_TOKENS[key])
    return tuple(sorted(kinds))


def parse_number(value: object, field: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TariffConfigError(f"expected a number, got {value!r}", source=field)
    if not np.isfinite(value):
        raise TariffConfigError(f"expected a finite number, got {value!r}", source=field)
    return float(value)


def _fmt(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


def _season_bands(
    periods: object, default: float | None, where: str, value_key: str | None
) -> tuple[tuple[tuple[Band, ...], ...], bool]:
    if not isinstance(periods, list):
        raise TariffConfigError("expected a list of periods ([[...periods]])", source=where)
    per_kind: list[list[tuple[int, int, float, str]]] = [[] for _ in range(8)]
    for i, period in enumerate(periods):
        field = f"{where}[{i}]"
        if not isinstance(period, Mapping):
            raise TariffConfigError("expected a table", source=field)
        known = {"days", "start", "end", "name", *([value_key] if value_key else [])}
        unknown = set(period) - known
        if unknown:
            raise TariffConfigError(f"unknown keys {sorted(unknown)}", source=field)
        kinds = _parse_days(period.get("days", "all"), f"{field}.days")
        start = parse_hhmm(period.get("start", "00:00"), f"{field}.start", allow_24=False)
        end = parse_hhmm(period.get("end", "24:00"), f"{field}.end", allow_24=True)
        if value_key is None:
            value = 1.0
        elif value_key not in period:
            raise TariffConfigError(f"missing {value_key}", source=field)
        else:
            value = parse_number(period[value_key], f"{field}.{value_key}")
        if start == end:
            raise TariffConfigError(f"empty period {_fmt(start)}-{_fmt(end)}", source=field)
        pieces = [(start, end)] if start < end else [(start, DAY_MIN), (0, end)]
        for kind in kinds:
            for a, b in pieces:
                if b > a:
                    per_kind[kind].append((a, b, value, field))
    has_holiday = bool(per_kind[HOLIDAY])
    day_bands: list[tuple[Band, ...]] = []
    for kind, raw in enumerate(per_kind):
        raw.sort()
        bands: list[Band] = []
        cursor = 0
        for a, b, value, field in raw:
            if a < cursor:
                prev = next(
                    (r for r in raw if r[0] < cursor and r[1] > a and r[3] != field), raw[0]
                )
                raise TariffConfigError(
                    f"periods overlap on {_KIND_LABELS[kind]} {_fmt(a)}-{_fmt(min(b, cursor))}"
                    f" ({prev[3]} and {field})",
                    source=where,
                )
            if a > cursor:
                bands.append(_fill(cursor, a, default, kind, where, has_holiday))
            bands.append((a, b, value))
            cursor = b
        if cursor < DAY_MIN:
            bands.append(_fill(cursor, DAY_MIN, default, kind, where, has_holiday))
        day_bands.append(tuple(bands))
    return tuple(day_bands), has_holiday


def _fill(a: int, b: int, default: float | None, kind: int, where: str, holidays: bool) -> Band:
    if default is None and (kind != HOLIDAY or holidays):
        raise TariffConfigError(
            f"no period covers {_KIND_LABELS[kind]} {_fmt(a)}-{_fmt(b)}"
            " (add a period or a default price)",
            source=where,
        )
    return (a, b, 0.0 if default is None else default)


def _parse_holidays(value: object, field: str) -> frozenset[date]:
    if not isinstance(value, list):
        raise TariffConfigError("expected a list of dates", source=field)
    days: set[date] = set()
    for i, item in enumerate(value):
        if isinstance(item, date) and not isinstance(item, datetime):
            days.add(item)
            continue
        try:
            days.add(date.fromisoformat(str(item)))
        except ValueError:
            raise TariffConfigError(
                f"expected a date YYYY-MM-DD, got {item!r}", source=f"{field}[{i}]"
            ) from None
    return frozenset(days)


def parse_rules(
    table: Mapping[str, object],
    *,
    timezone: str,
    where: str = "tariff",
    value_key: str | None = "price_per_kwh",
    default_key: str = "default_price_per_kwh",
    default_value: float | None = None,
) -> TouRules:
    """Validate a time-of-use table; errors name the field (e.g. `tariff.seasons[1].periods[0]`).

    With `value_key=None` the periods are windows (value 1, outside 0): used for on-peak hours.
    """
    unknown = set(table) - {"timezone", "holidays", "periods", "seasons", default_key}
    if unknown:
        raise TariffConfigError(f"unknown keys {sorted(unknown)}", source=where)
    zone = load_zone(table.get("timezone", timezone), f"{where}.timezone")
    default = default_value
    if default_key in table:
        default = parse_number(table[default_key], f"{where}.{default_key}")
    holidays = _parse_holidays(table.get("holidays", []), f"{where}.holidays")
    seasons: list[Season] = []
    if "seasons" in table:
        if "periods" in table:
            raise TariffConfigError("use either periods or seasons, not both", source=where)
        raw_seasons = table["seasons"]
        if not isinstance(raw_seasons, list) or not raw_seasons:
            raise TariffConfigError(
                "expected a non-empty list of seasons", source=f"{where}.seasons"
            )
        for i, raw in enumerate(raw_seasons):
            field = f"{where}.seasons[{i}]"
            if not isinstance(raw, Mapping):
                raise TariffConfigError("expected a table", source=field)
            unknown = set(raw) - {"name", "start", "end", "periods", default_key}
            if unknown:
                raise TariffConfigError(f"unknown keys {sorted(unknown)}", source=field)
            start = _parse_month_day(raw.get("start"), f"{field}.start")
            end = _parse_month_day(raw.get("end"), f"{field}.end")
            if end == (2, 28):
                end = (2, 29)  # a season "to 02-28" includes a leap day
            season_default = default
            if default_key in raw:
                season_default = parse_number(raw[default_key], f"{field}.{default_key}")
            bands, has_holiday = _season_bands(
                raw.get("periods", []), season_default, f"{field}.periods", value_key
            )
            name = str(raw.get("name", f"season {i}"))
            seasons.append(Season(name, start, end, bands, has_holiday))
        _check_season_cover(seasons, f"{where}.seasons")
    else:
        bands, has_holiday = _season_bands(
            table.get("periods", []), default, f"{where}.periods", value_key
        )
        seasons.append(Season("all year", (1, 1), (12, 31), bands, has_holiday))
    return TouRules(zone=zone, seasons=tuple(seasons), holidays=holidays)


def _check_season_cover(seasons: list[Season], where: str) -> None:
    day = date(2024, 1, 1)
    while day.year == 2024:
        md = (day.month, day.day)
        names = [s.name for s in seasons if s.covers(md)]
        if not names:
            raise TariffConfigError(f"no season covers {day:%m-%d}", source=where)
        if len(names) > 1:
            raise TariffConfigError(f"seasons overlap on {day:%m-%d}: {names}", source=where)
        day += timedelta(days=1)


class FlatTariff(CurveTariff):
    """One price at all times."""

    name = "flat"

    def __init__(self, price_per_kwh: float):
        self.price_per_kwh = float(price_per_kwh)

    def curve(self, start_s: int, end_s: int) -> Curve:
        return constant_curve(start_s, end_s, self.price_per_kwh)


class TouTariff(CurveTariff):
    """Time-of-use prices from validated rules."""

    name = "tou"

    def __init__(self, rules: TouRules, *, forecast: bool = False):
        self.rules = rules
        self.forecast = forecast

    def curve(self, start_s: int, end_s: int) -> Curve:
        return self.rules.curve(start_s, end_s, forecast=self.forecast)


def build_flat(table: Mapping[str, object], where: str = "tariff") -> FlatTariff:
    if "price_per_kwh" not in table:
        raise TariffConfigError("missing price_per_kwh", source=where)
    return FlatTariff(parse_number(table["price_per_kwh"], f"{where}.price_per_kwh"))


def build_tou(table: Mapping[str, object], *, timezone: str, where: str = "tariff") -> TouTariff:
    return TouTariff(parse_rules(table, timezone=timezone, where=where))
