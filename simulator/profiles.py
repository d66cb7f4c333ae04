"""The OCPP 1.6 composite-schedule engine: which limit a charger applies, and when.

Pure functions over charging profiles as they arrive in SetChargingProfile
``csChargingProfiles``: the snake_case dicts the ``ocpp`` package hands to ``@on`` handlers
(limits may be ``Decimal``; times ISO 8601 strings or aware datetimes). Parsed profiles
(:class:`ChargingProfile`) are accepted wherever dicts are.

Rules applied (OCPP 1.6 §3.13 and the field notes):

* per purpose, the valid profile with the highest ``stack_level`` whose schedule is running wins;
  a schedule before its start or past its ``duration`` does not apply, and the next lower one does;
* a TxProfile (only during a transaction, ``transaction_id`` matching) overrides the
  TxDefaultProfile (on the connector or on connector 0; the connector's own wins a tie);
* the ChargePointMaxProfile (connector 0) caps the result;
* kinds Absolute (from ``start_schedule``), Relative (from the transaction start) and Recurring
  (Daily / Weekly from ``start_schedule``);
* rate unit A (per phase) or W (→ A through voltage × phases); ``number_phases`` absent = 3.

No profile at all means "no limit from profiles" (``limit_a is None``): the charger's own
hardware maximum applies.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

from simulator.errors import ProfileError

CP_MAX = "ChargePointMaxProfile"
TX_DEFAULT = "TxDefaultProfile"
TX = "TxProfile"
PURPOSES = (CP_MAX, TX_DEFAULT, TX)
KINDS = ("Absolute", "Relative", "Recurring")
RECURRENCY_S = {"Daily": 86_400, "Weekly": 7 * 86_400}
UNIT_WORDS = {"A": "Current", "W": "Power"}
DEFAULT_PHASES = 3


def parse_time(value: Any, name: str) -> datetime:
    """ISO 8601 string or aware datetime → aware UTC datetime."""
    if isinstance(value, datetime):
        when = value
    else:
        try:
            when = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        except ValueError as exc:
            raise ProfileError(f"{name}: not an ISO 8601 date-time: {value!r}") from exc
    if when.tzinfo is None or when.utcoffset() is None:
        raise ProfileError(f"{name}: naive date-time {value!r} (a UTC offset is required)")
    return when.astimezone(UTC)


def format_time(when: datetime) -> str:
    """UTC datetime → ISO 8601 with a ``Z``, as OCPP messages carry it."""
    return when.astimezone(UTC).isoformat().replace("+00:00", "Z")


@dataclass(frozen=True)
class Period:
    start_period_s: int
    limit: float
    number_phases: int | None


@dataclass(frozen=True)
class ChargingProfile:
    """One parsed ``csChargingProfiles``; ``raw`` keeps the dict as received."""

    id: int
    stack_level: int
    purpose: str
    kind: str
    rate_unit: str
    periods: tuple[Period, ...]
    transaction_id: int | None = None
    recurrency_kind: str | None = None
    valid_from_utc: datetime | None = None
    valid_to_utc: datetime | None = None
    start_schedule_utc: datetime | None = None
    duration_s: int | None = None
    min_charging_rate: float | None = None
    raw: Mapping[str, Any] | None = None

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ChargingProfile:
        """Parse and check one profile dict (snake_case); raises :class:`ProfileError`."""
        if isinstance(data, ChargingProfile):
            return data
        try:
            sched = data["charging_schedule"]
            raw_periods = sched["charging_schedule_period"]
            periods = tuple(
                Period(
                    int(p["start_period"]),
                    float(p["limit"]),
                    None if p.get("number_phases") is None else int(p["number_phases"]),
                )
                for p in raw_periods
            )
            profile = cls(
                id=int(data["charging_profile_id"]),
                stack_level=int(data["stack_level"]),
                purpose=str(data["charging_profile_purpose"]),
                kind=str(data["charging_profile_kind"]),
                rate_unit=str(sched["charging_rate_unit"]),
                periods=periods,
                transaction_id=_opt_int(data.get("transaction_id")),
                recurrency_kind=data.get("recurrency_kind"),
                valid_from_utc=_opt_time(data.get("valid_from"), "valid_from"),
                valid_to_utc=_opt_time(data.get("valid_to"), "valid_to"),
                start_schedule_utc=_opt_time(sched.get("start_schedule"), "start_schedule"),
                duration_s=_opt_int(sched.get("duration")),
                min_charging_rate=_opt_float(sched.get("min_charging_rate")),
                raw=data,
            )
        except KeyError as exc:
            raise ProfileError(f"charging profile: missing field {exc.args[0]!r}") from exc
        except (TypeError, ValueError) as exc:
            raise ProfileError(f"charging profile: bad value ({exc})") from exc
        profile._check_shape()
        return profile

    def _check_shape(self) -> None:
        where = f"charging profile {self.id}"
        if self.purpose not in PURPOSES:
            raise ProfileError(f"{where}: charging_profile_purpose {self.purpose!r} unknown")
        if self.kind not in KINDS:
            raise ProfileError(f"{where}: charging_profile_kind {self.kind!r} unknown")
        if self.rate_unit not in UNIT_WORDS:
            raise ProfileError(f"{where}: charging_rate_unit {self.rate_unit!r} is not A or W")
        if self.stack_level < 0:
            raise ProfileError(f"{where}: stack_level {self.stack_level} is negative")
        if not self.periods:
            raise ProfileError(f"{where}: charging_schedule_period is empty")
        starts = [p.start_period_s for p in self.periods]
        if starts[0] != 0:
            raise ProfileError(f"{where}: the first start_period must be 0, got {starts[0]}")
        if any(b <= a for a, b in itertools.pairwise(starts)):
            raise ProfileError(f"{where}: start_period values must increase: {starts}")
        for p in self.periods:
            if p.limit < 0:
                raise ProfileError(f"{where}: negative limit {p.limit}")
            if p.number_phases is not None and p.number_phases not in (1, 2, 3):
                raise ProfileError(f"{where}: number_phases {p.number_phases} not in 1–3")
        if self.kind in ("Absolute", "Recurring") and self.start_schedule_utc is None:
            raise ProfileError(f"{where}: kind {self.kind} needs charging_schedule.start_schedule")
        if self.kind == "Recurring" and self.recurrency_kind not in RECURRENCY_S:
            raise ProfileError(f"{where}: Recurring needs recurrency_kind Daily or Weekly")
        if self.duration_s is not None and self.duration_s <= 0:
            raise ProfileError(f"{where}: duration {self.duration_s} must be > 0")
        if self.purpose == CP_MAX and self.kind == "Relative":
            raise ProfileError(f"{where}: a ChargePointMaxProfile cannot be Relative")

    def is_valid_at(self, at_utc: datetime) -> bool:
        """Inside ``valid_from`` .. ``valid_to`` (from inclusive, to exclusive)."""
        if self.valid_from_utc is not None and at_utc < self.valid_from_utc:
            return False
        return not (self.valid_to_utc is not None and at_utc >= self.valid_to_utc)

    def schedule_start(
        self, at_utc: datetime, relative_start_utc: datetime | None
    ) -> datetime | None:
        """When the running instance of the schedule started, seen at ``at_utc``."""
        if self.kind == "Relative":
            return relative_start_utc
        start = self.start_schedule_utc
        assert start is not None
        if self.kind == "Recurring" and at_utc >= start:
            period_s = RECURRENCY_S[str(self.recurrency_kind)]
            cycles = math.floor((at_utc - start).total_seconds() / period_s)
            start = start + timedelta(seconds=cycles * period_s)
        return start

    def period_at(self, at_utc: datetime, relative_start_utc: datetime | None) -> Period | None:
        """The period in force at ``at_utc``, or None when the schedule does not run then."""
        start = self.schedule_start(at_utc, relative_start_utc)
        if start is None:
            return None
        elapsed_s = (at_utc - start).total_seconds()
        if elapsed_s < 0:
            return None
        duration_s = self.duration_s
        if self.kind == "Recurring":
            cycle_s = RECURRENCY_S[str(self.recurrency_kind)]
            duration_s = cycle_s if duration_s is None else min(duration_s, cycle_s)
        if duration_s is not None and elapsed_s >= duration_s:
            return None
        found = None
        for period in self.periods:
            if period.start_period_s <= elapsed_s:
                found = period
            else:
                break
        return found

    def change_times(
        self, from_utc: datetime, to_utc: datetime, relative_start_utc: datetime | None
    ) -> list[datetime]:
        """Instants in [from, to) at which this profile's contribution may change."""
        out: list[datetime] = [t for t in (self.valid_from_utc, self.valid_to_utc) if t]
        starts: list[datetime] = []
        if self.kind == "Relative":
            if relative_start_utc is not None:
                starts.append(relative_start_utc)
        elif self.kind == "Absolute":
            starts.append(self.start_schedule_utc)  # type: ignore[arg-type]
        else:
            period_s = RECURRENCY_S[str(self.recurrency_kind)]
            first = self.schedule_start(from_utc, None) or from_utc
            t = first
            while t < to_utc:
                starts.append(t)
                t += timedelta(seconds=period_s)
        for s in starts:
            out.extend(s + timedelta(seconds=p.start_period_s) for p in self.periods)
            if self.duration_s is not None:
                out.append(s + timedelta(seconds=self.duration_s))
        return [t for t in out if from_utc <= t < to_utc]


