"""The clocks: accelerated time and stepped time."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from simulator.clock import AcceleratedClock, SteppedClock

START = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)


@pytest.mark.parametrize("speed", [60.0, 600.0])
async def test_accelerated_clock_runs_speed_times_faster(speed: float) -> None:
    clock = AcceleratedClock(START, speed)
    loop = asyncio.get_running_loop()
    began = loop.time()
    await clock.sleep(0.1 * speed)
    wall_s = loop.time() - began
    assert 0.09 <= wall_s < 2.0  # a loaded machine wakes late, never early
    sim_s = (clock.now() - START).total_seconds()
    assert sim_s == pytest.approx(wall_s * speed, rel=0.2)
    assert clock.speed == speed


def test_accelerated_clock_rejects_naive_start_and_bad_speed() -> None:
    with pytest.raises(ValueError, match="naive"):
        AcceleratedClock(datetime(2026, 1, 5), 10)
    with pytest.raises(ValueError, match="speed"):
        AcceleratedClock(START, 0)


async def test_stepped_clock_wakes_sleepers_in_time_order() -> None:
    clock = SteppedClock(START)
    woke: list[tuple[str, datetime]] = []

    async def sleeper(name: str, seconds: float) -> None:
        await clock.sleep(seconds)
        woke.append((name, clock.now()))

    tasks = [asyncio.create_task(sleeper(n, s)) for n, s in [("b", 120), ("a", 60), ("c", 600)]]
    await asyncio.sleep(0)
    await clock.advance(300)
    assert woke == [("a", START + timedelta(seconds=60)), ("b", START + timedelta(seconds=120))]
    assert clock.now() == START + timedelta(seconds=300)
    await clock.advance(300)
    assert woke[-1] == ("c", START + timedelta(seconds=600))
    await asyncio.gather(*tasks)
