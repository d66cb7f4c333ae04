"""Baselines and fallbacks: uncontrolled, equal share, earliest deadline first.

All return powers shaped (ev, slot). ``equal_share`` and ``edf`` respect every limit (and the
0-or-minimum rule when ``min_power``) by construction: they allocate slot by slot against the
residual headroom of the site and of every circuit phase. ``uncontrolled`` ignores limits on
purpose (the baseline users compare against).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from optimizer.problem import Problem

_EPS = 1e-9


@dataclass(frozen=True)
class CircuitRows:
    """Circuit-phase constraints: for row r, EVs ``members[r]`` with coefficients ``coefs[r]``."""

    headroom_kw: np.ndarray  # (row,)
    members: list[np.ndarray]
    coefs: list[np.ndarray]
    ev_rows: list[list[tuple[int, float]]]  # per EV: (row, coefficient)
    keys: list[tuple[int, int]]  # per row: (circuit index, phase)


def circuit_rows(problem: Problem) -> CircuitRows:
    chead = problem.circuit_headroom_kw() if problem.circuits else np.zeros((0, 3))
    members: dict[tuple[int, int], list[tuple[int, float]]] = {}
    for e, path in enumerate(problem.ev_circuit_paths()):
        for c in path:
            for f in range(3):
                share = float(problem.phase_share[e, f])
                if share > 0:
                    members.setdefault((c, f), []).append((e, share))
    keys = sorted(members)
    ev_rows: list[list[tuple[int, float]]] = [[] for _ in range(problem.n_evs)]
    for r, key in enumerate(keys):
        for e, share in members[key]:
            ev_rows[e].append((r, share))
    return CircuitRows(
        headroom_kw=np.array([chead[c, f] for c, f in keys], dtype=float),
        members=[np.array([e for e, _ in members[k]], dtype=int) for k in keys],
        coefs=[np.array([s for _, s in members[k]], dtype=float) for k in keys],
        ev_rows=ev_rows,
        keys=keys,
    )


def uncontrolled(problem: Problem) -> np.ndarray:
    """Full power from plug-in until the request is met; limits ignored."""
    h = problem.slot_hours
    p = np.zeros((problem.n_evs, problem.n_slots))
    for e in range(problem.n_evs):
        need = float(problem.energy_kwh[e])
        for t in np.flatnonzero(problem.available[e]):
            if need <= _EPS:
                break
            kw = min(float(problem.max_kw[e]), need / h[t])
            p[e, t] = kw
            need -= kw * h[t]
    return p


def _caps(problem: Problem, need: np.ndarray, t: int, h_t: float, min_power: bool) -> np.ndarray:
    cap = np.where(problem.available[:, t], np.minimum(problem.max_kw, need / h_t), 0.0)
    if min_power:
        cap = np.where(cap < problem.min_kw - _EPS, 0.0, cap)
    return np.maximum(cap, 0.0)


def edf(problem: Problem, min_power: bool = True) -> np.ndarray:
    """Earliest deadline first: per slot, EVs by departure (then priority) take what fits."""
    h = problem.slot_hours
    rows = circuit_rows(problem)
    need = problem.energy_kwh.astype(float).copy()
    p = np.zeros((problem.n_evs, problem.n_slots))
    departure = problem.departure_slot()
    order = np.lexsort((-problem.priority, departure))
    site_head = problem.site_headroom_kw
    min_kw = problem.min_kw.tolist()
    for t in range(problem.n_slots):
        cap = _caps(problem, need, t, float(h[t]), min_power)
        site_left = float(site_head[t])
        row_left = rows.headroom_kw.tolist()
        for e in order.tolist():
            kw = float(cap[e])
            if kw <= _EPS:
                continue
            kw = min(kw, site_left)
            for r, share in rows.ev_rows[e]:
                kw = min(kw, row_left[r] / share)
            if kw <= _EPS or (min_power and kw < min_kw[e] - _EPS):
                continue
            kw = max(kw, 0.0)
            p[e, t] = kw
            site_left -= kw
            for r, share in rows.ev_rows[e]:
                row_left[r] -= kw * share
        need -= p[:, t] * h[t]
    return _clean(problem, p)


def _water_fill(cap: np.ndarray, budget: float) -> np.ndarray:
    """Equal level min(cap, level) with sum <= budget."""
    if cap.sum() <= budget:
        return cap.copy()
    c = np.sort(cap)
    n = c.size
    used = np.concatenate(([0.0], np.cumsum(c)))
    for k in range(n):  # level between c[k-1] and c[k] with k capped EVs
        level = (budget - used[k]) / (n - k)
        if level <= c[k]:
            return np.minimum(cap, level)
    return cap.copy()


def _equal_slot(cap: np.ndarray, site_kw: float, rows: CircuitRows) -> np.ndarray:
    p = _water_fill(cap, site_kw)
    for r in range(len(rows.members)):
        idx = rows.members[r]
        load = float(rows.coefs[r] @ p[idx])
        if load > rows.headroom_kw[r] + _EPS:
            p[idx] *= rows.headroom_kw[r] / load
    return p


def equal_share(problem: Problem, min_power: bool = True) -> np.ndarray:
    """Per slot, the headroom shared equally among EVs plugged in that still need energy.

    Circuits over their limit scale their EVs down. With the minimum-power rule, EVs whose share
    falls below their minimum drop out (latest departure first) until every share fits.
    """
    h = problem.slot_hours
    rows = circuit_rows(problem)
    need = problem.energy_kwh.astype(float).copy()
    p = np.zeros((problem.n_evs, problem.n_slots))
    departure = problem.departure_slot()
    site_head = problem.site_headroom_kw
    for t in range(problem.n_slots):
        cap = _caps(problem, need, t, float(h[t]), min_power)
        while True:
            col = _equal_slot(cap, float(site_head[t]), rows)
            if not min_power:
                break
            bad = np.flatnonzero((col > _EPS) & (col < problem.min_kw - _EPS))
            if bad.size == 0:
                break
            k = max(1, bad.size // 2)
            drop = bad[np.lexsort((problem.priority[bad], -departure[bad]))[:k]]
            cap[drop] = 0.0
        p[:, t] = col
        need -= col * h[t]
    return _clean(problem, p)


def safe_default(problem: Problem) -> np.ndarray:
    """Nothing at all: always within every limit."""
    return np.zeros((problem.n_evs, problem.n_slots))


def _clean(problem: Problem, p: np.ndarray) -> np.ndarray:
    p = np.where(problem.available & (p > _EPS), p, 0.0)
    return np.minimum(p, problem.max_kw[:, None])
