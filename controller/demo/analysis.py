"""What the notebooks compute: a site's day under each strategy, and studies over many of them.

The notebooks only call these functions and show what they return, so every number a reader
sees comes from code that is linted and tested. All runs here are in-process replays
(:func:`simulator.replay.replay`) of the demo site: the same cars, limits and tariff as
``sitecharge demo``; "optimal" is the optimiser re-planning at every step as the controller
does (``controller.demo.strategies.planned``), without the websockets of the live run.

Strategies: ``uncontrolled`` (every car takes what it can and ignores every limit: the
baseline of cost and of how far a site without control would go over its limits),
``equal_share`` and ``edf`` (the optimiser's fallback heuristics, limit-aware but blind to
prices) and ``optimal``.
"""

from __future__ import annotations

import atexit
import signal
import statistics
from collections.abc import Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from multiprocessing import get_context
from pathlib import Path
from zoneinfo import ZoneInfo

import matplotlib.dates as mdates
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from controller.demo.figures import (
    DayCurves,
    StrategyFigures,
    figures,
    site_power_per_minute,
    with_savings,
)
from controller.demo.setup import DemoSettings, demo_events, demo_scenario, site_toml
from controller.demo.strategies import minute_grid, planned
from controller.limit_book import Entry, windows_of
from controller.limits import LimitWindow, effective_limits
from simulator.record import SiteRecord
from simulator.replay import replay, uncontrolled
from simulator.scenario import Scenario, Session
from tariffs.base import CurveTariff
from tariffs.curve import Curve, make_curve, mean_over
from tariffs.registry import site_tariff_from_toml

STRATEGIES = ("uncontrolled", "equal_share", "edf", "optimal")
COLOURS = {
    "uncontrolled": "#c0392b",
    "equal_share": "#e67e22",
    "edf": "#8e44ad",
    "optimal": "#1f77b4",
}

# Local hours a run covers per site kind: from before the first arrival to after the last
# departure (depot and residential cars stay overnight).
KIND_WINDOWS_H: dict[str, tuple[float, float]] = {
    "workplace": (6.0, 14.0),
    "retail": (7.0, 14.0),
    "depot": (16.0, 16.0),
    "residential": (16.0, 18.0),
}


class AnalysisError(ValueError):
    """A study asked for something the demo site cannot be (names the argument)."""


# ------------------------------------------------------------------------ one day


class SpreadTariff(CurveTariff):
    """Another tariff with its price spread scaled around a fixed centre.

    ``price = centre + spread × (base − centre)``: spread 0 is a flat price, 1 the original,
    2 twice the swings. The centre is fixed (not the mean of each requested window), so every
    re-plan over a rolling horizon sees the same prices for the same instant.
    """

    name = "spread"

    def __init__(self, base: CurveTariff, spread: float, centre_per_kwh: float) -> None:
        if not np.isfinite(spread) or spread < 0:
            raise AnalysisError(f"price_spread must be a finite number >= 0, got {spread}")
        self.base = base
        self.spread = float(spread)
        self.centre_per_kwh = float(centre_per_kwh)

    def curve(self, start_s: int, end_s: int) -> Curve:
        base = self.base.curve(start_s, end_s)
        values = self.centre_per_kwh + self.spread * (base.values - self.centre_per_kwh)
        return make_curve(base.edges_s, values, base.forecast)


def time_mean_price(tariff: CurveTariff, start_utc: datetime, end_utc: datetime) -> float:
    """The time-weighted mean price over [start, end) [currency/kWh]."""
    start_s, end_s = int(start_utc.timestamp()), int(end_utc.timestamp())
    means, _ = mean_over(tariff.curve(start_s, end_s), np.array([start_s, end_s]))
    return float(means[0])


@dataclass(frozen=True)
class SiteDay:
    """One simulated day of the demo site: its cars, limits, prices, on one-minute curves."""

    settings: DemoSettings
    scenario: Scenario
    windows: tuple[LimitWindow, ...]
    tariff: CurveTariff
    curves: DayCurves
    price_spread: float

    @property
    def start_utc(self) -> datetime:
        return self.settings.start_utc()

    @property
    def end_utc(self) -> datetime:
        return self.settings.end_utc()

    def prices(self, start_utc: datetime, slot_s: int, n: int, first_slot_s: int) -> np.ndarray:
        """Prices per slot [currency/kWh], as :func:`planned` asks for them."""
        return np.asarray(
            self.tariff.prices_per_kwh(start_utc, slot_s, n, first_slot_s=first_slot_s)
        )

    def sessions(self) -> list[Session]:
        """The sessions that overlap the run, in order of arrival."""
        window = self.scenario.window(self.start_utc, self.end_utc)
        return sorted(window.sessions, key=lambda s: s.arrival_utc)


