"""RESULT.json of a replay: sessions served, the site's power and its limit as step functions,
and a summary (energy, its cost under the site's tariff, peak, seconds over the limit).

Everything here is computed from what the simulated cars drew (the meter side), not from what
the controller planned: a replay measures the controller as the grid would.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import numpy as np

from controller.limits import LimitWindow
from simulator.record import SiteRecord
from tariffs.base import Tariff

#: power above the limit by less than this is rounding, not an overshoot [kW]
OVER_LIMIT_TOLERANCE_KW = 0.01
#: a ramp's limit is written as steps of this length [s] (each at the ramp's lowest in it)
RAMP_STEP_S = 10.0

Steps = list[tuple[datetime, float]]


@dataclass(frozen=True)
class ReplayResult:
    strategy: str
    needs: str
    start_utc: datetime
    end_utc: datetime
    sessions: tuple[dict[str, Any], ...]
    site_power_kw: Steps
    limit_kw: Steps
    summary: dict[str, float]
    stats: dict[str, Any] = field(default_factory=dict)  # run facts, not part of RESULT.json
    record: SiteRecord | None = field(default=None, repr=False)  # every sample (for plots)

    def as_json(self) -> dict[str, Any]:
        return {
            "strategy": self.strategy,
            "needs": self.needs,
            "start": self.start_utc.isoformat(),
            "end": self.end_utc.isoformat(),
            "sessions": list(self.sessions),
            "site_power_kw": [[t.isoformat(), v] for t, v in self.site_power_kw],
            "limit_kw": [[t.isoformat(), v] for t, v in self.limit_kw],
            "summary": self.summary,
        }


def power_steps(record: SiteRecord, start_utc: datetime, end_utc: datetime) -> Steps:
    """The chargers' total draw [kW]: a point at the start and at every change."""
    times, values_w = record.site_power_w()
    out: Steps = [(start_utc, 0.0)]
    for at, value_w in zip(times, values_w, strict=True):
        value = round(float(value_w) / 1000.0, 4)
        at = max(at, start_utc)
        if at >= end_utc:
            break
        if at == out[-1][0]:
            out[-1] = (at, value)
        elif value != out[-1][1]:
            out.append((at, value))
    # merge points that ended up equal to their predecessor after same-instant updates
    merged: Steps = []
    for point in out:
        if not merged or point[1] != merged[-1][1]:
            merged.append(point)
    return merged


def _level_at(grid_kw: float, windows: Sequence[LimitWindow], at: datetime) -> float:
    """The lowest limit in force at one instant (a ramp is linear towards its level)."""
    level = grid_kw
    for w in windows:
        if w.end_utc is not None and at >= w.end_utc:
            continue
        target = min(grid_kw, w.level_kw(grid_kw))
        if w.start_utc is None or at >= w.start_utc:
            level = min(level, target)
        elif w.ramp_s > 0 and at >= w.start_utc - timedelta(seconds=w.ramp_s):
            done = (at - (w.start_utc - timedelta(seconds=w.ramp_s))).total_seconds() / w.ramp_s
            level = min(level, grid_kw + (target - grid_kw) * min(1.0, done))
    return level


def limit_steps(
    grid_kw: float, windows: Sequence[LimitWindow], start_utc: datetime, end_utc: datetime
) -> Steps:
    """The limit in force [kW]: grid connection, caps and DR events, a point at every change."""
    instants = {start_utc}
    step = timedelta(seconds=RAMP_STEP_S)
    for w in windows:
        for at in (w.start_utc, w.end_utc):
            if at is not None and start_utc < at < end_utc:
                instants.add(at)
        if w.ramp_s > 0 and w.start_utc is not None:
            at = w.start_utc - timedelta(seconds=w.ramp_s)
            while at < w.start_utc:
                if start_utc < at < end_utc:
                    instants.add(at)
                at += step
    out: Steps = []
    for at in sorted(instants):
        # on a ramp the value held until the next point is the lowest in it: its end
        probe = min(at + step, end_utc) if _on_ramp(windows, at) else at
        value = round(_level_at(grid_kw, windows, probe), 4)
        if not out or value != out[-1][1]:
            out.append((at, value))
    return out


def _on_ramp(windows: Iterable[LimitWindow], at: datetime) -> bool:
    return any(
        w.ramp_s > 0
        and w.start_utc is not None
        and w.start_utc - timedelta(seconds=w.ramp_s) <= at
        and at < w.start_utc
        for w in windows
    )


def _seconds(points: Steps, origin: datetime) -> tuple[np.ndarray, np.ndarray]:
    return (
        np.array([(t - origin).total_seconds() for t, _ in points], dtype=float),
        np.array([v for _, v in points], dtype=float),
    )


