"""When a cycle runs: each interval (when the clock drives it), and on every event that
matters, debounced so a burst of events makes one cycle. A limit change goes out at once."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import timedelta

from controller.clock import Clock

log = logging.getLogger(__name__)

REPLAN_EVENTS = frozenset(
    {
        "session_started",
        "session_stopped",
        "charger_online",
        "charger_offline",
        "charger_ready",
        "non_compliant",
        "compliant",
        "limit_changed",
        "prices_changed",
        "manual",
        "session_needs",
    }
)
LIMIT_DEBOUNCE_S = 0.1


class Triggers:
    """Collects reasons and runs ``cycle(reasons)`` one at a time on a single worker."""

    def __init__(
        self,
        clock: Clock,
        cycle: Callable[[tuple[str, ...]], Awaitable[object]],
        *,
        interval_s: float,
        debounce_s: float,
    ) -> None:
        self.clock = clock
        self._cycle = cycle
        self.interval_s = interval_s
        self.debounce_s = debounce_s
        self._wake = asyncio.Event()
        self._reasons: list[str] = []
        self._done = asyncio.Condition()
        self.cycles = 0
        self._worker: asyncio.Task[None] | None = None

    @property
    def pending(self) -> bool:
        return self._wake.is_set()

    def trigger(self, reason: str) -> None:
        self._reasons.append(reason)
        self._wake.set()

    async def wait_for_cycles(self, count: int, timeout_s: float = 30.0) -> None:
        async with self._done:
            await asyncio.wait_for(self._done.wait_for(lambda: self.cycles >= count), timeout_s)

    def start(self, *, clock_driven: bool) -> None:
        self._worker = asyncio.create_task(self._run(clock_driven), name="control-loop")

    async def stop(self) -> None:
        if self._worker is not None:
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker
            self._worker = None

    async def _run(self, clock_driven: bool) -> None:
        """Under a simulated clock the clock, not apscheduler (which reads real time), drives
        the interval."""
        next_tick = self.clock.now()
        while True:
            if clock_driven:
                wait_s = max(0.0, (next_tick - self.clock.now()).total_seconds())
                sleeper = asyncio.ensure_future(self.clock.sleep(wait_s))
                waker = asyncio.ensure_future(self._wake.wait())
                done, pending = await asyncio.wait(
                    {sleeper, waker}, return_when=asyncio.FIRST_COMPLETED
                )
                for task in pending:
                    task.cancel()
                if sleeper in done:
                    self._reasons.append("interval")
                    next_tick = self.clock.now() + timedelta(seconds=self.interval_s)
            else:
                await self._wake.wait()
            debounce_s = self.debounce_s
            if any(r.startswith("limit_changed") for r in self._reasons):
                debounce_s = min(debounce_s, LIMIT_DEBOUNCE_S)
            await self.clock.sleep(debounce_s)
            self._wake.clear()
            reasons, self._reasons = tuple(dict.fromkeys(self._reasons)), []
            if not reasons:
                continue
            try:
                await self._cycle(reasons)
            except Exception:
                log.exception("control cycle failed")
            async with self._done:
                self.cycles += 1
                self._done.notify_all()
