"""The fail-safe bound (README, "How the controller stays inside the limits"; issue 12, case 10):
the controller dies mid-day without a word to anyone — its sockets dropped, its tasks gone, no
clean shutdown, as a SIGKILL leaves it — while the cars draw all the site allows. The chargers
keep their TxProfiles until they lapse, then fall back to their standing TxDefaultProfile: the
site stays inside its limit the whole time. A new controller on the same store takes control
again within one cycle of its start. On the event-stepped clock: simulated hours in seconds.
(`test_sigkill_serve.py` sends a real SIGKILL to a `sitecharge serve` process, in real time.)
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import timedelta

from controller.app import SiteController
from controller.stepped import StepClock, run_stepped
from controller.units import kw_from_a
from simulator.charger import ChargerSpec
from simulator.site import SimSite
from tests.e2e.harness import START, e2e_config, power_after, scenario, sessions_at_once

TOLERANCE_KW = 0.05
LIMIT_KW = 40.0


async def _die(controller: SiteController) -> None:
    """Gone at once: listening socket and connections aborted, every task cancelled."""
    server = controller.central._server
    assert server is not None
    server.close()
    for charge_point in list(controller.central.connections.values()):
        charge_point._connection.transport.abort()
    tasks = [controller.loop.triggers._worker, *controller.central._tasks]
    for task in tasks:
        if task is not None:
            task.cancel()
    for task in tasks:
        if task is not None:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task


def test_the_site_stays_inside_its_limit_while_the_controller_is_gone(tmp_path):
    config = e2e_config(tmp_path, chargers=4, grid_limit_kw=LIMIT_KW, profile_validity_s=900)
    died_at = START + timedelta(minutes=30)
    back_at = died_at + timedelta(minutes=40)  # longer than the profiles' validity

    async def day(clock: StepClock):
        controller = SiteController(config, clock=clock)
        port = await controller.start()
        here = config.model_copy(update={"ocpp": config.ocpp.model_copy(update={"port": port})})
        sim = SimSite(
            f"ws://127.0.0.1:{port}/ocpp",
            scenario(4, sessions_at_once(4, energy_kwh=60)),
            clock,
            charger_spec=ChargerSpec("template", meter_interval_s=60, reconnect_delay_s=30),
        )
        run = asyncio.create_task(sim.run(until_utc=back_at + timedelta(minutes=20)))
        await clock.sleep_until(died_at)
        drawing_kw = sim.power_now_kw()
        await _die(controller)
        await clock.sleep_until(back_at)
        alone_kw = sim.power_now_kw()  # the standing defaults only, by now
        restarted = SiteController(here, clock=clock)
        await restarted.start()
        try:
            await clock.sleep(restarted.config.control.interval_s + 60)
            assigned = dict(restarted.loop.state.assigned_kw)
            sessions = set(restarted.site.sessions)
            record = await run
        finally:
            await restarted.stop()
            with contextlib.suppress(Exception):
                await controller.store.close()
        return record, drawing_kw, alone_kw, assigned, sessions

    record, drawing_kw, alone_kw, assigned, sessions = run_stepped(day, START)
    assert drawing_kw >= 0.9 * LIMIT_KW  # the cars drew what the site allows when it died
    safe_kw = 4 * kw_from_a(6.0, 3, 230.0)  # four connectors at the 6 A safe share
    assert alone_kw <= safe_kw + TOLERANCE_KW  # after the profiles lapsed: the defaults
    _, power = power_after(record, START)
    assert max(power) <= LIMIT_KW + TOLERANCE_KW  # before, during and after the outage
    assert sessions and set(assigned) == sessions  # in control again within one cycle
    assert sum(assigned.values()) >= 0.9 * LIMIT_KW
