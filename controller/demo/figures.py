"""Key figures of one strategy's replay: limits kept, drivers served, what the period cost.

Everything comes from a :class:`controller.replay.ReplayResult` (what the simulated cars
drew, not what a controller planned), so every strategy is judged the same way.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass

from controller.replay import ReplayResult
from controller.replay.result import kwh_over, peak_window_kw

#: a session is served when it got this share of its need, or of what it could get alone
SERVED_SHARE = 0.99
#: the demand charge is monthly: the demo charges the period simulated its share of a month
DAYS_PER_MONTH = 30.0
DEMAND_WINDOW_S = 900


@dataclass(frozen=True)
class StrategyFigures:
    strategy: str
    peak_kw: float
    minutes_over_limit: float
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


def _key(session: Mapping) -> tuple[str, str]:
    return session["charger_id"], session["arrival"]


def figures(
    result: ReplayResult,
    demand_price_per_kw_month: float,
    alone_kwh: Mapping[tuple[str, str], float] | None = None,
) -> StrategyFigures:
    """``alone_kwh``: what each session (charger, arrival) got with nobody in its way (the
    uncontrolled run); a car that could not get its whole need alone is served at that."""
    days = (result.end_utc - result.start_utc).total_seconds() / 86400.0
    peak_kw = peak_window_kw(
        result.site_power_kw, result.start_utc, result.end_utc, DEMAND_WINDOW_S
    )
    demand = peak_kw * demand_price_per_kw_month * days / DAYS_PER_MONTH
    served = 0
    for s in result.sessions:
        reachable = s["energy_wanted_kwh"]
        if alone_kwh is not None and _key(s) in alone_kwh:
            reachable = min(reachable, alone_kwh[_key(s)])
        served += s["energy_delivered_kwh"] >= SERVED_SHARE * reachable - 1e-6
    energy_cost = result.summary["energy_cost"]
    return StrategyFigures(
        strategy=result.strategy,
        peak_kw=round(result.summary["peak_kw"], 1),
        minutes_over_limit=round(result.summary["seconds_over_limit"] / 60.0, 1),
        kwh_over_limit=round(
            kwh_over(result.site_power_kw, result.limit_kw, result.start_utc, result.end_utc), 2
        ),
        delivered_kwh=round(result.summary["delivered_kwh"], 1),
        requested_kwh=round(sum(s["energy_wanted_kwh"] for s in result.sessions), 1),
        sessions_served=int(served),
        sessions=len(result.sessions),
        energy_cost=round(energy_cost, 2),
        demand_charge=round(demand, 2),
        total_cost=round(energy_cost + demand, 2),
    )


def delivered_by_session(result: ReplayResult) -> dict[tuple[str, str], float]:
    """Each session's delivered energy [kWh], by (charger, arrival) (the uncontrolled run's is
    what each car could get alone)."""
    return {_key(s): s["energy_delivered_kwh"] for s in result.sessions}


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


def saving_line(rows: list[StrategyFigures]) -> str:
    """The saving explained in one line."""
    base = next((r for r in rows if r.strategy == "uncontrolled"), None)
    ours = next((r for r in rows if r.strategy == "sitecharge"), None)
    if base is None or ours is None:
        return ""
    return (
        f"sitecharge vs uncontrolled: energy €{base.energy_cost:.2f} → €{ours.energy_cost:.2f}, "
        f"demand charge €{base.demand_charge:.2f} → €{ours.demand_charge:.2f} "
        f"(peak 15-min average, this period's share of a month), "
        f"{ours.delivered_kwh:.1f} of {base.delivered_kwh:.1f} kWh delivered, "
        f"{ours.minutes_over_limit:g} min over the limit against {base.minutes_over_limit:g}."
    )
