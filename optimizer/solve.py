"""Solve the site model with HiGHS under a hard time limit.

Two backends give the same optimum (tested): ``highs`` builds the LP from numpy arrays and passes
it to highspy (fast, the default), ``pyomo`` goes through the readable reference in ``model.py``.

The time limit is hard twice over on the fast path: HiGHS's own ``time_limit`` option, and a
wall-clock guard (an interrupt callback that stops simplex/IPM/MIP once the deadline passes).
On the pyomo path the limit goes to ``solve()`` (the legacy appsi interface overwrites one set on
its config) and bounds HiGHS's time; pyomo's own model building and translation come on top.

Minimum power (0 or ≥ min_kw in every slot) on the fast path: solve the LP relaxation (its
optimum is a lower bound), then *repair* it into a feasible plan — each EV's slots with at least
its minimum stay "on" (lower bound min_kw), its sub-minimum slivers go "off", and EVs left short
get extra "on" slots (cheapest first) where the residual headroom takes their minimum and their
request can absorb it; the restricted LP (on: [min, max], off: 0) is re-solved so the slivers'
energy moves into each EV's other slots, and the switch-on step repeats while it helps. If the
repaired plan is not within ``mip_rel_gap`` (on the scale of the costs) of the LP bound and time
remains, HiGHS solves the MIP (semi-continuous powers) with the repaired plan as its start.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import highspy
import numpy as np

from optimizer import warm
from optimizer.arrays import LpArrays, build_arrays
from optimizer.banner import silence_banner
from optimizer.errors import SolverFailed
from optimizer.heuristics import circuit_rows
from optimizer.objective import objective_parts
from optimizer.problem import Problem

silence_banner()  # before any solver exists: its banner must not reach stdout

_EPS_KW = 1e-7
Z_TOL = 1e-9
# measured (bench/optimizer.py): from ~10^5 power columns the restricted LP solves faster cold
# with presolve (which drops the fixed columns) than hot from the relaxation's basis
COLD_RESTRICT_MIN_COLS = 200_000
#: branch-and-bound nodes the MIP may explore: bounds its work deterministically (the plan must
#: not depend on how busy the machine is); the repaired LP it starts from is already feasible
MIP_MAX_NODES = 300


@dataclass
class SolveResult:
    power_kw: np.ndarray
    status: str  # "optimal", "feasible" (time-out with a solution), "repaired"
    objective: float
    bound: float | None
    mip_gap: float | None
    timings_s: dict[str, float] = field(default_factory=dict)
    note: str = ""


class _Guard:
    """Interrupt HiGHS once the wall-clock deadline passes (its own limit is not always hard)."""

    def __init__(self, deadline: float) -> None:
        self.deadline = deadline
        self.fired = False

    def __call__(self, event: highspy.highs.HighsCallbackEvent) -> None:
        if time.monotonic() > self.deadline:
            self.fired = True
            event.interrupt()


class ArraySolver:
    """A persistent HiGHS model loaded from ``LpArrays``; bounds can change between solves."""

    def __init__(self) -> None:
        self.h = highspy.Highs()
        self.h.setOptionValue("output_flag", False)
        self.arrays: LpArrays | None = None
        self._integral = False
        self._codes = warm.KeyCodes()
        self._keys: tuple[np.ndarray, np.ndarray] | None = None
        self._saved: warm.SavedBasis | None = None
        self._guard = _Guard(float("inf"))
        self.h.cbSimplexInterrupt.subscribe(self._guard)
        self.h.cbIpmInterrupt.subscribe(self._guard)
        self.h.cbMipInterrupt.subscribe(self._guard)

    def load(self, a: LpArrays, problem: Problem | None = None) -> str:
        """Load a model: "hot" when only numbers changed (HiGHS keeps its basis), "warm" when
        the previous cycle's basis was carried over by key (needs ``problem``), else "cold"."""
        if self._same_structure(a):
            self._update(a)
            self.arrays = a
            if problem is not None:
                self._keys = warm.keys(problem, a, self._codes)
            return "hot"
        self._pass(a)
        self._keys = None
        if problem is None:
            return "cold"
        self._keys = warm.keys(problem, a, self._codes)
        if self._saved is not None and warm.restore(self.h, self._saved, a, *self._keys):
            return "warm"
        return "cold"

    def save_basis(self) -> None:
        """Remember the current basis for the next cycle (after the LP stage)."""
        if self._keys is not None:
            self._saved = warm.save(self.h, *self._keys)

    def _same_structure(self, a: LpArrays) -> bool:
        b = self.arrays
        return (
            b is not None
            and (b.n_col, b.n_row, b.n_p) == (a.n_col, a.n_row, a.n_p)
            and np.array_equal(b.a_start, a.a_start)
            and np.array_equal(b.a_index, a.a_index)
        )

    def _update(self, a: LpArrays) -> None:
        assert self.arrays is not None
        changed = np.flatnonzero(self.arrays.a_value != a.a_value)
        if changed.size:  # e.g. the fairness rows' prio/E after a revised request
            col_of = np.searchsorted(a.a_start, changed, side="right") - 1
            for k, c in zip(changed.tolist(), col_of.tolist(), strict=True):
                self.h.changeCoeff(int(a.a_index[k]), int(c), float(a.a_value[k]))
        cols = np.arange(a.n_col, dtype=np.int32)
        if self._integral:
            self.h.changeColsIntegrality(a.n_col, cols, np.zeros(a.n_col, dtype=np.uint8))
            self._integral = False
        self.h.changeColsCost(a.n_col, cols, a.col_cost)
        self.h.changeColsBounds(a.n_col, cols, a.col_lower, a.col_upper)
        rows = np.arange(a.n_row, dtype=np.int32)
        self.h.changeRowsBounds(a.n_row, rows, a.row_lower, a.row_upper)

    def _pass(self, a: LpArrays) -> None:
        self._integral = False
        lp = highspy.HighsLp()
        lp.num_col_ = a.n_col
        lp.num_row_ = a.n_row
        lp.col_cost_ = a.col_cost
        lp.col_lower_ = a.col_lower
        lp.col_upper_ = a.col_upper
        lp.row_lower_ = a.row_lower
        lp.row_upper_ = a.row_upper
        lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
        lp.a_matrix_.start_ = a.a_start
        lp.a_matrix_.index_ = a.a_index
        lp.a_matrix_.value_ = a.a_value
        lp.a_matrix_.num_col_ = a.n_col
        lp.a_matrix_.num_row_ = a.n_row
        self.h.clearModel()
        self.h.setOptionValue("output_flag", False)
        status = self.h.passModel(lp)
        if status == highspy.HighsStatus.kError:
            raise SolverFailed("HiGHS rejected the model (passModel)")
        self.arrays = a

    def run(self, deadline: float) -> tuple[str, float]:
        """Solve until optimal or the deadline; return (model status name, solver seconds)."""
        left = deadline - time.monotonic()
        if left <= 0:
            return "time_limit", 0.0
        self.h.setOptionValue("time_limit", max(left, 1e-3))
        self._guard.deadline = deadline
        self._guard.fired = False
        t0 = time.perf_counter()
        self.h.run()
        solver_s = time.perf_counter() - t0
        ms = self.h.getModelStatus()
        if self._guard.fired or ms == highspy.HighsModelStatus.kTimeLimit:
            return "time_limit", solver_s
        if ms == highspy.HighsModelStatus.kInterrupt:
            return "time_limit", solver_s
        if ms == highspy.HighsModelStatus.kOptimal:
            return "optimal", solver_s
        return self.h.modelStatusToString(ms), solver_s

    def x(self) -> np.ndarray:
        return np.asarray(self.h.getSolution().col_value, dtype=float)

    def has_feasible_solution(self) -> bool:
        info = self.h.getInfo()
        return info.primal_solution_status == 2  # kSolutionStatusFeasible

    def set_col_bounds(self, cols: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> None:
        self.h.changeColsBounds(
            len(cols), cols.astype(np.int32), lower.astype(float), upper.astype(float)
        )


def _power(problem: Problem, a: LpArrays, x: np.ndarray) -> np.ndarray:
    p = a.power_kw(x, (problem.n_evs, problem.n_slots))
    p[p < _EPS_KW] = 0.0
    return np.minimum(p, problem.max_kw[:, None])


def _lexicographic(solver: ArraySolver, a: LpArrays, deadline: float) -> tuple[np.ndarray, float]:
    """Minimise the largest relative shortfall alone, cap it there, then the weighted rest.

    The weighted sum is not lexicographic in every case (a lower total shortfall can outweigh a
    small rise of the largest relative one), so when anyone falls short this two-stage solve
    settles the fairness stage exactly. Both re-solves start from the previous basis.
    """
    cols = np.arange(a.n_col, dtype=np.int32)
    only_z = np.zeros(a.n_col)
    only_z[a.z_col] = 1.0
    solver.h.changeColsCost(a.n_col, cols, only_z)
    status, s1 = solver.run(deadline)
    if status != "optimal":
        raise SolverFailed(f"LP (fairness stage): {status}")
    z_star = float(solver.x()[a.z_col])
    solver.h.changeColsCost(a.n_col, cols, a.col_cost)
    z = np.array([a.z_col], dtype=np.int32)
    solver.set_col_bounds(z, np.zeros(1), np.array([z_star * (1 + 1e-9) + Z_TOL]))
    status, s2 = solver.run(deadline)
    if status != "optimal":
        raise SolverFailed(f"LP (cost stage): {status}")
    x = solver.x()
    solver.set_col_bounds(z, np.zeros(1), np.array([np.inf]))  # the repair and MIP use weights
    return x, s1 + s2


def _cost_scale(parts: dict[str, float]) -> float:
    return abs(parts["energy_cost"]) + parts["demand_charge"] + parts["earliness"]


def _rel_gap(value: float, bound: float) -> float:
    return max(0.0, value - bound) / max(abs(value), 1e-9)


def solve_highs(
    problem: Problem,
    *,
    min_power: bool = True,
    time_limit_s: float = 10.0,
    mip_rel_gap: float = 0.01,
    solver: ArraySolver | None = None,
) -> SolveResult:
    """Optimal plan through the array model; raises SolverFailed if no plan came out in time."""
    t_start = time.perf_counter()
    deadline = time.monotonic() + time_limit_s
    a = build_arrays(problem)
    solver = solver or ArraySolver()
    start = solver.load(a, problem)
    build_s = time.perf_counter() - t_start
    status, solver_s = solver.run(deadline)
    if status != "optimal":
        raise SolverFailed(f"LP: {status}")
    x_lp = solver.x()
    bound = float(solver.h.getInfo().objective_function_value)
    if x_lp[a.z_col] > Z_TOL:  # someone falls short: make the fairness stage exact
        x_lp, more_s = _lexicographic(solver, a, deadline)
        solver_s += more_s
    need_min = min_power and bool(np.any(problem.min_kw[a.p_ev] > 0))
    p = _power(problem, a, x_lp)
    solver.save_basis()
    timings = {
        "build_s": build_s,
        "solver_s": solver_s,
        "hot_start": float(start == "hot"),
        "warm_start": float(start == "warm"),
    }
    if not need_min:
        value = objective_parts(problem, p)["total"]
        timings["solve_s"] = time.perf_counter() - t_start - build_s
        return SolveResult(p, "optimal", value, bound, None, timings)

    p, more_s = _repair(problem, a, solver, p, deadline)
    solver_s += more_s
    parts = objective_parts(problem, p)
    value = parts["total"]
    # the shortfall terms carry large weights: judge the repair on the scale of the costs
    abs_gap = mip_rel_gap * max(_cost_scale(parts), 1e-6)
    status_out, note = "repaired", "LP relaxation repaired to the minimum-power rule"
    if value - bound > abs_gap and time.monotonic() < deadline:
        p_mip, v_mip, b_mip, mip_s = _mip(problem, a, solver, p, deadline, abs_gap)
        solver_s += mip_s
        if b_mip is not None:
            bound = max(bound, b_mip)
        if p_mip is not None and v_mip < value:
            p, value = p_mip, v_mip
            status_out, note = "optimal", "MIP (semi-continuous), started from the repaired LP"
    gap = _rel_gap(value, bound)
    timings["solver_s"] = solver_s
    timings["solve_s"] = time.perf_counter() - t_start - build_s
    return SolveResult(p, status_out, value, bound, gap, timings, note)


def _residuals(problem: Problem, p: np.ndarray) -> tuple[np.ndarray, np.ndarray, list]:
    rows = circuit_rows(problem)
    site = problem.site_headroom_kw - p.sum(axis=0)
    circ = np.zeros((len(rows.members), problem.n_slots))
    for r in range(len(rows.members)):
        circ[r] = rows.headroom_kw[r] - rows.coefs[r] @ p[rows.members[r]]
    return site, circ, rows.ev_rows


def _restrict(problem: Problem, a: LpArrays, solver: ArraySolver, on: np.ndarray, deadline: float):
    """Re-solve with p[e,t] in [min, max] where ``on`` and 0 elsewhere; None if it failed."""
    on_cols = on[a.p_ev, a.p_slot]
    lo = np.where(on_cols, problem.min_kw[a.p_ev], 0.0)
    hi = np.where(on_cols, problem.max_kw[a.p_ev], 0.0)
    solver.set_col_bounds(np.arange(a.n_p), lo, hi)
    if a.n_p >= COLD_RESTRICT_MIN_COLS:
        solver.h.clearSolver()
    status, s = solver.run(deadline)
    if status != "optimal":
        return None, s
    return _power(problem, a, solver.x()), s


def _repair(
    problem: Problem, a: LpArrays, solver: ArraySolver, p_lp: np.ndarray, deadline: float
) -> tuple[np.ndarray, float]:
    min_kw = problem.min_kw[:, None]
    best = np.where(p_lp >= min_kw - _EPS_KW, p_lp, 0.0)  # slivers dropped: feasible, maybe short
    on = best > 0
    total_s = 0.0
    _switch_on(problem, best, on)  # before the first re-solve too: saves one at scale
    for _ in range(3):
        if time.monotonic() >= deadline:
            break
        p, s = _restrict(problem, a, solver, on, deadline)
        total_s += s
        if p is None:
            break
        best = np.where(on, p, 0.0)
        if not _switch_on(problem, best, on):  # EVs still short get extra slots, if any fit
            break
    return best, total_s


def _switch_on(problem: Problem, best: np.ndarray, on: np.ndarray) -> bool:
    """Mark extra slots "on" (at least min_kw) for EVs still short, cheapest first, where the
    residual headroom takes the minimum and the EV's energy can absorb it."""
    h = problem.slot_hours
    short = problem.energy_kwh - best @ h
    needy = np.flatnonzero((short > 1e-6) & (problem.min_kw > 0))
    if needy.size == 0:
        return False
    site, circ, ev_rows = _residuals(problem, best)
    e_safe = np.where(problem.energy_kwh > 0, problem.energy_kwh, 1.0)
    needy = needy[np.argsort(-(problem.priority[needy] * short[needy] / e_safe[needy]))]
    load = problem.base_load_kw + best.sum(axis=0)
    changed = False
    for e in needy.tolist():
        m = float(problem.min_kw[e])
        slack = float(((best[e] - m) * h * on[e]).sum())  # energy that on-slots can give up
        left = float(short[e])
        for t in _slot_order(problem, load, m):
            if left <= 1e-6:
                break
            if on[e, t] or not problem.available[e, t]:
                continue
            need_e = m * h[t]
            if need_e > left + slack:
                continue
            if site[t] < m - 1e-9 or any(circ[r, t] < m * c - 1e-9 for r, c in ev_rows[e]):
                continue
            on[e, t] = True
            changed = True
            site[t] -= m
            load[t] += m
            for r, c in ev_rows[e]:
                circ[r, t] -= m * c
            used = min(need_e, left)
            left -= used
            slack -= need_e - used
    return changed


def _slot_order(problem: Problem, load_kw: np.ndarray, add_kw: float) -> list[int]:
    """Slots to switch a car on in: cheapest first; under a demand charge, first those where
    the car's minimum raises no peak (the load's highest, or the threshold already paid for),
    then the rest by the peak they would make (fill the valleys)."""
    by_price = np.argsort(problem.price_per_kwh, kind="stable")
    dc = problem.demand_charge
    if dc is None or dc.price_per_kw <= 0:
        return by_price.tolist()
    peak_kw = max(float(load_kw.max(initial=0.0)), dc.threshold_kw)
    after = load_kw[by_price] + add_kw
    raises = np.maximum(0.0, after - peak_kw)
    # lexsort is stable: slots that raise nothing stay in price order
    return by_price[np.lexsort((np.where(raises > 0, after, 0.0), raises > 0))].tolist()


def _mip(problem, a, solver, p_start, deadline, abs_gap):  # type: ignore[no-untyped-def]
    """HiGHS MIP with semi-continuous powers, started from ``p_start``; stops at ``abs_gap``."""
    cols = np.arange(a.n_p)
    lo = np.where(problem.min_kw[a.p_ev] > 0, problem.min_kw[a.p_ev], 0.0)
    solver.set_col_bounds(cols, lo, problem.max_kw[a.p_ev])
    kinds = np.where(
        problem.min_kw[a.p_ev] > 0, int(highspy.HighsVarType.kSemiContinuous), 0
    ).astype(np.uint8)
    solver.h.changeColsIntegrality(a.n_p, cols.astype(np.int32), kinds)
    solver._integral = True
    solver.h.setOptionValue("mip_rel_gap", 1e-6)
    solver.h.setOptionValue("mip_abs_gap", float(abs_gap))
    # a work limit, not only a time limit: the same plan on a fast or a loaded machine
    solver.h.setOptionValue("mip_max_nodes", MIP_MAX_NODES)
    x0 = a.x_from_power(problem, p_start)
    sol = highspy.HighsSolution()
    sol.col_value = x0
    sol.value_valid = True
    solver.h.setSolution(sol)
    _status, s = solver.run(deadline)
    info = solver.h.getInfo()
    bound = float(info.mip_dual_bound) if np.isfinite(info.mip_dual_bound) else None
    if not solver.has_feasible_solution():
        return None, float("inf"), bound, s
    p = _power(problem, a, solver.x())
    p = np.where(p >= problem.min_kw[:, None] - 1e-6, np.maximum(p, problem.min_kw[:, None]), 0.0)
    p = np.where(p > 0, p, 0.0)
    return p, objective_parts(problem, p)["total"], bound, s


def solve_pyomo(
    problem: Problem,
    *,
    min_power: bool = True,
    time_limit_s: float = 10.0,
    mip_rel_gap: float = 0.01,
) -> SolveResult:
    """Solve the pyomo reference model with HiGHS (appsi), the limit passed to ``solve()``.

    Lexicographic like the fast path: when anyone falls short, minimise the largest relative
    shortfall alone, cap it, then minimise the weighted objective.
    """
    import pyomo.environ as pyo

    from optimizer.model import build_model, power_kw

    t0 = time.perf_counter()
    deadline = time.monotonic() + time_limit_s
    m = build_model(problem, min_power=min_power)
    build_s = time.perf_counter() - t0
    opt = pyo.SolverFactory("appsi_highs")
    solver_s = 0.0

    def run() -> tuple[str, float | None]:
        nonlocal solver_s
        left = deadline - time.monotonic()
        if left <= 0:
            raise SolverFailed("pyomo/HiGHS: time limit reached before the solve")
        t1 = time.perf_counter()
        # the legacy interface overwrites config.time_limit: the limit must go to solve() itself
        res = opt.solve(
            m,
            timelimit=left,
            load_solutions=False,
            options={"mip_rel_gap": mip_rel_gap, "output_flag": False},
        )
        solver_s += time.perf_counter() - t1
        tc = str(res.solver.termination_condition).rsplit(".", 1)[-1]
        try:
            m.solutions.load_from(res)
        except Exception as exc:  # no solution to load (time-out before a feasible point)
            raise SolverFailed(f"pyomo/HiGHS: {tc}") from exc
        if any(v.value is None for v in m.p.values()):
            raise SolverFailed(f"pyomo/HiGHS: {tc}")
        lb = res.problem.lower_bound
        return tc, (float(lb) if lb is not None and np.isfinite(float(lb)) else None)

    tc, bound = run()
    if (m.z.value or 0.0) > Z_TOL:
        m.cost.deactivate()
        m.fair_stage = pyo.Objective(expr=m.z, sense=pyo.minimize)
        run()
        z_star = float(m.z.value)
        m.fair_stage.deactivate()
        m.cost.activate()
        m.z.setub(z_star * (1 + 1e-9) + Z_TOL)
        tc, _ = run()
    p = power_kw(problem, m)
    p[p < _EPS_KW] = 0.0
    p = np.minimum(p, problem.max_kw[:, None])
    if min_power:
        mins = problem.min_kw[:, None]
        p = np.where(p >= mins - 1e-6, np.maximum(p, mins), 0.0) * (p > 0)
    value = objective_parts(problem, p)["total"]
    gap = _rel_gap(value, bound) if (bound is not None and min_power) else None
    status = "optimal" if tc == "optimal" else "feasible"
    timings = {"build_s": build_s, "solver_s": solver_s, "solve_s": solver_s}
    return SolveResult(p, status, value, bound, gap, timings, "pyomo reference model")
