"""A careless charger's data: nothing it sends loses another charger's rows, poisons the
site state, or opens a session that can never close."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from ocpp.v16 import call

from controller.async_store import AsyncStore
from controller.store import Store
from controller.store import meter_values as meter_values_table
from tests.controller.ocpp_client import connect, meter_values
from tests.controller.site_factory import running, site_config


def iso(dt: datetime) -> str:
    return dt.isoformat().replace("+00:00", "Z")


def _row(charger_id: str, transaction_id: int, value: float) -> dict:
    return {
        "charger_id": charger_id,
        "connector_id": 1,
        "transaction_id": transaction_id,
        "timestamp_utc": datetime(2026, 1, 1, tzinfo=UTC),
        "measurand": "Power.Active.Import",
        "phase": None,
        "context": None,
        "value": value,
        "unit": "kW",
    }


async def test_one_bad_row_costs_no_other_row(store_url):
    store = AsyncStore(Store(store_url))
    try:
        healthy = [_row("GOOD", 1, float(i)) for i in range(10)]
        bad = [_row("BAD", 2**63, 1.0), _row("BAD\x00", 1, 1.0)]
        store.enqueue(meter_values_table, healthy[:5] + bad[:1])
        results = await asyncio.gather(
            store.write(meter_values_table, healthy[5:]),
            store.write(meter_values_table, bad[1:]),
            return_exceptions=True,
        )
        assert results[0] is None
        await store.flush()
        rows = store.store.rows(meter_values_table, charger_id="GOOD")
        assert sorted(r["value"] for r in rows) == [float(i) for i in range(10)]
        assert store.dropped_rows >= 1
    finally:
        await store.close()


async def _started(cp, connector_id: int = 1, when: datetime | None = None) -> int:
    when = when or datetime.now(UTC)
    start = await cp.call(
        call.StartTransaction(
            connector_id=connector_id, id_tag="TAG1", meter_start=0, timestamp=iso(when)
        ),
        suppress=False,
    )
    return start


async def test_confirmed_meter_values_are_already_stored(store_url):
    config = site_config(store_url)
    async with running(config) as ctl:
        async with connect(ctl.url, "CP001") as cp:
            await cp.boot()
            start = await _started(cp)
            now = datetime.now(UTC)
            await cp.call(
                meter_values(
                    1,
                    iso(now),
                    energy_wh=100,
                    power_w=7000,
                    currents_a=(10, 10, 10),
                    transaction_id=start.transaction_id,
                ),
                suppress=False,
            )
            # No flush here: what was confirmed must already be committed.
            rows = await ctl.store.run(
                ctl.store.store.rows, meter_values_table, transaction_id=start.transaction_id
            )
            assert len(rows) == 5


@pytest.mark.parametrize("connector_id", [0, -1, 2, 99])
async def test_start_transaction_on_a_connector_the_charger_lacks(store_url, connector_id):
    config = site_config(store_url)
    async with running(config) as ctl:
        async with connect(ctl.url, "CP001") as cp:
            await cp.boot()
            start = await _started(cp, connector_id)
            assert start.id_tag_info["status"] == "Invalid"
            assert ctl.site.sessions == {}
        row = await ctl.store.run(ctl.store.store.session_row, start.transaction_id)
        assert row["stop_utc"] is not None
        assert await ctl.store.run(ctl.store.store.open_sessions) == []


async def test_unlisted_charger_gets_sessions_only_on_reported_connectors(tmp_path):
    config = site_config(f"sqlite:///{tmp_path / 's.db'}", ocpp={"allow_unknown_chargers": True})
    async with running(config) as ctl:
        async with connect(ctl.url, "NEWCOMER") as cp:
            await cp.boot()
            assert (await _started(cp, 2)).id_tag_info["status"] == "Invalid"
            await cp.call(
                call.StatusNotification(connector_id=2, error_code="NoError", status="Preparing")
            )
            assert (await _started(cp, 2)).id_tag_info["status"] == "Accepted"
            assert len(ctl.site.sessions) == 1


async def test_impossible_readings_are_rejected_and_counted(store_url):
    config = site_config(store_url)  # CP001: 32 A x 3 phases x 230 V = 22 kW
    async with running(config) as ctl:
        async with connect(ctl.url, "CP001") as cp:
            await cp.boot()
            tx = (await _started(cp)).transaction_id
            now = datetime.now(UTC)
            for value in ("1e12", "NaN", "Infinity", "-5e6"):
                sampled = [{"value": value, "measurand": "Power.Active.Import", "unit": "W"}]
                await cp.call(
                    call.MeterValues(
                        connector_id=1,
                        transaction_id=tx,
                        meter_value=[{"timestamp": iso(now), "sampled_value": sampled}],
                    ),
                    suppress=False,
                )
            await cp.call(
                meter_values(
                    1,
                    iso(now),
                    energy_wh=10,
                    power_w=11000,
                    currents_a=(16, 16, 16),
                    transaction_id=tx,
                ),
                suppress=False,
            )
            assert ctl.site.sessions[tx].power_kw == pytest.approx(11.0)
            assert ctl.central.stats.rejected_readings["Power.Active.Import"] == 4
        await ctl.store.flush()
        rows = await ctl.store.run(ctl.store.store.rows, meter_values_table, transaction_id=tx)
        assert max(r["value"] for r in rows if r["unit"] == "kW") == pytest.approx(11.0)


async def test_implausible_timestamps_become_the_receive_time(store_url):
    config = site_config(store_url)
    async with running(config) as ctl:
        async with connect(ctl.url, "CP001") as cp:
            await cp.boot()
            before = datetime.now(UTC)
            far = datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)
            tx = (await _started(cp, 1, far)).transaction_id
            after = datetime.now(UTC)
            session = ctl.site.sessions[tx]
            assert before - timedelta(seconds=1) <= session.start_utc <= after
            assert ctl.central.stats.replaced_timestamps == 1
            stop = await cp.call(
                call.StopTransaction(
                    meter_stop=10, timestamp="1970-01-01T00:00:00Z", transaction_id=tx
                ),
                suppress=False,
            )
            assert stop is not None
        row = await ctl.store.run(ctl.store.store.session_row, tx)
        assert row["stop_utc"] >= before - timedelta(seconds=1)
