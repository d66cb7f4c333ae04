"""Request bodies, and their translation into LimitBook specs and session overrides.

Field-level checks (types, offsets on datetimes, ranges) are pydantic's; checks that need
the site (the grid connection, the clock, the time zone) raise ``InvalidRequest`` naming the
field. Either way the request changes nothing.
"""

from __future__ import annotations

import math
from datetime import datetime, time, timedelta
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

from controller.api.errors import InvalidRequest
from controller.clock import require_utc

DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
EntryId = Annotated[str, Field(pattern=r"^[A-Za-z0-9._:@-]{1,100}$")]
Kw = Annotated[float, Field(ge=0, allow_inf_nan=False)]
MAX_SPAN = timedelta(days=366)  # no limit, event or departure reaches further than this


def _utc(value: datetime, field: str) -> datetime:
    """``require_utc`` that names the field when the instant is beyond the calendar in UTC."""
    try:
        return require_utc(value, field)
    except OverflowError:
        raise InvalidRequest(field, f"{value.isoformat()} is out of range") from None


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _weekday(value: int | str) -> int:
    if isinstance(value, int):
        if not 0 <= value <= 6:
            raise ValueError(f"weekday {value} is not within 0 (Monday) .. 6 (Sunday)")
        return value
    name = value.strip().lower()[:3]
    if name not in DAY_NAMES:
        raise ValueError(f"unknown weekday {value!r} (mon..sun or 0..6)")
    return DAY_NAMES.index(name)


def _local_time(value: str, field: str) -> time:
    try:
        parsed = time.fromisoformat(value)
    except ValueError:
        raise InvalidRequest(field, f"{value!r} is not a local time HH:MM") from None
    if parsed.tzinfo is not None:
        raise InvalidRequest(field, "a local time has no offset (the zone is 'timezone')")
    return parsed


class CapIn(_Body):
    """An operator cap on the site's power.

    ``permanent``: the site's own limit below the grid connection (``limit_kw`` only).
    ``window``: one-off, from ``start`` to ``end`` (ISO 8601 with offset).
    ``recurring``: local ``start_local``..``end_local`` (HH:MM, in ``timezone``, default the
    site's) on ``weekdays`` (0 = Monday .. 6 = Sunday, or mon..sun; default every day); an
    end before the start runs past midnight.
    """

    kind: Literal["permanent", "window", "recurring"]
    limit_kw: Kw = Field(description="the cap [kW]")
    start: AwareDatetime | None = None
    end: AwareDatetime | None = None
    start_local: str | None = Field(default=None, examples=["17:00"])
    end_local: str | None = Field(default=None, examples=["20:00"])
    weekdays: list[int | str] | None = Field(default=None, examples=[[0, 1, 2, 3, 4]])
    timezone: str | None = Field(default=None, examples=["Europe/Berlin"])
    note: str | None = Field(default=None, max_length=200)

    @field_validator("weekdays")
    @classmethod
    def _days(cls, value: list[int | str] | None) -> list[int | str] | None:
        if value is None:
            return None
        if not value:
            raise ValueError("give at least one weekday")
        return sorted({_weekday(v) for v in value})

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                ZoneInfo(value)
            except (ZoneInfoNotFoundError, ValueError):
                raise ValueError(f"unknown IANA time zone {value!r}") from None
        return value

    def to_spec(self, *, grid_limit_kw: float, now_utc: datetime) -> dict[str, Any]:
        if self.limit_kw > grid_limit_kw:
            raise InvalidRequest(
                "limit_kw",
                f"{self.limit_kw:g} kW is above the grid connection ({grid_limit_kw:g} kW)",
            )
        given = {name for name in self.model_fields_set if getattr(self, name) is not None}
        allowed = {
            "permanent": {"kind", "limit_kw", "note"},
            "window": {"kind", "limit_kw", "note", "start", "end"},
            "recurring": {
                "kind",
                "limit_kw",
                "note",
                "start_local",
                "end_local",
                "weekdays",
                "timezone",
            },
        }[self.kind]
        extra = sorted(given - allowed)
        if extra:
            raise InvalidRequest(extra[0], f"does not apply to a {self.kind} cap")
        spec: dict[str, Any] = {"limit_kw": self.limit_kw}
        if self.note:
            spec["note"] = self.note
        if self.kind == "window":
            start, end = _window(self.start, self.end, now_utc)
            spec.update(start_utc=start.isoformat(), end_utc=end.isoformat())
        elif self.kind == "recurring":
            for name in ("start_local", "end_local"):
                if getattr(self, name) is None:
                    raise InvalidRequest(name, "required for a recurring cap (HH:MM)")
            start_local = _local_time(str(self.start_local), "start_local")
            end_local = _local_time(str(self.end_local), "end_local")
            if start_local == end_local:
                raise InvalidRequest("end_local", "must differ from start_local")
            spec.update(
                start_local=start_local.isoformat("minutes"),
                end_local=end_local.isoformat("minutes"),
                weekdays=list(self.weekdays) if self.weekdays is not None else list(range(7)),
            )
            if self.timezone:
                spec["timezone"] = self.timezone
        return spec


