"""Sessions in the store: restored at start, progress written, closed with the meter's energy
where the charger could have delivered it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from controller.async_store import AsyncStore
from controller.authorization import Authorizer
from controller.ocpp.sessions import SessionKeeper, charger_voltage_v
from controller.site import SiteState
from controller.store import Store
from tests.controller.site_factory import site_config

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


@pytest.fixture
async def keeper(tmp_path):
    config = site_config(f"sqlite:///{tmp_path / 's.db'}", chargers=1)
    store = AsyncStore(Store(config.store.url))
    try:
        yield SessionKeeper(config, SiteState(config), store, Authorizer(config.authorization))
    finally:
        await store.close()


async def _open(keeper: SessionKeeper) -> int:
    return await keeper.store.run(
        keeper.store.store.start_session,
        charger_id="CP001",
        connector_id=1,
        id_tag="TAG1",
        start_utc=T0,
        meter_start_wh=1000.0,
        energy_kwh=2.0,
    )


async def test_open_sessions_are_restored_and_their_progress_written(keeper):
    tx = await _open(keeper)
    assert await keeper.restore() == 1
    session = keeper.site.sessions[tx]
    assert (session.charger_id, session.energy_kwh) == ("CP001", 2.0)
    session.energy_kwh, session.power_kw = 5.5, 11.0
    await keeper.persist()
    row = await keeper.store.run(keeper.store.store.session_row, tx)
    assert (row["energy_kwh"], row["last_power_kw"]) == (5.5, 11.0)


@pytest.mark.parametrize(
    ("meter_stop_wh", "energy_kwh"),
    [
        (8380.0, 7.38),  # meterStop - meterStart: 7.38 kWh in an hour of a 22 kW charger
        (60000.0, 2.0),  # 59 kWh in an hour is more than it can deliver: the readings stand
    ],
)
async def test_meter_stop_is_the_energy_where_plausible(keeper, meter_stop_wh, energy_kwh):
    tx = await _open(keeper)
    await keeper.restore()
    session = keeper.site.sessions[tx]
    stop = T0 + timedelta(hours=1)
    await keeper.finish(session, stop_utc=stop, meter_stop_wh=meter_stop_wh, reason="Local")
    assert tx not in keeper.site.sessions
    assert session.energy_kwh == pytest.approx(energy_kwh)
    row = await keeper.store.run(keeper.store.store.session_row, tx)
    assert (row["stop_reason"], row["energy_kwh"]) == ("Local", pytest.approx(energy_kwh))
    assert await keeper.store.run(keeper.store.store.open_sessions) == []


def test_an_admitted_charger_has_the_sites_voltage(tmp_path):
    config = site_config(f"sqlite:///{tmp_path / 's.db'}", chargers=1)
    assert charger_voltage_v(config, "UNLISTED") == config.site.voltage_v
    assert charger_voltage_v(config, "CP001") == config.charger_voltage_v(config.charger("CP001"))
