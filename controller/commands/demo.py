"""`sitecharge demo`: a simulated site's day under sitecharge and the baselines, with a report."""

from __future__ import annotations

import argparse
import logging
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
        "--speed",
        type=float,
        default=defaults.speed,
        help="clock speed-up of the live run (default %(default)s×)",
    )
    parser.add_argument("--hours", type=float, default=defaults.hours)
    parser.add_argument(
        "--start-hour", type=float, default=defaults.start_hour, help="local hour the run starts"
    )
    parser.add_argument("--out", default="demo-report", help="folder for the report")
    parser.add_argument("--no-progress", action="store_true")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    strategies = STRATEGIES if args.strategy == "all" else tuple(args.strategy.split(","))
    unknown = [s for s in strategies if s not in STRATEGIES]
    if unknown:
        print(f"sitecharge demo: --strategy: unknown {unknown}; choose from {STRATEGIES}")
        return 2
    if args.chargers < 1 or args.speed <= 0 or args.hours <= 0:
        print("sitecharge demo: --chargers, --speed and --hours must be positive")
        return 2
    if logging.getLogger().level < logging.WARNING:
        for name in ("controller", "simulator", "ocpp", "websockets", "openleadr"):
            logging.getLogger(name).setLevel(logging.WARNING)
    settings = DemoSettings(
        chargers=args.chargers,
        scenario=args.scenario,
        seed=args.seed,
        speed=args.speed,
        hours=args.hours,
        start_hour=args.start_hour,
    )
    run_demo(settings, Path(args.out), strategies=strategies, progress=not args.no_progress)
    return 0