def installed_kw(settings: DemoSettings) -> float:
    """All chargers at full power [kW] (three phases at 230 V)."""
    return settings.chargers * settings.charger_current_a * 3 * 230 / 1000.0


def settings_for(
    kind: str,
    seed: int,
    *,
    chargers: int = 6,
    limit_fraction: float | None = None,
    **overrides,
) -> DemoSettings:
    """Demo settings for a site kind, over the hours its cars are there.

    ``limit_fraction`` sets the grid limit as a share of the installed power (the evening cap
    and the demand-response level follow it, as in the demo); None keeps the demo's default.
    """
    if kind not in KIND_WINDOWS_H:
        raise AnalysisError(f"kind: {kind!r} unknown, choose one of {sorted(KIND_WINDOWS_H)}")
    start_hour, hours = KIND_WINDOWS_H[kind]
    values = {"start_hour": start_hour, "hours": hours, **overrides}
    settings = DemoSettings(chargers=chargers, scenario=kind, seed=seed, **values)
    if limit_fraction is None:
        return settings
    if not 0 < limit_fraction:
        raise AnalysisError(f"limit_fraction: {limit_fraction} must be > 0")
    return replace(settings, grid_limit_kw=round(limit_fraction * installed_kw(settings), 1))


def site_day(settings: DemoSettings, *, price_spread: float = 1.0) -> SiteDay:
    """The demo's scenario, limit windows and tariff for ``settings`` (no files written)."""
    start, end = settings.start_utc(), settings.end_utc()
    windows: list[LimitWindow] = []
    for event in demo_events(settings):
        entry = Entry(event.entry_id, event.source, event.kind, event.spec, start, start)
        windows.extend(windows_of(entry, settings.timezone, start - timedelta(days=1), end))
    site_tariff = site_tariff_from_toml(
        site_toml(settings), source="demo site", base_dir=Path.cwd()
    )
    tariff: CurveTariff = site_tariff.tariff
    if price_spread != 1.0:
        tariff = SpreadTariff(tariff, price_spread, time_mean_price(tariff, start, end))
    minutes = minute_grid(start, end)
    limits = effective_limits(
        settings.grid_kw(), windows, minutes, [m + timedelta(minutes=1) for m in minutes]
    )
    demand = site_tariff.demand_charge
    curves = DayCurves(
        minutes,
        limits.limit_kw,
        np.asarray(tariff.prices_per_kwh(start, 60, len(minutes))),
        demand.price_per_kw if demand else 0.0,
    )
    return SiteDay(settings, demo_scenario(settings), tuple(windows), tariff, curves, price_spread)


def replay_strategies(
    day: SiteDay,
    strategies: Sequence[str] = STRATEGIES,
    *,
    step_s: float = 300.0,
    time_limit_s: float = 5.0,
) -> dict[str, SiteRecord]:
    """Each strategy's replay of ``day``.

    ``step_s`` is how often a strategy re-decides (the controller's default cycle is 300 s);
    ``time_limit_s`` bounds each optimal solve (the optimiser returns its best plan so far).
    """
    records: dict[str, SiteRecord] = {}
    for name in strategies:
        if name == "uncontrolled":
            allocate = uncontrolled
        elif name in STRATEGIES:
            allocate = planned(
                name,
                grid_limit_kw=day.settings.grid_kw(),
                windows=list(day.windows),
                prices=day.prices,
                time_limit_s=time_limit_s,
            )
        else:
            raise AnalysisError(f"strategies: {name!r} unknown, choose from {STRATEGIES}")
        records[name] = replay(
            day.scenario,
            allocate,
            step_s=step_s,
            start_utc=day.start_utc,
            end_utc=day.end_utc,
            charger_max_current_a=day.settings.charger_current_a,
        )
    return records


def day_figures(day: SiteDay, records: dict[str, SiteRecord]) -> list[StrategyFigures]:
    """Key figures per strategy, with the saving against the uncontrolled run."""
    return with_savings([figures(name, record, day.curves) for name, record in records.items()])


