"""Chargers that behave like real ones, over real websockets (issue 12, cases 5 and 6):
current on L1 only, and an energy register that runs on across transactions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from ocpp.v16 import call

from tests.controller.api.harness import iso
from tests.controller.ocpp_client import connect
from tests.controller.site_factory import running, site_config


def _values(when, *, register_wh=None, power_w=None, l1_a=None, tx):
    sampled = []
    if register_wh is not None:
        sampled.append(
            {
                "value": str(register_wh),
                "measurand": "Energy.Active.Import.Register",
                "unit": "Wh",
            }
        )
    if power_w is not None:
        sampled.append({"value": str(power_w), "measurand": "Power.Active.Import", "unit": "W"})
    if l1_a is not None:
        sampled.append(
            {"value": str(l1_a), "measurand": "Current.Import", "phase": "L1", "unit": "A"}
        )
    return call.MeterValues(
        connector_id=1,
        transaction_id=tx,
        meter_value=[{"timestamp": iso(when), "sampled_value": sampled}],
    )


async def test_l1_only_current_with_11_kw_is_a_three_phase_car(tmp_path):
    config = site_config(f"sqlite:///{tmp_path / 's.db'}", chargers=1)
    async with running(config) as ctl:
        async with connect(ctl.url, "CP001") as cp:
            await cp.boot()
            now = datetime.now(UTC)
            start = call.StartTransaction(
                connector_id=1, id_tag="TAG1", meter_start=0, timestamp=iso(now)
            )
            tx = (await cp.call(start, suppress=False)).transaction_id
            await cp.call(_values(now, power_w=11040, l1_a=16.0, tx=tx), suppress=False)
            session = ctl.site.sessions[tx]
            assert session.phases_used == 3
            snapshot = ctl.loop._snapshot(ctl.clock.now())
            assert snapshot.needs[0].phases == 3


async def test_meter_stop_minus_start_is_the_energy_when_the_register_runs_on(tmp_path):
    config = site_config(f"sqlite:///{tmp_path / 's.db'}", chargers=1)
    async with running(config) as ctl:
        async with connect(ctl.url, "CP001") as cp:
            await cp.boot()
            t0 = datetime.now(UTC) - timedelta(hours=1)
            start = call.StartTransaction(
                connector_id=1, id_tag="TAG1", meter_start=0, timestamp=iso(t0)
            )
            tx = (await cp.call(start, suppress=False)).transaction_id
            # The register carries on from earlier transactions: 8.29 kWh a minute in.
            for minutes, register_wh in ((1, 8290), (30, 12000), (59, 15670)):
                when = t0 + timedelta(minutes=minutes)
                await cp.call(_values(when, register_wh=register_wh, tx=tx), suppress=False)
            session = ctl.site.sessions[tx]
            assert session.energy_kwh == pytest.approx(15.67 - 8.29)  # the jump rejected
            stop = call.StopTransaction(
                meter_stop=7380, timestamp=iso(t0 + timedelta(hours=1)), transaction_id=tx
            )
            await cp.call(stop, suppress=False)
        assert ctl.site.closed_sessions[tx].energy_kwh == pytest.approx(7.38)
        await ctl.store.flush()
        rows = await ctl.store.run(ctl.store.store.open_sessions)
        assert rows == []


async def test_a_connector_reporting_available_closes_the_transaction_it_lost(tmp_path):
    config = site_config(f"sqlite:///{tmp_path / 's.db'}", chargers=1)
    async with running(config) as ctl:
        async with connect(ctl.url, "CP001") as cp:
            await cp.boot()
            now = datetime.now(UTC)
            start = call.StartTransaction(
                connector_id=1, id_tag="TAG1", meter_start=0, timestamp=iso(now)
            )
            tx = (await cp.call(start, suppress=False)).transaction_id
            assert tx in ctl.site.sessions
            # The charger rebooted mid-session and forgot it: its connector is free again.
            status = call.StatusNotification(
                connector_id=1, error_code="NoError", status="Available"
            )
            await cp.call(status, suppress=False)
            assert tx not in ctl.site.sessions
            assert ctl.site.closed_sessions[tx].stop_reason == "Reconciled"
        await ctl.store.flush()
        assert await ctl.store.run(ctl.store.store.open_sessions) == []
