"""Compliance as a lifecycle: flagged after the grace (none while a limit binds), cleared when
the charger follows its limit again."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np

from controller.limits import SlotLimits
from controller.loop.compliance import Compliance
from controller.loop.ledger import HeldProfile
from controller.loop.records import CycleState
from controller.meter import Reading
from controller.ocpp.profiles import tx_profile
from controller.site import Capabilities, SessionState, SiteState
from tests.controller.site_factory import site_config

T0 = datetime(2026, 6, 1, 10, 0, tzinfo=UTC)


class StepClock:
    def __init__(self) -> None:
        self.at = T0

    def now(self) -> datetime:
        return self.at

    async def sleep(self, seconds: float) -> None:  # pragma: no cover - not used here
        self.at += timedelta(seconds=seconds)


def _setup(tmp_path, source="grid"):
    config = site_config(f"sqlite:///{tmp_path / 's.db'}", chargers=1)
    site = SiteState(config)
    site.chargers["CP001"].online = True
    session = SessionState(1, "CP001", 1, "T", T0, 0.0)
    site.sessions[1] = session
    state = CycleState()
    state.limits = SlotLimits(np.array([50.0]), (source,))
    profile = tx_profile(
        transaction_id=1,
        connector_id=1,
        power_kw=[4.14],
        start_utc=T0,
        durations_s=[3600],
        phases=3,
        voltage_v=230.0,
        capabilities=Capabilities(max_stack_level=1),
        valid_for_s=3600,
    )
    state.ledger.accept(HeldProfile("CP001", 1, 1, profile, 3, 230.0, T0))
    clock = StepClock()
    events: list[str] = []
    site.subscribe(lambda kind, cid, detail: events.append(kind))
    return Compliance(config, clock, site, state, lambda r: None), site, clock, events


def _read(compliance, site, clock, seconds, power_kw):
    clock.at = T0 + timedelta(seconds=seconds)
    site.apply_reading(site.sessions[1], Reading(clock.at, power_kw=power_kw), 230.0)
    compliance.on_reading(1)


def test_flagged_after_the_grace_and_cleared_when_it_follows(tmp_path):
    compliance, site, clock, events = _setup(tmp_path)
    _read(compliance, site, clock, 60, 11.0)
    _read(compliance, site, clock, 120, 11.0)
    assert not site.chargers["CP001"].non_compliant  # 60 s over, grace 120 s
    _read(compliance, site, clock, 180, 11.0)
    assert site.chargers["CP001"].non_compliant and events == ["non_compliant"]
    _read(compliance, site, clock, 240, 4.0)
    assert not site.chargers["CP001"].non_compliant and events[-1] == "compliant"


def test_no_grace_while_a_cap_binds_but_time_to_react(tmp_path):
    compliance, site, clock, events = _setup(tmp_path, source="operator:cap-1")
    _read(compliance, site, clock, 5, 11.0)
    assert not site.chargers["CP001"].non_compliant  # 5 s after the profile: still reacting
    _read(compliance, site, clock, 20, 11.0)
    assert site.chargers["CP001"].non_compliant and events == ["non_compliant"]
