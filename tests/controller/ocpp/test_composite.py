"""GetCompositeSchedule answers of both versions, read as limits over time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from ocpp.v16 import call_result
from ocpp.v201 import call_result as v201_call_result

from controller.loop.ledger import HeldProfile
from controller.ocpp.composite import parse_composite

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
PERIODS = [
    {"start_period": 0, "limit": 16.0, "number_phases": 3},
    {"start_period": 300, "limit": 6.0, "number_phases": 3},
]


def test_a_16_answer_is_read():
    answer = call_result.GetCompositeSchedule(
        status="Accepted",
        connector_id=1,
        schedule_start="2026-03-02T08:00:00Z",
        charging_schedule={
            "duration": 900,
            "start_schedule": "2026-03-02T08:00:00Z",
            "charging_rate_unit": "A",
            "charging_schedule_period": PERIODS,
        },
    )
    composite = parse_composite(answer, T0, 900)
    assert composite is not None
    assert composite.limit_a_at(T0 + timedelta(seconds=10), 3, 230.0) == 16.0
    assert composite.limit_a_at(T0 + timedelta(seconds=400), 3, 230.0) == 6.0
    assert composite.limit_a_at(T0 + timedelta(seconds=900), 3, 230.0) is None
    assert composite.limit_a_at(T0 - timedelta(seconds=1), 3, 230.0) is None


def test_a_201_answer_in_watts_is_read_per_phase():
    answer = v201_call_result.GetCompositeSchedule(
        status="Accepted",
        schedule={
            "evse_id": 1,
            "duration": 600,
            "schedule_start": "2026-03-02T08:00:00Z",
            "charging_rate_unit": "W",
            "charging_schedule_period": [{"start_period": 0, "limit": 11040.0}],
        },
    )
    composite = parse_composite(answer, T0, 900)
    assert composite is not None and composite.duration_s == 600
    assert composite.limit_a_at(T0, 3, 230.0) == pytest.approx(16.0)


@pytest.mark.parametrize("status", ["Rejected", "Unknown"])
def test_no_composite_without_an_accepted_schedule(status):
    assert parse_composite(call_result.GetCompositeSchedule(status=status), T0, 900) is None


def test_the_composite_is_a_profile_the_ledger_can_hold():
    answer = call_result.GetCompositeSchedule(
        status="Accepted",
        charging_schedule={
            "duration": 900,
            "start_schedule": "2026-03-02T08:00:00Z",
            "charging_rate_unit": "A",
            "charging_schedule_period": PERIODS,
        },
    )
    composite = parse_composite(answer, T0, 900)
    held = HeldProfile("CP001", 1, None, composite.as_profile(), 3, 230.0, T0)
    assert held.valid_to_utc == T0 + timedelta(seconds=900)
    assert held.limit_kw_at(T0) == pytest.approx(16.0 * 3 * 230.0 / 1000.0)
    assert held.max_kw_from(T0 + timedelta(seconds=301)) == pytest.approx(6.0 * 0.69)
