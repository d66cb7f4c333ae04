"""Work conservation for open-ended needs, and slot grids split at limit changes."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest

import optimizer
from optimizer.problem import EV, Circuit, DemandCharge, Problem, problem_from_json, problem_to_json

START = datetime(2026, 6, 1, 8, 0, tzinfo=UTC)


def _problem(evs, *, limit_kw=30.0, prices=0.3, n_slots=4, **kwargs) -> Problem:
    return Problem.from_evs(
        start_utc=START,
        slot_s=900,
        n_slots=n_slots,
        site_limit_kw=limit_kw,
        price_per_kwh=prices,
        evs=evs,
        **kwargs,
    )


def _ev(name, energy_kwh, *, max_kw=11.0, min_kw=4.14, open_ended=True, circuit=None, n=4):
    return EV(
        name, energy_kwh, max_kw, [True] * n, min_kw, circuit_id=circuit, open_ended=open_ended
    )


@pytest.mark.parametrize("method", ["optimal", "edf", "equal_share"])
def test_flat_tariff_plans_now_the_least_of_the_limit_and_what_cars_draw(method):
    # Three cars whose need is unknown (1 kWh assumed each) under a 30 kW limit: 30 kW now.
    problem = _problem([_ev(f"ev{i}", 1.0) for i in range(3)])
    plan = optimizer.plan(problem, method=method)
    assert plan.power_kw[:, 0].sum() == pytest.approx(30.0, abs=1e-6)
    assert optimizer.check(problem, plan) == []
    # Two cars: all they can draw (22 kW) in every slot.
    problem = _problem([_ev(f"ev{i}", 1.0) for i in range(2)])
    plan = optimizer.plan(problem, method=method)
    assert plan.power_kw.sum(axis=0) == pytest.approx(np.full(4, 22.0))


def test_known_needs_are_not_exceeded():
    problem = _problem([_ev("ev0", 2.0, open_ended=False)])
    plan = optimizer.plan(problem)
    assert plan.energy_kwh()[0] == pytest.approx(2.0, abs=1e-6)


def test_fill_waits_in_dear_slots_and_keeps_the_demand_charge_peak():
    prices = [0.1, 0.5, 0.1, 0.5]
    problem = _problem([_ev("ev0", 1.0), _ev("ev1", 1.0)], prices=prices)
    plan = optimizer.plan(problem)
    site = plan.power_kw.sum(axis=0)
    assert site[0] == pytest.approx(22.0) and site[2] == pytest.approx(22.0)
    assert site[1] == pytest.approx(0.0, abs=1e-6) and site[3] == pytest.approx(0.0, abs=1e-6)
    dc = DemandCharge(price_per_kw=10.0, threshold_kw=0.0)
    problem = _problem([_ev("ev0", 1.0), _ev("ev1", 1.0)], demand_charge=dc)
    plan = optimizer.plan(problem)
    peak_before_fill = 4.0 * 2.0 / 4  # 2 kWh over the hour at the flattest
    assert plan.power_kw.sum(axis=0).max() <= peak_before_fill + 4.14 + 1e-6


def test_fill_respects_circuits_and_the_minimum_current():
    circuits = [Circuit("feeder", None, 5.0)]  # 5 kW per phase = 15 kW three-phase
    evs = [_ev(f"ev{i}", 0.5, circuit="feeder") for i in range(4)]
    problem = _problem(evs, limit_kw=100.0, circuits=circuits)
    plan = optimizer.plan(problem)
    assert optimizer.check(problem, plan) == []
    now = plan.power_kw[:, 0]
    assert now.sum() == pytest.approx(15.0, abs=1e-6)
    assert all(kw == 0 or kw >= 4.14 - 1e-6 for kw in now)


def test_slot_durations_split_the_grid_and_survive_json():
    durations = [120, 60, 720, 900]
    problem = _problem(
        [_ev("ev0", 5.0, open_ended=False)],
        limit_kw=[30, 0, 30, 30],
        slot_durations_s=durations,
        first_slot_s=120,
    )
    assert problem.slot_hours.tolist() == pytest.approx([d / 3600 for d in durations])
    assert problem.slot_starts_utc[2] == datetime(2026, 6, 1, 8, 3, tzinfo=UTC)
    again = problem_from_json(problem_to_json(problem))
    assert again.slot_durations_s.tolist() == durations
    plan = optimizer.plan(problem)
    assert plan.power_kw[0, 1] == 0.0
    assert plan.energy_kwh()[0] == pytest.approx(5.0, abs=1e-6)
    assert optimizer.check(problem, plan) == []


def test_slot_durations_are_checked():
    with pytest.raises(optimizer.InvalidProblem, match="slot_durations_s"):
        _problem([], slot_durations_s=[900, 900, 901, 900])


def test_a_car_not_yet_seen_drawing_is_probed_in_the_first_slot_whatever_the_price():
    from optimizer.fill import probe_first_slot

    prices = [0.5, 0.1, 0.1, 0.1]
    problem = _problem([_ev("ev0", 6.0, open_ended=False)], prices=prices)
    plan = optimizer.plan(problem)
    assert plan.power_kw[0, 0] == 0.0  # the optimum waits for the cheap hours
    probed = probe_first_slot(problem, plan.power_kw, np.array([True]))
    assert probed[0, 0] == pytest.approx(11.0)  # offered all it may take now
    # Not more than the need: later slots give way (whole slots where the minimum rule says so;
    # the next cycle re-plans the rest once the car has shown what it draws).
    assert 6.0 - 4.14 * 0.25 - 1e-6 <= probed[0] @ problem.slot_hours <= 6.0 + 1e-6
    assert optimizer.check(problem, optimizer.Plan(**{**plan.__dict__, "power_kw": probed})) == []


def _van_and_hatch(site_limit_kw: float) -> Problem:
    both = np.ones(2, dtype=bool)
    return Problem.from_evs(
        start_utc=datetime(2026, 1, 1, tzinfo=UTC),
        slot_s=900,
        n_slots=2,
        site_limit_kw=site_limit_kw,
        price_per_kwh=np.array([0.3, 0.3]),
        evs=[
            EV(id="van", energy_kwh=2, max_kw=11, min_kw=1.38, available=both),
            EV(id="hatch", energy_kwh=10, max_kw=3.7, min_kw=1.38, available=both),
        ],
    )


def test_a_car_kept_awake_takes_its_minimum_from_a_car_planned_above_its_own():
    """A limit full of one car's power still holds a kept-awake car at its minimum: the other
    is slowed for the slot (a paused car that does not wake loses its whole session)."""
    from optimizer.fill import hold_minimum

    problem = _van_and_hatch(5.0)
    held = hold_minimum(problem, np.array([[5.0, 0.0], [0.0, 0.0]]), np.array([False, True]))
    np.testing.assert_allclose(held, [[3.62, 0.0], [1.38, 1.38]])
    # where the other car is at its own (held) minimum already, nobody is cut
    tight = _van_and_hatch(1.5)
    floor = np.array([[1.38, 1.38], [0.0, 0.0]])
    np.testing.assert_allclose(hold_minimum(tight, floor, np.array([True, True])), floor)