def energy_cost_saving_pct(rows: Sequence[StrategyFigures]) -> dict[str, float | None]:
    """Saving on the energy bill alone (no demand charge) against uncontrolled [%].

    A strategy that delivers less also pays less: see :func:`unit_price_saving_pct`.
    """
    base = next((r for r in rows if r.strategy == "uncontrolled"), None)
    if base is None or base.energy_cost <= 0:
        return {r.strategy: None for r in rows}
    return {
        r.strategy: round(100.0 * (base.energy_cost - r.energy_cost) / base.energy_cost, 1)
        for r in rows
    }


def price_paid_per_kwh(row: StrategyFigures) -> float | None:
    """Energy cost per kWh delivered [currency/kWh] (None when nothing was delivered)."""
    return row.energy_cost / row.delivered_kwh if row.delivered_kwh > 0 else None


def unit_price_saving_pct(rows: Sequence[StrategyFigures]) -> dict[str, float | None]:
    """How much less each strategy pays per kWh delivered than uncontrolled [%]: the saving
    from *when* it charges, not from charging less."""
    base = next((r for r in rows if r.strategy == "uncontrolled"), None)
    base_price = price_paid_per_kwh(base) if base else None
    out: dict[str, float | None] = {}
    for row in rows:
        price = price_paid_per_kwh(row)
        if base_price is None or base_price <= 0 or price is None:
            out[row.strategy] = None
        else:
            out[row.strategy] = round(100.0 * (base_price - price) / base_price, 1)
    return out


def day_summary(day: SiteDay, records: dict[str, SiteRecord]) -> list[dict]:
    """The day's key figures per strategy as plain rows, with both kinds of saving."""
    rows = day_figures(day, records)
    unit_saving = unit_price_saving_pct(rows)
    out = []
    for row in rows:
        price = price_paid_per_kwh(row)
        out.append(
            {
                "strategy": row.strategy,
                "peak_kw": row.peak_kw,
                "min_over_limit": row.minutes_over_limit,
                "kwh_over_limit": row.kwh_over_limit,
                "delivered_kwh": row.delivered_kwh,
                "requested_kwh": row.requested_kwh,
                "served": f"{row.sessions_served}/{row.sessions}",
                "energy_cost": row.energy_cost,
                "price_per_kwh": None if price is None else round(price, 4),
                "demand_charge": row.demand_charge,
                "total_cost": row.total_cost,
                "unit_saving_pct": unit_saving[row.strategy],
                "total_saving_pct": row.saving_vs_uncontrolled_pct,
            }
        )
    return out


def describe_day(day: SiteDay) -> str:
    """The site and its day in a few lines a person reads."""
    s = day.settings
    sessions = day.sessions()
    wanted_kwh = sum(x.energy_wanted_kwh for x in sessions)
    lines = [
        f"{s.scenario} site, seed {s.seed}: {s.chargers} chargers of "
        f"{s.charger_current_a:.0f} A × 3 phases ({installed_kw(s):.0f} kW installed)",
        f"grid limit {s.grid_kw():.0f} kW ({s.grid_kw() / installed_kw(s):.0%} of it); "
        f"{len(sessions)} sessions wanting "
        f"{wanted_kwh:.0f} kWh in all",
        f"{s.hours:.0f} h from {s.local(s.start_hour):%Y-%m-%d %H:%M} {s.timezone}",
    ]
    for event in demo_events(s):
        lines.append(f"event: {event.label}")
    if day.price_spread != 1.0:
        lines.append(f"price spread × {day.price_spread:g} around the day's mean price")
    return "\n".join(lines)


def sessions_table(day: SiteDay, record: SiteRecord) -> list[dict]:
    """One plain row per session: when, what it wanted, what it got (local times)."""
    zone = ZoneInfo(day.settings.timezone)
    rows = []
    for session in day.sessions():
        result = record.sessions.get(session.session_key)
        rows.append(
            {
                "session": session.session_key,
                "charger": session.charger_id,
                "car": session.ev.name,
                "arrival": f"{session.arrival_utc.astimezone(zone):%H:%M}",
                "departure": f"{session.departure_utc.astimezone(zone):%H:%M}",
                "wanted_kwh": round(session.energy_wanted_kwh, 1),
                "got_kwh": round(result.energy_kwh, 1) if result else None,
                "soc_end_pct": round(100 * result.soc_end) if result else None,
            }
        )
    return rows


