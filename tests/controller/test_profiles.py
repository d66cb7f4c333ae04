"""Plan rows -> OCPP 1.6 profiles: units, rounding down, merging, period limits, validity."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from jsonschema import Draft4Validator
from ocpp.charge_point import snake_to_camel_case
from ocpp.messages import get_validator

from controller.ocpp.profiles import schedule_periods, tx_default_profile, tx_profile
from controller.site import Capabilities
from controller.units import floor_to_step

T0 = datetime(2026, 6, 1, 12, 7, tzinfo=UTC)


def validate(connector_id: int, profile: dict) -> None:
    # The schema's multipleOf 0.1 needs decimals, as the ocpp package validates it.
    validator: Draft4Validator = get_validator(2, "SetChargingProfile", "1.6", parse_float=Decimal)
    payload = {"connectorId": connector_id, "csChargingProfiles": snake_to_camel_case(profile)}
    validator.validate(json.loads(json.dumps(payload), parse_float=Decimal))


@pytest.mark.parametrize(
    ("value", "expected"), [(16.0, 16.0), (15.99999, 15.9), (7.26, 7.2), (0.04, 0.0), (-3, 0.0)]
)
def test_floor_to_step_never_rounds_up(value, expected):
    assert floor_to_step(value) == pytest.approx(expected)
    assert floor_to_step(value) <= max(value, 0) + 1e-12


def test_tx_profile_in_amps_rounds_down_and_merges():
    caps = Capabilities(max_stack_level=3, allowed_rate_units=("Current", "Power"), max_periods=24)
    # 11.04 kW on 3 phases at 230 V is exactly 16 A; 7.5 kW is 10.869 A -> 10.8 A.
    profile = tx_profile(
        transaction_id=7,
        connector_id=2,
        power_kw=[11.04, 11.04, 7.5, 7.5, 0.0],
        start_utc=T0,
        durations_s=[480, 900, 900, 900, 900],
        phases=3,
        voltage_v=230.0,
        capabilities=caps,
        valid_for_s=1800,
    )
    validate(2, profile)
    schedule = profile["charging_schedule"]
    assert schedule["charging_rate_unit"] == "A"
    assert [(p["start_period"], p["limit"]) for p in schedule["charging_schedule_period"]] == [
        (0, 16.0),
        (1380, 10.8),
        (3180, 0.0),
    ]
    assert schedule["duration"] == 480 + 4 * 900
    assert profile["charging_profile_purpose"] == "TxProfile"
    assert profile["transaction_id"] == 7
    assert profile["stack_level"] == 1
    assert profile["valid_to"] == "2026-06-01T12:37:00Z"


def test_power_only_charger_gets_watts_and_stack_level_zero():
    caps = Capabilities(max_stack_level=0, allowed_rate_units=("Power",), max_periods=None)
    profile = tx_profile(
        transaction_id=1,
        connector_id=1,
        power_kw=[3.33333],
        start_utc=T0,
        durations_s=[900],
        phases=1,
        voltage_v=230.0,
        capabilities=caps,
        valid_for_s=600,
    )
    validate(1, profile)
    period = profile["charging_schedule"]["charging_schedule_period"][0]
    assert profile["charging_schedule"]["charging_rate_unit"] == "W"
    assert period["limit"] == pytest.approx(3333.3)
    assert period["number_phases"] == 1
    assert profile["stack_level"] == 0


def test_too_many_periods_are_cut_without_raising_any_limit():
    limits = [10.0, 12.0, 8.0, 16.0, 6.0, 20.0]
    starts = [0, 100, 200, 300, 400, 500]
    periods = schedule_periods(limits, starts, max_periods=3, number_phases=3)
    assert [(p["start_period"], p["limit"]) for p in periods] == [
        (0, 10.0),
        (100, 12.0),
        (200, 6.0),
    ]
    for t in range(600):
        original = limits[max(i for i, s in enumerate(starts) if s <= t)]
        sent = [p for p in periods if p["start_period"] <= t][-1]["limit"]
        assert sent <= original


def test_default_profile_is_valid_ocpp():
    caps = Capabilities(allowed_rate_units=("Current",))
    profile = tx_default_profile(
        current_a=6.0, phases=3, voltage_v=230.0, capabilities=caps, start_utc=T0
    )
    validate(0, profile)
    assert profile["charging_profile_purpose"] == "TxDefaultProfile"
    assert profile["charging_schedule"]["charging_schedule_period"][0]["limit"] == 6.0