class InstalledProfile(NamedTuple):
    """A profile as installed on a charger: the connector it was set on, and the profile."""

    connector_id: int
    profile: ChargingProfile


@dataclass(frozen=True)
class CompositeLimit:
    """The limit a connector applies at one instant.

    ``limit_a`` is per phase [A] on ``number_phases`` phases; None = no profile limits it.
    ``sources`` names the winning profile ids, e.g. ``("TxProfile:7", "ChargePointMaxProfile:1")``.
    """

    limit_a: float | None
    number_phases: int
    sources: tuple[str, ...] = ()

    def limit_w(self, voltage_v: float = 230.0) -> float | None:
        if self.limit_a is None:
            return None
        return self.limit_a * voltage_v * self.number_phases


def _opt_int(value: Any) -> int | None:
    return None if value is None else int(value)


def _opt_float(value: Any) -> float | None:
    return None if value is None else float(value)


def _opt_time(value: Any, name: str) -> datetime | None:
    return None if value is None else parse_time(value, name)


def _normalise(
    profiles: Iterable[InstalledProfile | tuple[int, Mapping[str, Any] | ChargingProfile]],
) -> list[InstalledProfile]:
    out = []
    for connector_id, profile in profiles:
        out.append(InstalledProfile(int(connector_id), ChargingProfile.from_dict(profile)))
    return out


