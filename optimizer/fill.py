"""Give idle headroom to cars that can take more: the plan never leaves capacity idle without
a reason.

A car whose need is unknown (``Problem.open_ended``) is planned for an assumed energy, but it
keeps charging while it draws. After any method has placed the assumed needs, this pass shares
what every limit still leaves free among such cars, slot by slot — except where a reason to
wait exists: a slot dearer than the horizon's average price (the car can take the energy in a
cheaper slot instead), or a demand-charge slot where more power would raise the peak above what
the plan already pays for. Under a flat tariff and no demand charge every slot qualifies, so the
plan for now is min(every limit, what the cars can draw).
"""

from __future__ import annotations

import numpy as np

from optimizer.heuristics import CircuitRows, circuit_rows
from optimizer.problem import Problem

_EPS = 1e-9
_ROUNDS = 8


def fill_slots(problem: Problem) -> np.ndarray:
    """Slots where extra energy costs no more than waiting: at or below the average price."""
    price = problem.price_per_kwh
    if price.size == 0:
        return np.zeros(0, dtype=bool)
    average = float(np.average(price, weights=problem.slot_hours))
    return price <= average + 1e-9


def peak_cap_kw(problem: Problem, power_kw: np.ndarray) -> np.ndarray:
    """Per slot, the most the site may draw without raising the demand charge [kW]."""
    cap = np.full(problem.n_slots, np.inf)
    dc = problem.demand_charge
    if dc is None or dc.price_per_kw <= 0:
        return cap
    mask = problem.on_peak()
    site = problem.base_load_kw + power_kw.sum(axis=0)
    paid_kw = max(dc.threshold_kw, float(site[mask].max()) if mask.any() else 0.0)
    cap[mask] = paid_kw
    return cap


def fill_headroom(problem: Problem, power_kw: np.ndarray, min_power: bool = True) -> np.ndarray:
    """``power_kw`` plus what open-ended cars can take of the headroom left (kW, (ev, slot))."""
    p = np.array(power_kw, dtype=float, copy=True)
    eligible = problem.open_ended & (problem.max_kw > 0)
    if not eligible.any() or p.size == 0:
        return p
    rows = circuit_rows(problem)
    slots = fill_slots(problem)
    site_cap = np.minimum(problem.site_headroom_kw, peak_cap_kw(problem, p) - problem.base_load_kw)
    for t in np.flatnonzero(slots):
        room = np.where(eligible & problem.available[:, t], problem.max_kw - p[:, t], 0.0)
        site_left = float(site_cap[t] - p[:, t].sum())
        row_left = rows.headroom_kw.copy()
        for r, members in enumerate(rows.members):
            row_left[r] -= float(rows.coefs[r] @ p[members, t])
        _share_slot(problem, p[:, t], room, site_left, row_left, rows.ev_rows, min_power)
    return p


def _share_slot(problem, column, room, site_left, row_left, ev_rows, min_power):  # type: ignore[no-untyped-def]
    """Water-fill ``site_left`` and the rows' headroom into ``column`` (in place), equal shares
    per round; where the shares are too small to start a paused car, drop one such car."""
    takers = [e for e in np.flatnonzero(room > _EPS).tolist()]
    for _ in range(_ROUNDS + len(takers)):
        if not takers or site_left <= _EPS:
            return
        on_row: dict[int, int] = {}
        for e in takers:
            for r, _coef in ev_rows[e]:
                on_row[r] = on_row.get(r, 0) + 1
        offers = {}
        for e in takers:
            kw = min(float(room[e]), site_left / len(takers))
            for r, coef in ev_rows[e]:
                kw = min(kw, max(0.0, row_left[r]) / (coef * on_row[r]))
            offers[e] = kw
        paused_short = [
            e
            for e in takers
            if min_power and column[e] <= _EPS and offers[e] < problem.min_kw[e] - _EPS
        ]
        if paused_short:
            takers.remove(paused_short[-1])  # a car offered less than its minimum stops
            continue
        gave = 0.0
        for e in takers:
            kw = offers[e]
            column[e] += kw
            room[e] -= kw
            site_left -= kw
            gave += kw
            for r, coef in ev_rows[e]:
                row_left[r] -= kw * coef
        takers = [e for e in takers if room[e] > _EPS]
        if gave <= _EPS:
            return


