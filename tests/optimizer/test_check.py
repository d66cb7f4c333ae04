"""The checker catches each kind of violation (and passes a safe plan)."""

from __future__ import annotations

import numpy as np
import pytest

import optimizer
from optimizer.problem import EV, Circuit, Plan
from tests.optimizer.factory import L1, T0, problem, window

P = problem(
    [
        EV("a", 10, 10, window(3, 0, 2), min_kw=4, circuit_id="c"),
        EV("b", 10, 7, [True] * 3, phase_share=L1, circuit_id="top"),
    ],
    3,
    site_limit_kw=[20, 12, 20],
    base_load_kw=[0, 2, 0],
    circuits=[Circuit("top", None, 30.0), Circuit("c", "top", 3.0, (1.0, 0.0, 0.0))],
)


def _plan(power, min_power=True) -> Plan:
    return Plan(
        P.ev_ids, T0, P.slot_s, P.first_slot_s, np.array(power, float), "edf", min_power=min_power
    )


@pytest.mark.parametrize(
    ("power", "kind"),
    [
        ([[5, 0, 0], [4, 0, 0]], None),
        ([[-1, 0, 0], [0, 0, 0]], "negative power"),
        ([[0, 0, 0], [7.5, 0, 0]], "above max_kw"),
        ([[0, 0, 5], [0, 0, 0]], "outside plug-in window"),
        ([[3, 0, 0], [0, 0, 0]], "below min_kw"),
        ([[6, 6, 0], [0, 0, 0]], "energy above request"),
        ([[0, 6, 0], [0, 4.5, 0]], "site limit"),  # 10.5 kW > 12 - 2
        ([[7, 0, 0], [0, 0, 0]], "circuit limit"),  # L1 of c: 7 / 3 > 3 - 1
    ],
)
def test_check_finds_each_violation(power, kind) -> None:
    found = optimizer.check(P, _plan(power))
    if kind is None:
        assert found == []
    else:
        assert found and all(v.startswith(kind) for v in found), found


def test_minimum_power_only_checked_when_the_plan_claims_it() -> None:
    assert optimizer.check(P, _plan([[3, 0, 0], [0, 0, 0]], min_power=False)) == []


def test_wrong_shape_and_ids_reported() -> None:
    bad = Plan(("a",), T0, P.slot_s, P.first_slot_s, np.zeros((1, 3)), "edf")
    assert optimizer.check(P, bad)[0].startswith("ev_ids differ")