def _winner(
    candidates: Sequence[InstalledProfile],
    at_utc: datetime,
    relative_start_utc: datetime | None,
) -> tuple[ChargingProfile, Period] | None:
    """Highest stack level (own connector before connector 0) whose schedule runs at ``at_utc``."""
    ordered = sorted(candidates, key=lambda c: (c.profile.stack_level, c.connector_id > 0))
    for installed in reversed(ordered):
        profile = installed.profile
        if not profile.is_valid_at(at_utc):
            continue
        period = profile.period_at(at_utc, relative_start_utc)
        if period is not None:
            return profile, period
    return None


def composite_limit(
    profiles: Iterable[InstalledProfile | tuple[int, Mapping[str, Any] | ChargingProfile]],
    connector_id: int,
    at_utc: datetime,
    transaction_start_utc: datetime | None = None,
    transaction_id: int | None = None,
    *,
    voltage_v: float = 230.0,
    relative_start_utc: datetime | None = None,
) -> CompositeLimit:
    """The composite limit on ``connector_id`` at ``at_utc`` (per phase [A], see module doc).

    ``transaction_start_utc`` is given when a transaction runs on the connector (TxProfiles
    apply only then; Relative profiles run from it). Without a transaction, Relative profiles
    run from ``relative_start_utc`` (e.g. the start of a GetCompositeSchedule window).
    """
    installed = _normalise(profiles)
    in_tx = transaction_start_utc is not None
    rel_start = transaction_start_utc if in_tx else relative_start_utc
    cp_max = [i for i in installed if i.profile.purpose == CP_MAX and i.connector_id == 0]
    tx_default = [
        i
        for i in installed
        if i.profile.purpose == TX_DEFAULT and i.connector_id in (0, connector_id)
    ]
    tx = [
        i
        for i in installed
        if in_tx
        and i.profile.purpose == TX
        and i.connector_id == connector_id
        and (i.profile.transaction_id is None or i.profile.transaction_id == transaction_id)
    ]
    chosen = _winner(tx, at_utc, rel_start) or _winner(tx_default, at_utc, rel_start)
    cap = _winner(cp_max, at_utc, rel_start)
    parts = [p for p in (chosen, cap) if p is not None]
    if not parts:
        return CompositeLimit(None, DEFAULT_PHASES, ())
    phases = min(p.number_phases or DEFAULT_PHASES for _, p in parts)
    limits = []
    for profile, period in parts:
        if profile.rate_unit == "A":
            limits.append(period.limit)
        else:
            limits.append(period.limit / (voltage_v * phases))
    sources = tuple(f"{profile.purpose}:{profile.id}" for profile, _ in parts)
    return CompositeLimit(min(limits), phases, sources)


