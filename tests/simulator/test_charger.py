"""A simulated charger against a minimal OCPP 1.6J server over a real socket."""

from __future__ import annotations

import asyncio
import base64
import itertools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import pytest
from ocpp.exceptions import OCPPError
from ocpp.v16 import call

from simulator.charger import ChargerSpec, Faults, SimChargePoint
from simulator.clock import AcceleratedClock
from simulator.ev import EVSpec, EVState
from simulator.record import Sample

START = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)
SPEED = 60.0


@asynccontextmanager
async def charger(
    system: Any, speed: float = SPEED, **spec_kw: Any
) -> AsyncIterator[tuple[SimChargePoint, AcceleratedClock, list[Sample]]]:
    clock = AcceleratedClock(START, speed)
    samples: list[Sample] = []
    spec = ChargerSpec(spec_kw.pop("charger_id", "CP1"), meter_interval_s=10, **spec_kw)
    cp = SimChargePoint(spec, system.url, clock, on_sample=samples.append)
    task = asyncio.create_task(cp.run())
    try:
        await asyncio.wait_for(cp.connected.wait(), 5)
        await system.wait_for(spec.charger_id, "BootNotification")
        yield cp, clock, samples
    finally:
        await cp.stop()
        await asyncio.wait_for(task, 5)


def tx_default(limit: float, pid: int = 1, stack: int = 0, unit: str = "A") -> dict[str, Any]:
    return {
        "chargingProfileId": pid,
        "stackLevel": stack,
        "chargingProfilePurpose": "TxDefaultProfile",
        "chargingProfileKind": "Relative",
        "chargingSchedule": {
            "chargingRateUnit": unit,
            "chargingSchedulePeriod": [{"startPeriod": 0, "limit": limit}],
        },
    }


def car(soc: float = 0.2, **kw: Any) -> EVState:
    return EVState(EVSpec(capacity_kwh=60, max_current_a=16, phases=3, **kw), soc=soc)


def measurands(meter_value: dict[str, Any]) -> dict[tuple[str, str | None], float]:
    return {
        (v["measurand"], v.get("phase")): float(v["value"]) for v in meter_value["sampled_value"]
    }


async def test_boots_charges_and_reports_consistent_meter_values(central_system) -> None:
    async with charger(central_system) as (cp, _clock, _):
        tx_id = await cp.plug_in(1, car(), "TAG1", "S1")
        assert tx_id == 100
        await central_system.wait_for("CP1", "MeterValues", 3)
        await cp.unplug(1)
    sent = central_system.messages["CP1"]
    actions = [a for a, _ in sent]
    for earlier, later in [
        ("BootNotification", "Authorize"),
        ("Authorize", "StartTransaction"),
        ("StartTransaction", "MeterValues"),
        ("MeterValues", "StopTransaction"),
    ]:
        assert actions.index(earlier) < actions.index(later)
    statuses = [p["status"] for p in central_system.of("CP1", "StatusNotification")]
    assert "Charging" in statuses
    assert statuses[-2:] == ["Finishing", "Available"]
    values = [measurands(p["meter_value"][0]) for p in central_system.of("CP1", "MeterValues")]
    stamps = [
        datetime.fromisoformat(p["meter_value"][0]["timestamp"])
        for p in central_system.of("CP1", "MeterValues")
    ]
    for v in values:
        assert v[("Power.Active.Import", None)] == pytest.approx(16 * 3 * 230)
        assert v[("Current.Import", "L1")] == v[("Current.Import", "L3")] == 16.0
        assert v[("Current.Offered", None)] == 32.0
        assert 20.0 <= v[("SoC", None)] < 30.0
    # the register grows by power × time between samples
    for (a, ta), (b, tb) in zip(
        zip(values, stamps, strict=True), list(zip(values, stamps, strict=True))[1:], strict=False
    ):
        grown_wh = (
            b[("Energy.Active.Import.Register", None)] - a[("Energy.Active.Import.Register", None)]
        )
        assert grown_wh == pytest.approx(11040 * (tb - ta).total_seconds() / 3600, abs=0.2)
    stop = central_system.of("CP1", "StopTransaction")[0]
    assert stop["transaction_id"] == 100 and stop["reason"] == "EVDisconnected"
    contexts = [m["sampled_value"][0]["context"] for m in stop["transaction_data"]]
    assert contexts == ["Transaction.Begin", "Transaction.End"]
    start = central_system.of("CP1", "StartTransaction")[0]
    assert stop["meter_stop"] >= start["meter_start"] + 10


