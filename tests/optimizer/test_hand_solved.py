"""Small cases solved by hand; ``optimal`` on both backends, and the heuristics."""

from __future__ import annotations

import numpy as np
import pytest

import optimizer
from optimizer.problem import EV, Circuit, DemandCharge
from tests.optimizer.factory import L1, problem, window

BACKENDS = ["highs", "pyomo"]


def _solve(p, backend: str, min_power: bool = True) -> np.ndarray:
    plan = optimizer.plan(p, backend=backend, min_power=min_power)
    assert plan.method == "optimal", plan.reason
    assert optimizer.check(p, plan) == []
    return plan.power_kw


# (name, evs, n_slots, problem kwargs, expected power per EV per slot)
CASES = [
    (
        "cheapest slots chosen",
        [EV("a", 20, 10, [True] * 4)],
        4,
        {"price_per_kwh": [0.3, 0.1, 0.2, 0.05]},
        [[0, 10, 0, 10]],
    ),
    (
        "site limit binds",
        [EV("a", 10, 10, [True] * 2), EV("b", 10, 10, [True] * 2)],
        2,
        {"site_limit_kw": 10, "price_per_kwh": [0.1, 0.2]},
        None,  # checked below: each slot full, each EV served
    ),
    (
        "shortfall shared fairly (equal relative shortfall)",
        [EV("a", 10, 20, [True]), EV("b", 30, 20, [True])],
        1,
        {"site_limit_kw": 10},
        [[2.5], [7.5]],
    ),
    (
        "priority 2 halves the relative shortfall",
        [EV("a", 10, 20, [True], priority=2.0), EV("b", 30, 20, [True])],
        1,
        {"site_limit_kw": 10},
        [[40 / 7], [10 - 40 / 7]],
    ),
    (
        "partial first slot (30 of 60 min)",
        [EV("a", 10, 10, [True] * 2)],
        2,
        {"first_slot_s": 1800, "price_per_kwh": [0.1, 0.5]},
        [[10, 5]],
    ),
    (
        "demand charge flattens the peak",
        [EV("a", 20, 20, [True] * 4)],
        4,
        {"price_per_kwh": 0.1, "demand_charge": DemandCharge(1.0, 0.0)},
        [[5, 5, 5, 5]],
    ),
    (
        "demand charge only on peak: charge off peak, earliest first",
        [EV("a", 20, 20, [True] * 4)],
        4,
        {"price_per_kwh": 0.1, "demand_charge": DemandCharge(1.0, 0.0, [True, True, False, False])},
        [[0, 0, 20, 0]],
    ),
    (
        "base load takes headroom",
        [EV("a", 10, 10, [True])],
        1,
        {"site_limit_kw": 12, "base_load_kw": 5},
        [[7]],
    ),
    (
        "per-phase circuit limit with single-phase EVs on L1",
        [
            EV("a", 7, 7.4, [True], phase_share=L1, circuit_id="c"),
            EV("b", 7, 7.4, [True], phase_share=L1, circuit_id="c"),
            EV("c", 9, 11, [True], circuit_id="c"),
        ],
        1,
        {"circuits": [Circuit("c", None, 7.0)]},
        [[49 / 17], [49 / 17], [63 / 17]],
    ),
    (
        "reserved load on a child circuit counts on its parent",
        [EV("a", 30, 22, [True], circuit_id="top")],
        1,
        {
            "circuits": [
                Circuit("top", None, 6.0),
                Circuit("idle", "top", 10.0, (1.0, 2.0, 0.5)),
            ]
        },
        [[12.0]],  # L2 has 6 - 2 = 4 kW free: a third of 12 kW
    ),
    (
        "no power outside the plug-in window",
        [EV("a", 10, 10, window(4, 2, 4))],
        4,
        {"price_per_kwh": [0.0, 0.0, 0.5, 0.4]},
        [[0, 0, 0, 10]],
    ),
]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(("name", "evs", "n_slots", "kw", "expected"), CASES, ids=lambda x: "")
def test_optimal_hand_solved(backend, name, evs, n_slots, kw, expected) -> None:
    p = problem(evs, n_slots, **kw)
    power = _solve(p, backend)
    if expected is not None:
        np.testing.assert_allclose(power, expected, atol=1e-5, err_msg=name)
    else:
        np.testing.assert_allclose(power.sum(axis=0), [10, 10], atol=1e-6)
        np.testing.assert_allclose(power.sum(axis=1), [10, 10], atol=1e-6)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(
    ("min_power", "expected"),
    [(False, [[3, 2, 0]]), (True, [[0, 5, 0]])],
)
def test_minimum_power_forces_zero_or_min(backend, min_power, expected) -> None:
    # headroom 3 kW in the cheapest slot is below the EV's 4 kW minimum
    p = problem(
        [EV("a", 5, 10, [True] * 3, min_kw=4)],
        3,
        site_limit_kw=[3, 10, 10],
        price_per_kwh=[0.1, 0.2, 0.3],
    )
    np.testing.assert_allclose(_solve(p, backend, min_power), expected, atol=1e-5)


def test_minimum_power_remainder_below_minimum_goes_unserved() -> None:
    # 4 kWh wanted, minimum 6 kW for a whole hour: any charging overshoots -> nothing at all
    p = problem([EV("a", 4, 10, [True] * 2, min_kw=6)], 2)
    for method in ("optimal", "edf", "equal_share"):
        plan = optimizer.plan(p, method=method)
        np.testing.assert_allclose(plan.power_kw, 0.0, err_msg=method)
        assert plan.objective["shortfall_kwh"] == pytest.approx(4.0)


def test_edf_serves_the_earliest_departure_first() -> None:
    p = problem(
        [EV("late", 10, 10, window(3, 0, 3)), EV("early", 10, 10, window(3, 0, 1))],
        3,
        site_limit_kw=10,
    )
    plan = optimizer.plan(p, method="edf")
    np.testing.assert_allclose(plan.power_kw, [[0, 10, 0], [10, 0, 0]])


@pytest.mark.parametrize(
    ("min_kw", "expected"),
    [(0.0, [4, 4, 4]), (5.0, [6, 6, 0])],  # with a 5 kW minimum the latest departure drops out
)
def test_equal_share_splits_headroom(min_kw, expected) -> None:
    evs = [EV(n, 10, 10, window(3, 0, d), min_kw=min_kw) for n, d in (("x", 1), ("y", 2), ("z", 3))]
    plan = optimizer.plan(problem(evs, 3, site_limit_kw=12), method="equal_share")
    np.testing.assert_allclose(plan.power_kw[:, 0], expected)


def test_uncontrolled_runs_full_power_and_reports_violations() -> None:
    p = problem([EV("a", 15, 10, [True] * 3), EV("b", 15, 10, [True] * 3)], 3, site_limit_kw=12)
    plan = optimizer.plan(p, method="uncontrolled")
    np.testing.assert_allclose(plan.power_kw, [[10, 5, 0], [10, 5, 0]])
    assert plan.status == "unsafe" and plan.violations
    assert plan.violations[0].startswith("site limit: slot 0")
