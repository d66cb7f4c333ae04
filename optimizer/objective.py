"""The one objective every method is scored by, and the weights that make it lexicographic.

Priority order (issue 3), folded into one weighted sum:

1. ``max_rel_shortfall`` — the largest priority-weighted relative shortfall ``prio·s/E``
   (fairness: when not everyone can be served, share the shortfall);
2. ``shortfall`` — total priority-weighted shortfall [kWh];
3. ``energy_cost`` + ``demand_charge``;
4. ``earliness`` — a tiny cost growing with the slot index (prefer earlier charging, which also
   yields flat-then-falling, i.e. smooth, profiles).

Weights: a kWh of shortfall costs ``W_SHORT`` more than the dearest way to deliver it (price plus
the demand charge it could add in the shortest slot), and a whole unit (100 %) of the largest
relative shortfall costs as much as the fleet's whole request in shortfall. The earliness
weight is 1e-4 of the price scale. These make the weighted sum lexicographic in all cases except
ties within those margins; the hand-solved tests pin the intended order.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from optimizer.problem import Problem

W_SHORT = 10.0
EARLY_FRACTION = 1e-4


@dataclass(frozen=True)
class Weights:
    short_per_kwh: float  # times priority
    max_rel: float
    early_per_kwh: np.ndarray  # (slot,)


def weights(problem: Problem) -> Weights:
    price_scale = float(np.max(np.abs(problem.price_per_kwh))) if problem.n_slots else 0.0
    dc = problem.demand_charge
    # The nominal slot, not the shortest piece: slots cut at a limit change can last seconds,
    # and 1/h of those would blow the weights up by orders of magnitude (HiGHS then struggles).
    dc_scale = 0.0 if dc is None else dc.price_per_kw / (problem.slot_s / 3600.0)
    short = W_SHORT * (price_scale + dc_scale) + 1.0
    max_rel = short * max(1.0, float(np.sum(problem.energy_kwh * problem.priority)))
    t = np.arange(problem.n_slots, dtype=float)
    early = EARLY_FRACTION * (price_scale + 1e-3) * (t + 1.0) / problem.n_slots
    return Weights(short_per_kwh=short, max_rel=max_rel, early_per_kwh=early)


def shortfall_kwh(problem: Problem, power_kw: np.ndarray) -> np.ndarray:
    return np.maximum(0.0, problem.energy_kwh - power_kw @ problem.slot_hours)


def objective_parts(problem: Problem, power_kw: np.ndarray) -> dict[str, float]:
    """Score a plan's powers; ``total`` is what ``optimal`` minimises."""
    w = weights(problem)
    p = np.asarray(power_kw, dtype=float)
    h = problem.slot_hours
    short = shortfall_kwh(problem, p)
    e = problem.energy_kwh
    rel = np.where(e > 0, problem.priority * short / np.where(e > 0, e, 1.0), 0.0)
    max_rel = float(rel.max()) if rel.size else 0.0
    site_ev_kw = p.sum(axis=0)
    energy_cost = float(np.sum(problem.price_per_kwh * site_ev_kw * h))
    dc = problem.demand_charge
    demand = 0.0
    if dc is not None and dc.price_per_kw > 0:
        mask = problem.on_peak()
        if mask.any():
            peak = float(np.max((problem.base_load_kw + site_ev_kw)[mask]))
            demand = dc.price_per_kw * max(0.0, peak - dc.threshold_kw)
    early = float(np.sum(w.early_per_kwh * site_ev_kw * h))
    weighted_short = float(np.sum(problem.priority * short))
    total = w.max_rel * max_rel + w.short_per_kwh * weighted_short + energy_cost + demand + early
    return {
        "total": total,
        "max_rel_shortfall": max_rel,
        "shortfall_kwh": float(short.sum()),
        "weighted_shortfall_kwh": weighted_short,
        "energy_cost": energy_cost,
        "demand_charge": demand,
        "earliness": early,
        "delivered_kwh": float(np.sum(p @ h)),
    }
