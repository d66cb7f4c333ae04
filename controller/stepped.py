"""An event-stepped clock for code that uses real sockets: virtual time on an asyncio loop.

The loop's ``time()`` is virtual. When no callback is ready, a zero-timeout ``select`` finds no
I/O, a few short real polls confirm that no loopback data is still in flight, and no executor
job (``run_in_executor``, ``asyncio.to_thread``, ``getaddrinfo``) is pending, virtual time jumps
to the next timer instead of waiting for it. A simulated day of a controller talking OCPP to
simulated chargers over real websockets therefore runs as fast as the code does, and, because
time only moves when every task waits, gives the same result on an idle or a loaded machine.

All asyncio internals of the project are confined to this module: a custom selector passed to
:class:`asyncio.SelectorEventLoop` does the jumping; :class:`StepClock` is the clock object the
controller and the simulator read (it satisfies both protocols by shape).
"""

from __future__ import annotations

import asyncio
import logging
import selectors
import time
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any, TypeVar

from controller.clock import require_utc

log = logging.getLogger(__name__)

T = TypeVar("T")

#: real seconds of each empty poll before a jump (loopback data may still be in flight)
SETTLE_POLL_S = 0.0002
#: how many empty polls in a row before time jumps
SETTLE_POLLS = 2
#: real seconds to wait at a time for pending executor work (its completion wakes the loop)
EXECUTOR_WAIT_S = 1.0


class _SteppingSelector(selectors.BaseSelector):
    """Wraps the platform selector; turns a wait for a timer into a jump of virtual time."""

    def __init__(self) -> None:
        self._inner = selectors.DefaultSelector()
        self.loop: SteppedEventLoop | None = None
        self.jumps = 0

    # delegation -------------------------------------------------------------------------
    def register(self, fileobj: Any, events: int, data: Any = None) -> selectors.SelectorKey:
        return self._inner.register(fileobj, events, data)

    def unregister(self, fileobj: Any) -> selectors.SelectorKey:
        return self._inner.unregister(fileobj)

    def modify(self, fileobj: Any, events: int, data: Any = None) -> selectors.SelectorKey:
        return self._inner.modify(fileobj, events, data)

    def get_map(self) -> Any:
        return self._inner.get_map()

    def close(self) -> None:
        self._inner.close()

    # the step ---------------------------------------------------------------------------
    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        loop = self.loop
        if loop is None or (timeout is not None and timeout <= 0):
            return self._inner.select(timeout)
        events = self._inner.select(0)
        if events:
            return events
        if loop.executor_jobs > 0:
            # Work in a thread: wait for it in real time; virtual time stands still.
            return self._inner.select(EXECUTOR_WAIT_S)
        if timeout is None:
            # No timer at all: only outside I/O can wake the loop.
            return self._inner.select(None)
        for _ in range(SETTLE_POLLS):
            # A real pause (nanosleep, finer than epoll's millisecond timeout) lets the kernel
            # deliver loopback data another task has just written, then look again.
            time.sleep(SETTLE_POLL_S)
            events = self._inner.select(0)
            if events:
                return events
        loop.advance(timeout)
        self.jumps += 1
        return []


class SteppedEventLoop(asyncio.SelectorEventLoop):
    """A selector event loop whose ``time()`` is virtual seconds since its creation."""

    def __init__(self) -> None:
        selector = _SteppingSelector()
        super().__init__(selector)
        selector.loop = self
        self._stepper = selector
        self._virtual_s = 0.0
        self.executor_jobs = 0

    def time(self) -> float:
        return self._virtual_s

    def advance(self, seconds: float) -> None:
        """Move virtual time forward (called by the selector when everything waits)."""
        self._virtual_s += max(0.0, seconds)

    @property
    def jumps(self) -> int:
        return self._stepper.jumps

    def run_in_executor(self, executor: Any, func: Callable[..., T], *args: Any) -> Any:
        future = super().run_in_executor(executor, func, *args)
        self.executor_jobs += 1
        future.add_done_callback(self._executor_done)
        return future

    def _executor_done(self, _future: Any) -> None:
        self.executor_jobs -= 1


class StepClock:
    """``now = start_utc + loop.time() - t0`` on a :class:`SteppedEventLoop`.

    ``speed`` is 1.0: consumers that scale timeouts by it keep them in simulated seconds.
    Satisfies the controller's :class:`controller.clock.Clock` and the simulator's clock shape
    (``now``, ``sleep``, ``sleep_until``, ``speed``).
    """

    speed: float = 1.0

    def __init__(self, start_utc: datetime, loop: asyncio.AbstractEventLoop) -> None:
        self.start_utc = require_utc(start_utc, "start_utc")
        self._loop = loop
        self._t0 = loop.time()

    def elapsed_s(self) -> float:
        """Simulated seconds since the start [s]."""
        return self._loop.time() - self._t0

    def now(self) -> datetime:
        return self.start_utc + timedelta(seconds=self.elapsed_s())

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))

    async def sleep_until(self, when_utc: datetime) -> None:
        await self.sleep((when_utc - self.now()).total_seconds())


def run_stepped(coro_factory: Callable[[StepClock], Awaitable[T]], start_utc: datetime) -> T:
    """Run ``coro_factory(clock)`` to completion on a fresh stepped loop, then close it.

    Like :func:`asyncio.run`: leftover tasks are cancelled, async generators and the default
    executor shut down.
    """
    loop = SteppedEventLoop()
    clock = StepClock(start_utc, loop)
    with asyncio.Runner(loop_factory=lambda: loop) as runner:
        return runner.run(_as_coroutine(coro_factory(clock)))


async def _as_coroutine(awaitable: Awaitable[T]) -> T:
    return await awaitable
