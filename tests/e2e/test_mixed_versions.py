"""A mixed site end to end: OCPP 1.6 and 2.0.1 chargers on one grid connection and one
circuit tree, planned as one, over real websockets on one event-stepped clock."""

from __future__ import annotations

from datetime import timedelta

from controller.stepped import StepClock, run_stepped
from controller.store import sessions as sessions_table
from simulator.charger import ChargerSpec
from simulator.charger201 import SimChargePoint201
from tests.e2e.harness import START, e2e_config, power_after, scenario, sessions_at_once, site_run

TOLERANCE_KW = 0.05


def test_a_mixed_site_never_exceeds_its_limit(tmp_path):
    config = e2e_config(tmp_path, chargers=4, grid_limit_kw=40.0)
    # Every car wants 22 kW: 88 kW of demand behind a 40 kW connection.
    scen = scenario(4, sessions_at_once(4, energy_kwh=20, stay_h=3))
    specs = {
        cid: ChargerSpec(cid, meter_interval_s=60, ocpp_version=version)
        for cid, version in (
            ("CP001", "2.0.1"),
            ("CP002", "1.6"),
            ("CP003", "2.0.1"),
            ("CP004", "1.6"),
        )
    }

    async def day(clock: StepClock):
        async with site_run(config, clock, scen, specs=specs) as (controller, sim, _):
            record = await sim.run(until_utc=START + timedelta(hours=2.5))
            versions = {cid: s.ocpp_version for cid, s in controller.site.chargers.items()}
            await controller.store.flush()
            rows = await controller.store.run(controller.store.store.rows, sessions_table)
        return record, versions, rows, sim

    record, versions, rows, sim = run_stepped(day, START)
    assert versions == {"CP001": "2.0.1", "CP002": "1.6", "CP003": "2.0.1", "CP004": "1.6"}
    _, power = power_after(record, START)
    assert max(power) <= 40.0 + TOLERANCE_KW, max(power)
    assert max(p for p in power if p > 0) >= 40.0 * 0.95  # the limit is used, not wasted
    by_charger = {r["charger_id"]: r for r in rows}
    for cid in ("CP001", "CP003"):
        station = sim.chargers[cid]
        assert isinstance(station, SimChargePoint201)
        assert station.needs_answers == ["Accepted"]
        assert by_charger[cid]["ocpp_transaction_id"].startswith(f"{cid}-")
        assert by_charger[cid]["overrides"]["need_source"] == "car"
        assert by_charger[cid]["energy_kwh"] > 5.0  # the 2.0.1 stations charged
    for cid in ("CP002", "CP004"):
        assert by_charger[cid]["ocpp_transaction_id"] is None
        assert by_charger[cid]["energy_kwh"] > 5.0
    # Every car got a fair part of what the site could deliver.
    delivered = sum(r.energy_kwh for r in record.sessions.values())
    assert delivered >= 0.95 * min(4 * 20, 40.0 * 2.3), delivered