def text_table(rows: Sequence[dict], columns: Sequence[str] | None = None) -> str:
    """Plain dict rows as an aligned text table (no pandas here)."""
    if not rows:
        return "(no rows)"
    keys = list(columns or rows[0].keys())
    cells = [keys] + [["–" if r.get(k) is None else str(r.get(k)) for k in keys] for r in rows]
    widths = [max(len(line[i]) for line in cells) for i in range(len(keys))]
    lines = ["  ".join(v.rjust(w) for v, w in zip(line, widths, strict=True)) for line in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


# ------------------------------------------------------------------------ many days


@dataclass(frozen=True)
class Case:
    """One replayed day in a study: the settings and the price spread."""

    settings: DemoSettings
    price_spread: float = 1.0


def run_case(
    case: Case,
    strategies: Sequence[str] = STRATEGIES,
    step_s: float = 300.0,
    time_limit_s: float = 5.0,
) -> list[dict]:
    """Replay one case under every strategy: one plain row per strategy."""
    day = site_day(case.settings, price_spread=case.price_spread)
    records = replay_strategies(day, strategies, step_s=step_s, time_limit_s=time_limit_s)
    rows = day_figures(day, records)
    energy_saving = energy_cost_saving_pct(rows)
    unit_saving = unit_price_saving_pct(rows)
    settings = case.settings
    out = []
    for row in rows:
        served = 100.0 * row.delivered_kwh / row.requested_kwh if row.requested_kwh > 0 else None
        out.append(
            {
                "kind": settings.scenario,
                "seed": settings.seed,
                "chargers": settings.chargers,
                "grid_limit_kw": settings.grid_kw(),
                "limit_fraction": round(settings.grid_kw() / installed_kw(settings), 3),
                "price_spread": case.price_spread,
                **row.as_dict(),
                "energy_saving_pct": energy_saving[row.strategy],
                "unit_saving_pct": unit_saving[row.strategy],
                "served_pct": None if served is None else round(served, 1),
            }
        )
    return out


_POOLS: dict[int, ProcessPoolExecutor] = {}


def _pool(workers: int) -> ProcessPoolExecutor:
    """One pool per size, kept for the next study: a spawned worker takes seconds to import
    the project, so a notebook's studies share them."""
    if workers not in _POOLS:
        _POOLS[workers] = ProcessPoolExecutor(
            max_workers=workers,
            mp_context=get_context("spawn"),
            initializer=signal.signal,  # an interrupt is the parent's to handle
            initargs=(signal.SIGINT, signal.SIG_IGN),
        )
    return _POOLS[workers]


def close_workers() -> None:
    """Stop the worker processes of :func:`compare` (a notebook's last cell calls this)."""
    while _POOLS:
        _, pool = _POOLS.popitem()
        pool.shutdown(cancel_futures=True)


atexit.register(close_workers)


def compare(
    cases: Iterable[Case | DemoSettings],
    strategies: Sequence[str] = STRATEGIES,
    *,
    step_s: float = 300.0,
    time_limit_s: float = 5.0,
    workers: int = 1,
) -> list[dict]:
    """Every case under every strategy, as plain rows (see :func:`run_case`).

    ``workers`` > 1 replays cases in separate processes (spawned: the solver's threads do not
    survive a fork); the rows come back in the order of ``cases``.
    """
    todo = [c if isinstance(c, Case) else Case(c) for c in cases]
    args = (tuple(strategies), step_s, time_limit_s)
    if workers <= 1 or len(todo) <= 1:
        return [row for case in todo for row in run_case(case, *args)]
    futures = [_pool(workers).submit(run_case, case, *args) for case in todo]
    return [row for future in futures for row in future.result()]


def kinds_cases(
    kinds: Sequence[str],
    seeds: Sequence[int],
    *,
    chargers: int = 6,
    limit_fraction: float | None = None,
) -> list[Case]:
    return [
        Case(settings_for(k, s, chargers=chargers, limit_fraction=limit_fraction))
        for k in kinds
        for s in seeds
    ]


def spread_cases(
    kind: str,
    seeds: Sequence[int],
    spreads: Sequence[float],
    *,
    chargers: int = 6,
    limit_fraction: float | None = None,
) -> list[Case]:
    return [
        Case(settings_for(kind, s, chargers=chargers, limit_fraction=limit_fraction), x)
        for x in spreads
        for s in seeds
    ]


def limit_cases(
    kind: str, seeds: Sequence[int], limit_fractions: Sequence[float], *, chargers: int = 6
) -> list[Case]:
    """The grid limit at fractions of the installed power (the evening cap and the
    demand-response level follow it, as in the demo)."""
    for fraction in limit_fractions:
        if not 0 < fraction:
            raise AnalysisError(f"limit_fractions: {fraction} must be > 0")
    return [
        Case(settings_for(kind, s, chargers=chargers, limit_fraction=f))
        for f in limit_fractions
        for s in seeds
    ]


def summarise(rows: Sequence[dict], metric: str, by: Sequence[str]) -> list[dict]:
    """Median, quartiles, min and max of ``metric`` per group of ``by`` (rows without the
    metric are left out)."""
    groups: dict[tuple, list[float]] = {}
    for row in rows:
        value = row.get(metric)
        if value is None:
            continue
        groups.setdefault(tuple(row[k] for k in by), []).append(float(value))
    out = []
    for key, values in groups.items():
        q1, median, q3 = (
            statistics.quantiles(values, n=4, method="inclusive")
            if len(values) > 1
            else (values[0],) * 3
        )
        out.append(
            {
                **dict(zip(by, key, strict=True)),
                "n": len(values),
                "min": round(min(values), 2),
                "q1": round(q1, 2),
                "median": round(median, 2),
                "q3": round(q3, 2),
                "max": round(max(values), 2),
            }
        )
    return out


# ------------------------------------------------------------------------ plots


def _local(day: SiteDay, times: Sequence[datetime]) -> list[datetime]:
    zone = ZoneInfo(day.settings.timezone)
    return [t.astimezone(zone).replace(tzinfo=None) for t in times]


def _time_axis(ax, day: SiteDay) -> None:
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%H:%M"))
    ax.set_xlabel(f"local time ({day.settings.timezone})")
    ax.grid(alpha=0.3)


def plot_sessions(day: SiteDay) -> Figure:
    """When each car is plugged in, one bar per session, labelled with the energy it wants."""
    sessions = day.sessions()
    fig, ax = plt.subplots(figsize=(10, 0.35 * len(sessions) + 1.2))
    for i, s in enumerate(sessions):
        start, end = _local(
            day, [max(s.arrival_utc, day.start_utc), min(s.departure_utc, day.end_utc)]
        )
        ax.barh(i, mdates.date2num(end) - mdates.date2num(start), left=start, color="#5d8aa8")
        ax.text(end, i, f" {s.energy_wanted_kwh:.0f} kWh", va="center", fontsize=8)
    ax.set_yticks(range(len(sessions)), [f"{s.charger_id} {s.session_key}" for s in sessions])
    ax.invert_yaxis()
    ax.set_title(f"{len(sessions)} sessions ({day.settings.scenario}, seed {day.settings.seed})")
    _time_axis(ax, day)
    fig.tight_layout()
    return fig


def plot_limit_and_prices(day: SiteDay) -> Figure:
    """The site's limit (grid, operator cap, demand response) and the energy price."""
    local = _local(day, day.curves.minutes_utc)
    fig, (ax_limit, ax_price) = plt.subplots(2, 1, figsize=(10, 4.8), sharex=True)
    ax_limit.plot(local, day.curves.limit_kw, drawstyle="steps-post", color="black")
    ax_limit.set_ylabel("limit kW")
    ax_limit.set_ylim(0, float(day.curves.limit_kw.max()) * 1.15)
    for window in day.windows:
        if window.start_utc and window.end_utc:
            if window.end_utc <= day.start_utc or window.start_utc >= day.end_utc:
                continue
            a, b = _local(
                day, [max(window.start_utc, day.start_utc), min(window.end_utc, day.end_utc)]
            )
            ax_limit.axvspan(a, b, color="grey", alpha=0.15)
            label = "demand response" if window.kind == "dr" else f"{window.source} cap"
            level_kw = window.level_kw(day.settings.grid_kw())
            ax_limit.text(a, level_kw * 0.5, f" {label}\n {level_kw:.0f} kW", fontsize=8)
    ax_limit.grid(alpha=0.3)
    ax_price.plot(local, day.curves.price_per_kwh, drawstyle="steps-post", color="#2c3e50")
    ax_price.set_ylabel("€/kWh")
    _time_axis(ax_price, day)
    fig.tight_layout()
    return fig


def plot_power(day: SiteDay, records: dict[str, SiteRecord]) -> Figure:
    """Site power against the limit, one panel per strategy; red where it goes over."""
    local = _local(day, day.curves.minutes_utc)
    limit = day.curves.limit_kw
    powers = {n: site_power_per_minute(r, day.curves.minutes_utc) for n, r in records.items()}
    top = max([float(limit.max()), *(float(p.max()) for p in powers.values())]) * 1.1
    fig, axes = plt.subplots(
        len(records), 1, figsize=(10, 2.1 * len(records)), sharex=True, squeeze=False
    )
    for ax, (name, power) in zip(axes[:, 0], powers.items(), strict=True):
        colour = COLOURS.get(name, "grey")
        ax.fill_between(local, power, step="post", color=colour, alpha=0.35)
        ax.plot(local, power, drawstyle="steps-post", color=colour, lw=1, label=name)
        ax.plot(local, limit, drawstyle="steps-post", color="black", ls="--", lw=1, label="limit")
        over = power > limit + 0.1
        if over.any():
            ax.fill_between(
                local,
                limit,
                power,
                where=over,
                step="post",
                color="red",
                alpha=0.6,
                label="over the limit",
            )
        ax.set_ylim(0, top)
        ax.set_ylabel("kW")
        ax.legend(loc="upper right", fontsize=8, ncol=3)
        ax.grid(alpha=0.3)
    _time_axis(axes[-1, 0], day)
    fig.tight_layout()
    return fig


def plot_soc(day: SiteDay, record: SiteRecord, title: str = "") -> Figure:
    """Each car's state of charge while plugged in."""
    fig, ax = plt.subplots(figsize=(10, 3.4))
    for key in sorted(record.sessions):
        series = record.session_series(key)
        if not len(series["t_s"]):
            continue
        times = _local(day, [record.start_utc + timedelta(seconds=float(t)) for t in series["t_s"]])
        ax.plot(times, 100 * series["soc"], lw=1.2, alpha=0.85)
    ax.set_ylabel("state of charge %")
    ax.set_ylim(0, 100)
    ax.set_title(title or "state of charge of every car while plugged in")
    _time_axis(ax, day)
    fig.tight_layout()
    return fig


def plot_distributions(
    rows: Sequence[dict], metrics: Sequence[tuple[str, str]], *, group: str = "kind"
) -> Figure:
    """Box plots of each ``(metric, label)``: one panel per metric, boxes per group and
    strategy (every seed is one point of a box)."""
    groups = list(dict.fromkeys(r[group] for r in rows))
    names = list(dict.fromkeys(r["strategy"] for r in rows))
    fig, axes = plt.subplots(len(metrics), 1, figsize=(10, 3.0 * len(metrics)), squeeze=False)
    width = 0.8 / len(names)
    for ax, (metric, label) in zip(axes[:, 0], metrics, strict=True):
        for j, name in enumerate(names):
            data = [
                [
                    r[metric]
                    for r in rows
                    if r[group] == g and r["strategy"] == name and r[metric] is not None
                ]
                for g in groups
            ]
            positions = [i + (j - (len(names) - 1) / 2) * width for i in range(len(groups))]
            kept = [(p, d) for p, d in zip(positions, data, strict=True) if d]
            if not kept:
                continue
            parts = ax.boxplot(
                [d for _, d in kept],
                positions=[p for p, _ in kept],
                widths=width * 0.85,
                patch_artist=True,
            )
            for box in parts["boxes"]:
                box.set_facecolor(COLOURS.get(name, "grey"))
                box.set_alpha(0.6)
            ax.plot([], [], color=COLOURS.get(name, "grey"), lw=6, alpha=0.6, label=name)
        ax.set_xticks(range(len(groups)), groups)
        ax.set_ylabel(label)
        ax.grid(alpha=0.3, axis="y")
        ax.legend(fontsize=8, ncol=len(names), loc="best")
    fig.tight_layout()
    return fig


def plot_sweep(
    rows: Sequence[dict], x: str, metrics: Sequence[tuple[str, str]], *, xlabel: str
) -> Figure:
    """Median of each metric against ``x`` per strategy, with the min–max band over seeds."""
    names = list(dict.fromkeys(r["strategy"] for r in rows))
    fig, axes = plt.subplots(1, len(metrics), figsize=(5.2 * len(metrics), 3.6), squeeze=False)
    for ax, (metric, label) in zip(axes[0], metrics, strict=True):
        for name in names:
            stats = sorted(
                summarise([r for r in rows if r["strategy"] == name], metric, (x,)),
                key=lambda s: s[x],
            )
            if not stats:
                continue
            xs = [s[x] for s in stats]
            colour = COLOURS.get(name, "grey")
            ax.plot(xs, [s["median"] for s in stats], "o-", color=colour, label=name)
            ax.fill_between(
                xs, [s["min"] for s in stats], [s["max"] for s in stats], color=colour, alpha=0.15
            )
        ax.set_xlabel(xlabel)
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig
