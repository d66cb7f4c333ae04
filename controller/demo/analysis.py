"""What the notebooks show: the demo's site under the real controller, for a day and a week.

The notebooks only call these functions and display what they return, so every number a
reader sees comes from code that is linted and tested. Every run goes through
:func:`controller.replay.run_scenario` (see :mod:`controller.demo.study` for the runs and the
notebook's site settings); the key figures are :func:`controller.demo.figures.figures` of
each :class:`~controller.replay.ReplayResult`, as in ``sitecharge demo``.
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import matplotlib.dates as mdates
import numpy as np
from matplotlib.figure import Figure

from controller.demo import study
from controller.demo.figures import (
    StrategyFigures,
    delivered_by_session,
    figures,
    saving_line,
    table,
    with_savings,
)
from controller.demo.report import COLOURS, energy_plot, power_plot, price_curve
from controller.demo.setup import DEMAND_PRICE_PER_KW_MONTH, DemoDay, DemoSettings, demo_day
from controller.replay import ReplayResult

#: a session that got less than this share of its need is "starved" in the findings
STARVED_SHARE = 0.5


class PNG:
    """A picture a notebook shows (Jupyter calls ``_repr_png_``)."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    def _repr_png_(self) -> bytes:
        return self.data


# ------------------------------------------------------------------------ the runs


def site_day(chargers: int = 4, **settings) -> DemoDay:
    """The demo day (``controller.demo.setup.demo_day``) with ``chargers`` chargers."""
    return demo_day(DemoSettings(chargers=chargers, **settings))


def run_day(
    day: DemoDay,
    strategies: Sequence[str] = ("uncontrolled", "sitecharge"),
    needs: Sequence[str] = ("known",),
    workers: int = 2,
) -> dict[str, ReplayResult]:
    """The day under each strategy, with every sample kept for the per-car plots."""
    return study.by_run(study.run_jobs(study.day_jobs(day, strategies, needs), workers))


def site_week(chargers: int = 3, days: int = 7, **settings) -> study.Week:
    """Seven days of the demo's scenario from the demo day on (see :func:`study.week`)."""
    return study.week(DemoSettings(chargers=chargers, **settings), days)


def run_week(
    the_week: study.Week,
    strategies: Sequence[str],
    needs: Sequence[str] = ("known",),
    workers: int = 2,
) -> tuple[dict[str, ReplayResult], list[ReplayResult]]:
    """Every day under every strategy: the week merged per strategy, and the day runs."""
    days = study.run_jobs(study.week_jobs(the_week, strategies, needs), workers)
    return study.by_run(days), days


# ------------------------------------------------------------------------ the numbers


def rows(runs: Mapping[str, ReplayResult]) -> list[StrategyFigures]:
    """Key figures per run, named as in ``runs``, with the saving against uncontrolled;
    sessions are served at 99 % of what they got alone (the uncontrolled run) when there is
    one."""
    reachable = delivered_by_session(runs["uncontrolled"]) if "uncontrolled" in runs else None
    out = [
        replace(figures(result, DEMAND_PRICE_PER_KW_MONTH, reachable), strategy=name)
        for name, result in runs.items()
    ]
    return with_savings(out)


def figures_table(runs: Mapping[str, ReplayResult]) -> str:
    """The demo's table (``controller.demo.figures.table``) and its saving line."""
    found = rows(runs)
    return table(found) + "\n\n" + saving_line(found)


def describe(day: DemoDay) -> str:
    """The site and its day, in the words a person reads."""
    zone = ZoneInfo(day.settings.timezone)
    s = day.settings
    return "\n".join(
        [
            f"{s.chargers} chargers of {s.charger_current_a:.0f} A, scenario {s.scenario} "
            f"(seed {s.seed}), {len(day.scenario.sessions)} cars",
            f"grid limit {day.grid_kw:.0f} kW (uncontrolled charging of these cars would draw "
            f"up to {day.uncontrolled_peak_kw:.1f} kW)",
            f"{day.hours:.0f} h from {day.start_utc.astimezone(zone):%a %Y-%m-%d %H:%M} "
            f"({s.timezone})",
            *(f"event: {label}" for label in day.labels),
            f"controller settings for the notebooks: {study.NOTEBOOK_CONTROL}, "
            f"{study.NOTEBOOK_OCPP}",
        ]
    )


