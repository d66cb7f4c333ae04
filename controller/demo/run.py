"""Run the whole demo: every strategy through the replay pipeline, then figures and a report.

Each strategy is a :func:`controller.replay.run_scenario`: the controller ``serve`` runs, over
real OCPP websockets to simulated chargers, on the event-stepped clock. Uncontrolled charging
is the same central system with no control loop; equal share and earliest-deadline-first are
the optimiser's own fallback methods in the controller's loop. So the table is the same on
every run and on a loaded machine. The replays run side by side in worker processes.
"""

from __future__ import annotations

import json
import logging
import multiprocessing
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, replace
from pathlib import Path

from controller.config import load_config
from controller.demo.figures import (
    StrategyFigures,
    delivered_by_session,
    figures,
    saving_line,
    table,
    with_savings,
)
from controller.demo.report import energy_plot, html_report, power_plot, price_curve
from controller.demo.setup import (
    DEMAND_PRICE_PER_KW_MONTH,
    DemoDay,
    DemoSettings,
    demo_day,
    start_local,
    write_config,
)
from controller.replay import ReplayResult, ReplaySettings, run_scenario

STRATEGIES = ("uncontrolled", "equal_share", "edf", "sitecharge")

log = logging.getLogger(__name__)


@dataclass
class DemoResult:
    day: DemoDay
    rows: list[StrategyFigures]
    results: dict[str, ReplayResult]
    out_dir: Path
    report_path: Path
    elapsed_s: float


def replay_strategy(config_path: Path, day: DemoDay, strategy: str, progress: bool) -> ReplayResult:
    """One strategy's replay of the demo day (a worker process runs this)."""
    for name in ("controller", "simulator", "ocpp", "websockets"):
        logging.getLogger(name).setLevel(logging.ERROR)
    settings = ReplaySettings(
        strategy=strategy,
        needs=day.settings.needs,
        limits=day.events,
        progress=progress,
    )
    result = run_scenario(
        load_config(config_path), day.scenario, settings, day.start_utc, day.end_utc
    )
    return replace(result, record=None)  # every sample: not needed here, costly to pickle


def run_all(
    config_path: Path,
    day: DemoDay,
    strategies: tuple[str, ...],
    *,
    workers: int,
    progress: bool,
    echo,
) -> dict[str, ReplayResult]:
    results: dict[str, ReplayResult] = {}
    started = time.perf_counter()
    # the longest run (sitecharge, or the last asked for) shows a progress bar
    shown = "sitecharge" if "sitecharge" in strategies else strategies[-1]
    context = multiprocessing.get_context("spawn")  # no forked event loops or solver threads
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        futures = {
            pool.submit(replay_strategy, config_path, day, name, progress and name == shown): name
            for name in sorted(strategies, key=lambda s: s != "sitecharge")
        }
        for future in as_completed(futures):
            name = futures[future]
            results[name] = future.result()
            stats = results[name].stats
            echo(
                f"  {name}: replayed in {time.perf_counter() - started:.0f} s "
                f"({stats.get('cycles', 0)} control cycles)"
            )
    return {name: results[name] for name in STRATEGIES if name in results}


def conclusion(rows: list[StrategyFigures]) -> str:
    """What a person reading the report should conclude, in two sentences."""
    by = {r.strategy: r for r in rows}
    ours, base = by.get("sitecharge"), by.get("uncontrolled")
    if ours is None or base is None:
        return "Run with both uncontrolled and sitecharge to compare them."
    kept = (
        "kept the site inside every limit"
        if ours.minutes_over_limit == 0
        else f"went over a limit for {ours.minutes_over_limit:g} min"
    )
    return (
        f"Uncontrolled charging went over the site's limits for {base.minutes_over_limit:g} "
        f"minutes ({base.kwh_over_limit:g} kWh); sitecharge {kept}, served "
        f"{ours.sessions_served} of {ours.sessions} drivers and delivered "
        f"{ours.delivered_kwh:g} of the {base.delivered_kwh:g} kWh uncontrolled charging did. "
        f"It did so for €{ours.total_cost:.2f} instead of €{base.total_cost:.2f} "
        f"(energy plus this period's share of the monthly demand charge): "
        f"{ours.saving_vs_uncontrolled_pct or 0:.1f} % less."
    )


