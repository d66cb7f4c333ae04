"""A controller restart with chargers that reconnect without booting (issue 12, case 2), on
the event-stepped clock: simulated seconds, the same result at any machine load.

Before the restart the cars charge at their plan; the controller goes away; the chargers keep
their profiles, reconnect and carry on without a BootNotification. The restarted controller
must read their configuration, set their standing default and send their TxProfiles anyway,
and take the site down to a cap that starts while it was away.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from controller.stepped import StepClock, run_stepped
from simulator.charger import ChargerSpec, Faults
from simulator.site import SimSite
from tests.e2e.harness import (
    START,
    e2e_config,
    new_controller,
    power_after,
    scenario,
    sessions_at_once,
)

TOLERANCE_KW = 0.05


def test_chargers_that_reconnect_without_booting_are_controlled_again(tmp_path):
    config = e2e_config(tmp_path, chargers=3, grid_limit_kw=60.0)
    cap_from = START + timedelta(minutes=50)

    async def day(clock: StepClock):
        controller = new_controller(config, clock)
        port = await controller.start()
        config_here = config.model_copy(
            update={"ocpp": config.ocpp.model_copy(update={"port": port})}
        )
        spec = ChargerSpec(
            "template",
            meter_interval_s=60,
            reconnect_delay_s=5,
            faults=Faults(reconnects_without_boot=True),
        )
        sim = SimSite(
            f"ws://127.0.0.1:{port}/ocpp",
            scenario(3, sessions_at_once(3, energy_kwh=60)),
            clock,
            charger_spec=spec,
        )
        run = asyncio.create_task(sim.run(until_utc=START + timedelta(hours=1.5)))
        await clock.sleep_until(START + timedelta(minutes=30))
        assert sim.power_now_kw() > 50.0  # three cars share the 60 kW
        await controller.stop()
        await clock.sleep(20)
        restarted = new_controller(config_here, clock)
        await restarted.start()
        await restarted.limits.put(
            "evening", source="operator", kind="window", actor="test",
            spec={"start_utc": cap_from.isoformat(), "limit_kw": 20.0},
        )  # fmt: skip
        try:
            record = await run
        finally:
            await restarted.stop()
        boots = {cid: cp.booted_count for cid, cp in sim.chargers.items()}
        defaults = dict(restarted.loop.state.default_a)
        return record, boots, defaults

    record, boots, defaults = run_stepped(day, START)
    assert set(boots.values()) == {1}  # they never booted again
    assert set(defaults) == {"CP001", "CP002", "CP003"}  # but got their standing default
    times, power = power_after(record, cap_from + timedelta(seconds=30))
    assert times and max(power) <= 20.0 + TOLERANCE_KW, max(power)
    _, before = power_after(record, START)
    assert max(before) <= 60.0 + TOLERANCE_KW
