"""Optimizer scale benchmark: build, solve and total time per method; objective gaps.

    .venv/bin/python bench/optimizer.py                  # 10, 100, 1000, 5000 EVs x 96 slots
    .venv/bin/python bench/optimizer.py --sizes 10 100   # a quick run

Rows: ``lp`` (no minimum power) and ``milp`` (0 or >= minimum power), for the fast highspy
array path (cold, and warm: the next cycle re-solved by the same persistent HiGHS instance),
the pyomo reference (up to --pyomo-max EVs) and the heuristics. ``gap`` is the relative gap of
the whole objective to the fast path's optimum, ``cost`` the energy + demand cost, ``short`` the
shortfall [kWh]. ``highs_s`` is the time inside HiGHS's run calls.
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

# this file is named like the package it measures: import from the repository root instead
_HERE = Path(__file__).resolve().parent
sys.path[:] = [str(_HERE.parent)] + [p for p in sys.path if Path(p or ".").resolve() != _HERE]

import numpy as np  # noqa: E402

import optimizer  # noqa: E402
from optimizer.problem import Circuit, DemandCharge, Problem  # noqa: E402


def scenario(n_ev: int, n_slots: int = 96, seed: int = 0) -> Problem:
    """A workplace-and-depot mix: feeders of 50 chargers, 70 % three-phase, binding at peaks."""
    rng = np.random.default_rng(seed)
    arrive = rng.integers(0, n_slots * 2 // 3, n_ev)
    stay = rng.integers(8, n_slots, n_ev)
    depart = np.minimum(n_slots, arrive + stay)
    available = np.zeros((n_ev, n_slots), dtype=bool)
    for e in range(n_ev):
        available[e, arrive[e] : depart[e]] = True
    three = rng.random(n_ev) < 0.7
    share = np.zeros((n_ev, 3))
    share[three] = 1 / 3
    for e in np.flatnonzero(~three):
        share[e, rng.integers(0, 3)] = 1.0
    max_kw = np.where(three, 11.0, 7.4)
    hours = available.sum(axis=1) * 0.25
    energy = np.minimum(rng.uniform(5, 60, n_ev), 0.8 * max_kw * hours)
    n_feeders = max(1, n_ev // 50)
    feeder_kw = 50 * 11 / 3 * 0.45
    circuits = tuple(Circuit(f"feeder-{k}", None, feeder_kw) for k in range(n_feeders))
    t = np.arange(n_slots)
    price = 0.22 + 0.08 * np.sin(2 * np.pi * t / 96 * 2) + rng.normal(0, 0.01, n_slots)
    base = 0.6 * n_ev * (1 + 0.3 * np.sin(2 * np.pi * t / 96))
    return Problem(
        start_utc=datetime(2026, 1, 5, tzinfo=UTC),
        slot_s=900,
        n_slots=n_slots,
        site_limit_kw=np.full(n_slots, 4.5 * n_ev),
        base_load_kw=base,
        price_per_kwh=price,
        demand_charge=DemandCharge(9.0, 3.2 * n_ev),
        circuits=circuits,
        ev_ids=tuple(f"ev{e}" for e in range(n_ev)),
        energy_kwh=energy,
        max_kw=max_kw,
        min_kw=np.where(three, 4.14, 1.38),
        available=available,
        phase_share=share,
        circuit_id=tuple(f"feeder-{e % n_feeders}" for e in range(n_ev)),
    )


def next_cycle(p: Problem) -> Problem:
    """The same site one cycle later: prices nudged, a tenth of the requests revised."""
    rng = np.random.default_rng(1)
    energy = p.energy_kwh.copy()
    k = rng.choice(p.n_evs, max(1, p.n_evs // 10), replace=False)
    energy[k] *= rng.uniform(0.8, 1.0, k.size)
    return Problem(
        start_utc=p.start_utc,
        slot_s=p.slot_s,
        n_slots=p.n_slots,
        site_limit_kw=p.site_limit_kw,
        base_load_kw=p.base_load_kw,
        price_per_kwh=p.price_per_kwh * rng.uniform(0.98, 1.02, p.n_slots),
        demand_charge=p.demand_charge,
        circuits=p.circuits,
        ev_ids=p.ev_ids,
        energy_kwh=energy,
        max_kw=p.max_kw,
        min_kw=p.min_kw,
        available=p.available,
        phase_share=p.phase_share,
        circuit_id=p.circuit_id,
    )


def shifted_cycle(p: Problem, plan: optimizer.Plan, seed: int = 2) -> Problem:
    """The next cycle on a rolling horizon: one slot later, slot 0's energy delivered, EVs
    whose window ended gone, a few new arrivals."""
    rng = np.random.default_rng(seed)
    delivered = plan.power_kw[:, 0] * p.slot_hours[0]
    available = np.concatenate([p.available[:, 1:], p.available[:, -1:]], axis=1)
    keep = available.any(axis=1)
    n_new = max(1, p.n_evs // 100)
    new_av = np.zeros((n_new, p.n_slots), dtype=bool)
    for e in range(n_new):
        new_av[e, : rng.integers(8, p.n_slots)] = True
    three = rng.random(n_new) < 0.7
    share = np.zeros((n_new, 3))
    share[three] = 1 / 3
    share[~three, 0] = 1.0
    feeders = [c.id for c in p.circuits]
    return Problem(
        start_utc=p.start_utc + timedelta(seconds=p.slot_s),
        slot_s=p.slot_s,
        n_slots=p.n_slots,
        site_limit_kw=p.site_limit_kw,
        base_load_kw=np.roll(p.base_load_kw, -1),
        price_per_kwh=np.roll(p.price_per_kwh, -1),
        demand_charge=p.demand_charge,
        circuits=p.circuits,
        ev_ids=(
            *(i for i, k in zip(p.ev_ids, keep, strict=True) if k),
            *(f"new{seed}-{e}" for e in range(n_new)),
        ),
        energy_kwh=np.concatenate(
            [np.maximum(0, p.energy_kwh - delivered)[keep], np.full(n_new, 20.0)]
        ),
        max_kw=np.concatenate([p.max_kw[keep], np.where(three, 11.0, 7.4)]),
        min_kw=np.concatenate([p.min_kw[keep], np.where(three, 4.14, 1.38)]),
        available=np.concatenate([available[keep], new_av]),
        phase_share=np.concatenate([p.phase_share[keep], share]),
        circuit_id=tuple(c for c, k in zip(p.circuit_id, keep, strict=True) if k)
        + tuple(feeders[e % len(feeders)] for e in range(n_new)),
    )


HEADER = (
    f"{'EVs':>5} {'rule':<5} {'method':<16} {'build_s':>8} {'solve_s':>8} {'highs_s':>8} "
    f"{'total_s':>8} {'gap':>9} {'mip_gap':>8} {'cost':>10} {'short':>8}  status"
)


def row(n: int, rule: str, name: str, plan: optimizer.Plan, best: float) -> str:
    o = plan.objective
    gap = (o["total"] - best) / max(abs(best), 1e-9)
    mg = "-" if plan.mip_gap is None else f"{plan.mip_gap:.2e}"
    return (
        f"{n:>5} {rule:<5} {name:<16} {plan.build_s:>8.3f} {plan.solve_s:>8.3f} "
        f"{plan.solver_s:>8.3f} {plan.total_s:>8.3f} {gap:>9.2e} {mg:>8} "
        f"{o['energy_cost'] + o['demand_charge']:>10.1f} {o['shortfall_kwh']:>8.1f}  "
        f"{plan.method}/{plan.status}"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[10, 100, 1000, 5000])
    ap.add_argument("--slots", type=int, default=96)
    ap.add_argument("--time-limit-s", type=float, default=60.0)
    ap.add_argument("--pyomo-max", type=int, default=1000, help="largest size run through pyomo")
    args = ap.parse_args()
    print(HEADER)
    for n in args.sizes:
        p = scenario(n, args.slots)
        for rule, min_power in (("lp", False), ("milp", True)):
            solver = optimizer.ArraySolver()
            best_plan = optimizer.plan(
                p, min_power=min_power, time_limit_s=args.time_limit_s, solver=solver
            )
            best = best_plan.objective["total"]
            print(row(n, rule, "highs cold", best_plan, best), flush=True)
            warm = optimizer.plan(
                next_cycle(p), min_power=min_power, time_limit_s=args.time_limit_s, solver=solver
            )
            print(row(n, rule, "highs hot", warm, warm.objective["total"]), flush=True)
            shifted = shifted_cycle(p, best_plan)
            moved = optimizer.plan(
                shifted, min_power=min_power, time_limit_s=args.time_limit_s, solver=solver
            )
            cold = optimizer.plan(shifted, min_power=min_power, time_limit_s=args.time_limit_s)
            ref_total = cold.objective["total"]
            print(row(n, rule, "highs shift cold", cold, ref_total), flush=True)
            print(row(n, rule, "highs shift warm", moved, ref_total), flush=True)
            if n <= args.pyomo_max:
                ref = optimizer.plan(
                    p, min_power=min_power, time_limit_s=args.time_limit_s, backend="pyomo"
                )
                print(row(n, rule, "pyomo", ref, best), flush=True)
            for method in ("edf", "equal_share", "uncontrolled"):
                h = optimizer.plan(p, method=method, min_power=min_power)
                print(row(n, rule, method, h, best), flush=True)
        print(flush=True)


if __name__ == "__main__":
    main()