async def test_tx_default_during_transaction_takes_effect_at_once(central_system) -> None:
    async with charger(central_system) as (cp, clock, samples):
        await cp.plug_in(1, car(), "TAG1", "S1")
        assert cp.connectors[1].ev.current_a == 16.0
        result = await central_system.cps["CP1"].call(
            call.SetChargingProfile(connector_id=0, cs_charging_profiles=tx_default(8.0))
        )
        assert result.status == "Accepted"
        set_at = clock.now()
        await clock.sleep(1.0)
        assert cp.connectors[1].ev.current_a == 8.0
        first_8a = next(s.at_utc for s in samples if s.current_a == 8.0)
        assert (first_8a - set_at).total_seconds() < 1.0
        composite = await central_system.cps["CP1"].call(
            call.GetCompositeSchedule(connector_id=1, duration=600)
        )
        assert composite.status == "Accepted"
        periods = composite.charging_schedule["charging_schedule_period"]
        assert [float(p["limit"]) for p in periods] == [8.0]
        cleared = await central_system.cps["CP1"].call(call.ClearChargingProfile(id=1))
        assert cleared.status == "Accepted"
        await clock.sleep(1.0)
        assert cp.connectors[1].ev.current_a == 16.0


async def test_power_limit_and_charge_point_max(central_system) -> None:
    async with charger(central_system) as (cp, clock, _):
        await cp.plug_in(1, car(), "TAG1", "S1")
        cp_max = {
            "chargingProfileId": 5,
            "stackLevel": 0,
            "chargingProfilePurpose": "ChargePointMaxProfile",
            "chargingProfileKind": "Absolute",
            "chargingSchedule": {
                "chargingRateUnit": "W",
                "startSchedule": "2026-01-05T00:00:00Z",
                "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 6900.0}],
            },
        }
        res = await central_system.cps["CP1"].call(
            call.SetChargingProfile(connector_id=0, cs_charging_profiles=cp_max)
        )
        assert res.status == "Accepted"
        await clock.sleep(1.0)
        assert cp.connectors[1].ev.power_w == pytest.approx(6900.0)


@pytest.mark.parametrize(
    ("connector", "profile", "spec_kw"),
    [
        (1, {**tx_default(10), "chargingProfilePurpose": "TxProfile"}, {}),  # no transaction
        (0, tx_default(10, stack=3), {"max_stack_level": 2}),
        (0, tx_default(7000, unit="W"), {"allowed_units": "Current"}),
        (0, tx_default(10), {"faults": Faults(rejects_profiles=True)}),
    ],
    ids=["tx-without-transaction", "stack-above-max", "unit-not-allowed", "fault-rejects"],
)
async def test_rejects_profiles_that_break_the_rules(
    central_system, connector, profile, spec_kw
) -> None:
    async with charger(central_system, **spec_kw) as (cp, _, _):
        result = await central_system.cps["CP1"].call(
            call.SetChargingProfile(connector_id=connector, cs_charging_profiles=profile)
        )
        assert result.status == "Rejected"
        assert cp.profiles == []


async def test_configuration_keys_and_meter_interval_change(central_system) -> None:
    async with charger(central_system, max_stack_level=3, max_periods=48) as (cp, _clock, _):
        conf = await central_system.cps["CP1"].call(call.GetConfiguration())
        keys = {k["key"]: k["value"] for k in conf.configuration_key}
        assert keys["ChargeProfileMaxStackLevel"] == "3"
        assert keys["ChargingScheduleMaxPeriods"] == "48"
        assert keys["ChargingScheduleAllowedChargingRateUnit"] == "Current,Power"
        some = await central_system.cps["CP1"].call(
            call.GetConfiguration(key=["MaxChargingProfilesInstalled", "Nope"])
        )
        assert [k["key"] for k in some.configuration_key] == ["MaxChargingProfilesInstalled"]
        assert some.unknown_key == ["Nope"]
        for key, value, status in [
            ("MeterValueSampleInterval", "30", "Accepted"),
            ("MeterValuesSampledData", "Energy.Active.Import.Register,SoC", "Accepted"),
            ("ChargeProfileMaxStackLevel", "9", "Rejected"),
            ("NoSuchKey", "1", "NotSupported"),
        ]:
            res = await central_system.cps["CP1"].call(call.ChangeConfiguration(key, value))
            assert res.status == status
        await cp.plug_in(1, car(), "TAG1", "S1")
        await central_system.wait_for("CP1", "MeterValues", 3, timeout_s=10)
    meter = central_system.of("CP1", "MeterValues")
    stamps = [datetime.fromisoformat(p["meter_value"][0]["timestamp"]) for p in meter]
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(stamps)]
    assert all(25 <= g <= 35 for g in gaps)
    assert set(measurands(meter[-1]["meter_value"][0])) == {
        ("Energy.Active.Import.Register", None),
        ("SoC", None),
    }


