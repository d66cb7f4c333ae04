"""Standing defaults over real websockets, on the event-stepped clock: a newcomer that lowers
the safe share has the others lowered first; a charger that refuses its default is reserved as
uncontrollable, probed again later, and counted on again only once it takes one."""

from __future__ import annotations

from typing import Any

from ocpp.routing import on
from ocpp.v16 import call_result
from ocpp.v16.enums import Action

from controller.stepped import StepClock, run_stepped
from tests.controller.ocpp_client import ClientChargePoint, connect
from tests.controller.site_factory import running, site_config
from tests.e2e.harness import START

EVENTS: list[tuple[str, float]] = []


class Recording(ClientChargePoint):
    """Notes each TxDefaultProfile limit it receives, in the order they arrive anywhere."""

    refuse_defaults = 0  # how many TxDefaultProfiles to reject first

    @on(Action.set_charging_profile)
    def on_set_charging_profile(self, connector_id: int, cs_charging_profiles: dict[str, Any]):
        profile = cs_charging_profiles
        if profile["charging_profile_purpose"] == "TxDefaultProfile":
            if self.refuse_defaults > 0:
                self.refuse_defaults -= 1
                return call_result.SetChargingProfile(status="Rejected")
            limit = profile["charging_schedule"]["charging_schedule_period"][0]["limit"]
            EVENTS.append((self.id, float(limit)))
        self.profiles.append({"connector_id": connector_id, **profile})
        return call_result.SetChargingProfile(status="Accepted")


class RefusesOnce(Recording):
    refuse_defaults = 1


def test_a_newcomer_lowers_the_others_defaults_first(tmp_path):
    EVENTS.clear()
    config = site_config(
        f"sqlite:///{tmp_path / 's.db'}",
        chargers=1,
        site={"id": "s", "timezone": "Europe/Berlin", "grid_limit_kw": 15.0},
        ocpp={"allow_unknown_chargers": True},
        control={"idle_default_current_a": 16.0, "unknown_charger_allowance": 0},
    )

    async def day(clock: StepClock):
        async with running(config, clock=clock) as ctl:
            async with connect(ctl.url, "CP001", charge_point_class=Recording) as first:
                await first.boot()
                await clock.sleep(5)
                async with connect(ctl.url, "NEW", charge_point_class=Recording) as new:
                    await new.boot()
                    await clock.sleep(5)
                    return list(EVENTS), dict(ctl.loop.state.default_a)

    events, defaults = run_stepped(day, START)
    # alone: 16 A (the idle default); two on 15 kW at 3 x 230 V: 10.8 A each
    assert events[0] == ("CP001", 16.0)
    lowered = events.index(("CP001", 10.8))
    assert lowered < events.index(("NEW", 10.8))
    assert ("NEW", 16.0) not in events  # the newcomer never got more than the bound
    assert defaults == {"CP001": 10.8, "NEW": 10.8}


def test_a_charger_refusing_its_default_is_probed_and_taken_back(tmp_path):
    EVENTS.clear()
    config = site_config(
        f"sqlite:///{tmp_path / 's.db'}",
        chargers=1,
        control={"uncontrollable_retry_s": 120},
    )

    async def day(clock: StepClock):
        async with running(config, clock=clock) as ctl:
            async with connect(ctl.url, "CP001", charge_point_class=RefusesOnce) as cp:
                await cp.boot()
                await clock.sleep(5)
                state = ctl.site.charger("CP001")
                first = (state.controllable, state.uncontrollable_reason)
                await clock.sleep(400)  # the next cycles probe it again
                return first, (state.controllable, state.uncontrollable_reason)

    first, later = run_stepped(day, START)
    assert first == (False, "TxDefaultProfile: Rejected")
    assert later == (True, None)
