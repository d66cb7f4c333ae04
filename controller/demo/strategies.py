"""Baseline strategies for the in-process replay, built on the optimiser's own heuristics.

Each step, the cars present become a Problem over the rest of the day (the same limits and
prices as the live run), and a method of ``optimizer.plan`` decides slot 0. So equal share
and earliest-deadline-first here are exactly the product's fallbacks.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime, timedelta

import numpy as np

import optimizer
from controller.limits import LimitWindow, effective_limits
from controller.planning import slot_grid
from controller.units import kw_from_a
from optimizer.problem import EV, DemandCharge, Problem
from simulator.replay import SessionState

PriceFn = Callable[[datetime, int, int, int], np.ndarray]


def planned(
    method: str,
    *,
    grid_limit_kw: float,
    windows: list[LimitWindow],
    prices: PriceFn,
    min_current_a: float = 6.0,
    horizon_h: float = 12.0,
    slot_s: int = 900,
    time_limit_s: float = 5.0,
    demand_price_per_kw: float = 0.0,
):
    """An ``allocate`` callback that re-plans with ``method`` at every step.

    With ``demand_price_per_kw`` the plan also weighs the demand charge above the highest
    power it has already decided this run (what is paid for costs nothing more), as the
    controller does.
    """
    peak_kw = [0.0]

    def allocate(now: datetime, states: Mapping[str, SessionState]) -> dict[str, float]:
        if not states:
            return {}
        grid = slot_grid(now, slot_s, horizon_h * 3600)
        ends = grid.ends_utc()
        limits = effective_limits(grid_limit_kw, windows, grid.starts_utc(), ends)
        evs = []
        for key, state in states.items():
            car = state.session.ev
            # Offer at least the minimum current while the car still wants energy: a tapering
            # car takes less than it is offered, but stops outright below its minimum.
            min_kw = kw_from_a(min_current_a, car.phases, car.voltage_v)
            max_kw = max(state.max_power_kw, min_kw) if state.remaining_kwh > 1e-3 else 0.0
            available = np.array([end <= state.departure_utc for end in ends], dtype=bool)
            available[0] = True
            evs.append(
                EV(
                    id=key,
                    energy_kwh=state.remaining_kwh,
                    max_kw=max_kw,
                    min_kw=min(min_kw, max_kw),
                    available=available,
                    phase_share=(1 / 3, 1 / 3, 1 / 3) if car.phases == 3 else (1.0, 0.0, 0.0),
                )
            )
        problem = Problem.from_evs(
            start_utc=grid.start_utc,
            slot_s=grid.slot_s,
            n_slots=grid.n_slots,
            first_slot_s=grid.first_slot_s,
            site_limit_kw=limits.limit_kw,
            price_per_kwh=prices(grid.start_utc, grid.slot_s, grid.n_slots, grid.first_slot_s),
            evs=evs,
            demand_charge=DemandCharge(demand_price_per_kw, threshold_kw=peak_kw[0])
            if demand_price_per_kw > 0
            else None,
        )
        plan = optimizer.plan(problem, method=method, time_limit_s=time_limit_s)
        peak_kw[0] = max(peak_kw[0], float(plan.power_kw[:, 0].sum()))
        return {key: float(plan.power_kw[i, 0]) for i, key in enumerate(problem.ev_ids)}

    return allocate


def minute_grid(start_utc: datetime, end_utc: datetime) -> list[datetime]:
    minutes = int((end_utc - start_utc).total_seconds() // 60)
    return [start_utc + timedelta(minutes=i) for i in range(minutes)]
