"""The dispatch ledger: what each charger holds, as typed records, updated per acknowledgement.

Compliance is judged against the profile that was in force when a reading was taken (not the
one a fan-out still in flight is about to replace); an offline charger is reserved at the most
its held profiles let it draw until they lapse; a profile whose limits are unchanged is not
sent again until its validity is about to run out.

Every change is told to the ledger's listeners (:mod:`controller.loop.held` keeps the newest
profile per connector and purpose in the store), so a restarted controller still knows what an
offline charger holds. The charger-wide TxDefaultProfile is kept per charger, apart from the
TxProfiles: it is what a charger falls back to once they lapse.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from controller.ocpp.profiles import limit_kw_at

_HISTORY = 4  # profiles kept per connector, for readings taken before the latest was accepted
TX_PROFILE = "TxProfile"
TX_DEFAULT = "TxDefaultProfile"


def _utc(text: str | None) -> datetime | None:
    return None if not text else datetime.fromisoformat(str(text).replace("Z", "+00:00"))


@dataclass(frozen=True)
class HeldProfile:
    """A profile a charger accepted (a TxProfile, or its TxDefaultProfile on connector 0),
    with what is needed to read it as kW."""

    charger_id: str
    connector_id: int
    transaction_id: int | None
    profile: dict[str, Any]
    phases: int
    voltage_v: float
    accepted_utc: datetime

    @property
    def purpose(self) -> str:
        return str(self.profile.get("charging_profile_purpose", TX_PROFILE))

    @property
    def stack_level(self) -> int:
        return int(self.profile.get("stack_level", 0))

    @property
    def valid_from_utc(self) -> datetime | None:
        return _utc(self.profile.get("valid_from"))

    @property
    def valid_to_utc(self) -> datetime | None:
        return _utc(self.profile.get("valid_to"))

    def lapsed(self, at_utc: datetime) -> bool:
        valid_to = self.valid_to_utc
        return valid_to is not None and valid_to <= at_utc

    def limit_kw_at(self, at_utc: datetime) -> float | None:
        return limit_kw_at(self.profile, at_utc, self.phases, self.voltage_v)

    def max_kw_from(self, at_utc: datetime) -> float:
        """The most it allows from ``at_utc`` until it lapses [kW]: the periods in force at
        or after ``at_utc`` and before its validity or its schedule ends."""
        schedule = self.profile["charging_schedule"]
        start = _utc(schedule["start_schedule"])
        assert start is not None
        offset_s = (at_utc - start).total_seconds()
        ends = [e for e in (self.valid_to_utc, _schedule_end(self.profile)) if e is not None]
        end_s = min((e - start).total_seconds() for e in ends) if ends else float("inf")
        periods = schedule["charging_schedule_period"]
        limits = [
            float(p["limit"])
            for i, p in enumerate(periods)
            if (i + 1 == len(periods) or periods[i + 1]["start_period"] > offset_s)
            and p["start_period"] < end_s
            and offset_s < end_s
        ]
        if not limits:
            return 0.0
        peak = max(limits)
        if schedule["charging_rate_unit"] == "A":
            return peak * self.phases * self.voltage_v / 1000.0
        return peak / 1000.0

    def same_limits(self, other: dict[str, Any], from_utc: datetime) -> bool:
        """Whether ``other`` sets the same limits as this one from ``from_utc`` until the
        earlier of their ends (validity aside: a re-sent profile only moves its validity on; a
        horizon end a day ahead matters long after the validity has been renewed)."""
        end = min(
            _schedule_end(p) or _utc(p["charging_schedule"]["start_schedule"]) or from_utc
            for p in (self.profile, other)
        )
        times = {from_utc}
        for profile in (self.profile, other):
            start = _utc(profile["charging_schedule"]["start_schedule"])
            assert start is not None
            for period in profile["charging_schedule"]["charging_schedule_period"]:
                at = start + timedelta(seconds=int(period["start_period"]))
                if from_utc <= at < end:
                    times.add(at)
        mine = {**self.profile, "valid_to": None}
        theirs = {**other, "valid_to": None}
        return all(
            limit_kw_at(mine, at, self.phases, self.voltage_v)
            == limit_kw_at(theirs, at, self.phases, self.voltage_v)
            for at in times
        )


def _schedule_end(profile: dict[str, Any]) -> datetime | None:
    """Where its schedule ends; None for a schedule without a duration (a TxDefault's)."""
    schedule = profile["charging_schedule"]
    start = _utc(schedule["start_schedule"])
    assert start is not None
    duration = schedule.get("duration")
    return None if duration is None else start + timedelta(seconds=int(duration))


@dataclass(frozen=True)
class LedgerChange:
    """What a charger holds for (connector, purpose) is now ``held`` (None: unknown again)."""

    charger_id: str
    connector_id: int
    purpose: str
    held: HeldProfile | None


@dataclass
class Ledger:
    """Per (charger, connector), the TxProfiles accepted, newest last; per charger, the
    TxDefaultProfile it accepted."""

    listeners: list[Callable[[LedgerChange], None]] = field(default_factory=list)
    _held: dict[tuple[str, int], list[HeldProfile]] = field(default_factory=dict)
    _defaults: dict[str, HeldProfile] = field(default_factory=dict)

    def _tell(self, change: LedgerChange) -> None:
        for listener in self.listeners:
            listener(change)

    def accept(self, held: HeldProfile, *, tell: bool = True) -> None:
        """A charger acknowledged ``held``; ``tell=False`` when it comes from the store."""
        if held.purpose == TX_DEFAULT:
            self._defaults[held.charger_id] = held
        else:
            history = self._held.setdefault((held.charger_id, held.connector_id), [])
            history.append(held)
            del history[:-_HISTORY]
        if tell:
            self._tell(LedgerChange(held.charger_id, held.connector_id, held.purpose, held))

    def default(self, charger_id: str) -> HeldProfile | None:
        """The TxDefaultProfile the charger holds, if known."""
        return self._defaults.get(charger_id)

    def chargers_with_default(self) -> list[str]:
        return list(self._defaults)

    def forget_default(self, charger_id: str) -> None:
        held = self._defaults.pop(charger_id, None)
        if held is not None:
            self._tell(LedgerChange(charger_id, held.connector_id, TX_DEFAULT, None))

    def current(self, charger_id: str, connector_id: int) -> HeldProfile | None:
        history = self._held.get((charger_id, connector_id))
        return history[-1] if history else None

    def in_force(self, charger_id: str, connector_id: int, at_utc: datetime) -> HeldProfile | None:
        """The profile the charger held at ``at_utc``: the newest accepted by then."""
        for held in reversed(self._held.get((charger_id, connector_id), [])):
            if held.accepted_utc <= at_utc:
                return held
        return None

    def assigned_kw_at(
        self, charger_id: str, connector_id: int, transaction_id: int, at_utc: datetime
    ) -> float | None:
        held = self.in_force(charger_id, connector_id, at_utc)
        if held is None or held.transaction_id != transaction_id:
            return None
        return held.limit_kw_at(at_utc)

    def forget(self, charger_id: str, connector_id: int | None = None) -> None:
        """What a charger holds is unknown again (it reconnected, or a profile failed); for
        the whole charger (``connector_id`` None), its TxDefaultProfile too."""
        for key in [k for k in self._held if k[0] == charger_id]:
            if connector_id is None or key[1] == connector_id:
                del self._held[key]
                self._tell(LedgerChange(charger_id, key[1], TX_PROFILE, None))
        if connector_id is None:
            self.forget_default(charger_id)

    def connectors(self) -> list[tuple[str, int]]:
        """(charger, connector) of every TxProfile held (reconciliation walks them)."""
        return list(self._held)

    def max_kw_by_connector(
        self, now: datetime, connectors: Callable[[str], int]
    ) -> dict[tuple[str, int], float]:
        """Per (charger, connector), the most the held profiles allow from ``now`` [kW]: the
        TxProfile until it lapses, and the TxDefaultProfile the charger falls back to then
        (on each of its ``connectors(charger_id)`` connectors). What an offline charger may
        draw on its own."""
        out: dict[tuple[str, int], float] = {}
        for key, history in self._held.items():
            if history and not history[-1].lapsed(now):
                out[key] = history[-1].max_kw_from(now)
        for charger_id, default in self._defaults.items():
            default_kw = default.max_kw_from(now)
            for connector_id in range(1, connectors(charger_id) + 1):
                key = (charger_id, connector_id)
                out[key] = max(out.get(key, 0.0), default_kw)
        return out
