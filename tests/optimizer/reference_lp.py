"""An independent statement of the site LP, solved with scipy's linprog (dense, from the fields).

Written from the issue's wording, not from ``optimizer/arrays.py`` or ``model.py``, so the
three can be compared.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import linprog

from optimizer.objective import weights
from optimizer.problem import Problem


def solve_reference(problem: Problem) -> tuple[float, np.ndarray]:
    n, T = problem.n_evs, problem.n_slots
    h = problem.slot_hours
    w = weights(problem)
    n_p = n * T
    i_s, i_z, i_y = n_p, n_p + n, n_p + n + 1
    nv = n_p + n + 2
    c = np.zeros(nv)
    bounds: list[tuple[float, float | None]] = []
    for e in range(n):
        for t in range(T):
            c[e * T + t] = (problem.price_per_kwh[t] + w.early_per_kwh[t]) * h[t]
            ok = problem.available[e, t]
            bounds.append((0.0, float(problem.max_kw[e]) if ok else 0.0))
    for e in range(n):
        c[i_s + e] = w.short_per_kwh * problem.priority[e]
        bounds.append((0.0, None))
    c[i_z] = w.max_rel
    bounds.append((0.0, None))
    dc = problem.demand_charge
    c[i_y] = dc.price_per_kw if dc is not None else 0.0
    bounds.append((0.0, None))

    a_eq, b_eq, a_ub, b_ub = [], [], [], []
    for e in range(n):  # delivered + shortfall = wanted, shortfall >= 0: never above the request
        row = np.zeros(nv)
        row[e * T : (e + 1) * T] = h
        row[i_s + e] = 1.0
        a_eq.append(row)
        b_eq.append(problem.energy_kwh[e])
        if problem.energy_kwh[e] > 0:
            row = np.zeros(nv)
            row[i_s + e] = problem.priority[e] / problem.energy_kwh[e]
            row[i_z] = -1.0
            a_ub.append(row)
            b_ub.append(0.0)
    for t in range(T):
        row = np.zeros(nv)
        row[np.arange(n) * T + t] = 1.0
        a_ub.append(row)
        b_ub.append(max(0.0, problem.site_limit_kw[t] - problem.base_load_kw[t]))
        if dc is not None and (dc.on_peak is None or dc.on_peak[t]):
            row = row.copy()
            row[i_y] = -1.0
            a_ub.append(row)
            b_ub.append(dc.threshold_kw - problem.base_load_kw[t])
    for circ in problem.circuits:
        subtree = {circ.id}
        changed = True
        while changed:
            changed = False
            for other in problem.circuits:
                if other.parent in subtree and other.id not in subtree:
                    subtree.add(other.id)
                    changed = True
        reserved = np.zeros(3)
        for other in problem.circuits:
            if other.id in subtree:
                reserved += other.reserved_kw_per_phase
        members = [e for e in range(n) if problem.circuit_id[e] in subtree]
        for f in range(3):
            for t in range(T):
                row = np.zeros(nv)
                for e in members:
                    row[e * T + t] = problem.phase_share[e, f]
                a_ub.append(row)
                b_ub.append(max(0.0, circ.limit_kw_per_phase - reserved[f]))
    args = {
        "A_ub": np.array(a_ub) if a_ub else None,
        "b_ub": np.array(b_ub) if b_ub else None,
        "A_eq": np.array(a_eq) if a_eq else None,
        "b_eq": np.array(b_eq) if b_eq else None,
        "method": "highs-ipm",
    }
    res = linprog(c, bounds=bounds, **args)
    assert res.status == 0, res.message
    if res.x[i_z] > 1e-9:  # lexicographic: the largest relative shortfall first, then the rest
        only_z = np.zeros(nv)
        only_z[i_z] = 1.0
        first = linprog(only_z, bounds=bounds, **args)
        assert first.status == 0, first.message
        bounds[i_z] = (0.0, first.x[i_z] * (1 + 1e-9) + 1e-9)
        res = linprog(c, bounds=bounds, **args)
        assert res.status == 0, res.message
    return float(res.fun), res.x[:n_p].reshape(n, T)