def describe_week(the_week: study.Week) -> str:
    """The week's site and its days, in the words a person reads."""
    first = the_week.first
    zone = ZoneInfo(first.settings.timezone)
    lines = [describe(first).split("\n")[0].rsplit(",", 1)[0] + f", {the_week.sessions} cars"]
    lines.append(f"grid limit {first.grid_kw:.0f} kW every day (sized on the first day)")
    for local_day, scenario, start, end in the_week.days:
        lines.append(
            f"{local_day:%a %d %b}: {len(scenario.sessions)} cars, run "
            f"{start.astimezone(zone):%H:%M}–{end.astimezone(zone):%H:%M}"
        )
    lines.append(f"events: {first.labels[0]} (first day only); {first.labels[1]} (every day)")
    return "\n".join(lines)


def sessions_table(runs: Mapping[str, ReplayResult], timezone: str) -> str:
    """One line per car: when it was there, what it wanted, what each run delivered [kWh]."""
    zone = ZoneInfo(timezone)
    first = next(iter(runs.values()))
    delivered = {name: delivered_by_session(r) for name, r in runs.items()}
    header = ["charger", "arrives", "leaves", "wanted", *runs]
    lines = [header]
    for s in first.sessions:
        key = (s["charger_id"], s["arrival"])
        lines.append(
            [
                s["charger_id"],
                f"{datetime.fromisoformat(s['arrival']).astimezone(zone):%a %H:%M}",
                f"{datetime.fromisoformat(s['departure']).astimezone(zone):%a %H:%M}",
                f"{s['energy_wanted_kwh']:.1f}",
                *(f"{delivered[name].get(key, 0.0):.1f}" for name in runs),
            ]
        )
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    return "\n".join(
        "  ".join(
            v.ljust(w) if i < 3 else v.rjust(w)
            for i, (v, w) in enumerate(zip(line, widths, strict=True))
        )
        for line in lines
    )


def starved(result: ReplayResult) -> list[dict]:
    """Sessions that got less than half of what they wanted (charger, wanted, delivered)."""
    return [
        s
        for s in result.sessions
        if s["energy_delivered_kwh"] < STARVED_SHARE * s["energy_wanted_kwh"]
    ]


def findings(runs: Mapping[str, ReplayResult]) -> str:
    """What the numbers say, computed from them (nothing here is written in advance)."""
    found = {r.strategy: r for r in rows(runs)}
    base = found.get("uncontrolled")
    lines = []
    for name, row in found.items():
        parts = [
            f"{name}: {row.minutes_over_limit:g} min and {row.kwh_over_limit:g} kWh over the "
            f"limit, {row.delivered_kwh:g} of {row.requested_kwh:g} kWh wanted delivered, "
            f"{row.sessions_served}/{row.sessions} sessions served, "
            f"€{row.total_cost:.2f} in all"
        ]
        if base is not None and name != "uncontrolled" and base.delivered_kwh > 0:
            share = 100.0 * row.delivered_kwh / base.delivered_kwh
            parts.append(
                f"{share:.0f} % of uncontrolled's energy at "
                f"{_per_kwh(row):.3f} €/kWh against {_per_kwh(base):.3f} €/kWh"
            )
        short = starved(runs[name])
        if short:
            listed = ", ".join(
                f"{s['charger_id']} {s['energy_delivered_kwh']:.1f} of "
                f"{s['energy_wanted_kwh']:.1f} kWh"
                for s in short
            )
            parts.append(f"{len(short)} car(s) got less than half their need ({listed})")
        lines.append("; ".join(parts) + ".")
    return "\n".join(lines)


def _per_kwh(row: StrategyFigures) -> float:
    return row.energy_cost / row.delivered_kwh if row.delivered_kwh > 0 else float("nan")


def needs_table(runs: Mapping[str, ReplayResult]) -> str:
    """sitecharge told each car's departure and energy (needs known) against sitecharge that
    learns only what the chargers report (needs unknown)."""
    names = [n for n in ("sitecharge", "sitecharge (needs unknown)") if n in runs]
    if len(names) < 2:
        raise study.StudyError("needs_table: run sitecharge with needs=('known', 'unknown')")
    picked = [r for r in rows(runs) if r.strategy in names]
    return table(picked)


def daily(days: Sequence[ReplayResult]) -> dict[str, list[tuple[datetime, StrategyFigures]]]:
    """Each day's figures per run (the demand charge is that day's share of a month)."""
    out: dict[str, list[tuple[datetime, StrategyFigures]]] = {}
    for result in sorted(days, key=lambda r: r.start_utc):
        out.setdefault(study.run_name(result), []).append((result.start_utc, figures(result, 0.0)))
    return out


# ------------------------------------------------------------------------ the pictures


def power_figure(day: DemoDay, runs: Mapping[str, ReplayResult]) -> PNG:
    """Site power against the limit per run, the events shaded, the price underneath
    (``controller.demo.report.power_plot``)."""
    first = next(iter(runs.values()))
    with tempfile.TemporaryDirectory(prefix="sitecharge-study-") as folder:
        config = study.notebook_config(day.settings, day.grid_kw, Path(folder))
        prices = price_curve(config, first.start_utc, first.end_utc)
    return PNG(power_plot(dict(runs), prices, day.settings.timezone, list(day.windows)))


