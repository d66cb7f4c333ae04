"""Keep the last good tariff when a reload fails, and say so (pure: the caller passes time)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Generic, TypeVar

from tariffs.errors import TariffError
from tariffs.timeutil import require_utc

T = TypeVar("T")


@dataclass(frozen=True)
class ReloadResult:
    ok: bool
    error: TariffError | None  # why the reload failed; the previous tariff stays in effect
    loaded_at_utc: datetime  # when the tariff now in effect was loaded


class TariffHolder(Generic[T]):
    """The tariff in effect; `reload` swaps it only when the new one builds."""

    def __init__(self, tariff: T, *, loaded_at_utc: datetime):
        self._tariff = tariff
        self._loaded_at_utc = require_utc(loaded_at_utc, "loaded_at_utc")
        self._last_error: TariffError | None = None

    @property
    def tariff(self) -> T:
        return self._tariff

    @property
    def loaded_at_utc(self) -> datetime:
        return self._loaded_at_utc

    @property
    def last_error(self) -> TariffError | None:
        """The error of the latest reload, or None when it succeeded."""
        return self._last_error

    def age_s(self, now_utc: datetime) -> float:
        """Seconds since the tariff in effect was loaded (for a bounded-staleness policy)."""
        return (require_utc(now_utc, "now_utc") - self._loaded_at_utc).total_seconds()

    def reload(self, build: Callable[[], T], *, now_utc: datetime) -> ReloadResult:
        now_utc = require_utc(now_utc, "now_utc")
        try:
            tariff = build()
        except TariffError as exc:
            self._last_error = exc
            return ReloadResult(ok=False, error=exc, loaded_at_utc=self._loaded_at_utc)
        self._tariff = tariff
        self._loaded_at_utc = now_utc
        self._last_error = None
        return ReloadResult(ok=True, error=None, loaded_at_utc=now_utc)
