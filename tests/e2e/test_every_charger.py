"""Every charger at the site is under control: admitted unknown chargers are planned, reserved
and counted like listed ones (issue 12, case 1)."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from controller.config import parse_config
from controller.stepped import StepClock, run_stepped
from tests.e2e.harness import START, e2e_config, power_after, scenario, sessions_at_once, site_run

TOLERANCE_KW = 0.05


def test_admitted_unknown_chargers_are_planned_and_the_limit_holds(tmp_path):
    listed = e2e_config(tmp_path, chargers=2, grid_limit_kw=40.0)
    data = listed.model_dump(exclude={"base_dir"})
    data["ocpp"]["allow_unknown_chargers"] = True
    config = parse_config(data, source="e2e", base_dir=tmp_path)
    sessions = sessions_at_once(5, energy_kwh=30)
    scen = replace(scenario(5, sessions), charger_ids=tuple(f"CP{i:03d}" for i in range(1, 6)))

    async def day(clock: StepClock):
        async with site_run(config, clock, scen) as (controller, sim, _):
            record = await sim.run(until_utc=START + timedelta(hours=1.5))
            history = list(controller.loop.state.history)
            roster = [c.id for c in controller.site.roster()]
        return record, history, roster

    record, history, roster = run_stepped(day, START)
    assert roster[:2] == ["CP001", "CP002"] and set(roster) == {f"CP{i:03d}" for i in range(1, 6)}
    assert any(h.sessions == 5 for h in history)  # all five planned, not only the listed two
    _, power = power_after(record, START)
    assert max(power) <= 40.0 + TOLERANCE_KW, max(power)
    assert max(power) >= 0.9 * 40.0  # and the limit is used
    for key in ("S003", "S004", "S005"):
        assert record.sessions[key].energy_kwh > 3.0
