"""The site model in pyomo: the readable reference formulation (see ``arrays.py`` for the fast one).

Sets: EVs ``E``, slots ``T``, and the plugged-in pairs ``ET``. Variables: power ``p[e,t]`` [kW],
shortfall ``s[e]`` [kWh], the largest weighted relative shortfall ``z``, the peak above the
demand-charge threshold ``y`` [kW], and with the minimum-power rule a binary ``on[e,t]``.
The objective is ``objective.objective_parts``' ``total``.
"""

from __future__ import annotations

import numpy as np
import pyomo.environ as pyo

from optimizer.objective import weights
from optimizer.problem import Problem


def build_model(problem: Problem, *, min_power: bool = True) -> pyo.ConcreteModel:
    w = weights(problem)
    h = problem.slot_hours
    m = pyo.ConcreteModel(name="site")
    pairs = [
        (e, t)
        for e in range(problem.n_evs)
        for t in range(problem.n_slots)
        if problem.available[e, t] and problem.max_kw[e] > 0
    ]
    m.E = pyo.RangeSet(0, problem.n_evs - 1) if problem.n_evs else pyo.Set(initialize=[])
    m.T = pyo.RangeSet(0, problem.n_slots - 1)
    m.ET = pyo.Set(initialize=pairs, dimen=2)
    by_ev: dict[int, list[int]] = {}
    by_slot: dict[int, list[int]] = {}
    for e, t in pairs:
        by_ev.setdefault(e, []).append(t)
        by_slot.setdefault(t, []).append(e)

    m.p = pyo.Var(m.ET, bounds=lambda _, e, t: (0.0, float(problem.max_kw[e])))
    m.s = pyo.Var(m.E, bounds=lambda _, e: (0.0, float(problem.energy_kwh[e])))
    m.z = pyo.Var(within=pyo.NonNegativeReals)

    m.energy = pyo.Constraint(
        m.E,
        rule=lambda m, e: (
            sum(h[t] * m.p[e, t] for t in by_ev.get(e, [])) + m.s[e] == float(problem.energy_kwh[e])
        ),
    )

    def fair(m, e):  # type: ignore[no-untyped-def]
        if problem.energy_kwh[e] <= 0:
            return pyo.Constraint.Skip
        return float(problem.priority[e] / problem.energy_kwh[e]) * m.s[e] <= m.z

    m.fair = pyo.Constraint(m.E, rule=fair)
    head = problem.site_headroom_kw
    m.site = pyo.Constraint(
        m.T,
        rule=lambda m, t: (
            sum(m.p[e, t] for e in by_slot[t]) <= float(head[t])
            if t in by_slot
            else pyo.Constraint.Skip
        ),
    )

    paths = problem.ev_circuit_paths()
    chead = problem.circuit_headroom_kw() if problem.circuits else np.zeros((0, 3))
    m.C = pyo.RangeSet(0, len(problem.circuits) - 1) if problem.circuits else pyo.Set(initialize=[])
    m.PH = pyo.RangeSet(0, 2)

    def circuit(m, c, f, t):  # type: ignore[no-untyped-def]
        terms = [
            float(problem.phase_share[e, f]) * m.p[e, t]
            for e in by_slot.get(t, [])
            if c in paths[e] and problem.phase_share[e, f] > 0
        ]
        if not terms:
            return pyo.Constraint.Skip
        return sum(terms) <= float(chead[c, f])

    m.circuit = pyo.Constraint(m.C, m.PH, m.T, rule=circuit)

    cost = sum(
        (float(problem.price_per_kwh[t]) + float(w.early_per_kwh[t])) * h[t] * m.p[e, t]
        for e, t in pairs
    )
    cost += sum(w.short_per_kwh * float(problem.priority[e]) * m.s[e] for e in m.E)
    cost += w.max_rel * m.z
    dc = problem.demand_charge
    if dc is not None and dc.price_per_kw > 0 and problem.on_peak().any():
        m.y = pyo.Var(within=pyo.NonNegativeReals)
        peak_slots = [int(t) for t in np.flatnonzero(problem.on_peak())]
        m.peak = pyo.Constraint(
            peak_slots,
            rule=lambda m, t: (
                float(problem.base_load_kw[t])
                + sum(m.p[e, t] for e in by_slot.get(t, []))
                - dc.threshold_kw
                <= m.y
            ),
        )
        cost += dc.price_per_kw * m.y

    if min_power:
        need = [(e, t) for e, t in pairs if problem.min_kw[e] > 0]
        m.ETmin = pyo.Set(initialize=need, dimen=2)
        m.on = pyo.Var(m.ETmin, within=pyo.Binary)
        m.p_lo = pyo.Constraint(
            m.ETmin, rule=lambda m, e, t: m.p[e, t] >= float(problem.min_kw[e]) * m.on[e, t]
        )
        m.p_hi = pyo.Constraint(
            m.ETmin, rule=lambda m, e, t: m.p[e, t] <= float(problem.max_kw[e]) * m.on[e, t]
        )
    m.cost = pyo.Objective(expr=cost, sense=pyo.minimize)
    return m


def power_kw(problem: Problem, m: pyo.ConcreteModel) -> np.ndarray:
    p = np.zeros((problem.n_evs, problem.n_slots))
    for (e, t), var in m.p.items():
        p[e, t] = var.value or 0.0
    return p
