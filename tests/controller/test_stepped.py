"""The event-stepped loop: virtual time jumps when everything waits, real sockets still work.

These tests run their own loops with :func:`run_stepped` (plain functions, not pytest-asyncio).
"""

from __future__ import annotations

import asyncio
import threading
import time
from datetime import UTC, datetime, timedelta

from websockets.asyncio.client import connect
from websockets.asyncio.server import serve

from controller.stepped import StepClock, run_stepped

START = datetime(2026, 3, 29, 0, 0, tzinfo=UTC)


def test_a_day_of_sleeps_takes_no_real_day() -> None:
    async def day(clock: StepClock) -> list[datetime]:
        seen = []
        for _ in range(288):
            await clock.sleep(300)
            seen.append(clock.now())
        return seen

    started = time.perf_counter()
    seen = run_stepped(day, START)
    real_s = time.perf_counter() - started
    assert seen[0] == START + timedelta(seconds=300)
    assert seen[-1] == START + timedelta(days=1)
    # 288 jumps; each costs well under a millisecond of real time (bound kept generous: CI)
    assert real_s < 20


def test_concurrent_sleepers_wake_in_time_order() -> None:
    async def main(clock: StepClock) -> list[tuple[str, float]]:
        order: list[tuple[str, float]] = []

        async def sleeper(name: str, delays: list[float]) -> None:
            for delay in delays:
                await clock.sleep(delay)
                order.append((name, clock.elapsed_s()))

        await asyncio.gather(sleeper("a", [10, 10, 10]), sleeper("b", [15, 15]))
        await clock.sleep_until(START + timedelta(hours=2))
        order.append(("end", clock.elapsed_s()))
        return order

    order = run_stepped(main, START)
    assert sorted(order[:3]) == [("a", 10), ("a", 20), ("b", 15)]
    assert sorted(order[3:5]) == [("a", 30), ("b", 30)]
    assert [t for _, t in order] == sorted(t for _, t in order)
    assert order[-1] == ("end", 7200)


async def _websocket_exchange(clock: StepClock) -> list[tuple[str, float]]:
    """A server answers each message after 30 simulated seconds; the client sends 5 messages
    one minute apart. Every stamp must be exact virtual time, in order."""
    log: list[tuple[str, float]] = []

    async def handler(ws) -> None:
        async for message in ws:
            log.append((f"server got {message}", clock.elapsed_s()))
            await clock.sleep(30)
            await ws.send(f"echo {message}")

    async with serve(handler, "127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]
        async with connect(f"ws://127.0.0.1:{port}") as ws:
            for i in range(5):
                await ws.send(str(i))
                reply = await asyncio.wait_for(ws.recv(), timeout=40)
                log.append((f"client got {reply}", clock.elapsed_s()))
                await clock.sleep(60)
    return log


def test_websocket_server_and_client_on_virtual_time() -> None:
    log = run_stepped(_websocket_exchange, START)
    expected = []
    for i in range(5):
        base = 90.0 * i
        expected += [(f"server got {i}", base), (f"client got echo {i}", base + 30)]
    assert log == expected


def test_reruns_give_the_same_result() -> None:
    assert run_stepped(_websocket_exchange, START) == run_stepped(_websocket_exchange, START)


def test_executor_work_blocks_the_jump() -> None:
    """A thread that takes real time while a timer waits: virtual time must not move on
    before the thread is done, so the thread's result is seen at virtual time 0."""
    release = threading.Event()

    async def main(clock: StepClock) -> tuple[float, float, bool]:
        loop = asyncio.get_running_loop()
        timer_fired_at: list[float] = []
        loop.call_later(5.0, lambda: timer_fired_at.append(clock.elapsed_s()))

        def work() -> float:
            release.wait(timeout=10)
            time.sleep(0.05)
            return 42.0

        threading.Timer(0.2, release.set).start()
        result = await asyncio.to_thread(work)
        done_at = clock.elapsed_s()
        await clock.sleep(10)
        return result, done_at, timer_fired_at == [5.0]

    result, done_at, timer_ok = run_stepped(main, START)
    assert result == 42.0
    assert done_at == 0.0
    assert timer_ok


def test_clock_satisfies_both_protocols() -> None:
    from controller.clock import Clock

    async def main(clock: StepClock) -> bool:
        return isinstance(clock, Clock) and clock.speed == 1.0 and clock.now() == START

    assert run_stepped(main, START)