def energy_figure(runs: Mapping[str, ReplayResult]) -> PNG:
    """Per car: energy wanted and delivered per run (``controller.demo.report.energy_plot``)."""
    return PNG(energy_plot(dict(runs)))


def decisions_figure(result: ReplayResult, timezone: str) -> Figure:
    """What the controller decided, car by car: the current each charger was allowed (the
    profile the controller sent, as the charger applied it) and what the car drew."""
    if result.record is None:
        raise study.StudyError("decisions_figure: the run kept no samples (keep_record=True)")
    zone = ZoneInfo(timezone)
    by_charger: dict[str, list] = {}
    for sample in sorted(result.record.samples, key=lambda s: s.at_utc):
        by_charger.setdefault(sample.charger_id, []).append(sample)
    chargers = sorted(by_charger)
    # a Figure without pyplot: the notebook shows what it returns, once, on any backend
    fig = Figure(figsize=(11, 1.7 * len(chargers) + 1), layout="constrained")
    axes = fig.subplots(len(chargers), 1, sharex=True, squeeze=False)
    end = result.end_utc.astimezone(zone).replace(tzinfo=None)
    for ax, charger in zip(axes[:, 0], chargers, strict=True):
        samples = by_charger[charger]
        x = [s.at_utc.astimezone(zone).replace(tzinfo=None) for s in samples] + [end]
        drawn = [s.current_a for s in samples]
        offered = [np.nan if s.offered_a is None else s.offered_a for s in samples]
        ax.step(x, [*offered, offered[-1]], where="post", color="black", lw=1.2, ls="--",
                label="allowed by the controller [A per phase]")  # fmt: skip
        ax.fill_between(x, [*drawn, drawn[-1]], step="post", color=COLOURS["sitecharge"],
                        alpha=0.4, label="drawn by the car [A per phase]")  # fmt: skip
        ax.set_ylabel(charger, rotation=0, ha="right", va="center")
        ax.set_ylim(0, 36)
        ax.grid(alpha=0.3)
    axes[0, 0].legend(loc="upper right", fontsize=8, ncol=2)
    axes[-1, 0].xaxis.set_major_formatter(mdates.DateFormatter("%H:%M"))
    axes[-1, 0].set_xlabel(f"local time ({timezone})")
    fig.suptitle(f"{result.strategy}: current allowed and drawn, per charger", fontsize=12)
    return fig


def week_figure(days: Sequence[ReplayResult], timezone: str) -> Figure:
    """Per day and run: energy delivered, minutes over the limit, energy cost."""
    per_run = daily(days)
    zone = ZoneInfo(timezone)
    panels = [
        ("delivered_kwh", "delivered [kWh]"),
        ("minutes_over_limit", "over the limit [min]"),
        ("energy_cost", "energy cost [€]"),
    ]
    fig = Figure(figsize=(11, 7.5), layout="constrained")
    axes = fig.subplots(len(panels), 1, sharex=True)
    dates = sorted({at.astimezone(zone).date() for v in per_run.values() for at, _ in v})
    x = np.arange(len(dates))
    width = 0.8 / max(1, len(per_run))
    for ax, (field, label) in zip(axes, panels, strict=True):
        for i, (name, values) in enumerate(per_run.items()):
            by_date = {at.astimezone(zone).date(): getattr(f, field) for at, f in values}
            colour = COLOURS.get(name.split(" ")[0], "grey")
            hatch = "//" if "unknown" in name else None
            ax.bar(x - 0.4 + width * (i + 0.5), [by_date.get(d, 0.0) for d in dates], width,
                   color=colour, hatch=hatch, edgecolor="white", label=name)  # fmt: skip
        ax.set_ylabel(label)
        ax.grid(alpha=0.3, axis="y")
    # above the panels: inside, it would hide the bars
    axes[0].legend(fontsize=8, ncol=len(per_run), loc="lower center", bbox_to_anchor=(0.5, 1.02))
    axes[-1].set_xticks(x, [f"{d:%a %d %b}" for d in dates])
    fig.suptitle("A week, day by day, per strategy", fontsize=12)
    return fig


__all__ = [
    "PNG",
    "daily",
    "decisions_figure",
    "describe",
    "describe_week",
    "energy_figure",
    "figures_table",
    "findings",
    "needs_table",
    "power_figure",
    "rows",
    "run_day",
    "run_week",
    "sessions_table",
    "site_day",
    "site_week",
    "starved",
    "week_figure",
]
