"""OCPP 2.0.1 behind the same central system: frame in to frame out over real sockets, with
the ocpp package's v201 charge point as the station."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
import websockets
from ocpp.v201 import call

from tests.controller.ocpp201_client import connect_v201
from tests.controller.site_factory import running, site_config


async def wait_for(predicate, timeout_s: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.02)


def pinned(version: str | None) -> list[dict]:
    charger = {"id": "CP001", "max_current_a": 32.0, "circuit": "feeder"}
    if version is not None:
        charger["ocpp_version"] = version
    return [charger]


@pytest.mark.parametrize(
    ("version", "offered", "chosen"),
    [
        (None, ["ocpp1.6", "ocpp2.0.1"], "ocpp2.0.1"),
        (None, ["ocpp2.0.1"], "ocpp2.0.1"),
        (None, ["ocpp1.6"], "ocpp1.6"),
        ("1.6", ["ocpp2.0.1", "ocpp1.6"], "ocpp1.6"),
        ("2.0.1", ["ocpp1.6", "ocpp2.0.1"], "ocpp2.0.1"),
    ],
)
async def test_subprotocol_negotiation(tmp_path, version, offered, chosen):
    config = site_config(f"sqlite:///{tmp_path / 's.db'}", chargers=pinned(version))
    async with running(config, control=False) as ctl:
        async with websockets.connect(f"{ctl.url}/CP001", subprotocols=offered) as ws:
            assert ws.subprotocol == chosen
            await wait_for(lambda: "CP001" in ctl.central.connections)
            assert ctl.site.chargers["CP001"].ocpp_version == chosen.removeprefix("ocpp")


@pytest.mark.parametrize(
    ("version", "offered"),
    [("1.6", ["ocpp2.0.1"]), ("2.0.1", ["ocpp1.6"]), (None, ["ocpp2.0"]), (None, [])],
)
async def test_a_version_not_allowed_gets_400(tmp_path, caplog, version, offered):
    config = site_config(f"sqlite:///{tmp_path / 's.db'}", chargers=pinned(version))
    async with running(config, control=False) as ctl:
        with pytest.raises(websockets.InvalidStatus) as refused:
            async with websockets.connect(f"{ctl.url}/CP001", subprotocols=offered or None):
                pass
        assert refused.value.response.status_code == 400
        assert b"CP001 may speak" in refused.value.response.body
    assert any("CP001: connection refused" in r.getMessage() for r in caplog.records)


T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)


async def test_whole_transaction_and_the_store(store_url, caplog):
    config = site_config(store_url)
    async with running(config, control=False) as ctl:
        async with connect_v201(ctl.url, "CP001") as st:
            boot = await st.boot()
            assert (boot.status, boot.interval) == ("Accepted", 60)
            # After the boot the controller reads the device model and sets the sampling.
            await asyncio.wait_for(st.configured.wait(), 10)
            assert st.variables["SampledDataCtrlr.TxUpdatedInterval"] == "60"
            assert "Power.Active.Import" in st.variables["SampledDataCtrlr.TxUpdatedMeasurands"]
            await wait_for(lambda: ctl.site.chargers["CP001"].capabilities.max_periods == 24)
            caps = ctl.site.chargers["CP001"].capabilities
            assert (caps.max_stack_level, caps.allowed_rate_units) == (8, ("A", "W"))
            assert caps.max_profiles_installed == 10

            await st.status(1, "Occupied", T0)
            assert ctl.site.chargers["CP001"].connectors[1].status == "Occupied"
            auth = await st.call(
                call.Authorize(id_token={"id_token": "TAG1", "type": "ISO14443"}), suppress=False
            )
            assert auth.id_token_info["status"] == "Accepted"
            tx = "a2c4-0001-station-chosen-id"
            started = await st.event(
                "Started",
                tx,
                T0,
                energy_wh=1000,
                state="EVConnected",
                id_token="TAG1",
                context="Transaction.Begin",
                trigger_reason="Authorized",
            )
            assert started.id_token_info["status"] == "Accepted"
            (session,) = ctl.site.sessions.values()
            assert session.ocpp_transaction_id == tx
            assert (session.charger_id, session.connector_id, session.id_tag) == (
                "CP001",
                1,
                "TAG1",
            )
            assert session.meter_start_wh == 1000
            await st.event(
                "Updated",
                tx,
                T0 + timedelta(minutes=30),
                energy_wh=6500,
                power_w=11040,
                state="Charging",
                number_of_phases_used=3,
            )
            assert session.energy_kwh == pytest.approx(5.5)
            assert session.power_kw == pytest.approx(11.04)
            assert session.phases_used == 3
            assert ctl.site.chargers["CP001"].connectors[1].status == "Charging"
            # A lost event: seqNo jumps from 1 to 3; logged, and the session carries on.
            await st.event("Updated", tx, T0 + timedelta(minutes=40), seq_no=3, energy_wh=8000)
            assert any("1 event(s) missing" in r.getMessage() for r in caplog.records)
            await st.call(
                call.MeterValues(
                    evse_id=1,
                    meter_value=[
                        {
                            "timestamp": "2026-03-01T08:45:00Z",
                            "sampled_value": [
                                {
                                    "value": 9.0,
                                    "measurand": "Energy.Active.Import.Register",
                                    "unit_of_measure": {"unit": "kWh"},
                                },
                                {
                                    "value": 7.2,
                                    "measurand": "Power.Active.Import",
                                    "unit_of_measure": {"unit": "W", "multiplier": 3},
                                },
                            ],
                        }
                    ],
                ),
                suppress=False,
            )
            assert session.energy_kwh == pytest.approx(8.0)
            assert session.power_kw == pytest.approx(7.2)
            internal = session.transaction_id
            await st.event(
                "Ended",
                tx,
                T0 + timedelta(hours=1),
                energy_wh=12000,
                context="Transaction.End",
                trigger_reason="EVCommunicationLost",
            )
            assert ctl.site.sessions == {}
            # A repeated Ended is answered and changes nothing.
            await st.event("Ended", tx, T0 + timedelta(hours=2), energy_wh=99999)
        await ctl.store.flush()
        row = ctl.store.store.session_row(internal)
        assert row["ocpp_transaction_id"] == tx
        assert row["stop_utc"] == T0 + timedelta(hours=1)
        assert row["meter_stop_wh"] == 12000
        assert row["energy_kwh"] == pytest.approx(11.0)
        assert row["stop_reason"] == "EVDisconnected"
