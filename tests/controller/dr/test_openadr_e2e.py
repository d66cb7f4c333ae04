"""End to end: simulated chargers over OCPP stay under a cap an OpenADR VTN sends.

On the event-stepped clock: the controller, the simulated chargers, the openleadr VTN and the
controller's VEN share one loop whose time only moves when every task waits; the VTN and the
VEN still talk real HTTP on 127.0.0.1, the chargers real OCPP over websockets. The VEN polls
on the controller's clock (at the 10 s interval the VTN sets), so the event reaches the site at
the same simulated moment however busy the machine is. The VTN judges an event's status by the
wall clock: the run starts at the wall-clock now, and the event lies well ahead of it.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from controller.stepped import StepClock, run_stepped
from tests.controller.dr.test_openadr_ven import until, vtn_running
from tests.e2e.harness import START, e2e_config, power_after, scenario, sessions_at_once, site_run

pytestmark = [
    pytest.mark.slow,
    pytest.mark.filterwarnings("ignore:It is recommended to use web.AppKey"),
]

CAP_KW = 25.0
POLL_S = 10.0
TOLERANCE_KW = 0.05


def test_chargers_stay_under_an_openadr_cap(tmp_path):
    start = datetime.now(UTC).replace(microsecond=0)
    # The harness's scenario, moved to now: the VTN judges event times by the wall clock.
    scen = scenario(4, sessions_at_once(4, energy_kwh=40)).shifted(start - START)
    event_start = start + timedelta(minutes=20)
    event_end = event_start + timedelta(hours=1)

    async def day(clock: StepClock):
        async with vtn_running() as vtn:
            # openleadr's default poll interval (the test VTN asks for 1 s): a tenth of the
            # polls, each a real HTTP round trip with XML checked against the schema.
            vtn.server.services["registration_service"].poll_freq = timedelta(seconds=POLL_S)
            config = e2e_config(tmp_path, chargers=4, grid_limit_kw=60.0)
            config = config.model_copy(
                update={"dr": {"openadr": {"vtn_url": vtn.url, "ven_name": "e2e", "retry_s": 0.5}}}
            )
            async with site_run(config, clock, scen) as (controller, sim, _):
                run = asyncio.create_task(sim.run(until_utc=event_end + timedelta(minutes=5)))
                try:
                    await controller.dr_sources[0].wait_registered(10.0)
                    vtn.add("cap", "LOAD_DISPATCH", "setpoint", [CAP_KW] * 4, event_start)
                    added_at = clock.now()
                    await until(lambda: vtn.opt_of("cap") == ["optIn"], "the answer", 2 * POLL_S)
                    answered_at = clock.now()
                    record = await run
                finally:
                    if not run.done():
                        run.cancel()
        return record, added_at, answered_at

    record, added_at, answered_at = run_stepped(day, start)
    # Picked up at the VEN's next poll, answered in the same instant (until() looks every
    # 0.05 s): known long before it starts.
    assert answered_at - added_at <= timedelta(seconds=POLL_S + 0.05), answered_at - added_at
    assert answered_at < event_start
    times, power = power_after(record, start)
    before = [p for t, p in zip(times, power, strict=True) if t < event_start]
    times, during = power_after(record, event_start)
    during = [p for t, p in zip(times, during, strict=True) if t < event_end]
    assert max(before) > 40.0  # the cap matters: four cars draw well above it without it
    # From the event's first second: the plan split its slots there and the chargers cut on time.
    assert during and max(during) <= CAP_KW + TOLERANCE_KW, max(during)
    assert max(during) >= 0.8 * CAP_KW  # and the cap is used, not left idle
