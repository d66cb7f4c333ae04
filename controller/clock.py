"""The clock protocol the controller reads time from.

The controller never calls ``datetime.now`` itself: it is handed one clock at construction.
Real time by default; the simulator's accelerated clock satisfies the same protocol.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Protocol, runtime_checkable


@runtime_checkable
class Clock(Protocol):
    def now(self) -> datetime:
        """Timezone-aware UTC now."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Sleep for ``seconds`` of this clock's time."""
        ...


class RealClock:
    """Wall-clock time."""

    speed: float = 1.0

    def now(self) -> datetime:
        return datetime.now(UTC)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))


def require_utc(value: datetime, name: str) -> datetime:
    """Reject naive datetimes at a boundary; normalise aware ones to UTC."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name}: naive datetime {value.isoformat()} (a timezone is required)")
    return value.astimezone(UTC)
