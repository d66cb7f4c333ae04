"""Requests to a charger (ChargerRequests) over a real socket, on the event-stepped clock: the
answer as the ocpp package's dataclass, or an error that names the charger and the action."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from ocpp.routing import on
from ocpp.v16.enums import Action

from controller.ocpp.errors import ChargerCallError, ChargerOffline, ChargerTimeout
from controller.ocpp.profiles import tx_profile
from controller.site import Capabilities
from controller.stepped import StepClock, run_stepped
from tests.controller.ocpp_client import ClientChargePoint, connect
from tests.controller.site_factory import running, site_config
from tests.e2e.harness import START


class Silent(ClientChargePoint):
    @on(Action.reset)
    async def on_reset(self, type: str) -> Any:
        self.received.append(("Reset", {"type": type}))
        await self._connection.wait_closed()  # never answers


def _run(tmp_path, body, charge_point_class=ClientChargePoint):
    config = site_config(
        f"sqlite:///{tmp_path / 's.db'}", chargers=1, ocpp={"response_timeout_s": 5}
    )

    async def day(clock: StepClock):
        async with running(config, clock=clock) as ctl:
            async with connect(ctl.url, "CP001", charge_point_class=charge_point_class) as cp:
                await cp.boot()
                await clock.sleep(2)
                return await body(ctl, cp, clock)

    return run_stepped(day, START)


def test_a_profile_goes_out_in_wire_form_and_the_answer_comes_back(tmp_path):
    profile = tx_profile(
        transaction_id=7,
        connector_id=1,
        power_kw=[11.0, 7.0],
        start_utc=START,
        durations_s=[900, 900],
        phases=3,
        voltage_v=230.0,
        capabilities=Capabilities(max_stack_level=8),
        valid_for_s=1800,
    )

    async def body(ctl, cp, clock):
        answer = await ctl.central.requests("CP001").set_charging_profile(1, profile)
        return answer.status, cp.profiles[-1]

    status, received = _run(tmp_path, body)
    assert status == "Accepted"
    assert received["transaction_id"] == 7
    assert received["charging_profile_purpose"] == "TxProfile"
    periods = received["charging_schedule"]["charging_schedule_period"]
    assert [float(p["limit"]) for p in periods] == [15.9, 10.1]  # floored to 0.1 A


def test_a_request_the_charger_does_not_know_is_a_call_error(tmp_path):
    async def body(ctl, cp, clock):
        with pytest.raises(ChargerCallError) as raised:
            await ctl.central.requests("CP001").get_composite_schedule(1, 900, "A")
        return raised.value

    error = _run(tmp_path, body)
    assert error.code in ("NotImplemented", "NotSupported")
    assert "CP001" in str(error) and "GetCompositeSchedule" in str(error)


def test_a_charger_that_stays_silent_times_out(tmp_path):
    async def body(ctl, cp, clock):
        asked = clock.now()
        with pytest.raises(ChargerTimeout):
            await ctl.central.requests("CP001").reset("Soft")
        return clock.now() - asked

    waited = _run(tmp_path, body, Silent)
    assert timedelta(seconds=5) <= waited < timedelta(seconds=6)


def test_an_offline_charger_is_said_to_be_offline(tmp_path):
    async def body(ctl, cp, clock):
        with pytest.raises(ChargerOffline):
            ctl.central.requests("CP404")
        return True

    assert _run(tmp_path, body)
