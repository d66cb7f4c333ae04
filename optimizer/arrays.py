"""The site LP as numpy arrays (CSC), built without pyomo: the fast path for HiGHS.

Same formulation as ``model.py`` (the readable reference); tests check they agree.

Columns: ``p[e,t]`` for every plugged-in (e, t) [kW], then ``s[e]`` shortfall [kWh], ``z`` the
largest weighted relative shortfall, and ``y`` the peak above the demand-charge threshold [kW].
Rows: energy (``Σ h_t p + s = E``), fairness (``prio/E · s − z ≤ 0``), site headroom per slot,
circuit headroom per (circuit, phase, slot), demand-charge peak per on-peak slot. Rows that can
never bind (their members' maximum power fits) are left out.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from optimizer.heuristics import circuit_rows
from optimizer.objective import weights
from optimizer.problem import Problem

INF = float("inf")
ROW_ENERGY, ROW_FAIR, ROW_SITE, ROW_CIRCUIT, ROW_PEAK = range(5)


@dataclass(frozen=True)
class LpArrays:
    n_col: int
    n_row: int
    col_cost: np.ndarray
    col_lower: np.ndarray
    col_upper: np.ndarray
    row_lower: np.ndarray
    row_upper: np.ndarray
    a_start: np.ndarray
    a_index: np.ndarray
    a_value: np.ndarray
    p_ev: np.ndarray  # (P,) EV of each power column
    p_slot: np.ndarray  # (P,) slot of each power column
    s_col: int  # first shortfall column
    z_col: int
    y_col: int | None
    offset: float  # constant part of the objective (base load above threshold is in y)
    # what each row stands for, so a basis can be carried to the next cycle's model
    row_kind: np.ndarray  # ROW_ENERGY, ROW_FAIR, ROW_SITE, ROW_CIRCUIT, ROW_PEAK
    row_ref: np.ndarray  # EV index (energy, fair), circuit-phase row index (circuit), else -1
    row_slot: np.ndarray  # slot index (site, circuit, peak), else -1
    circuit_keys: tuple[tuple[str, int], ...]  # circuit-phase row index -> (circuit id, phase)

    @property
    def n_p(self) -> int:
        return int(self.p_ev.size)

    def power_kw(self, x: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
        p = np.zeros(shape)
        p[self.p_ev, self.p_slot] = x[: self.n_p]
        return p

    def x_from_power(self, problem: Problem, power_kw: np.ndarray) -> np.ndarray:
        """A full column vector (p, s, z, y) consistent with the given powers."""
        x = np.zeros(self.n_col)
        x[: self.n_p] = power_kw[self.p_ev, self.p_slot]
        h = problem.slot_hours
        e = problem.energy_kwh
        s = np.clip(e - power_kw @ h, 0.0, e)
        x[self.s_col : self.s_col + problem.n_evs] = s
        rel = np.where(e > 0, problem.priority * s / np.where(e > 0, e, 1.0), 0.0)
        x[self.z_col] = float(rel.max()) if rel.size else 0.0
        if self.y_col is not None:
            dc = problem.demand_charge
            assert dc is not None
            mask = problem.on_peak()
            site = problem.base_load_kw + power_kw.sum(axis=0)
            x[self.y_col] = max(0.0, float(site[mask].max()) - dc.threshold_kw) if mask.any() else 0
        return x


def build_arrays(problem: Problem) -> LpArrays:
    n_ev, n_t = problem.n_evs, problem.n_slots
    h = problem.slot_hours
    w = weights(problem)
    usable = problem.available & (problem.max_kw[:, None] > 0)
    p_ev, p_slot = np.nonzero(usable)
    n_p = p_ev.size

    s_col = n_p
    z_col = s_col + n_ev
    dc = problem.demand_charge
    use_dc = dc is not None and dc.price_per_kw > 0 and bool(problem.on_peak().any())
    y_col = z_col + 1 if use_dc else None
    n_col = z_col + 1 + (1 if use_dc else 0)

    cost = np.zeros(n_col)
    cost[:n_p] = (problem.price_per_kwh[p_slot] + w.early_per_kwh[p_slot]) * h[p_slot]
    cost[s_col:z_col] = w.short_per_kwh * problem.priority
    cost[z_col] = w.max_rel
    lower = np.zeros(n_col)
    upper = np.full(n_col, INF)
    upper[:n_p] = problem.max_kw[p_ev]
    upper[s_col:z_col] = problem.energy_kwh

    rows_i: list[np.ndarray] = []
    cols_i: list[np.ndarray] = []
    vals_i: list[np.ndarray] = []
    r_lo: list[np.ndarray] = []
    r_up: list[np.ndarray] = []
    n_row = 0

    # energy rows: Σ h p + s = E
    rows_i += [p_ev, np.arange(n_ev)]
    cols_i += [np.arange(n_p), s_col + np.arange(n_ev)]
    vals_i += [h[p_slot], np.ones(n_ev)]
    r_lo.append(problem.energy_kwh.astype(float))
    r_up.append(problem.energy_kwh.astype(float))
    n_row += n_ev
    kinds = [np.full(n_ev, ROW_ENERGY)]
    refs = [np.arange(n_ev)]
    slots = [np.full(n_ev, -1)]

    # fairness rows: prio/E s - z <= 0
    pos = np.flatnonzero(problem.energy_kwh > 0)
    rows_i += [n_row + np.arange(pos.size)] * 2
    cols_i += [s_col + pos, np.full(pos.size, z_col)]
    vals_i += [problem.priority[pos] / problem.energy_kwh[pos], -np.ones(pos.size)]
    r_lo.append(np.full(pos.size, -INF))
    r_up.append(np.zeros(pos.size))
    n_row += pos.size
    kinds.append(np.full(pos.size, ROW_FAIR))
    refs.append(pos)
    slots.append(np.full(pos.size, -1))

    # site rows, only for slots where the EVs' maximum could exceed the headroom
    head = problem.site_headroom_kw
    max_site = np.bincount(p_slot, weights=problem.max_kw[p_ev], minlength=n_t)
    bind_t = np.flatnonzero(max_site > head + 1e-9)
    row_of_t = np.full(n_t, -1)
    row_of_t[bind_t] = n_row + np.arange(bind_t.size)
    sel = row_of_t[p_slot] >= 0
    rows_i.append(row_of_t[p_slot][sel])
    cols_i.append(np.flatnonzero(sel))
    vals_i.append(np.ones(int(sel.sum())))
    r_lo.append(np.full(bind_t.size, -INF))
    r_up.append(head[bind_t])
    n_row += bind_t.size
    kinds.append(np.full(bind_t.size, ROW_SITE))
    refs.append(np.full(bind_t.size, -1))
    slots.append(bind_t)

    # circuit rows per (circuit, phase) and slot
    rows = circuit_rows(problem)
    for r in range(len(rows.members)):
        idx, coef = rows.members[r], rows.coefs[r]
        sel_ev = np.zeros(n_ev, dtype=bool)
        sel_ev[idx] = True
        coef_ev = np.zeros(n_ev)
        coef_ev[idx] = coef
        col_mask = sel_ev[p_ev]
        cols = np.flatnonzero(col_mask)
        if cols.size == 0:
            continue
        load_max = np.bincount(
            p_slot[cols], weights=coef_ev[p_ev[cols]] * problem.max_kw[p_ev[cols]], minlength=n_t
        )
        bind = np.flatnonzero(load_max > rows.headroom_kw[r] + 1e-9)
        if bind.size == 0:
            continue
        rmap = np.full(n_t, -1)
        rmap[bind] = n_row + np.arange(bind.size)
        keep = cols[rmap[p_slot[cols]] >= 0]
        rows_i.append(rmap[p_slot[keep]])
        cols_i.append(keep)
        vals_i.append(coef_ev[p_ev[keep]])
        r_lo.append(np.full(bind.size, -INF))
        r_up.append(np.full(bind.size, rows.headroom_kw[r]))
        n_row += bind.size
        kinds.append(np.full(bind.size, ROW_CIRCUIT))
        refs.append(np.full(bind.size, r))
        slots.append(bind)

    offset = 0.0
    if use_dc:
        assert dc is not None and y_col is not None
        cost[y_col] = dc.price_per_kw
        peak_t = np.flatnonzero(problem.on_peak())
        rmap = np.full(n_t, -1)
        rmap[peak_t] = n_row + np.arange(peak_t.size)
        keep = np.flatnonzero(rmap[p_slot] >= 0)
        rows_i += [rmap[p_slot[keep]], rmap[peak_t]]
        cols_i += [keep, np.full(peak_t.size, y_col)]
        vals_i += [np.ones(keep.size), -np.ones(peak_t.size)]
        r_lo.append(np.full(peak_t.size, -INF))
        r_up.append(dc.threshold_kw - problem.base_load_kw[peak_t])
        n_row += peak_t.size
        kinds.append(np.full(peak_t.size, ROW_PEAK))
        refs.append(np.full(peak_t.size, -1))
        slots.append(peak_t)

    ri = np.concatenate(rows_i).astype(np.int32)
    ci = np.concatenate(cols_i).astype(np.int64)
    vi = np.concatenate(vals_i).astype(float)
    order = np.argsort(ci, kind="stable")
    ci, ri, vi = ci[order], ri[order], vi[order]
    start = np.searchsorted(ci, np.arange(n_col + 1)).astype(np.int32)
    return LpArrays(
        n_col=n_col,
        n_row=n_row,
        col_cost=cost,
        col_lower=lower,
        col_upper=upper,
        row_lower=np.concatenate(r_lo) if r_lo else np.zeros(0),
        row_upper=np.concatenate(r_up) if r_up else np.zeros(0),
        a_start=start,
        a_index=ri,
        a_value=vi,
        p_ev=p_ev,
        p_slot=p_slot,
        s_col=s_col,
        z_col=z_col,
        y_col=y_col,
        offset=offset,
        row_kind=np.concatenate(kinds).astype(np.int8),
        row_ref=np.concatenate(refs).astype(np.int64),
        row_slot=np.concatenate(slots).astype(np.int64),
        circuit_keys=tuple((problem.circuits[c].id, f) for c, f in rows.keys),
    )
