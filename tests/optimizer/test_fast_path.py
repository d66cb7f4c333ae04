"""The persistent HiGHS model: hot re-solves and carried-over bases give the cold optimum."""

from __future__ import annotations

import numpy as np
import pytest

import optimizer
from optimizer.arrays import build_arrays
from optimizer.warm import KeyCodes, keys
from tests.optimizer.factory import random_problem, revised, shifted

SEEDS = range(6)


def _total(plan: optimizer.Plan) -> float:
    return plan.objective["total"]


@pytest.mark.parametrize("seed", SEEDS)
def test_hot_resolve_after_revised_requests_matches_cold(seed: int) -> None:
    p = random_problem(seed, 8, 12, min_power=False)
    solver = optimizer.ArraySolver()
    optimizer.plan(p, min_power=False, solver=solver)
    q = revised(p)
    hot = optimizer.plan(q, min_power=False, solver=solver)
    cold = optimizer.plan(q, min_power=False)
    assert hot.timings_s["hot_start"] == 1.0
    assert _total(hot) == pytest.approx(_total(cold), rel=1e-7, abs=1e-7)
    assert optimizer.check(q, hot) == []


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("min_power", [False, True])
def test_warm_start_on_a_shifted_horizon_matches_cold(seed: int, min_power: bool) -> None:
    p = random_problem(50 + seed, 10, 12, min_power=min_power, tight=0.2)
    solver = optimizer.ArraySolver()
    optimizer.plan(p, min_power=min_power, solver=solver)
    q = shifted(p)
    warm = optimizer.plan(q, min_power=min_power, solver=solver, mip_rel_gap=1e-6)
    cold = optimizer.plan(q, min_power=min_power, mip_rel_gap=1e-6)
    assert warm.timings_s["warm_start"] == 1.0
    assert optimizer.check(q, warm) == []
    if min_power:  # both within their reported gaps of the same optimum
        slack = ((warm.mip_gap or 0) + (cold.mip_gap or 0)) * abs(_total(cold)) + 1e-6
        assert abs(_total(warm) - _total(cold)) <= slack
    else:
        assert _total(warm) == pytest.approx(_total(cold), rel=1e-7, abs=1e-7)


def test_lp_after_milp_on_the_same_solver_is_continuous_again() -> None:
    p = random_problem(9, 8, 10, min_power=True, tight=0.2)
    solver = optimizer.ArraySolver()
    optimizer.plan(p, min_power=True, solver=solver)
    again = optimizer.plan(p, min_power=False, solver=solver)
    fresh = optimizer.plan(p, min_power=False)
    assert _total(again) == pytest.approx(_total(fresh), rel=1e-7, abs=1e-7)


def test_basis_keys_are_unique() -> None:
    p = random_problem(3, 12, 16)
    a = build_arrays(p)
    cols, rows = keys(p, a, KeyCodes())
    assert np.unique(cols).size == cols.size
    assert np.unique(rows).size == rows.size
