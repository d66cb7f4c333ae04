"""The control loop end to end: a site of simulated chargers over real websockets, one
accelerated clock, and the site's measured power checked against its limits."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from controller.stepped import StepClock, run_stepped
from simulator.charger import ChargerSpec, Faults
from simulator.clock import AcceleratedClock
from tests.e2e.harness import (
    START,
    e2e_config,
    eventually,
    power_after,
    scenario,
    sessions_at_once,
    site_run,
)

SPEED = 240.0  # one simulated hour in 15 s
TOLERANCE_KW = 0.05


async def test_site_never_exceeds_its_limit_and_energy_is_delivered(tmp_path):
    config = e2e_config(tmp_path, chargers=6, grid_limit_kw=40.0)
    clock = AcceleratedClock(START, SPEED)
    scen = scenario(6, sessions_at_once(6, energy_kwh=15))
    async with site_run(config, clock, scen) as (controller, sim, _):
        record = await sim.run(until_utc=START + timedelta(hours=2.5))
        history = list(controller.loop.state.history)
    _, power = power_after(record, START)
    assert max(power) <= 40.0 + TOLERANCE_KW, max(power)
    # Demand (6 × 22 kW) is far above the limit and prices are flat: the limit is used.
    busy = [p for p in power if p > 0]
    assert max(busy) >= 40.0 * 0.8
    delivered = sum(r.energy_kwh for r in record.sessions.values())
    assert delivered >= 0.8 * min(6 * 15, 40.0 * 2.3), delivered
    assert all(h.method == "optimal" for h in history if h.sessions), [h.method for h in history]
    assert any(h.sessions == 6 for h in history)


async def test_a_cap_lowered_mid_run_is_respected_after_acknowledgement(tmp_path):
    config = e2e_config(tmp_path, chargers=4, grid_limit_kw=60.0)
    clock = AcceleratedClock(START, SPEED)
    scen = scenario(4, sessions_at_once(4, energy_kwh=40))
    async with site_run(config, clock, scen) as (controller, sim, _):
        run = asyncio.create_task(sim.run(until_utc=START + timedelta(hours=1.5)))
        await eventually(lambda: clock.now() >= START + timedelta(minutes=40))
        assert sim.power_now_kw() > 25.0
        await controller.limits.put(
            "evening", source="operator", kind="permanent", spec={"limit_kw": 25.0}, actor="test"
        )
        acknowledged_at = None
        for _ in range(400):
            last = controller.loop.state.history[-1] if controller.loop.state.history else None
            if last and last.limit_kw == 25.0:
                acknowledged_at = clock.now()
                break
            await asyncio.sleep(0.02)
        assert acknowledged_at is not None
        record = await run
    _, power = power_after(record, acknowledged_at + timedelta(seconds=60))
    assert power and max(power) <= 25.0 + TOLERANCE_KW, max(power)


def test_a_charger_that_ignores_its_profile_is_flagged_and_the_others_compensate(tmp_path):
    """On the event-stepped clock: the flag, the re-plan and the cuts take no simulated time
    however busy the machine is (at 240x, half a second of wall time was two minutes)."""
    config = e2e_config(tmp_path, chargers=4, grid_limit_kw=40.0)
    scen = scenario(4, sessions_at_once(4, energy_kwh=60))
    specs = {
        "CP001": ChargerSpec("CP001", meter_interval_s=60, faults=Faults(ignores_profiles=True))
    }

    async def day(clock: StepClock):
        async with site_run(config, clock, scen, specs=specs) as (controller, sim, _):
            run = asyncio.create_task(sim.run(until_utc=START + timedelta(hours=1.5)))
            while not controller.site.chargers["CP001"].non_compliant:
                await clock.sleep(1)
            flagged_at = clock.now()
            record = await run
            others = [
                controller.site.chargers[c].non_compliant for c in ("CP002", "CP003", "CP004")
            ]
        return record, flagged_at, others

    record, flagged_at, others = run_stepped(day, START)
    # After the flag and one re-plan (within the debounce and the cuts' acknowledgement), the
    # other three make room for CP001's measured draw.
    _, power = power_after(record, flagged_at + timedelta(seconds=30))
    assert power and max(power) <= 40.0 + TOLERANCE_KW, max(power)
    assert not any(others)


async def test_a_charger_that_rejects_profiles_is_reserved(tmp_path):
    config = e2e_config(tmp_path, chargers=3, grid_limit_kw=50.0)
    clock = AcceleratedClock(START, SPEED)
    scen = scenario(3, sessions_at_once(3, energy_kwh=40))
    specs = {
        "CP003": ChargerSpec("CP003", meter_interval_s=60, faults=Faults(rejects_profiles=True))
    }
    async with site_run(config, clock, scen, specs=specs) as (controller, sim, _):
        run = asyncio.create_task(sim.run(until_utc=START + timedelta(hours=1)))
        await eventually(lambda: not controller.site.chargers["CP003"].controllable, timeout_s=30)
        await eventually(
            lambda: any(
                "uncontrollable" in " ".join(h.reasons) for h in controller.loop.state.history
            )
        )
        await asyncio.sleep(1.0)
        snapshot = controller.loop.state.snapshot
        record = await run
    assert snapshot is not None
    assert all(n.charger_id != "CP003" for n in snapshot.needs)
    assert any("CP003: uncontrollable" in r for r in snapshot.reservations.reasons)
    assert snapshot.reservations.site_kw >= 22.0
    _, power = power_after(record, START)
    assert max(power) <= 50.0 + TOLERANCE_KW


async def test_restart_mid_session_resumes_and_resends_profiles(tmp_path):
    config = e2e_config(tmp_path, chargers=2, grid_limit_kw=30.0)
    clock = AcceleratedClock(START, SPEED)
    scen = scenario(2, sessions_at_once(2, energy_kwh=40))
    from controller.app import SiteController
    from simulator.charger import ChargerSpec as Spec
    from simulator.site import SimSite

    controller = SiteController(config, clock=clock)
    port = await controller.start()
    # Keep the port: the chargers reconnect to the same URL after the restart.
    config = config.model_copy(update={"ocpp": config.ocpp.model_copy(update={"port": port})})
    sim = SimSite(
        f"ws://127.0.0.1:{port}/ocpp",
        scen,
        clock,
        charger_spec=Spec("template", meter_interval_s=60, reconnect_delay_s=5),
    )
    run = asyncio.create_task(sim.run(until_utc=START + timedelta(hours=1.5)))
    await eventually(lambda: len(controller.site.sessions) == 2, timeout_s=30)
    open_before = sorted(controller.site.sessions)
    await eventually(lambda: clock.now() >= START + timedelta(minutes=30))
    await controller.stop()
    await asyncio.sleep(0.5)
    restarted = SiteController(config, clock=clock)
    await restarted.start()
    try:
        assert sorted(restarted.site.sessions) == open_before
        await eventually(
            lambda: all(restarted.site.chargers[c].online for c in ("CP001", "CP002")), timeout_s=30
        )
        await eventually(lambda: len(restarted.loop.state.assigned_kw) == 2, timeout_s=30)
        record = await run
    finally:
        await restarted.stop()
    energy = {r.transaction_id: r.energy_kwh for r in record.sessions.values()}
    assert set(energy) == set(open_before)
    assert all(e > 5 for e in energy.values())
    _, power = power_after(record, START)
    assert max(power) <= 30.0 + TOLERANCE_KW


async def test_an_optimiser_failure_falls_back_and_stays_inside(tmp_path):
    config = e2e_config(tmp_path, chargers=3, grid_limit_kw=25.0)
    clock = AcceleratedClock(START, SPEED)
    scen = scenario(3, sessions_at_once(3, energy_kwh=30))

    async def broken(problem):
        raise RuntimeError("solver exploded")

    async with site_run(config, clock, scen) as (controller, sim, _):
        controller.loop.planner = broken
        record = await sim.run(until_utc=START + timedelta(hours=1))
        history = list(controller.loop.state.history)
    planned = [h for h in history if h.sessions]
    assert planned and all(h.method == "safe_default" for h in planned)
    assert all("solver exploded" in h.fallback_reason for h in planned)
    _, power = power_after(record, START)
    assert max(power) <= 25.0 + TOLERANCE_KW


@pytest.mark.parametrize("speed", [SPEED])
async def test_cheap_hours_are_used_before_dear_ones(tmp_path, speed):
    # Dear now, cheap two hours later; the cars stay five hours and want less than the cheap
    # window can deliver: the plan waits for the cheap hours.
    prices = tmp_path / "prices.csv"
    rows = ["timestamp,price"]
    for hour in range(24):
        at = START.replace(hour=0) + timedelta(hours=hour)
        rows.append(f"{at.isoformat()},{0.10 if 10 <= hour < 13 else 0.50}")
    prices.write_text("\n".join(rows) + "\n")
    config = e2e_config(
        tmp_path,
        chargers=2,
        grid_limit_kw=50.0,
        tariff={"type": "csv", "file": "prices.csv", "fallback": "none"},
        session_defaults={"dwell_h": 5, "energy_kwh": 20},
        # Keeping started cars awake would charge them at their minimum in the dear hours.
        keep_awake=False,
    )
    clock = AcceleratedClock(START, speed)
    scen = scenario(2, sessions_at_once(2, energy_kwh=20, stay_h=5.5))
    async with site_run(config, clock, scen) as (_, sim, _):
        record = await sim.run(until_utc=START + timedelta(hours=5))
    times, watts = record.site_power_w()
    energy_dear = energy_cheap = 0.0
    for i in range(len(times) - 1):
        kwh = watts[i] / 1000.0 * (times[i + 1] - times[i]).total_seconds() / 3600.0
        if 10 <= times[i].hour < 13:
            energy_cheap += kwh
        else:
            energy_dear += kwh
    assert energy_cheap > 30.0, (energy_cheap, energy_dear)
    # Only the safe share trickles before the first plan arrives.
    assert energy_dear < 0.1 * energy_cheap, (energy_cheap, energy_dear)
