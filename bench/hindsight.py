"""The hindsight optimum of a replay, computed independently of the project's optimiser.

Every session known in advance (arrival, departure, energy, maximum power); one LP over the
whole period on a one-minute grid, solved by HiGHS through ``scipy.optimize.linprog``:

* ``p[i, t]`` [kW] is session i's mean power in minute t, ``0 <= p <= pmax_i * present_i,t``
  (``present`` is the fraction of the minute the car is plugged in, so arrivals and
  departures inside a minute are exact);
* per minute, ``sum_i p[i, t] <= limit_t`` (the lowest limit in force during the minute);
* per session, ``sum_t p[i, t] / 60 <= energy_i`` [kWh].

Limits hold for each minute's mean power (within a minute a car may draw more and then less):
a slight relaxation where a car arrives or leaves inside a capped minute, so hindsight stays an
upper bound. Lexicographic: stage 1 maximises the energy delivered; stage 2 minimises the
energy cost (the tariff's price per minute) with the energy held at stage 1's optimum. Cars are
ideal (any power from 0 to their maximum), so this bounds what any controller can achieve.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
from scipy.optimize import linprog
from scipy.sparse import coo_matrix, vstack


@dataclass(frozen=True)
class KnownSession:
    arrival_utc: datetime
    departure_utc: datetime
    energy_kwh: float
    max_power_kw: float


@dataclass(frozen=True)
class Hindsight:
    delivered_kwh: float
    energy_cost: float
    peak_kw: float
    per_session_kwh: tuple[float, ...]


def _presence(s: KnownSession, start: datetime, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Minute indices the session overlaps and the fraction of each minute it is present."""
    a = (s.arrival_utc - start).total_seconds() / 60.0
    d = (s.departure_utc - start).total_seconds() / 60.0
    first, last = max(0, math.floor(a)), min(n, math.ceil(d))
    if last <= first:
        return np.zeros(0, dtype=int), np.zeros(0)
    minutes = np.arange(first, last)
    frac = np.minimum(minutes + 1, d) - np.maximum(minutes, a)
    keep = frac > 1e-9
    return minutes[keep], frac[keep]


def solve(
    sessions: Sequence[KnownSession],
    start_utc: datetime,
    end_utc: datetime,
    limit_kw_per_minute: np.ndarray,
    price_per_kwh_per_minute: np.ndarray,
) -> Hindsight:
    n = round((end_utc - start_utc).total_seconds() / 60.0)
    if limit_kw_per_minute.size != n or price_per_kwh_per_minute.size != n:
        raise ValueError("limit and price need one value per minute of the period")
    cols_session, cols_minute, upper = [], [], []
    for i, s in enumerate(sessions):
        minutes, frac = _presence(s, start_utc, n)
        cols_session.append(np.full(minutes.size, i))
        cols_minute.append(minutes)
        upper.append(s.max_power_kw * frac)
    sess = np.concatenate(cols_session) if cols_session else np.zeros(0, dtype=int)
    mins = np.concatenate(cols_minute) if cols_minute else np.zeros(0, dtype=int)
    ub = np.concatenate(upper) if upper else np.zeros(0)
    m = sess.size
    if m == 0:
        return Hindsight(0.0, 0.0, 0.0, tuple(0.0 for _ in sessions))
    cols = np.arange(m)
    site_rows = coo_matrix((np.ones(m), (mins, cols)), shape=(n, m))
    energy_rows = coo_matrix((np.full(m, 1 / 60.0), (sess, cols)), shape=(len(sessions), m))
    a_ub = vstack([site_rows, energy_rows]).tocsr()
    b_ub = np.concatenate([limit_kw_per_minute, [s.energy_kwh for s in sessions]])
    bounds = np.column_stack([np.zeros(m), ub])
    energy_coef = np.full(m, 1 / 60.0)
    first = linprog(-energy_coef, A_ub=a_ub, b_ub=b_ub, bounds=bounds, method="highs")
    if first.status != 0:
        raise RuntimeError(f"hindsight LP (energy) failed: {first.message}")
    best_kwh = -float(first.fun)
    # stage 2: cheapest way to deliver (all but a rounding hair of) that energy
    a2 = vstack([a_ub, coo_matrix(-energy_coef.reshape(1, -1))]).tocsr()
    b2 = np.concatenate([b_ub, [-(best_kwh - 1e-6 * max(1.0, best_kwh))]])
    cost_coef = price_per_kwh_per_minute[mins] / 60.0
    second = linprog(cost_coef, A_ub=a2, b_ub=b2, bounds=bounds, method="highs")
    if second.status != 0:
        raise RuntimeError(f"hindsight LP (cost) failed: {second.message}")
    p = second.x
    per_minute = np.bincount(mins, weights=p, minlength=n)
    per_session = np.bincount(sess, weights=p / 60.0, minlength=len(sessions))
    return Hindsight(
        delivered_kwh=float(per_session.sum()),
        energy_cost=float(np.dot(cost_coef, p)),
        peak_kw=float(per_minute.max()),
        per_session_kwh=tuple(float(v) for v in per_session),
    )


def per_minute_limit(
    steps: Sequence[tuple[datetime, float]], start_utc: datetime, n: int
) -> np.ndarray:
    """The lowest value of a step function [(time, kW), ...] within each minute."""
    out = np.empty(n)
    times = [t for t, _ in steps]
    values = [v for _, v in steps]
    j = 0
    for k in range(n):
        m_start = start_utc + timedelta(minutes=k)
        m_end = m_start + timedelta(minutes=1)
        while j + 1 < len(times) and times[j + 1] <= m_start:
            j += 1
        low = values[j]
        jj = j + 1
        while jj < len(times) and times[jj] < m_end:
            low = min(low, values[jj])
            jj += 1
        out[k] = low
    return out
