"""`sitecharge demo`: a simulated site's day under sitecharge and the baselines, with a report."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from controller.demo.run import STRATEGIES, run_demo
from controller.demo.setup import DemoSettings


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("demo", help="a simulated site's day, strategies compared")
    defaults = DemoSettings()
    parser.add_argument("--chargers", type=int, default=defaults.chargers)
    parser.add_argument(
        "--scenario",
        default=defaults.scenario,
        choices=["workplace", "retail", "depot", "residential"],
    )
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument(
        "--strategy",
        default="all",
        help=f"comma-separated subset of {','.join(STRATEGIES)} (default all)",
    )
    parser.add_argument(
        "--needs",
        default=defaults.needs,
        choices=["known", "unknown"],
        help="whether sitecharge learns each car's departure and energy (default %(default)s)",
    )
    parser.add_argument(
        "--grid-limit-kw",
        type=float,
        default=None,
        help="the site's grid connection (default: 70 %% of uncontrolled charging's peak)",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=min(4, os.cpu_count() or 1),
        help="replays run side by side (default %(default)s)",
    )
    parser.add_argument("--out", default="demo-report", help="folder for the report")
    parser.add_argument("--no-progress", action="store_true")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    strategies = STRATEGIES if args.strategy == "all" else tuple(args.strategy.split(","))
    unknown = [s for s in strategies if s not in STRATEGIES]
    if unknown:
        print(
            f"sitecharge demo: --strategy: unknown {unknown}; choose from {STRATEGIES}",
            file=sys.stderr,
        )
        return 2
    if args.chargers < 1 or args.workers < 1:
        print("sitecharge demo: --chargers and --workers must be positive", file=sys.stderr)
        return 2
    if args.grid_limit_kw is not None and not args.grid_limit_kw > 0:
        print("sitecharge demo: --grid-limit-kw must be positive", file=sys.stderr)
        return 2
    settings = DemoSettings(
        chargers=args.chargers,
        scenario=args.scenario,
        seed=args.seed,
        needs=args.needs,
        grid_limit_kw=args.grid_limit_kw,
    )
    run_demo(
        settings,
        Path(args.out),
        strategies=strategies,
        progress=not args.no_progress,
        workers=args.workers,
    )
    return 0
