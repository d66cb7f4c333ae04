"""A simulated charger against a minimal OCPP 1.6J server over a real socket.

On the event-stepped clock (:mod:`controller.stepped`): the charger, the central system and
the test share one loop whose time only moves when every task waits, so waits, delays and
timeouts are simulated seconds and the results are exact on an idle or a loaded machine.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import pytest
from ocpp.exceptions import OCPPError
from ocpp.v16 import call

from controller.stepped import StepClock, run_stepped
from simulator.charger import ChargerSpec, Faults, SimChargePoint
from simulator.ev import EVSpec, EVState
from simulator.record import Sample
from tests.simulator.conftest import MiniCentralSystem, running_central_system

START = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)

T = TypeVar("T")
Body = Callable[[MiniCentralSystem, StepClock], Awaitable[T]]


def stepped(body: Body[T]) -> tuple[MiniCentralSystem, T]:
    """Run ``body(system, clock)`` with a central system on a fresh stepped loop."""

    async def day(clock: StepClock) -> tuple[MiniCentralSystem, T]:
        async with running_central_system() as system:
            return system, await body(system, clock)

    return run_stepped(day, START)


@asynccontextmanager
async def charger(
    system: MiniCentralSystem, clock: StepClock, **spec_kw: Any
) -> AsyncIterator[tuple[SimChargePoint, list[Sample]]]:
    samples: list[Sample] = []
    spec = ChargerSpec(spec_kw.pop("charger_id", "CP1"), meter_interval_s=10, **spec_kw)
    cp = SimChargePoint(spec, system.url, clock, on_sample=samples.append)
    task = asyncio.create_task(cp.run())
    try:
        await asyncio.wait_for(cp.connected.wait(), 5)
        await system.wait_for(spec.charger_id, "BootNotification")
        yield cp, samples
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


def test_boots_charges_and_reports_consistent_meter_values() -> None:
    async def body(system: MiniCentralSystem, clock: StepClock) -> None:
        async with charger(system, clock) as (cp, _):
            tx_id = await cp.plug_in(1, car(), "TAG1", "S1")
            assert tx_id == 100
            await system.wait_for("CP1", "MeterValues", 3, timeout_s=60)
            await cp.unplug(1)

    central_system, _ = stepped(body)
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
    # samples at the 10 s meter interval, aligned to it
    assert all(t.timestamp() % 10 == 0 for t in stamps), stamps
    stop = central_system.of("CP1", "StopTransaction")[0]
    assert stop["transaction_id"] == 100 and stop["reason"] == "EVDisconnected"
    contexts = [m["sampled_value"][0]["context"] for m in stop["transaction_data"]]
    assert contexts == ["Transaction.Begin", "Transaction.End"]
    start = central_system.of("CP1", "StartTransaction")[0]
    assert stop["meter_stop"] >= start["meter_start"] + 10


def test_tx_default_during_transaction_takes_effect_at_once() -> None:
    async def body(system: MiniCentralSystem, clock: StepClock) -> None:
        async with charger(system, clock) as (cp, samples):
            await cp.plug_in(1, car(), "TAG1", "S1")
            assert cp.connectors[1].ev.current_a == 16.0
            await clock.sleep(5)
            sent_at = clock.now()
            result = await system.cps["CP1"].call(
                call.SetChargingProfile(connector_id=0, cs_charging_profiles=tx_default(8.0))
            )
            assert result.status == "Accepted"
            assert cp.connectors[1].ev.current_a == 8.0
            # Applied on arrival: the round trip takes no simulated time.
            assert min(s.at_utc for s in samples if s.current_a == 8.0) == sent_at
            composite = await system.cps["CP1"].call(
                call.GetCompositeSchedule(connector_id=1, duration=600)
            )
            assert composite.status == "Accepted"
            periods = composite.charging_schedule["charging_schedule_period"]
            assert [float(p["limit"]) for p in periods] == [8.0]
            cleared = await system.cps["CP1"].call(call.ClearChargingProfile(id=1))
            assert cleared.status == "Accepted"
            assert cp.connectors[1].ev.current_a == 16.0

    stepped(body)


def test_power_limit_and_charge_point_max() -> None:
    async def body(system: MiniCentralSystem, clock: StepClock) -> None:
        async with charger(system, clock) as (cp, _):
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
            res = await system.cps["CP1"].call(
                call.SetChargingProfile(connector_id=0, cs_charging_profiles=cp_max)
            )
            assert res.status == "Accepted"
            assert cp.connectors[1].ev.power_w == pytest.approx(6900.0)

    stepped(body)


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
def test_rejects_profiles_that_break_the_rules(connector, profile, spec_kw) -> None:
    async def body(system: MiniCentralSystem, clock: StepClock) -> None:
        async with charger(system, clock, **spec_kw) as (cp, _):
            result = await system.cps["CP1"].call(
                call.SetChargingProfile(connector_id=connector, cs_charging_profiles=profile)
            )
            assert result.status == "Rejected"
            assert cp.profiles == []

    stepped(body)


def test_configuration_keys_and_meter_interval_change() -> None:
    async def body(system: MiniCentralSystem, clock: StepClock) -> None:
        async with charger(system, clock, max_stack_level=3, max_periods=48) as (cp, _):
            conf = await system.cps["CP1"].call(call.GetConfiguration())
            keys = {k["key"]: k["value"] for k in conf.configuration_key}
            assert keys["ChargeProfileMaxStackLevel"] == "3"
            assert keys["ChargingScheduleMaxPeriods"] == "48"
            assert keys["ChargingScheduleAllowedChargingRateUnit"] == "Current,Power"
            some = await system.cps["CP1"].call(
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
                res = await system.cps["CP1"].call(call.ChangeConfiguration(key, value))
                assert res.status == status
            await cp.plug_in(1, car(), "TAG1", "S1")
            await system.wait_for("CP1", "MeterValues", 3, timeout_s=120)

    central_system, _ = stepped(body)
    meter = central_system.of("CP1", "MeterValues")
    stamps = [datetime.fromisoformat(p["meter_value"][0]["timestamp"]) for p in meter]
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(stamps)]
    assert gaps and all(g == 30 for g in gaps), gaps
    assert set(measurands(meter[-1]["meter_value"][0])) == {
        ("Energy.Active.Import.Register", None),
        ("SoC", None),
    }


def test_remote_stop_trigger_and_remote_start_with_profile() -> None:
    async def body(system: MiniCentralSystem, clock: StepClock) -> None:
        async with charger(system, clock) as (cp, _):
            tx_id = await cp.plug_in(1, car(), "TAG1", "S1")
            res = await system.cps["CP1"].call(call.RemoteStopTransaction(tx_id))
            assert res.status == "Accepted"
            await system.wait_for("CP1", "StopTransaction")
            assert system.of("CP1", "StopTransaction")[0]["reason"] == "Remote"
            profile = {**tx_default(10), "chargingProfilePurpose": "TxProfile"}
            res = await system.cps["CP1"].call(
                call.RemoteStartTransaction(id_tag="TAG2", connector_id=1, charging_profile=profile)
            )
            assert res.status == "Accepted"
            await system.wait_for("CP1", "StartTransaction", 2)
            await clock.sleep(1)
            assert cp.connectors[1].ev.current_a == 10.0
            trig = await system.cps["CP1"].call(
                call.TriggerMessage(requested_message="MeterValues", connector_id=1)
            )
            assert trig.status == "Accepted"
            await system.wait_for("CP1", "MeterValues")

    stepped(body)


def test_basic_auth_header() -> None:
    async def body(system: MiniCentralSystem, clock: StepClock) -> None:
        async with charger(system, clock, password="s3cret"):
            pass

    central_system, _ = stepped(body)
    header = central_system.auth_headers["CP1"]
    assert header == "Basic " + base64.b64encode(b"CP1:s3cret").decode()


def test_fault_ignores_profiles_keeps_drawing() -> None:
    async def body(system: MiniCentralSystem, clock: StepClock) -> None:
        async with charger(system, clock, faults=Faults(ignores_profiles=True)) as (cp, _):
            await cp.plug_in(1, car(), "TAG1", "S1")
            res = await system.cps["CP1"].call(
                call.SetChargingProfile(connector_id=0, cs_charging_profiles=tx_default(6.0))
            )
            assert res.status == "Accepted"
            await clock.sleep(120)
            assert cp.connectors[1].ev.current_a == 16.0

    stepped(body)


def test_fault_whole_amps_rounds_to_nearest() -> None:
    async def body(system: MiniCentralSystem, clock: StepClock) -> None:
        async with charger(system, clock, faults=Faults(whole_amps_only=True)) as (cp, _):
            await cp.plug_in(1, car(), "TAG1", "S1")
            await system.cps["CP1"].call(
                call.SetChargingProfile(connector_id=0, cs_charging_profiles=tx_default(9.6))
            )
            assert cp.connectors[1].ev.current_a == 10.0

    stepped(body)


def test_fault_double_stop_transaction() -> None:
    async def body(system: MiniCentralSystem, clock: StepClock) -> None:
        faults = Faults(double_stop_transaction=True)
        async with charger(system, clock, faults=faults) as (cp, _):
            await cp.plug_in(1, car(), "TAG1", "S1")
            await cp.unplug(1)

    central_system, _ = stepped(body)
    stops = central_system.of("CP1", "StopTransaction")
    assert len(stops) == 2
    assert "reason" not in stops[0] and stops[1]["reason"] == "EVDisconnected"


def test_fault_disconnects_and_reconnects() -> None:
    spec = {"faults": Faults(disconnects_every_s=60), "reconnect_delay_s": 5}

    async def body(system: MiniCentralSystem, clock: StepClock) -> tuple[int, float, float]:
        async with charger(system, clock, **spec) as (cp, _):
            await cp.plug_in(1, car(), "TAG1", "S1")
            # Online 60 s, offline 5 s, booted again: the third boot by 2 × 65 s.
            await system.wait_for("CP1", "BootNotification", 3, timeout_s=2 * 65 + 1)
            return cp.disconnect_count, cp.connectors[1].ev.energy_wh, clock.elapsed_s()

    _, (disconnects, energy_wh, elapsed_s) = stepped(body)
    assert disconnects >= 2
    # The car kept charging while offline: 16 A on three phases the whole time.
    assert energy_wh == pytest.approx(11040 * elapsed_s / 3600, rel=0.01)


@pytest.mark.parametrize(
    ("faults", "answers"), [(Faults(no_response=True), False), (Faults(response_delay_s=30), True)]
)
def test_fault_slow_or_no_response(faults, answers) -> None:
    async def body(system: MiniCentralSystem, clock: StepClock) -> None:
        async with charger(system, clock, faults=faults):
            link = system.cps["CP1"]
            link._response_timeout = 60.0
            request = call.GetConfiguration(key=["HeartbeatInterval"])
            began = clock.now()
            if answers:
                result = await link.call(request)
                assert result.configuration_key[0]["value"] == "300"
                assert clock.now() - began == timedelta(seconds=30)
            else:
                with pytest.raises((TimeoutError, OCPPError)):
                    await link.call(request)
                assert clock.now() - began == timedelta(seconds=60)

    stepped(body)
