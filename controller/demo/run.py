"""Run the whole demo: the live sitecharge day and the baselines, then figures and report."""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import numpy as np

from controller.demo.figures import DayCurves, StrategyFigures, figures, table, with_savings
from controller.demo.live import run_live
from controller.demo.report import html_report, power_plot, soc_plot
from controller.demo.setup import DemoSettings, demo_events, demo_scenario, write_config
from controller.demo.strategies import minute_grid, planned
from controller.limit_book import Entry, windows_of
from controller.limits import effective_limits
from controller.pricing import PriceSource
from simulator.record import SiteRecord
from simulator.replay import replay, uncontrolled

BASELINES = ("uncontrolled", "equal_share", "edf")
STRATEGIES = (*BASELINES, "sitecharge")


@dataclass
class DemoResult:
    rows: list[StrategyFigures]
    records: dict[str, SiteRecord]
    curves: DayCurves
    out_dir: Path
    report_path: Path
    elapsed_s: float


def run_demo(
    settings: DemoSettings,
    out_dir: Path,
    *,
    strategies: tuple[str, ...] = STRATEGIES,
    progress: bool = True,
    echo=print,
) -> DemoResult:
    started = time.perf_counter()
    out_dir.mkdir(parents=True, exist_ok=True)
    config = write_config(settings, out_dir)
    scenario = demo_scenario(settings)
    events = demo_events(settings)
    start, end = settings.start_utc(), settings.end_utc()
    windows = []
    for event in events:
        entry = Entry(event.entry_id, event.source, event.kind, event.spec, start, start)
        windows.extend(windows_of(entry, settings.timezone, start - timedelta(days=1), end))
    minutes = minute_grid(start, end)
    limits = effective_limits(
        settings.grid_kw(), windows, minutes, [m + timedelta(minutes=1) for m in minutes]
    )
    price_source = PriceSource(config, start)
    price_series = price_source.holder.tariff.tariff.prices(start, 60, len(minutes))
    demand = price_source.holder.tariff.demand_charge
    curves = DayCurves(
        minutes,
        limits.limit_kw,
        np.asarray(price_series.prices_per_kwh),
        demand.price_per_kw if demand else 0.0,
    )

    def prices(at, slot_s, n, first_slot_s):
        series = price_source.holder.tariff.tariff.prices(at, slot_s, n, first_slot_s=first_slot_s)
        return np.asarray(series.prices_per_kwh)

    echo(
        f"demo site: {settings.chargers} chargers × {settings.charger_current_a * 0.69:.0f} kW, "
        f"grid limit {settings.grid_kw():.0f} kW, {len(scenario.window(start, end).sessions)} "
        f"sessions ({settings.scenario}, seed {settings.seed}), {settings.hours:.0f} h from "
        f"{settings.local(settings.start_hour):%Y-%m-%d %H:%M} {settings.timezone}"
    )
    for event in events:
        echo(f"  event: {event.label}")
    records: dict[str, SiteRecord] = {}
    for name in strategies:
        if name == "sitecharge":
            continue
        t0 = time.perf_counter()
        allocate = (
            uncontrolled
            if name == "uncontrolled"
            else planned(name, grid_limit_kw=settings.grid_kw(), windows=windows, prices=prices)
        )
        records[name] = replay(
            scenario,
            allocate,
            step_s=60,
            start_utc=start,
            end_utc=end,
            charger_max_current_a=settings.charger_current_a,
        )
        echo(f"  baseline {name}: replayed in {time.perf_counter() - t0:.1f} s")
    live = None
    if "sitecharge" in strategies:
        live = asyncio.run(run_live(settings, config, scenario, events, progress=progress))
        records["sitecharge"] = live.record
    order = [s for s in STRATEGIES if s in records]
    records = {name: records[name] for name in order}
    rows = with_savings([figures(name, records[name], curves) for name in order])
    echo("")
    echo(table(rows))
    shaded = [
        (w.start_utc, w.end_utc, w.source)
        for w in windows
        if w.start_utc and w.end_utc and w.end_utc > start and w.start_utc < end
    ]
    images = {
        "Site power against the limit": power_plot(records, curves, settings.timezone, shaded)
    }
    if "sitecharge" in records:
        images["State of charge (sitecharge run)"] = soc_plot(
            records["sitecharge"], settings.timezone
        )
    for name, png in images.items():
        (out_dir / (name.split(" (")[0].lower().replace(" ", "_") + ".png")).write_bytes(png)
    notes = [
        "The sitecharge run goes over real websockets: the controller and simulated OCPP 1.6J "
        "chargers on one accelerated clock. The baselines replay the same cars in-process "
        "through the same EV physics; equal share and earliest-deadline-first are the "
        "optimiser's own fallback heuristics, given the same limits and prices.",
        "Departure times and energy wanted reach sitecharge as session overrides when each car "
        "starts (as a fleet backend would send them through the API); OCPP 1.6 carries neither.",
        "Demand charge: the day's highest 15-minute average site power × the price per kW.",
    ]
    if live is not None:
        methods = sorted({h.method for h in live.history if h.sessions})
        notes.append(
            f"sitecharge ran {len(live.history)} control cycles (plans by {', '.join(methods)}); "
            f"chargers acknowledged {live.profiles_acknowledged} profiles and rejected "
            f"{live.profiles_rejected}."
        )
    settings_text = (
        f"{settings.chargers} chargers, scenario {settings.scenario}, seed {settings.seed}, "
        f"grid limit {settings.grid_kw():.0f} kW, {settings.hours:.0f} h from "
        f"{settings.local(settings.start_hour):%Y-%m-%d %H:%M} {settings.timezone}, "
        f"clock ×{settings.speed:.0f}."
    )
    report = out_dir / "report.html"
    report.write_text(
        html_report(
            title="sitecharge: a site's day",
            settings_text=settings_text,
            rows=rows,
            images=images,
            notes=notes,
        ),
        encoding="utf-8",
    )
    (out_dir / "figures.json").write_text(json.dumps([r.as_dict() for r in rows], indent=2))
    elapsed = time.perf_counter() - started
    echo(f"\nreport: {report} (and its PNGs, figures.json), {elapsed:.0f} s")
    return DemoResult(rows, records, curves, out_dir, report, elapsed)