def run_demo(
    settings: DemoSettings,
    out_dir: Path,
    *,
    strategies: tuple[str, ...] = STRATEGIES,
    progress: bool = True,
    workers: int = 2,
    echo=print,
) -> DemoResult:
    """Replay the demo day under each strategy; print the table; write the report."""
    started = time.perf_counter()
    out_dir.mkdir(parents=True, exist_ok=True)
    day = demo_day(settings)
    write_config(settings, day.grid_kw, out_dir)
    config_path = (out_dir / "demo-site.toml").resolve()
    echo(
        f"demo site: {settings.chargers} chargers of {settings.charger_current_a:.0f} A, grid "
        f"limit {day.grid_kw:.0f} kW (70 % of the {day.uncontrolled_peak_kw:.0f} kW these cars "
        f"would draw uncontrolled), {len(day.scenario.sessions)} sessions ({settings.scenario}, "
        f"seed {settings.seed}, needs {settings.needs}), {day.hours:.0f} h from "
        f"{start_local(day):%Y-%m-%d %H:%M} {settings.timezone}"
    )
    for label in day.labels:
        echo(f"  event: {label}")
    results = run_all(config_path, day, strategies, workers=workers, progress=progress, echo=echo)
    reachable = delivered_by_session(results["uncontrolled"]) if "uncontrolled" in results else None
    rows = with_savings(
        [figures(r, DEMAND_PRICE_PER_KW_MONTH, reachable) for r in results.values()]
    )
    echo("")
    echo(table(rows))
    line = saving_line(rows)
    if line:
        echo(line)
    images = {
        "Site power against the limit": power_plot(
            results,
            price_curve(load_config(config_path), day.start_utc, day.end_utc),
            settings.timezone,
            list(day.windows),
        ),
        "Energy per car": energy_plot(results),
    }
    for name, png in images.items():
        (out_dir / (name.lower().replace(" ", "_") + ".png")).write_bytes(png)
    notes = [
        "Every strategy is a replay through the controller's own pipeline (snapshot → plan → "
        "dispatch) over real OCPP 1.6J websockets to simulated chargers, on an event-stepped "
        "clock: the same result on every run. Uncontrolled: no control loop at all. Equal share "
        "and earliest-deadline-first: the optimiser's own fallback methods, in the same loop.",
        f"Needs {settings.needs}: "
        + (
            "each car's departure and energy reach the controller when it starts charging, as a "
            "fleet backend sends them through the API (OCPP 1.6 carries neither)."
            if settings.needs == "known"
            else "the controller learns nothing of the cars but what the chargers report."
        ),
        f"Demand charge: €{DEMAND_PRICE_PER_KW_MONTH:g}/kW per month on the highest 15-minute "
        f"average; the table charges the {day.hours:.0f} h simulated their share of a month "
        "(hours ÷ 720).",
        "Served: a session that got at least 99 % of its energy, or of what it got when "
        "charging alone (the uncontrolled run).",
        line,
    ]
    settings_text = (
        f"{settings.chargers} chargers, scenario {settings.scenario}, seed {settings.seed}, "
        f"grid limit {day.grid_kw:.0f} kW, {day.hours:.0f} h from "
        f"{start_local(day):%Y-%m-%d %H:%M} {settings.timezone}; " + "; ".join(day.labels) + "."
    )
    report = out_dir / "report.html"
    report.write_text(
        html_report(
            title="sitecharge: a site's day",
            conclusion=conclusion(rows),
            settings_text=settings_text,
            rows=rows,
            images=images,
            notes=[n for n in notes if n],
        ),
        encoding="utf-8",
    )
    (out_dir / "figures.json").write_text(json.dumps([r.as_dict() for r in rows], indent=2))
    elapsed = time.perf_counter() - started
    print(f"\nreport: {report} (and its PNGs, figures.json), {elapsed:.0f} s", file=sys.stderr)
    return DemoResult(day, rows, results, out_dir, report, elapsed)
