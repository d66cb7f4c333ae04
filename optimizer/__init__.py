"""sitecharge optimizer: how much power each EV gets in each slot of a rolling horizon.

A pure library (no I/O, no clock, no asyncio). The one entry point is :func:`plan`; the data
types live in :mod:`optimizer.problem`, the independent checker in :mod:`optimizer.check`.
"""

from __future__ import annotations

import logging
import time
from dataclasses import replace

import numpy as np

from optimizer import heuristics
from optimizer.check import check
from optimizer.errors import InvalidProblem, OptimizerError, SolverFailed
from optimizer.fill import fill_headroom
from optimizer.objective import objective_parts
from optimizer.problem import (
    EV,
    Circuit,
    DemandCharge,
    Plan,
    Problem,
    plan_from_json,
    plan_to_json,
    problem_from_json,
    problem_to_json,
)
from optimizer.solve import ArraySolver, solve_highs, solve_pyomo

__all__ = [
    "BACKENDS",
    "EV",
    "METHODS",
    "ArraySolver",
    "Circuit",
    "DemandCharge",
    "InvalidProblem",
    "OptimizerError",
    "Plan",
    "Problem",
    "SolverFailed",
    "check",
    "plan",
    "plan_from_json",
    "plan_to_json",
    "problem_from_json",
    "problem_to_json",
]

log = logging.getLogger(__name__)

METHODS = ("optimal", "edf", "equal_share", "uncontrolled")
BACKENDS = ("highs", "pyomo")
_FALLBACK = {"optimal": "edf", "edf": "equal_share", "equal_share": "safe_default"}


def _heuristic(problem: Problem, method: str, min_power: bool) -> np.ndarray:
    if method == "edf":
        return heuristics.edf(problem, min_power=min_power)
    if method == "equal_share":
        return heuristics.equal_share(problem, min_power=min_power)
    if method == "uncontrolled":
        return heuristics.uncontrolled(problem)
    return heuristics.safe_default(problem)


def plan(
    problem: Problem,
    *,
    method: str = "optimal",
    time_limit_s: float = 10.0,
    min_power: bool = True,
    backend: str = "highs",
    mip_rel_gap: float = 0.01,
    solver: ArraySolver | None = None,
) -> Plan:
    """Plan power per EV per slot; never raises on a valid Problem.

    ``optimal`` falls back to ``edf``, then ``equal_share``, then ``safe_default`` (all zero) on a
    solver error, time-out or a plan that fails :func:`check`; ``reason`` says why. Every plan
    returned passes ``check`` except ``uncontrolled``, which lists its violations.
    ``solver`` lets a caller keep one HiGHS instance across cycles.
    """
    if not isinstance(problem, Problem):
        raise InvalidProblem("problem", f"expected Problem, got {type(problem).__name__}")
    if method not in METHODS:
        raise InvalidProblem("method", f"unknown method {method!r}; one of {METHODS}")
    if backend not in BACKENDS:
        raise InvalidProblem("backend", f"unknown backend {backend!r}; one of {BACKENDS}")
    t0 = time.perf_counter()
    reasons: list[str] = []
    over = np.flatnonzero(problem.base_load_kw > problem.site_limit_kw)
    if over.size:
        reasons.append(f"base load above the site limit in slots {over.tolist()}: no EV power")
    current = method
    while True:
        try:
            result = _attempt(
                problem, current, time_limit_s, min_power, backend, mip_rel_gap, solver
            )
        except Exception as exc:  # degrade, don't stop: any failure moves to the next method
            if current == "safe_default":  # cannot happen on a valid Problem; never loop
                raise
            reasons.append(f"{current} failed: {exc}")
            log.warning("plan: %s failed (%s); falling back", current, exc)
            current = _FALLBACK.get(current, "safe_default")
            continue
        candidate = _filled(problem, result) if current != "uncontrolled" else result
        violations = check(problem, candidate)
        if violations and candidate is not result:
            log.warning("plan: filling headroom broke a limit (%s); left out", violations[0])
            candidate = result
            violations = check(problem, candidate)
        if current == "uncontrolled":
            status = "unsafe" if violations else "ok"
            return _finish(candidate, t0, reasons, violations, status=status)
        if not violations or current == "safe_default":
            return _finish(candidate, t0, reasons, violations)
        reasons.append(f"{current} plan failed the check: {violations[0]}")
        log.warning("plan: %s failed the check (%s); falling back", current, violations[0])
        current = _FALLBACK.get(current, "safe_default")


def _filled(problem: Problem, plan_: Plan) -> Plan:
    """Idle headroom to the cars that can take more (see :mod:`optimizer.fill`)."""
    if not problem.open_ended.any():
        return plan_
    power = fill_headroom(problem, plan_.power_kw, min_power=plan_.min_power)
    return replace(plan_, power_kw=power, objective=objective_parts(problem, power))


def _attempt(
    problem: Problem,
    method: str,
    time_limit_s: float,
    min_power: bool,
    backend: str,
    mip_rel_gap: float,
    solver: ArraySolver | None,
) -> Plan:
    t0 = time.perf_counter()
    gap = None
    status = "ok"
    timings: dict[str, float] = {}
    note = ""
    if method == "optimal":
        if backend == "pyomo":
            res = solve_pyomo(
                problem, min_power=min_power, time_limit_s=time_limit_s, mip_rel_gap=mip_rel_gap
            )
        else:
            res = solve_highs(
                problem,
                min_power=min_power,
                time_limit_s=time_limit_s,
                mip_rel_gap=mip_rel_gap,
                solver=solver,
            )
        power, gap, status, timings, note = (
            res.power_kw,
            res.mip_gap,
            res.status,
            res.timings_s,
            res.note,
        )
    else:
        power = _heuristic(problem, method, min_power)
        timings = {"build_s": 0.0, "solver_s": 0.0, "solve_s": time.perf_counter() - t0}
    return Plan(
        ev_ids=problem.ev_ids,
        start_utc=problem.start_utc,
        slot_s=problem.slot_s,
        first_slot_s=problem.first_slot_s,
        slot_durations_s=problem.slot_durations_s,
        power_kw=power,
        method=method,
        status=status,
        reason=note,
        min_power=min_power and method != "uncontrolled",
        objective=objective_parts(problem, power),
        timings_s=timings,
        mip_gap=gap,
    )


def _finish(
    plan_: Plan, t0: float, reasons: list[str], violations: list[str], status: str | None = None
) -> Plan:
    fell_back = any(" failed" in r for r in reasons)
    timings = dict(plan_.timings_s)
    timings["total_s"] = time.perf_counter() - t0
    reason = "; ".join([*reasons, plan_.reason] if plan_.reason else reasons)
    if plan_.method == "uncontrolled":
        reason = reason or "baseline: limits ignored on purpose"
    return Plan(
        ev_ids=plan_.ev_ids,
        start_utc=plan_.start_utc,
        slot_s=plan_.slot_s,
        first_slot_s=plan_.first_slot_s,
        slot_durations_s=plan_.slot_durations_s,
        power_kw=plan_.power_kw,
        method=plan_.method,
        status=status or ("fallback" if fell_back else plan_.status),
        reason=reason,
        min_power=plan_.min_power,
        objective=plan_.objective,
        timings_s=timings,
        mip_gap=plan_.mip_gap,
        violations=tuple(violations),
    )