def next_change_utc(
    profiles: Iterable[InstalledProfile | tuple[int, Mapping[str, Any] | ChargingProfile]],
    after_utc: datetime,
    horizon_s: float,
    *,
    relative_start_utc: datetime | None = None,
) -> datetime | None:
    """The first instant in (after, after + horizon) at which any profile may change the limit."""
    to_utc = after_utc + timedelta(seconds=horizon_s)
    times = [
        t
        for i in _normalise(profiles)
        for t in i.profile.change_times(after_utc, to_utc, relative_start_utc)
        if t > after_utc
    ]
    return min(times) if times else None


def composite_schedule(
    profiles: Iterable[InstalledProfile | tuple[int, Mapping[str, Any] | ChargingProfile]],
    connector_id: int,
    start_utc: datetime,
    duration_s: int,
    *,
    transaction_start_utc: datetime | None = None,
    transaction_id: int | None = None,
    rate_unit: str = "A",
    voltage_v: float = 230.0,
    hardware_limit_a: float = 32.0,
    hardware_phases: int = 3,
) -> dict[str, Any]:
    """The composite over ``[start, start + duration)`` as a snake_case ``charging_schedule``.

    Where no profile limits the connector, the hardware limit is reported. Limits are rounded
    down to 0.1 (the schema's resolution); equal consecutive periods are merged.
    """
    if rate_unit not in UNIT_WORDS:
        raise ProfileError(f"charging_rate_unit {rate_unit!r} is not A or W")
    installed = _normalise(profiles)
    end_utc = start_utc + timedelta(seconds=duration_s)
    rel_start = transaction_start_utc if transaction_start_utc else start_utc
    times = {start_utc}
    for i in installed:
        times.update(i.profile.change_times(start_utc, end_utc, rel_start))
    periods: list[dict[str, Any]] = []
    for t in sorted(times):
        limit = composite_limit(
            installed,
            connector_id,
            t,
            transaction_start_utc,
            transaction_id,
            voltage_v=voltage_v,
            relative_start_utc=start_utc,
        )
        if limit.limit_a is None:
            limit_a, phases = hardware_limit_a, hardware_phases
        else:
            limit_a, phases = min(limit.limit_a, hardware_limit_a), limit.number_phases
        value = limit_a if rate_unit == "A" else limit_a * voltage_v * phases
        value = math.floor(value * 10 + 1e-6) / 10
        if periods and periods[-1]["limit"] == value and periods[-1]["number_phases"] == phases:
            continue
        periods.append(
            {
                "start_period": round((t - start_utc).total_seconds()),
                "limit": value,
                "number_phases": phases,
            }
        )
    return {
        "duration": int(duration_s),
        "start_schedule": format_time(start_utc),
        "charging_rate_unit": rate_unit,
        "charging_schedule_period": periods,
    }


