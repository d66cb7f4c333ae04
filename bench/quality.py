"""Control quality: the project's scenarios through `sitecharge replay`, against hindsight.

For each site kind (workplace, depot, retail) and seed, a generated day of sessions runs through
the replay pipeline (the real controller over real OCPP to simulated ideal cars, on the
event-stepped clock) with strategies sitecharge and EDF, each with needs known and unknown, and
uncontrolled charging (no load management). The grid limit is set to bind (a fraction of what
uncontrolled charging would peak at) and an operator cap lowers it further for an hour while cars
charge. The reference is the hindsight optimum (bench/hindsight.py: an LP over the whole period
with every session known, solved independently of the project's optimiser).

Per scenario: energy delivered (% of hindsight), cost per kWh (Δ vs hindsight), peak, seconds
over the limit, sessions served (≥ 99 % of what the car wanted or could get alone). Figures are
summed over seeds. Energy cost only (no demand charge); prices: the sample day-ahead curve.

    .venv/bin/python bench/quality.py            # 20 chargers, seeds 1 and 2
    .venv/bin/python bench/quality.py --quick    # 8 chargers, seed 1
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
for path in (ROOT, ROOT / "bench"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

from hindsight import KnownSession, per_minute_limit, solve  # noqa: E402

import tariffs  # noqa: E402
from controller.config import SiteConfig, parse_config  # noqa: E402
from controller.replay import LimitEntry, ReplaySession, ReplaySettings, run_replay  # noqa: E402
from controller.replay.run import stdout_to_stderr  # noqa: E402
from simulator.scenario import Scenario, generate  # noqa: E402
from tariffs.registry import build_tariff  # noqa: E402

DAY = date(2026, 6, 15)  # a Monday
TIMEZONE = "Europe/Berlin"
CHARGER_A = 32.0
#: the grid limit as a fraction of uncontrolled charging's peak, and the cap as a fraction of it
LIMIT_FRACTION = 0.6
CAP_FRACTION = 0.6
#: the operator cap's local hours per site kind (while cars charge)
CAP_HOURS = {"workplace": (10, 11), "retail": (12, 13), "depot": (20, 21)}
RUNS = (
    ("uncontrolled", "unknown"),
    ("edf", "unknown"),
    ("edf", "known"),
    ("sitecharge", "unknown"),
    ("sitecharge", "known"),
)


def site_config(n_chargers: int, grid_kw: float) -> SiteConfig:
    prices = Path(tariffs.SAMPLES_DIR) / "dayahead_demo.csv"
    return parse_config(
        {
            "site": {"id": "quality", "timezone": TIMEZONE, "grid_limit_kw": grid_kw},
            "ocpp": {"port": 0, "meter_value_sample_interval_s": 60},
            "store": {"url": "sqlite:///unused.db"},
            "api": {"enabled": False},
            "control": {"interval_s": 300, "slot_s": 900, "horizon_h": 24},
            "tariff": {"type": "csv", "file": str(prices.resolve()), "repeat_daily": True},
            "chargers": [
                {"id": f"CP{i:03d}", "max_current_a": CHARGER_A} for i in range(1, n_chargers + 1)
            ],
        },
        source="bench/quality",
    )


def replay_sessions(scenario: Scenario) -> list[ReplaySession]:
    return [
        ReplaySession(
            row=f"{scenario.kind}/{s.session_key}",
            arrival_utc=s.arrival_utc,
            departure_utc=s.departure_utc,
            energy_kwh=round(s.energy_wanted_kwh, 3),
            max_power_kw=round(min(s.ev.max_power_kw, CHARGER_A * 3 * 0.23), 3),
            charger_id=s.charger_id,
            id_tag=s.id_tag,
        )
        for s in scenario.sessions
    ]


def uncontrolled_peak_kw(sessions: list[ReplaySession]) -> float:
    """Peak of ideal cars each drawing its maximum from arrival until its energy is in [kW]."""
    events: list[tuple[datetime, float]] = []
    for s in sessions:
        power = s.max_power_kw or 0.0
        if power <= 0 or s.energy_kwh <= 0:
            continue
        full = s.arrival_utc + timedelta(hours=s.energy_kwh / power)
        events += [(s.arrival_utc, power), (min(full, s.departure_utc), -power)]
    level, peak = 0.0, 0.0
    for _, delta in sorted(events, key=lambda e: (e[0], e[1])):
        level += delta
        peak = max(peak, level)
    return peak


def cap_entry(kind: str) -> LimitEntry:
    return LimitEntry(
        "bench-cap",
        "operator",
        "recurring",
        {
            "limit_kw": 0.0,  # replaced per case
            "start_local": f"{CAP_HOURS[kind][0]:02d}:00",
            "end_local": f"{CAP_HOURS[kind][1]:02d}:00",
        },
    )


@dataclass
class Row:
    label: str
    delivered_kwh: float = 0.0
    cost: float = 0.0
    peak_kw: float = 0.0
    seconds_over: float = 0.0
    served: int = 0
    sessions: int = 0
    real_s: float = 0.0
    at_limit: int = 0

    def add(
        self,
        delivered: float,
        cost: float,
        peak: float,
        over: float,
        served: int,
        sessions: int,
        real_s: float,
    ) -> None:
        self.delivered_kwh += delivered
        self.cost += cost
        self.peak_kw = max(self.peak_kw, peak)
        self.seconds_over += over
        self.served += served
        self.sessions += sessions
        self.real_s += real_s


def served_count(sessions: list[ReplaySession], delivered: list[float]) -> int:
    """Sessions that got >= 99 % of what they wanted or could get alone in their stay."""
    count = 0
    for s, got in zip(sessions, delivered, strict=True):
        stay_h = (s.departure_utc - s.arrival_utc).total_seconds() / 3600.0
        alone = min(s.energy_kwh, (s.max_power_kw or 0.0) * stay_h)
        count += got >= 0.99 * alone - 1e-6
    return count


def run_case(kind: str, seed: int, n_chargers: int, rows: dict[str, Row], progress: bool) -> None:
    scenario = generate(kind, n_chargers, seed, start_local_day=DAY, tz=TIMEZONE)
    sessions = replay_sessions(scenario)
    grid_kw = round(LIMIT_FRACTION * uncontrolled_peak_kw(sessions), 1)
    config = site_config(n_chargers, grid_kw)
    cap = cap_entry(kind)
    cap = LimitEntry(
        cap.entry_id,
        cap.source,
        cap.kind,
        {**cap.spec, "limit_kw": round(CAP_FRACTION * grid_kw, 1)},
    )
    start, end = scenario.start_utc, scenario.end_utc
    limit_steps: Any = None
    for strategy, needs in RUNS:
        settings = ReplaySettings(
            strategy=strategy,
            needs=needs,
            ev_model="ideal",
            start_utc=start,
            hours=(end - start).total_seconds() / 3600,
            limits=(cap,),
            progress=progress,
        )
        started = time.perf_counter()
        with stdout_to_stderr():
            result = run_replay(config, sessions, settings)
        real_s = time.perf_counter() - started
        limit_steps = result.limit_kw
        delivered = [r["energy_delivered_kwh"] for r in result.as_json()["sessions"]]
        s = result.summary
        rows.setdefault(f"{strategy} ({needs})", Row(f"{strategy} ({needs})")).add(
            s["delivered_kwh"],
            s["energy_cost"],
            s["peak_kw"],
            s["seconds_over_limit"],
            served_count(sessions, delivered),
            len(sessions),
            real_s,
        )
        rows[f"{strategy} ({needs})"].at_limit += result.stats.get("solves_at_time_limit", 0)
    n = round((end - start).total_seconds() / 60)
    tariff = build_tariff(config.tariff, timezone=TIMEZONE, base_dir=config.base_dir)
    prices = np.asarray(tariff.prices(start, 60, n).prices_per_kwh, dtype=float)
    known = [
        KnownSession(s.arrival_utc, s.departure_utc, s.energy_kwh, s.max_power_kw or 0.0)
        for s in sessions
    ]
    best = solve(known, start, end, per_minute_limit(limit_steps, start, n), prices)
    rows.setdefault("hindsight", Row("hindsight")).add(
        best.delivered_kwh,
        best.energy_cost,
        best.peak_kw,
        0.0,
        served_count(sessions, list(best.per_session_kwh)),
        len(sessions),
        0.0,
    )


def print_table(kind: str, rows: dict[str, Row], seeds: list[int], n_chargers: int) -> None:
    ref = rows["hindsight"]
    ref_per_kwh = ref.cost / ref.delivered_kwh if ref.delivered_kwh else float("nan")
    print(
        f"\n{kind}: {n_chargers} chargers, seeds {seeds}, "
        f"limit {LIMIT_FRACTION:.0%} of uncontrolled peak, cap {CAP_FRACTION:.0%} of it "
        f"{CAP_HOURS[kind][0]}-{CAP_HOURS[kind][1]} h"
    )
    header = (
        f"{'strategy (needs)':<26}{'energy kWh':>11}{'% hinds.':>9}{'€/kWh':>8}"
        f"{'Δ%':>7}{'peak kW':>9}{'s over':>8}{'served':>9}{'real s':>8}"
    )
    print(header)
    print("-" * len(header))
    for label in [*(f"{s} ({n})" for s, n in RUNS), "hindsight"]:
        row = rows[label]
        per_kwh = row.cost / row.delivered_kwh if row.delivered_kwh else float("nan")
        share = 100.0 * row.delivered_kwh / ref.delivered_kwh if ref.delivered_kwh else 0.0
        delta = 100.0 * (per_kwh / ref_per_kwh - 1.0)
        print(
            f"{label:<26}{row.delivered_kwh:>11.1f}{share:>8.1f}%{per_kwh:>8.4f}"
            f"{delta:>+7.1f}{row.peak_kw:>9.1f}{row.seconds_over:>8.0f}"
            f"{row.served:>5}/{row.sessions:<3}{row.real_s:>8.1f}"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="8 chargers, seed 1")
    parser.add_argument("--kinds", default="workplace,depot,retail")
    parser.add_argument("--seeds", default=None, help="comma-separated (default 1,2)")
    parser.add_argument("--chargers", type=int, default=None)
    parser.add_argument("--progress", action="store_true", help="a progress bar per replay")
    args = parser.parse_args(argv)
    seeds = [int(s) for s in (args.seeds or ("1" if args.quick else "1,2")).split(",")]
    n_chargers = args.chargers or (8 if args.quick else 20)
    import logging

    logging.basicConfig(level=logging.WARNING)
    for kind in args.kinds.split(","):
        rows: dict[str, Row] = {}
        for seed in seeds:
            run_case(kind, seed, n_chargers, rows, args.progress)
        print_table(kind, rows, seeds, n_chargers)
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
