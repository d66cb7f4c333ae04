"""An accelerated clock shared by everything in one process.

It satisfies the controller's clock protocol (``now()``, ``async sleep(seconds)``) by shape
alone, so the simulator does not import the controller. Simulated time runs ``speed`` times
faster than wall time from ``start_utc``; ``speed`` is an attribute because a controller that
shares the clock scales its own network timeouts with it.
"""

from __future__ import annotations

import asyncio
import heapq
import time
from datetime import UTC, datetime, timedelta


def require_utc(value: datetime, name: str) -> datetime:
    """Reject naive datetimes; normalise aware ones to UTC."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name}: naive datetime {value.isoformat()} (a timezone is required)")
    return value.astimezone(UTC)


class AcceleratedClock:
    """``now = start_utc + elapsed_wall_s * speed``; ``sleep(s)`` waits ``s / speed`` wall seconds.

    ``speed=1`` is real time (useful against an outside central system, with ``start_utc`` =
    the real current time so that the profiles it receives line up).
    """

    def __init__(self, start_utc: datetime | None = None, speed: float = 1.0) -> None:
        if not speed > 0:
            raise ValueError(f"speed: must be > 0, got {speed!r}")
        self.start_utc = require_utc(start_utc, "start_utc") if start_utc else datetime.now(UTC)
        self.speed = float(speed)
        self._wall_start_s = time.monotonic()

    def now(self) -> datetime:
        elapsed_s = (time.monotonic() - self._wall_start_s) * self.speed
        return self.start_utc + timedelta(seconds=elapsed_s)

    def elapsed_s(self) -> float:
        """Simulated seconds since the start [s]."""
        return (time.monotonic() - self._wall_start_s) * self.speed

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds) / self.speed)

    async def sleep_until(self, when_utc: datetime) -> None:
        """Sleep until the simulated time reaches ``when_utc`` (returns at once if past)."""
        await self.sleep((when_utc - self.now()).total_seconds())


class SteppedClock:
    """Time moves only when :meth:`advance` is called: deterministic, as fast as the code runs.

    For in-process runs without sockets (a controller and fake chargers in one event loop):
    ``sleep(s)`` parks the caller until a test or driver advances the clock past its wake-up
    time; sleepers wake in time order, and the loop gets ``settle_rounds`` turns after each so
    that what they trigger runs before time moves on. ``speed`` is 1.0 so that consumers that
    scale timeouts by it keep them in simulated seconds.
    """

    speed: float = 1.0

    def __init__(self, start_utc: datetime) -> None:
        self._now = require_utc(start_utc, "start_utc")
        self._sleepers: list[tuple[datetime, int, asyncio.Future[None]]] = []
        self._seq = 0

    def now(self) -> datetime:
        return self._now

    async def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._seq += 1
        heapq.heappush(self._sleepers, (self._now + timedelta(seconds=seconds), self._seq, future))
        await future

    async def sleep_until(self, when_utc: datetime) -> None:
        await self.sleep((when_utc - self._now).total_seconds())

    async def advance(self, seconds: float, *, settle_rounds: int = 5) -> None:
        """Move time forward by ``seconds``, waking every sleeper due on the way, in order."""
        target = self._now + timedelta(seconds=seconds)
        while self._sleepers and self._sleepers[0][0] <= target:
            wake, _, future = heapq.heappop(self._sleepers)
            self._now = max(self._now, wake)
            if not future.done():
                future.set_result(None)
                for _ in range(settle_rounds):
                    await asyncio.sleep(0)
        self._now = target
        for _ in range(settle_rounds):
            await asyncio.sleep(0)
