"""Independent check of a Plan against every hard rule of its Problem.

Deliberately written from the Problem's fields alone (not from the model's matrices), so that a
bug in a model builder cannot hide itself.
"""

from __future__ import annotations

import numpy as np

from optimizer.problem import Plan, Problem

_MAX_LISTED = 20


def check(
    problem: Problem, plan: Plan, tol_kw: float = 1e-6, min_power: bool | None = None
) -> list[str]:
    """Return every violation as a sentence (empty = the plan is safe to dispatch).

    ``min_power`` defaults to ``plan.min_power`` (whether the plan claims the 0-or-minimum rule).
    """
    out: list[str] = []
    if plan.ev_ids != problem.ev_ids:
        return [f"ev_ids differ: plan {list(plan.ev_ids)} vs problem {list(problem.ev_ids)}"]
    if plan.power_kw.shape != (problem.n_evs, problem.n_slots):
        want = (problem.n_evs, problem.n_slots)
        return [f"power_kw shape {plan.power_kw.shape}, expected {want}"]
    if plan.start_utc != problem.start_utc or not np.array_equal(
        plan.slot_durations_s, problem.slot_durations_s
    ):
        out.append("slot grid (start_utc, slot_durations_s) differs from the problem")
    p = plan.power_kw
    if not np.all(np.isfinite(p)):
        return [*out, "power_kw holds NaN or infinity"]
    ids = problem.ev_ids
    enforce_min = plan.min_power if min_power is None else min_power

    def add(kind: str, where: np.ndarray, describe) -> None:  # type: ignore[no-untyped-def]
        idx = np.argwhere(where)
        for k in idx[:_MAX_LISTED]:
            out.append(f"{kind}: {describe(*k)}")
        if len(idx) > _MAX_LISTED:
            out.append(f"{kind}: ... and {len(idx) - _MAX_LISTED} more")

    add("negative power", p < -tol_kw, lambda e, t: f"{ids[e]} slot {t}: {p[e, t]:.6g} kW")
    add(
        "above max_kw",
        p > problem.max_kw[:, None] + tol_kw,
        lambda e, t: f"{ids[e]} slot {t}: {p[e, t]:.6g} > {problem.max_kw[e]:.6g} kW",
    )
    add(
        "outside plug-in window",
        (~problem.available) & (np.abs(p) > tol_kw),
        lambda e, t: f"{ids[e]} slot {t}: {p[e, t]:.6g} kW",
    )
    if enforce_min:
        add(
            "below min_kw",
            (p > tol_kw) & (p < problem.min_kw[:, None] - tol_kw),
            lambda e, t: f"{ids[e]} slot {t}: {p[e, t]:.6g} < {problem.min_kw[e]:.6g} kW",
        )
    h = problem.slot_hours
    delivered = p @ h
    tol_kwh = tol_kw * float(h.sum())
    add(
        "energy above request",
        (delivered > problem.energy_kwh + tol_kwh) & ~problem.open_ended,
        lambda e: f"{ids[e]}: {delivered[e]:.6g} > {problem.energy_kwh[e]:.6g} kWh",
    )
    site = p.sum(axis=0)
    head = problem.site_headroom_kw
    add(
        "site limit",
        site > head + tol_kw,
        lambda t: (
            f"slot {t}: EVs {site[t]:.6g} kW > limit {problem.site_limit_kw[t]:.6g}"
            f" - base load {problem.base_load_kw[t]:.6g} kW"
        ),
    )
    if problem.circuits:
        chead = problem.circuit_headroom_kw()
        paths = problem.ev_circuit_paths()
        load = np.zeros((len(problem.circuits), 3, problem.n_slots))
        for e, path in enumerate(paths):
            per_phase = problem.phase_share[e][:, None] * p[e][None, :]
            for c in path:
                load[c] += per_phase
        add(
            "circuit limit",
            load > chead[:, :, None] + tol_kw,
            lambda c, f, t: (
                f"{problem.circuits[c].id} L{f + 1} slot {t}: {load[c, f, t]:.6g} kW"
                f" > {chead[c, f]:.6g} kW free"
            ),
        )
    return out
