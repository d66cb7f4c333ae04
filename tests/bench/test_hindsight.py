"""The benchmark's hindsight LP on hand-solved cases (it is the reference of bench/quality)."""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

from hindsight import KnownSession, per_minute_limit, solve

T0 = datetime(2026, 6, 15, 6, tzinfo=UTC)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def test_energy_first_then_the_cheapest_minutes() -> None:
    # 10 kW for one hour; B must take the first half hour to get its 5 kWh, A the second.
    sessions = [KnownSession(at(0), at(60), 10.0, 10.0), KnownSession(at(0), at(30), 5.0, 10.0)]
    prices = np.array([0.1] * 30 + [0.2] * 30)
    best = solve(sessions, T0, at(60), np.full(60, 10.0), prices)
    assert best.delivered_kwh == pytest.approx(10.0, abs=1e-4)
    assert best.per_session_kwh == pytest.approx((5.0, 5.0), abs=1e-4)
    assert best.energy_cost == pytest.approx(1.5, abs=1e-4)
    assert best.peak_kw == pytest.approx(10.0, abs=1e-6)


def test_cheap_hours_are_used_when_energy_allows() -> None:
    sessions = [KnownSession(at(0), at(120), 5.0, 10.0)]
    prices = np.array([0.3] * 60 + [0.1] * 60)
    best = solve(sessions, T0, at(120), np.full(120, 50.0), prices)
    assert best.delivered_kwh == pytest.approx(5.0, abs=1e-4)
    assert best.energy_cost == pytest.approx(0.5, abs=1e-4)


def test_partial_minutes_and_a_cap() -> None:
    # present from minute 0.5 to 10.5: 10 minutes at most 6 kW = 1 kWh; a 3 kW cap in 0-5
    sessions = [KnownSession(at(0.5), at(10.5), 5.0, 6.0)]
    steps = [(at(0), 3.0), (at(5), 50.0)]
    limit = per_minute_limit(steps, T0, 11)
    assert list(limit[:6]) == [3.0] * 5 + [50.0]
    best = solve(sessions, T0, at(11), limit, np.full(11, 0.2))
    # mean power per minute: minute 0 at most 6 kW x 0.5 = 3 (the cap allows 3); minutes 1-4:
    # 3 kW; 5-9: 6 kW; minute 10: 6 kW x 0.5. (Means within a minute: a slight relaxation.)
    expected = (3 + 4 * 3 + 5 * 6 + 3) / 60
    assert best.delivered_kwh == pytest.approx(expected, abs=1e-5)
