"""Key figures of one strategy's day: limits kept, energy served, what it cost."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime

import numpy as np

from simulator.record import SiteRecord


@dataclass(frozen=True)
class DayCurves:
    """The day on a one-minute grid, shared by every strategy."""

    minutes_utc: list[datetime]
    limit_kw: np.ndarray
    price_per_kwh: np.ndarray
    demand_price_per_kw: float


@dataclass(frozen=True)
class StrategyFigures:
    strategy: str
    peak_kw: float
    minutes_over_limit: int
    kwh_over_limit: float
    delivered_kwh: float
    requested_kwh: float
    sessions_served: int
    sessions: int
    energy_cost: float
    demand_charge: float
    total_cost: float
    saving_vs_uncontrolled_pct: float | None = None

    def as_dict(self) -> dict:
        return asdict(self)


def site_power_per_minute(record: SiteRecord, minutes_utc: list[datetime]) -> np.ndarray:
    per_charger = record.power_kw_on_grid(minutes_utc)
    if not per_charger:
        return np.zeros(len(minutes_utc))
    return np.sum(list(per_charger.values()), axis=0)


def figures(strategy: str, record: SiteRecord, curves: DayCurves) -> StrategyFigures:
    power = site_power_per_minute(record, curves.minutes_utc)
    over = np.maximum(0.0, power - curves.limit_kw)
    windows = len(power) // 15
    quarter_means = power[: windows * 15].reshape(windows, 15).mean(axis=1) if windows else power
    energy_cost = float(np.sum(power * curves.price_per_kwh) / 60.0)
    demand = float(quarter_means.max() if len(quarter_means) else 0.0) * curves.demand_price_per_kw
    results = list(record.sessions.values())
    return StrategyFigures(
        strategy=strategy,
        peak_kw=round(record.max_site_power_kw(), 1),
        minutes_over_limit=int(np.count_nonzero(over > 0.1)),
        kwh_over_limit=round(float(over.sum() / 60.0), 1),
        delivered_kwh=round(sum(r.energy_kwh for r in results), 1),
        requested_kwh=round(sum(r.energy_wanted_kwh for r in results), 1),
        sessions_served=sum(r.satisfied for r in results),
        sessions=len(results),
        energy_cost=round(energy_cost, 2),
        demand_charge=round(demand, 2),
        total_cost=round(energy_cost + demand, 2),
    )


def with_savings(rows: list[StrategyFigures]) -> list[StrategyFigures]:
    base = next((r for r in rows if r.strategy == "uncontrolled"), None)
    if base is None or base.total_cost <= 0:
        return rows
    out = []
    for row in rows:
        saving = 100.0 * (base.total_cost - row.total_cost) / base.total_cost
        out.append(
            StrategyFigures(**{**row.as_dict(), "saving_vs_uncontrolled_pct": round(saving, 1)})
        )
    return out


COLUMNS = [
    ("strategy", "strategy"),
    ("peak_kw", "peak kW"),
    ("minutes_over_limit", "min over"),
    ("kwh_over_limit", "kWh over"),
    ("delivered_kwh", "delivered kWh"),
    ("requested_kwh", "requested kWh"),
    ("sessions_served", "served"),
    ("energy_cost", "energy €"),
    ("demand_charge", "demand €"),
    ("total_cost", "total €"),
    ("saving_vs_uncontrolled_pct", "saving %"),
]


def table(rows: list[StrategyFigures]) -> str:
    """A plain-text table for stdout."""
    cells = [[label for _, label in COLUMNS]]
    for row in rows:
        data = row.as_dict()
        line = []
        for key, _ in COLUMNS:
            value = data[key]
            if key == "sessions_served":
                value = f"{row.sessions_served}/{row.sessions}"
            line.append("–" if value is None else str(value))
        cells.append(line)
    widths = [max(len(r[i]) for r in cells) for i in range(len(COLUMNS))]
    out = []
    for n, line in enumerate(cells):
        out.append(
            "  ".join(
                v.ljust(w) if i == 0 else v.rjust(w)
                for i, (v, w) in enumerate(zip(line, widths, strict=True))
            )
        )
        if n == 0:
            out.append("  ".join("-" * w for w in widths))
    return "\n".join(out)