def hold_minimum(problem: Problem, power_kw: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """Keep flagged cars (some do not wake after a pause) at their minimum in every slot where
    they would be paused while they still want energy, where every limit allows; where a limit
    cannot hold them all, the fewest cars lose their floor. A known need is not exceeded: the
    extra energy comes off the car's latest slots."""
    p = np.array(power_kw, dtype=float, copy=True)
    keep = np.asarray(keep, dtype=bool) & (problem.min_kw > 0)
    if not keep.any() or p.size == 0:
        return p
    rows = circuit_rows(problem)
    h = problem.slot_hours
    head = problem.site_headroom_kw
    # what each car could take beyond its need: only that much may be taken from it (_borrow)
    slack_kwh = problem.max_kw * (problem.available * h).sum(axis=1) - problem.energy_kwh
    for t in range(problem.n_slots):
        wanted = problem.energy_kwh - p[:, :t] @ h[:t]
        lift = np.where(
            keep & problem.available[:, t] & (p[:, t] < problem.min_kw - _EPS) & (wanted > _EPS),
            problem.min_kw - p[:, t],
            0.0,
        )
        if not lift.any():
            continue
        site_left = float(head[t] - p[:, t].sum())
        row_left = rows.headroom_kw.copy()
        for r, members in enumerate(rows.members):
            row_left[r] -= float(rows.coefs[r] @ p[members, t])
        held = keep & (p[:, t] > _EPS)
        for e in np.argsort(lift).tolist():  # smallest lifts first: the most cars held
            kw = float(lift[e])
            if kw <= _EPS:
                continue
            site_left = _borrow(problem, rows, p, t, e, kw, site_left, row_left, held, slack_kwh)
            if kw > site_left + _EPS:
                continue
            if any(kw * coef > row_left[r] + _EPS for r, coef in rows.ev_rows[e]):
                continue
            p[e, t] += kw
            held[e] = True
            site_left -= kw
            for r, coef in rows.ev_rows[e]:
                row_left[r] -= kw * coef
    _trim_excess(problem, p, np.flatnonzero(keep & ~problem.open_ended).tolist())
    return p


def _borrow(
    problem: Problem,
    rows: CircuitRows,
    p: np.ndarray,
    t: int,
    e: int,
    kw: float,
    site_left: float,
    row_left: np.ndarray,
    held: np.ndarray,
    slack_kwh: np.ndarray,
) -> float:
    """Make room for car ``e``'s minimum in slot ``t`` by taking power from cars planned above
    their own minimum (never a held car below its minimum), those with the most time to spare
    first and no more than they can make up later: a paused car that does not wake loses the
    rest of its session, a car slowed for one slot loses minutes it has. Only where that frees
    enough on the site and on every circuit short of room; returns the site's room.
    ``slack_kwh``: per car, what it could take beyond its need over the horizon."""
    need_site = kw - site_left
    need_rows = {r: kw * c - row_left[r] for r, c in rows.ev_rows[e] if kw * c > row_left[r] + _EPS}
    if need_site <= _EPS and not need_rows:
        return site_left
    floors = np.where(held, problem.min_kw, 0.0)
    h = problem.slot_hours
    # a donor must sit on every circuit that lacks room (cutting it elsewhere frees nothing)
    donors = [
        d
        for d in np.argsort(-slack_kwh, kind="stable").tolist()
        if d != e
        and p[d, t] > floors[d] + _EPS
        and slack_kwh[d] > _EPS
        and all(any(r == rd for rd, _ in rows.ev_rows[d]) for r in need_rows)
    ]
    cuts: dict[int, float] = {}
    for d in donors:
        if need_site <= _EPS and all(v <= _EPS for v in need_rows.values()):
            break
        coef = dict(rows.ev_rows[d])
        wanted = max(need_site, *(v / coef[r] for r, v in need_rows.items()), 0.0)
        cut = min(float(p[d, t] - floors[d]), wanted, float(slack_kwh[d] / h[t]))
        # a donor left between 0 and its minimum would not charge: all or down to its floor
        if floors[d] == 0.0 and p[d, t] - cut < problem.min_kw[d] - _EPS:
            cut = float(p[d, t])
        cuts[d] = cut
        need_site -= cut
        for r in need_rows:
            need_rows[r] -= cut * coef[r]
    if need_site > _EPS or any(v > _EPS for v in need_rows.values()):
        return site_left  # not enough to take: nobody is cut in vain
    for d, cut in cuts.items():
        p[d, t] -= cut
        site_left += cut
        for r, coef in rows.ev_rows[d]:
            row_left[r] += cut * coef
    return site_left


def probe_first_slot(problem: Problem, power_kw: np.ndarray, probe: np.ndarray) -> np.ndarray:
    """Offer cars whose power is still unknown (they have not drawn yet) all that every limit
    leaves them in the first slot, whatever the price: what a car takes when offered more
    than it can draw shows its phases and its own limit, which a plan for later needs (a
    single-phase 3.7 kW car planned as 22 kW until its last cheap hour would fall far short).
    The energy this adds comes off the car's latest slots."""
    p = np.array(power_kw, dtype=float, copy=True)
    probe = np.asarray(probe, dtype=bool) & problem.available[:, 0] & (problem.energy_kwh > 0)
    if not probe.any() or p.size == 0:
        return p
    rows = circuit_rows(problem)
    room = np.where(probe, problem.max_kw - p[:, 0], 0.0)
    site_left = float(problem.site_headroom_kw[0] - p[:, 0].sum())
    row_left = rows.headroom_kw.copy()
    for r, members in enumerate(rows.members):
        row_left[r] -= float(rows.coefs[r] @ p[members, 0])
    _share_slot(problem, p[:, 0], room, site_left, row_left, rows.ev_rows, True)
    _trim_excess(problem, p, np.flatnonzero(probe & ~problem.open_ended).tolist(), first=1)
    return p


def _trim_excess(problem: Problem, p: np.ndarray, evs: list[int], first: int = 0) -> None:
    """Take what a car would get beyond its known need off its latest slots (down to its
    minimum first; only then is a slot switched off), leaving the slots before ``first`` alone."""
    h = problem.slot_hours
    for e in evs:
        excess = float(p[e] @ h - problem.energy_kwh[e])
        # first slow the car down to its minimum, latest slots first (a slot switched off is a
        # pause, and a kept-awake car may not wake from one); then switch off the latest slots
        for t in range(problem.n_slots - 1, first - 1, -1):
            if excess <= 1e-9:
                break
            cut = (
                min(max(0.0, p[e, t] - problem.min_kw[e]), excess / h[t]) if p[e, t] > _EPS else 0.0
            )
            p[e, t] -= cut
            excess -= cut * h[t]
        for t in range(problem.n_slots - 1, first - 1, -1):
            if excess <= 1e-9:
                break
            if p[e, t] <= _EPS:
                continue
            cut = min(p[e, t] - problem.min_kw[e], excess / h[t])
            if cut * h[t] >= excess - 1e-9 and cut > 0:
                p[e, t] -= excess / h[t]
                excess = 0.0
            else:
                excess -= p[e, t] * h[t]
                p[e, t] = 0.0
        if excess > 1e-9 and first > 0:  # the probe alone exceeds the need: probe less
            p[e, 0] = max(0.0, p[e, 0] - excess / h[0])
            if 0 < p[e, 0] < problem.min_kw[e] - _EPS:
                p[e, 0] = 0.0
