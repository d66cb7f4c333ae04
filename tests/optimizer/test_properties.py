"""Invariants over many generated problems (hypothesis)."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

import optimizer
from tests.optimizer.factory import random_problem

problems = st.builds(
    random_problem,
    seed=st.integers(0, 2**31),
    n_ev=st.integers(1, 7),
    n_slots=st.integers(1, 10),
    min_power=st.booleans(),
    circuits=st.booleans(),
    demand_charge=st.booleans(),
    tight=st.floats(0.0, 1.0),
)

SAFE = ("optimal", "edf", "equal_share")


@settings(max_examples=40, deadline=None)
@given(problems, st.booleans())
def test_every_plan_is_checked_and_within_requests(p, min_power) -> None:
    for method in (*SAFE, "uncontrolled"):
        plan = optimizer.plan(p, method=method, min_power=min_power)
        violations = optimizer.check(p, plan)
        assert plan.method == method, plan.reason
        if method == "uncontrolled":
            assert list(plan.violations) == violations
            continue
        assert violations == []
        assert np.all(plan.energy_kwh() <= p.energy_kwh + 1e-6)
        assert np.all(plan.power_kw[~p.available] == 0.0)
        assert np.all(plan.power_kw >= 0.0)
        if min_power:
            on = plan.power_kw > 0
            assert np.all(
                plan.power_kw[on] >= np.broadcast_to(p.min_kw[:, None], on.shape)[on] - 1e-6
            )


@settings(max_examples=40, deadline=None)
@given(problems)
def test_optimal_lp_never_worse_than_a_heuristic(p) -> None:
    """Lexicographic: largest relative shortfall first, then the weighted rest."""
    best = optimizer.plan(p, min_power=False)
    assert best.method == "optimal", best.reason
    for method in ("edf", "equal_share", "uncontrolled"):
        other = optimizer.plan(p, method=method, min_power=False)
        if method == "uncontrolled" and other.violations:
            continue  # infeasible baseline: not a competitor
        b, o = best.objective, other.objective
        assert b["max_rel_shortfall"] <= o["max_rel_shortfall"] + 1e-7, method
        if b["max_rel_shortfall"] >= o["max_rel_shortfall"] - 1e-7:
            assert b["total"] <= o["total"] + 1e-6 * max(1.0, abs(o["total"])), method


@settings(max_examples=30, deadline=None)
@given(problems)
def test_optimal_with_minimum_power_never_worse_within_gap(p) -> None:
    best = optimizer.plan(p, min_power=True)
    assert best.method == "optimal", best.reason
    gap = best.mip_gap or 0.0
    total = best.objective["total"]
    for method in ("edf", "equal_share"):
        other = optimizer.plan(p, method=method, min_power=True)
        slack = gap * abs(total) + 1e-6 * max(1.0, abs(total))
        assert total <= other.objective["total"] + slack, method
