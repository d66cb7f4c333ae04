"""A seeded sample of hostile frames against a running controller (the long runs are in
bench/ocpp_fuzz.py): every frame gets its OCPP-J answer, the connection stays open, a healthy
charger's readings sent meanwhile are all stored, and the control loop keeps running."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from ocpp.v16 import call

from controller.store import meter_values as meter_values_table
from simulator.fuzz import frames
from simulator.fuzz_run import run_fuzz
from tests.controller.ocpp_client import connect, meter_values

SEEDS = (1, 2)
FRAMES_PER_SEED = 120


async def _healthy_readings(cp, tx: int, stop: asyncio.Event) -> int:
    sent = 0
    while not stop.is_set():
        now = datetime.now(UTC).isoformat()
        await cp.call(
            meter_values(
                1,
                now,
                energy_wh=100 + sent,
                power_w=7000,
                currents_a=(10, 10, 10),
                transaction_id=tx,
            ),
            suppress=False,
        )
        sent += 1
        await asyncio.sleep(0.01)
    return sent


async def test_seeded_fuzz_sample(store_url):
    from tests.controller.site_factory import running, site_config

    limits = {"messages_per_charger_per_s": 1000.0, "message_burst": 100_000}
    config = site_config(store_url, ocpp={"limits": limits}, control={"debounce_s": 0.0})
    async with running(config, method="edf") as ctl:
        async with connect(ctl.url, "CP001") as cp:
            await cp.boot()
            await cp.call(
                call.StatusNotification(connector_id=1, error_code="NoError", status="Charging")
            )
            start = await cp.call(
                call.StartTransaction(
                    connector_id=1,
                    id_tag="TAG1",
                    meter_start=0,
                    timestamp=datetime.now(UTC).isoformat(),
                ),
                suppress=False,
            )
            stop = asyncio.Event()
            healthy = asyncio.create_task(_healthy_readings(cp, start.transaction_id, stop))
            cycles_before = ctl.loop.cycles
            for seed in SEEDS:
                report = await run_fuzz(ctl.url, "CP003", frames(seed, FRAMES_PER_SEED))
                assert report.closed is None, report.closed
                assert report.frames == FRAMES_PER_SEED
                assert report.violations == [], report.violations[:5]
            stop.set()
            sent = await healthy
            ctl.loop.trigger("fuzz-test")
            deadline = asyncio.get_running_loop().time() + 30
            while ctl.loop.cycles == cycles_before:
                assert asyncio.get_running_loop().time() < deadline, "the loop stopped"
                await asyncio.sleep(0.05)
        await ctl.store.flush()
        rows = await ctl.store.run(
            ctl.store.store.rows,
            meter_values_table,
            transaction_id=start.transaction_id,
            charger_id="CP001",
            limit=100_000,
        )
        assert len(rows) == sent * 5  # energy, power and three phase currents, every one
        assert ctl.store.dropped_rows == 0