async def test_remote_stop_trigger_and_remote_start_with_profile(central_system) -> None:
    async with charger(central_system) as (cp, clock, _):
        tx_id = await cp.plug_in(1, car(), "TAG1", "S1")
        res = await central_system.cps["CP1"].call(call.RemoteStopTransaction(tx_id))
        assert res.status == "Accepted"
        await central_system.wait_for("CP1", "StopTransaction")
        assert central_system.of("CP1", "StopTransaction")[0]["reason"] == "Remote"
        profile = {**tx_default(10), "chargingProfilePurpose": "TxProfile"}
        res = await central_system.cps["CP1"].call(
            call.RemoteStartTransaction(id_tag="TAG2", connector_id=1, charging_profile=profile)
        )
        assert res.status == "Accepted"
        await central_system.wait_for("CP1", "StartTransaction", 2)
        await clock.sleep(2)
        assert cp.connectors[1].ev.current_a == 10.0
        trig = await central_system.cps["CP1"].call(
            call.TriggerMessage(requested_message="MeterValues", connector_id=1)
        )
        assert trig.status == "Accepted"
        await central_system.wait_for("CP1", "MeterValues")


async def test_basic_auth_header(central_system) -> None:
    async with charger(central_system, password="s3cret"):
        header = central_system.auth_headers["CP1"]
    assert header == "Basic " + base64.b64encode(b"CP1:s3cret").decode()


async def test_fault_ignores_profiles_keeps_drawing(central_system) -> None:
    async with charger(central_system, faults=Faults(ignores_profiles=True)) as (cp, clock, _):
        await cp.plug_in(1, car(), "TAG1", "S1")
        res = await central_system.cps["CP1"].call(
            call.SetChargingProfile(connector_id=0, cs_charging_profiles=tx_default(6.0))
        )
        assert res.status == "Accepted"
        await clock.sleep(2)
        assert cp.connectors[1].ev.current_a == 16.0


async def test_fault_whole_amps_rounds_to_nearest(central_system) -> None:
    async with charger(central_system, faults=Faults(whole_amps_only=True)) as (cp, clock, _):
        await cp.plug_in(1, car(), "TAG1", "S1")
        await central_system.cps["CP1"].call(
            call.SetChargingProfile(connector_id=0, cs_charging_profiles=tx_default(9.6))
        )
        await clock.sleep(2)
        assert cp.connectors[1].ev.current_a == 10.0


async def test_fault_double_stop_transaction(central_system) -> None:
    async with charger(central_system, faults=Faults(double_stop_transaction=True)) as (cp, _, _):
        await cp.plug_in(1, car(), "TAG1", "S1")
        await cp.unplug(1)
    stops = central_system.of("CP1", "StopTransaction")
    assert len(stops) == 2
    assert "reason" not in stops[0] and stops[1]["reason"] == "EVDisconnected"


async def test_fault_disconnects_and_reconnects(central_system) -> None:
    spec = {"faults": Faults(disconnects_every_s=60), "reconnect_delay_s": 5}
    async with charger(central_system, speed=600, **spec) as (cp, _clock, _):
        await cp.plug_in(1, car(), "TAG1", "S1")
        await central_system.wait_for("CP1", "BootNotification", 3, timeout_s=10)
        assert cp.disconnect_count >= 2
        assert cp.connectors[1].ev.energy_wh > 0  # the car kept charging while offline


@pytest.mark.parametrize(
    ("faults", "answers"), [(Faults(no_response=True), False), (Faults(response_delay_s=30), True)]
)
async def test_fault_slow_or_no_response(central_system, faults, answers) -> None:
    async with charger(central_system, faults=faults):
        link = central_system.cps["CP1"]
        link._response_timeout = 1.0
        request = call.GetConfiguration(key=["HeartbeatInterval"])
        loop = asyncio.get_running_loop()
        began = loop.time()
        if answers:
            result = await link.call(request)
            assert result.configuration_key[0]["value"] == "300"
            assert loop.time() - began >= 30 / SPEED * 0.9
        else:
            with pytest.raises((TimeoutError, OCPPError)):
                await link.call(request)