def _pieces(
    power: Steps, limit: Steps, start_utc: datetime, end_utc: datetime
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The run cut at every change of power or limit: each piece's length [s], and the power
    and the limit held through it [kW]."""
    p_t, p_v = _seconds(power, start_utc)
    l_t, l_v = _seconds(limit, start_utc)
    total_s = (end_utc - start_utc).total_seconds()
    edges = np.unique(np.concatenate([p_t, l_t, [0.0, total_s]]))
    edges = edges[(edges >= 0) & (edges <= total_s)]
    starts, lengths = edges[:-1], np.diff(edges)
    p = p_v[np.searchsorted(p_t, starts, side="right") - 1]
    lim = l_v[np.searchsorted(l_t, starts, side="right") - 1]
    return lengths, p, lim


def seconds_over(power: Steps, limit: Steps, start_utc: datetime, end_utc: datetime) -> float:
    """How long the draw was above the limit in force (by more than the tolerance) [s]."""
    lengths, p, lim = _pieces(power, limit, start_utc, end_utc)
    return float(lengths[p > lim + OVER_LIMIT_TOLERANCE_KW].sum())


def kwh_over(power: Steps, limit: Steps, start_utc: datetime, end_utc: datetime) -> float:
    """The energy drawn above the limit in force [kWh]."""
    lengths, p, lim = _pieces(power, limit, start_utc, end_utc)
    return float(np.sum(np.maximum(0.0, p - lim) * lengths) / 3600.0)


def _energy_knots(power: Steps, start_utc: datetime, total_s: float) -> tuple[np.ndarray, ...]:
    """Cumulative energy [kWh] at every change of power and at the end (exact between them)."""
    p_t, p_v = _seconds(power, start_utc)
    cumulative_kwh = np.concatenate([[0.0], np.cumsum(p_v[:-1] * np.diff(p_t) / 3600.0)])
    end_kwh = cumulative_kwh[-1] + p_v[-1] * max(0.0, total_s - p_t[-1]) / 3600.0
    return np.concatenate([p_t, [total_s]]), np.concatenate([cumulative_kwh, [end_kwh]])


def peak_window_kw(power: Steps, start_utc: datetime, end_utc: datetime, window_s: int) -> float:
    """The highest average power over windows of ``window_s`` from the start (the demand
    charge's measure) [kW]."""
    total_s = (end_utc - start_utc).total_seconds()
    if total_s <= 0:
        return 0.0
    edges = np.append(np.arange(0.0, total_s, window_s), total_s)
    knots_t, knots_e = _energy_knots(power, start_utc, total_s)
    energy_kwh = np.diff(np.interp(edges, knots_t, knots_e))
    return float(energy_kwh.max(initial=0.0) * 3600.0 / window_s)


def energy_cost(power: Steps, tariff: Tariff, start_utc: datetime, end_utc: datetime) -> float:
    """The energy drawn priced by the tariff, on a minute grid aligned to whole minutes (price
    steps fall on minutes, power is integrated exactly within each) [currency]."""
    total_s = math.floor((end_utc - start_utc).total_seconds())
    if total_s <= 0:
        return 0.0
    into_minute = int(start_utc.timestamp()) % 60
    first_s = min(total_s, 60 - into_minute if into_minute else 60)
    n = 1 + math.ceil(max(0, total_s - first_s) / 60)
    series = tariff.prices(start_utc, 60, n, first_slot_s=first_s if first_s != 60 else None)
    edges = np.minimum(np.concatenate([[0.0], first_s + 60.0 * np.arange(n)]), total_s)
    knots_t, knots_e = _energy_knots(power, start_utc, float(total_s))
    slot_kwh = np.diff(np.interp(edges, knots_t, knots_e))
    return float(np.dot(slot_kwh, np.asarray(series.prices_per_kwh, dtype=float)[: slot_kwh.size]))


def build_result(
    *,
    strategy: str,
    needs: str,
    start_utc: datetime,
    end_utc: datetime,
    record: SiteRecord,
    grid_kw: float,
    windows: Sequence[LimitWindow],
    tariff: Tariff,
    stats: dict[str, Any] | None = None,
) -> ReplayResult:
    power = power_steps(record, start_utc, end_utc)
    limit = limit_steps(grid_kw, windows, start_utc, end_utc)
    sessions = tuple(
        {
            "charger_id": r.charger_id,
            "arrival": r.arrival_utc.isoformat(),
            "departure": r.departure_utc.isoformat(),
            "energy_wanted_kwh": round(r.energy_wanted_kwh, 4),
            "energy_delivered_kwh": round(r.energy_kwh, 4),
        }
        for r in sorted(record.sessions.values(), key=lambda r: r.session_key)
    )
    delivered = sum(r.energy_kwh for r in record.sessions.values())
    summary = {
        "delivered_kwh": round(delivered, 4),
        "energy_cost": round(energy_cost(power, tariff, start_utc, end_utc), 4),
        "peak_kw": round(max(v for _, v in power), 4),
        "seconds_over_limit": round(seconds_over(power, limit, start_utc, end_utc), 3),
    }
    return ReplayResult(
        strategy, needs, start_utc, end_utc, sessions, power, limit, summary, stats or {}, record
    )
