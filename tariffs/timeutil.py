"""UTC instants, IANA zones and slot grids: the only place where local time is turned into UTC."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np

from tariffs.errors import PriceDataError, TariffConfigError, TariffError

_ONE_MINUTE = timedelta(minutes=1)


def require_utc(value: datetime, field: str) -> datetime:
    """Return `value` in UTC; naive datetimes are rejected because their zone is a guess."""
    if not isinstance(value, datetime):
        raise TariffError(f"expected a datetime, got {type(value).__name__}", source=field)
    if value.tzinfo is None or value.utcoffset() is None:
        raise TariffError(f"naive datetime {value.isoformat()} (give a UTC offset)", source=field)
    return value.astimezone(UTC)


def to_epoch_s(value: datetime) -> int:
    """Whole seconds since the epoch of an aware datetime."""
    return int(require_utc(value, "time").timestamp())


def from_epoch_s(seconds: int | float) -> datetime:
    """The UTC datetime of an epoch second count."""
    return datetime.fromtimestamp(int(seconds), tz=UTC)


def parse_iso_utc(text: str, *, source: str | None = None, line: int | None = None) -> datetime:
    """Parse an ISO 8601 timestamp that carries an offset (or Z) and return it in UTC."""
    raw = text.strip()
    try:
        value = datetime.fromisoformat(raw)
    except ValueError:
        raise PriceDataError(
            f"not an ISO 8601 timestamp: {raw!r}", source=source, line=line
        ) from None
    if value.tzinfo is None:
        raise PriceDataError(
            f"timestamp {raw!r} has no UTC offset (add Z or +01:00)", source=source, line=line
        )
    return value.astimezone(UTC)


def load_zone(name: object, field: str = "timezone") -> ZoneInfo:
    """An IANA zone by name, or a config error naming the field."""
    if not isinstance(name, str) or not name:
        raise TariffConfigError(f"expected an IANA time zone name, got {name!r}", source=field)
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise TariffConfigError(f"unknown time zone {name!r}", source=field) from None


def local_to_utc(day: date, minute: int, zone: ZoneInfo) -> datetime:
    """The UTC instant of local wall time `minute` after midnight of `day` in `zone`.

    Ambiguous times (fall-back) take their first occurrence; times that do not exist
    (spring-forward gap) move to the first existing minute after them, so band edges stay
    monotonic in UTC.
    """
    local = datetime.combine(day, time(0), tzinfo=zone) + timedelta(minutes=minute)
    local = local.replace(tzinfo=None)
    for _ in range(24 * 60):
        aware = local.replace(tzinfo=zone, fold=0)
        utc = aware.astimezone(UTC)
        if utc.astimezone(zone).replace(tzinfo=None) == local:
            return utc
        local += _ONE_MINUTE
    raise TariffError(f"cannot place {day} +{minute} min in {zone.key}")  # pragma: no cover


def slot_edges_s(
    start_utc: datetime, slot_s: int, slots: int, first_slot_s: int | None = None
) -> np.ndarray:
    """Epoch-second edges (slots + 1) of a grid whose first slot may be shorter."""
    start_s = to_epoch_s(start_utc)
    if slot_s <= 0:
        raise TariffError(f"slot_s must be positive, got {slot_s}", source="slot_s")
    if slots <= 0:
        raise TariffError(f"slots must be positive, got {slots}", source="slots")
    first = slot_s if first_slot_s is None else int(first_slot_s)
    if not 0 < first <= slot_s:
        raise TariffError(
            f"first_slot_s must be in (0, {slot_s}], got {first}", source="first_slot_s"
        )
    edges = np.empty(slots + 1, dtype=np.int64)
    edges[0] = start_s
    edges[1:] = start_s + first + slot_s * np.arange(slots, dtype=np.int64)
    return edges
