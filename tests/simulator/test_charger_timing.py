"""A charger records every change at the instant it happens, however late its task wakes.

On a busy machine a task wakes late. A charger that stamped a power change with the moment its
loop woke, not the moment its charging schedule said, recorded a cut late and a neighbour's
raise before it: the site looked over its limit when it was not. Here a hand-driven clock wakes
the charger's sleeping tasks late on purpose (time jumps past the instant first, the sleepers
wake after), and the record must still show each change where the schedule puts it, with the
energy register the exact integral of the recorded power.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from ocpp.v16 import call

from simulator.charger import ChargerSpec, SimChargePoint
from simulator.ev import EVSpec, EVState
from simulator.profiles import format_time
from simulator.record import Sample

START = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)
VOLTAGE_V = 230.0


class LateClock:
    """Time moves only when the test says; sleepers due on the way wake after the jump, all late
    (what a loaded machine does to a wall-clock-driven task)."""

    speed: float = 1.0

    def __init__(self, start_utc: datetime) -> None:
        self._now = start_utc
        self._sleepers: list[tuple[datetime, asyncio.Future[None]]] = []

    def now(self) -> datetime:
        return self._now

    async def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._sleepers.append((self._now + timedelta(seconds=seconds), future))
        await future

    async def sleep_until(self, when_utc: datetime) -> None:
        await self.sleep((when_utc - self._now).total_seconds())

    def move(self, seconds: float) -> None:
        """Time moves on by ``seconds``; nobody wakes (yet)."""
        self._now += timedelta(seconds=seconds)

    async def jump(self, seconds: float) -> None:
        """Time moves on by ``seconds``; only then does every sleeper due by now wake."""
        self.move(seconds)
        due = [f for when, f in self._sleepers if when <= self._now]
        self._sleepers = [(w, f) for w, f in self._sleepers if w > self._now]
        for future in due:
            if not future.done():
                future.set_result(None)
        for _ in range(20):
            await asyncio.sleep(0)


def kw(current_a: float) -> float:
    return current_a * 3 * VOLTAGE_V / 1000.0


def absolute_default(periods: list[tuple[int, float]], **extra: Any) -> dict[str, Any]:
    """A TxDefaultProfile from START: (seconds from START, A per phase) per period."""
    return {
        "chargingProfileId": 1,
        "stackLevel": 0,
        "chargingProfilePurpose": "TxDefaultProfile",
        "chargingProfileKind": "Absolute",
        "chargingSchedule": {
            "chargingRateUnit": "A",
            "startSchedule": format_time(START),
            "chargingSchedulePeriod": [{"startPeriod": s, "limit": a} for s, a in periods],
        },
        **extra,
    }


@asynccontextmanager
async def charging(
    system: Any, profile: dict[str, Any], ev: EVState
) -> AsyncIterator[tuple[SimChargePoint, LateClock, list[Sample]]]:
    """A charger on a :class:`LateClock` with a car charging under ``profile`` since START.

    Meter values once an hour: the loop's own wake-ups are only its 60 s maximum step, so
    every change below is one the loop sleeps through.
    """
    clock = LateClock(START)
    samples: list[Sample] = []
    spec = ChargerSpec("CP1", max_current_a=16.0, meter_interval_s=3600)
    cp = SimChargePoint(spec, system.url, clock, on_sample=samples.append)
    task = asyncio.create_task(cp.run())
    try:
        await asyncio.wait_for(cp.connected.wait(), 10)
        result = await system.cps["CP1"].call(
            call.SetChargingProfile(connector_id=0, cs_charging_profiles=profile)
        )
        assert result.status == "Accepted"
        await cp.plug_in(1, ev, "TAG1", "S1")
        yield cp, clock, samples
    finally:
        await cp.stop()
        await asyncio.wait_for(task, 10)


def car(energy_kwh: float = 40.0) -> EVState:
    spec = EVSpec(capacity_kwh=80, max_current_a=16, phases=3, voltage_v=VOLTAGE_V)
    return EVState(spec, soc=0.2, target_soc=0.2 + energy_kwh / 80)


def first_at(samples: list[Sample], current_a: float) -> datetime:
    return min(s.at_utc for s in samples if s.current_a == pytest.approx(current_a))


def exact_wh(steps: list[tuple[float, float]]) -> float:
    """Energy of (seconds, A per phase) steps [Wh]."""
    return sum(kw(a) * 1000.0 * s / 3600.0 for s, a in steps)


async def test_period_changes_slept_through_are_recorded_where_the_schedule_puts_them(
    central_system,
) -> None:
    profile = absolute_default([(0, 16.0), (600, 8.0), (900, 12.0)])
    async with charging(central_system, profile, car()) as (cp, clock, samples):
        assert cp.connectors[1].ev.current_a == 16.0
        await clock.jump(1000)  # the loop wanted to wake at +60 s; it wakes at +1000 s
        register_wh = cp.connectors[1].register_wh
    assert first_at(samples, 8.0) == START + timedelta(seconds=600)
    assert first_at(samples, 12.0) == START + timedelta(seconds=900)
    assert all(s.current_a == 16.0 for s in samples if s.at_utc < START + timedelta(seconds=600))
    assert register_wh == pytest.approx(exact_wh([(600, 16.0), (300, 8.0), (100, 12.0)]))


async def test_a_profile_that_lapses_while_the_loop_sleeps_lapses_on_time(central_system) -> None:
    lapses_at = START + timedelta(seconds=300)
    profile = absolute_default([(0, 8.0)], validTo=format_time(lapses_at))
    async with charging(central_system, profile, car()) as (cp, clock, samples):
        assert cp.connectors[1].ev.current_a == 8.0
        await clock.jump(400)
        register_wh = cp.connectors[1].register_wh
    assert first_at(samples, 16.0) == lapses_at  # back to the hardware maximum, on time
    assert register_wh == pytest.approx(exact_wh([(300, 8.0), (100, 16.0)]))


async def test_a_car_that_fills_up_while_the_loop_sleeps_stops_when_it_is_full(
    central_system,
) -> None:
    full_after_s = 360.0
    ev = car(energy_kwh=kw(16.0) * full_after_s / 3600.0)
    async with charging(central_system, absolute_default([(0, 16.0)]), ev) as (cp, clock, samples):
        await clock.jump(500)
        register_wh = cp.connectors[1].register_wh
    stopped = min(s.at_utc for s in samples if s.at_utc > START and s.power_w == 0.0)
    assert abs((stopped - START).total_seconds() - full_after_s) < 1e-5
    assert register_wh == pytest.approx(exact_wh([(full_after_s, 16.0)]))


async def test_a_late_wake_up_and_a_raise_on_arrival_keep_their_order(central_system) -> None:
    """The cut the schedule makes at +600 s comes before a raise that arrives at +605 s, even
    though the loop only wakes (late) after the raise has arrived."""
    profile = absolute_default([(0, 16.0), (600, 6.0)])
    async with charging(central_system, profile, car()) as (_, clock, samples):
        await clock.jump(0)  # the loop has seen the car and sleeps, to wake at +60 s
        clock.move(605)  # time moves on; nobody has woken yet
        higher = {**absolute_default([(0, 10.0)]), "chargingProfileId": 2, "stackLevel": 1}
        raised = await central_system.cps["CP1"].call(
            call.SetChargingProfile(connector_id=0, cs_charging_profiles=higher)
        )
        assert raised.status == "Accepted"
        await clock.jump(0)
    assert first_at(samples, 6.0) == START + timedelta(seconds=600)
    assert first_at(samples, 10.0) == START + timedelta(seconds=605)
