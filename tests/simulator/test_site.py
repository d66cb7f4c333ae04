"""A whole simulated site over real sockets (on the event-stepped clock), and the
`sitecharge simulate` command (on its own accelerated wall clock, as a person runs it)."""

from __future__ import annotations

import argparse
import asyncio
import threading
from datetime import UTC, date, datetime, timedelta

import pytest
from ocpp.v16 import call
from websockets.asyncio.server import serve

from controller.commands import simulate as simulate_cmd
from controller.stepped import StepClock, run_stepped
from simulator.replay import replay
from simulator.scenario import generate
from simulator.site import SimSite
from tests.simulator.conftest import CentralSystemCP, MiniCentralSystem, running_central_system

DAY = date(2026, 1, 5)


def scenario(n: int = 4):
    return generate("workplace", n, seed=7, start_local_day=DAY)


def on_stepped_clock(start: datetime, body):
    """Run ``body(system, clock)`` with a central system on a fresh event-stepped loop."""

    async def day(clock: StepClock):
        async with running_central_system() as system:
            return system, await body(system, clock)

    return run_stepped(day, start)


@pytest.mark.slow
def test_site_plays_sessions_like_the_replay() -> None:
    plan = scenario()
    start = datetime(2026, 1, 5, 6, 30, tzinfo=UTC)
    end = start + timedelta(hours=13)

    async def body(system: MiniCentralSystem, clock: StepClock):
        return await SimSite(system.url, plan, clock).run(until_utc=end)

    central_system, record = on_stepped_clock(start, body)
    reference = replay(plan, start_utc=start, end_utc=end)
    assert set(record.sessions) == {s.session_key for s in plan.sessions}
    # The same physics, in process or over sockets: on the stepped clock, the same energy.
    for key, result in record.sessions.items():
        assert result.energy_kwh == pytest.approx(reference.sessions[key].energy_kwh, rel=1e-6)
    # what the central system was told agrees with what the cars took
    for cid in plan.charger_ids:
        stops = central_system.of(cid, "StopTransaction")
        starts = central_system.of(cid, "StartTransaction")
        told_kwh = sum(s["meter_stop"] for s in stops) - sum(s["meter_start"] for s in starts)
        took_kwh = sum(r.energy_kwh for r in record.sessions.values() if r.charger_id == cid)
        assert told_kwh / 1000 == pytest.approx(took_kwh, abs=0.002 * len(stops))


@pytest.mark.slow
def test_site_power_stays_under_profiles() -> None:
    plan = scenario(5)
    start = datetime(2026, 1, 5, 6, 0, tzinfo=UTC)
    profile = {
        "chargingProfileId": 1,
        "stackLevel": 0,
        "chargingProfilePurpose": "ChargePointMaxProfile",
        "chargingProfileKind": "Absolute",
        "chargingSchedule": {
            "chargingRateUnit": "A",
            "startSchedule": "2026-01-05T00:00:00Z",
            "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 8.0}],
        },
    }

    async def body(system: MiniCentralSystem, clock: StepClock):
        site = SimSite(system.url, plan, clock)
        runner = asyncio.create_task(site.run(until_utc=start + timedelta(hours=6)))
        await asyncio.wait_for(
            asyncio.gather(*(cp.connected.wait() for cp in site.chargers.values())), 5
        )
        for cid in plan.charger_ids:
            res = await system.cps[cid].call(
                call.SetChargingProfile(connector_id=0, cs_charging_profiles=profile)
            )
            assert res.status == "Accepted"
        assert clock.now() < min(s.arrival_utc for s in plan.sessions)
        return await runner

    _, record = on_stepped_clock(start, body)
    per_charger_kw = 8 * 230 * 3 / 1000
    assert record.max_site_power_kw() <= len(plan.charger_ids) * per_charger_kw + 1e-6
    assert record.max_site_power_kw() > per_charger_kw  # several cars did charge
    assert all(s.power_w <= per_charger_kw * 1000 + 1e-6 for s in record.samples)


def test_build_scenario_puts_start_time_on_the_clock() -> None:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers()
    simulate_cmd.register(sub)
    args = parser.parse_args(
        ["simulate", "--url", "ws://x", "--chargers", "30", "--start", "07:00", "--tz", "UTC"]
    )
    now = datetime(2026, 6, 1, 15, 20, tzinfo=UTC)
    plan = simulate_cmd.build_scenario(args, now).window(now, now + timedelta(hours=24))
    offsets_h = [(s.arrival_utc - now).total_seconds() / 3600 for s in plan.sessions]
    # workplace arrivals 7–10 h local: 0–3 h after a run that starts at "07:00"
    assert offsets_h and min(offsets_h) >= 0 and max(offsets_h) <= 3
    assert len(plan.sessions) == 30


def test_simulate_command_runs_against_a_server() -> None:
    system = MiniCentralSystem()
    ready = threading.Event()
    stop: list[asyncio.Future] = []
    ports: list[int] = []

    def serve_forever() -> None:
        async def main() -> None:
            async def handler(ws):
                cp_id = ws.request.path.rstrip("/").split("/")[-1]
                cp = CentralSystemCP(cp_id, ws, system)
                system.cps[cp_id] = cp
                try:
                    await cp.start()
                except Exception:
                    return

            async with serve(handler, "127.0.0.1", 0, subprotocols=["ocpp1.6"]) as server:
                ports.append(next(iter(server.sockets)).getsockname()[1])
                stop.append(asyncio.get_running_loop().create_future())
                ready.set()
                await stop[0]

        asyncio.run(main())

    thread = threading.Thread(target=serve_forever, daemon=True)
    thread.start()
    assert ready.wait(5)
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers()
    simulate_cmd.register(sub)
    args = parser.parse_args(
        [
            "simulate",
            "--url",
            f"ws://127.0.0.1:{ports[0]}/ocpp",
            "--chargers",
            "3",
            "--speed",
            "3600",
            "--start",
            "09:55",
            "--duration-h",
            "0.5",
            "--no-progress",
            "--force-speed",  # the mini central system keeps real time
        ]
    )
    try:
        assert args.func(args) == 0
    finally:
        stop[0].get_loop().call_soon_threadsafe(stop[0].set_result, None)
        thread.join(5)
    assert len(system.cps) == 3
    assert any(system.of(cid, "StartTransaction") for cid in system.cps)