@dataclass(frozen=True)
class ChargerRules:
    """The charger's smart-charging capabilities, as its configuration keys state them."""

    n_connectors: int = 1
    max_stack_level: int = 8
    allowed_units: tuple[str, ...] = ("A", "W")
    max_periods: int = 24
    max_profiles: int = 10


def check_new_profile(
    installed: Sequence[InstalledProfile],
    connector_id: int,
    profile: ChargingProfile,
    rules: ChargerRules,
    transaction_ids: Mapping[int, int],
) -> str | None:
    """Why a charger rejects this SetChargingProfile, or None to accept it.

    ``transaction_ids`` maps connector → running transaction id.
    """
    where = f"profile {profile.id}"
    if not 0 <= connector_id <= rules.n_connectors:
        return f"{where}: connector {connector_id} does not exist"
    if profile.stack_level > rules.max_stack_level:
        return f"{where}: stack_level {profile.stack_level} above max {rules.max_stack_level}"
    if profile.rate_unit not in rules.allowed_units:
        return f"{where}: rate unit {profile.rate_unit} not allowed ({rules.allowed_units})"
    if len(profile.periods) > rules.max_periods:
        return f"{where}: {len(profile.periods)} periods, max {rules.max_periods}"
    if profile.purpose == CP_MAX and connector_id != 0:
        return f"{where}: ChargePointMaxProfile must be set on connector 0"
    if profile.purpose == TX:
        if connector_id == 0:
            return f"{where}: TxProfile needs a connector > 0"
        running = transaction_ids.get(connector_id)
        if running is None:
            return f"{where}: TxProfile but no transaction on connector {connector_id}"
        if profile.transaction_id is not None and profile.transaction_id != running:
            return f"{where}: transaction_id {profile.transaction_id} is not the running {running}"
    remaining = install(installed, connector_id, profile)
    if len(remaining) > rules.max_profiles:
        return f"{where}: more than {rules.max_profiles} profiles installed"
    return None


def install(
    installed: Sequence[InstalledProfile], connector_id: int, profile: ChargingProfile
) -> list[InstalledProfile]:
    """Install ``profile``: it replaces any with the same id, or the same purpose, stack level
    and connector."""
    kept = [
        i
        for i in installed
        if i.profile.id != profile.id
        and not (
            i.profile.purpose == profile.purpose
            and i.profile.stack_level == profile.stack_level
            and i.connector_id == connector_id
        )
    ]
    kept.append(InstalledProfile(connector_id, profile))
    return kept


def clear(
    installed: Sequence[InstalledProfile],
    *,
    profile_id: int | None = None,
    connector_id: int | None = None,
    purpose: str | None = None,
    stack_level: int | None = None,
) -> tuple[list[InstalledProfile], int]:
    """ClearChargingProfile: by id, else by every filter given (none given = all).

    Returns (remaining, how many were removed).
    """
    if profile_id is not None:
        keep = [i for i in installed if i.profile.id != profile_id]
    else:
        keep = [
            i
            for i in installed
            if not (
                (connector_id is None or i.connector_id == connector_id)
                and (purpose is None or i.profile.purpose == purpose)
                and (stack_level is None or i.profile.stack_level == stack_level)
            )
        ]
    return keep, len(installed) - len(keep)


def end_transaction(
    installed: Sequence[InstalledProfile], connector_id: int
) -> list[InstalledProfile]:
    """TxProfiles end with their transaction (OCPP 1.6: they are deleted when it stops)."""
    return [
        i for i in installed if not (i.profile.purpose == TX and i.connector_id == connector_id)
    ]
