"""The fast array path, the pyomo model and an independent scipy formulation agree."""

from __future__ import annotations

import pytest

import optimizer
from optimizer.objective import objective_parts
from tests.optimizer.factory import random_problem
from tests.optimizer.reference_lp import solve_reference

SEEDS = range(12)


@pytest.mark.parametrize("seed", SEEDS)
def test_lp_three_ways_same_optimum(seed: int) -> None:
    p = random_problem(seed, n_ev=2 + seed % 5, n_slots=3 + seed % 6, min_power=False)
    fast = optimizer.plan(p, min_power=False)
    ref = optimizer.plan(p, min_power=False, backend="pyomo")
    assert (fast.method, ref.method) == ("optimal", "optimal"), (fast.reason, ref.reason)
    _, scipy_power = solve_reference(p)
    want = objective_parts(p, scipy_power)
    for plan in (fast, ref):
        got = plan.objective
        assert got["max_rel_shortfall"] == pytest.approx(want["max_rel_shortfall"], abs=1e-6)
        assert got["total"] == pytest.approx(want["total"], rel=1e-6, abs=1e-6)
        assert optimizer.check(p, plan) == []


@pytest.mark.parametrize("seed", SEEDS)
def test_milp_fast_path_within_reported_gap_of_pyomo(seed: int) -> None:
    p = random_problem(100 + seed, n_ev=2 + seed % 4, n_slots=3 + seed % 5, min_power=True)
    fast = optimizer.plan(p, mip_rel_gap=1e-4)
    ref = optimizer.plan(p, backend="pyomo", mip_rel_gap=1e-6)
    assert (fast.method, ref.method) == ("optimal", "optimal"), (fast.reason, ref.reason)
    assert fast.mip_gap is not None and fast.mip_gap >= 0
    f, r = fast.objective["total"], ref.objective["total"]
    assert f <= r + fast.mip_gap * abs(f) + 1e-6 * max(1.0, abs(r))
    # and never better than the LP relaxation, which bounds every feasible plan
    lp = optimizer.plan(p, min_power=False)
    assert lp.objective["max_rel_shortfall"] <= fast.objective["max_rel_shortfall"] + 1e-6
    for plan in (fast, ref):
        assert optimizer.check(p, plan) == []


def test_lp_matches_scipy_on_a_larger_problem() -> None:
    p = random_problem(7, n_ev=25, n_slots=24, min_power=False)
    fast = optimizer.plan(p, min_power=False)
    _, scipy_power = solve_reference(p)
    want = objective_parts(p, scipy_power)
    assert fast.objective["total"] == pytest.approx(want["total"], rel=1e-6)
    # the optimum need not be unique per EV, but the totals are
    assert fast.objective["shortfall_kwh"] == pytest.approx(want["shortfall_kwh"], abs=1e-4)
    assert fast.objective["energy_cost"] == pytest.approx(want["energy_cost"], abs=1e-3)
