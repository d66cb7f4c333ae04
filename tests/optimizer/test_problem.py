"""Problem validation (errors name the field) and the JSON round trips."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest

import optimizer
from optimizer.errors import InvalidProblem
from optimizer.problem import (
    EV,
    Circuit,
    Problem,
    plan_from_json,
    plan_to_json,
    problem_from_dict,
    problem_from_json,
    problem_to_json,
)
from tests.optimizer.factory import T0, problem, random_problem

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "problem.json"


def _base() -> dict:
    return {
        "start_utc": "2026-01-05T10:00:00Z",
        "slot_s": 900,
        "n_slots": 3,
        "site_limit_kw": [10, 10, 10],
        "price_per_kwh": [0.1, 0.2, 0.3],
        "circuits": [{"id": "a", "parent": None, "limit_kw_per_phase": 5}],
        "evs": [{"id": "ev1", "energy_kwh": 5, "max_kw": 7, "window": [0, 3]}],
    }


def _set(d: dict, path: str, value) -> dict:
    keys = path.split(".")
    node = d
    for k in keys[:-1]:
        node = node[int(k)] if k.isdigit() else node[k]
    last = keys[-1]
    node[int(last) if last.isdigit() else last] = value
    return d


@pytest.mark.parametrize(
    ("path", "value", "field"),
    [
        ("site_limit_kw", [10, -1, 10], "site_limit_kw"),
        ("site_limit_kw", [10, 10], "site_limit_kw"),
        ("price_per_kwh", [0.1, float("nan"), 0.3], "price_per_kwh"),
        ("price_per_kwh", [0.1, 0.2], "price_per_kwh"),
        ("base_load_kw", [1, 2, 3, 4], "base_load_kw"),
        ("slot_s", 30, "slot_s"),
        ("slot_s", 7200, "slot_s"),
        ("n_slots", 0, "n_slots"),
        ("first_slot_s", 901, "first_slot_s"),
        ("start_utc", "2026-01-05T10:00:00", "start_utc"),
        ("evs.0.window", [2, 1], "evs[0].window"),
        ("evs.0.window", [0, 4], "evs[0].window"),
        ("evs.0.available", [True, False], "available"),
        ("evs.0.max_kw", -3, "max_kw[ev1]"),
        ("evs.0.energy_kwh", -1, "energy_kwh[ev1]"),
        ("evs.0.min_kw", 8, "min_kw[ev1]"),
        ("evs.0.priority", 0, "priority[ev1]"),
        ("evs.0.phase_share", [0.5, 0.2, 0.2], "phase_share"),
        ("evs.0.circuit_id", "nowhere", "circuit_id[ev1]"),
        ("circuits.0.limit_kw_per_phase", -5, "circuits[a].limit_kw_per_phase"),
        ("circuits.0.parent", "ghost", "circuits[a].parent"),
        ("circuits.0.parent", "a", "circuits[a].parent"),
    ],
)
def test_invalid_problem_names_the_field(path: str, value, field: str) -> None:
    d = _set(_base(), path, value)
    with pytest.raises(InvalidProblem) as info:
        problem_from_dict(d)
    assert isinstance(info.value, ValueError)
    assert str(info.value).startswith(field), str(info.value)


def test_cycle_in_circuit_tree_rejected() -> None:
    d = _base()
    d["circuits"] = [
        {"id": "a", "parent": "b", "limit_kw_per_phase": 5},
        {"id": "b", "parent": "a", "limit_kw_per_phase": 5},
    ]
    with pytest.raises(InvalidProblem, match="cycle"):
        problem_from_dict(d)


def test_naive_datetime_rejected() -> None:
    with pytest.raises(InvalidProblem, match="start_utc"):
        problem([EV("a", 1, 1, [True])], 1, start_utc=datetime(2026, 1, 1))


def test_array_shape_mismatch_rejected() -> None:
    with pytest.raises(InvalidProblem, match=r"^available"):
        Problem(
            start_utc=T0,
            slot_s=900,
            n_slots=4,
            site_limit_kw=10.0,
            price_per_kwh=0.1,
            ev_ids=("a", "b"),
            energy_kwh=[1, 2],
            max_kw=[3, 3],
            available=np.ones((2, 3), dtype=bool),
        )


def test_problem_json_round_trip() -> None:
    p = random_problem(3, 5, 6)
    q = problem_from_json(problem_to_json(p))
    assert problem_to_json(q) == problem_to_json(p)
    assert q.start_utc == p.start_utc and q.first_slot_s == p.first_slot_s
    np.testing.assert_array_equal(q.available, p.available)
    np.testing.assert_allclose(q.phase_share, p.phase_share)
    assert q.circuit_id == p.circuit_id


def test_plan_json_round_trip() -> None:
    p = random_problem(4, 4, 5)
    plan = optimizer.plan(p, method="edf")
    back = plan_from_json(plan_to_json(plan))
    np.testing.assert_array_equal(back.power_kw, plan.power_kw)
    assert (back.method, back.status, back.reason, back.min_power) == (
        plan.method,
        plan.status,
        plan.reason,
        plan.min_power,
    )
    assert back.objective == pytest.approx(dict(plan.objective))
    assert optimizer.check(p, back) == []


def test_example_file_is_a_valid_problem() -> None:
    p = problem_from_json(EXAMPLE.read_text())
    assert p.first_slot_s < p.slot_s  # the example shows a partial first slot
    assert p.circuits and p.demand_charge is not None
    raw = json.loads(EXAMPLE.read_text())
    assert len(raw["evs"]) == p.n_evs


def test_slot_hours_and_starts_with_partial_first_slot() -> None:
    p = problem([EV("a", 1, 1, [True] * 3)], 3, slot_s=900, first_slot_s=420)
    np.testing.assert_allclose(p.slot_hours, [420 / 3600, 0.25, 0.25])
    starts = p.slot_starts_utc
    assert [(s - T0).total_seconds() for s in starts] == [0, 420, 1320]


def test_circuit_headroom_counts_reserved_load_of_children() -> None:
    p = problem(
        [EV("a", 1, 5, [True], circuit_id="leaf")],
        1,
        circuits=[
            Circuit("top", None, 20.0, (1.0, 0.0, 0.0)),
            Circuit("leaf", "top", 10.0, (2.0, 3.0, 0.0)),
        ],
    )
    np.testing.assert_allclose(p.circuit_headroom_kw(), [[17.0, 17.0, 20.0], [8.0, 7.0, 10.0]])


def test_a_request_of_rounding_noise_is_treated_as_none_and_still_solves():
    from datetime import UTC, datetime

    import numpy as np

    import optimizer
    from optimizer.problem import EV, Problem

    # 8.9e-16 kWh left over from subtracting delivered energy: once made HiGHS reject the model.
    evs = [
        EV(id="done", energy_kwh=8.88e-16, max_kw=11.0, available=[True] * 4),
        EV(id="more", energy_kwh=5.0, max_kw=11.0, available=[True] * 4),
    ]
    problem = Problem.from_evs(
        start_utc=datetime(2026, 1, 1, tzinfo=UTC),
        slot_s=900,
        n_slots=4,
        site_limit_kw=np.full(4, 20.0),
        price_per_kwh=np.full(4, 0.3),
        evs=evs,
    )
    assert problem.energy_kwh[0] == 0.0
    plan = optimizer.plan(problem, time_limit_s=5)
    assert plan.method == "optimal", plan.reason
    assert (plan.power_kw[1] * problem.slot_hours).sum() == pytest.approx(5.0, abs=1e-6)
