"""``sitecharge replay``: what the controller would have done with a session log.

The real controller (planning, dispatch, OCPP) against simulated chargers on the event-stepped
clock; writes RESULT.json (sessions served, site power and limit over time, energy cost, peak,
seconds over the limit). Progress goes to stderr; nothing but JSON (or nothing) to stdout.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from datetime import datetime
from pathlib import Path

from controller.config import ConfigError, load_config
from controller.replay import ReplayInputError, ReplaySettings, load_sessions, run_replay
from controller.replay.run import NEEDS, STRATEGIES, stdout_to_stderr
from controller.replay.sessions import EV_MODELS


def _when(text: str) -> datetime:
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if value.tzinfo is None:
        raise argparse.ArgumentTypeError(f"{text!r} has no UTC offset")
    return value


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "replay",
        help="replay a session log through the real controller (simulated chargers)",
        description="Replay SESSIONS.csv on the site of SITE.toml with the real controller "
        "over OCPP to simulated chargers, on a clock that steps from event to event.",
    )
    p.add_argument("--config", required=True, type=Path, help="the site file (SITE.toml)")
    p.add_argument("--sessions", required=True, type=Path, help="SESSIONS.csv")
    p.add_argument("--out", type=Path, help="RESULT.json (default: stdout)")
    p.add_argument("--start", type=_when, help="ISO 8601 with offset (default: first arrival)")
    p.add_argument("--hours", type=float, help="length (default: until the last departure)")
    p.add_argument("--needs", default="unknown", choices=NEEDS)
    p.add_argument("--strategy", default="sitecharge", choices=list(STRATEGIES))
    p.add_argument("--ev-model", default="ideal", choices=EV_MODELS)
    p.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if logging.getLogger().level < logging.WARNING:
        # A replay logs every cycle of a simulated day: keep stderr for progress and problems.
        for name in ("controller", "simulator", "ocpp", "websockets", "alembic"):
            logging.getLogger(name).setLevel(logging.WARNING)
    try:
        config = load_config(args.config)
        sessions = load_sessions(args.sessions, config)
        settings = ReplaySettings(
            strategy=args.strategy,
            needs=args.needs,
            ev_model=args.ev_model,
            start_utc=args.start,
            hours=args.hours,
            progress=not args.no_progress,
        )
        with stdout_to_stderr():
            result = run_replay(config, sessions, settings)
    except (ConfigError, ReplayInputError) as exc:
        print(f"sitecharge replay: {exc}", file=sys.stderr)
        return 2
    at_limit = result.stats.get("solves_at_time_limit", 0)
    if at_limit:
        print(
            f"sitecharge replay: warning: {at_limit} plan(s) stopped at the solver's time limit; "
            "this result may differ on a faster or slower machine",
            file=sys.stderr,
        )
    text = json.dumps(result.as_json(), indent=1)
    if args.out is None:
        print(text)
    else:
        args.out.write_text(text + "\n", encoding="utf-8")
        summary = result.summary
        print(
            f"sitecharge replay: {args.strategy}, needs {args.needs}: "
            f"{summary['delivered_kwh']:.1f} kWh, cost {summary['energy_cost']:.2f}, "
            f"peak {summary['peak_kw']:.1f} kW, {summary['seconds_over_limit']:.0f} s over "
            f"the limit -> {args.out}",
            file=sys.stderr,
        )
    return 0