def _window(
    start: datetime | None, end: datetime | None, now_utc: datetime
) -> tuple[datetime, datetime]:
    if start is None:
        raise InvalidRequest("start", "required (ISO 8601 with offset)")
    if end is None:
        raise InvalidRequest("end", "required (ISO 8601 with offset)")
    start_utc, end_utc = _utc(start, "start"), _utc(end, "end")
    if end_utc <= start_utc:
        raise InvalidRequest(
            "end", f"{end_utc.isoformat()} is not after start {start_utc.isoformat()}"
        )
    if end_utc <= now_utc:
        raise InvalidRequest("end", f"{end_utc.isoformat()} is already past")
    if start_utc - now_utc > MAX_SPAN:
        raise InvalidRequest("start", f"more than {MAX_SPAN.days} days ahead")
    return start_utc, end_utc


class DrEventIn(_Body):
    """A demand-response event: the site stays at or below a level from start to end.

    Give ``end`` or ``duration`` (ISO 8601 duration such as PT2H, or seconds), and exactly one
    of ``limit_kw`` (an absolute level), ``reduction_kw`` or ``reduction_pct`` (below the grid
    connection). ``ramp_s`` lowers the limit gradually over that time before ``start``.
    """

    id: EntryId | None = None
    start: AwareDatetime
    end: AwareDatetime | None = None
    duration: timedelta | None = Field(default=None, examples=["PT2H"])
    limit_kw: Kw | None = None
    reduction_kw: Kw | None = None
    reduction_pct: Annotated[float, Field(ge=0, le=100)] | None = None
    ramp_s: Annotated[float, Field(ge=0, le=86400, allow_inf_nan=False)] = 0.0

    def to_spec(self, *, now_utc: datetime) -> dict[str, Any]:
        levels = [
            name
            for name in ("limit_kw", "reduction_kw", "reduction_pct")
            if getattr(self, name) is not None
        ]
        if len(levels) != 1:
            raise InvalidRequest(
                "limit_kw", "give exactly one of limit_kw, reduction_kw, reduction_pct"
            )
        if (self.end is None) == (self.duration is None):
            raise InvalidRequest("end", "give exactly one of end and duration")
        if self.duration is not None and self.duration.total_seconds() <= 0:
            raise InvalidRequest("duration", "must be positive")
        if self.duration is not None and self.duration > MAX_SPAN:
            raise InvalidRequest("duration", f"longer than {MAX_SPAN.days} days")
        start_utc = _utc(self.start, "start")
        try:
            end = self.end if self.end is not None else start_utc + (self.duration or timedelta())
        except OverflowError:
            raise InvalidRequest("duration", "the end is out of range") from None
        start_utc, end_utc = _window(self.start, end, now_utc)
        level = levels[0]
        return {
            "start_utc": start_utc.isoformat(),
            "end_utc": end_utc.isoformat(),
            level: float(getattr(self, level)),
            "ramp_s": self.ramp_s,
        }


class OverridesIn(_Body):
    """What the operator knows about a session better than the defaults.

    A field left out keeps its current override; ``null`` removes it (the default applies).
    ``energy_kwh`` is the energy the session should have delivered by ``departure`` in total.
    """

    departure: AwareDatetime | None = None
    energy_kwh: Annotated[float, Field(gt=0, le=1000, allow_inf_nan=False)] | None = None
    priority: Annotated[float, Field(gt=0, le=100, allow_inf_nan=False)] | None = None

    def apply(self, overrides: dict[str, Any], *, now_utc: datetime) -> dict[str, Any]:
        """The session's new overrides (a new dict; ``overrides`` is not changed)."""
        if not self.model_fields_set:
            raise InvalidRequest("body", "give at least one of departure, energy_kwh, priority")
        result = dict(overrides)
        keys = {"departure": "departure_utc", "energy_kwh": "energy_kwh", "priority": "priority"}
        for name in sorted(self.model_fields_set):
            value = getattr(self, name)
            if value is None:
                result.pop(keys[name], None)
            elif name == "departure":
                departure_utc = _utc(value, "departure")
                if departure_utc <= now_utc:
                    raise InvalidRequest("departure", f"{departure_utc.isoformat()} is past")
                if departure_utc - now_utc > MAX_SPAN:
                    raise InvalidRequest("departure", f"more than {MAX_SPAN.days} days ahead")
                result["departure_utc"] = departure_utc.isoformat()
            else:
                if not math.isfinite(value):
                    raise InvalidRequest(name, "must be a finite number")
                result[keys[name]] = float(value)
        if "departure_utc" in result or "energy_kwh" in result:
            result["need_source"] = "operator"  # a car's later charging needs do not replace it
        else:
            result.pop("need_source", None)
        return result
