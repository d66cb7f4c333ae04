"""`sitecharge simulate`: a site of simulated chargers against any OCPP 1.6J central system.

The only controller module (with the demo) that imports the simulator. Against an outside
central system the simulator's clock starts at the real current time, so the profiles it
receives line up; ``--start`` picks the scenario's local time of day at that moment (the
scenario is shifted onto the clock; the clock is not moved).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import math
from dataclasses import replace
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from simulator.charger import DEFAULT_SAMPLED_DATA, ChargerSpec
from simulator.clock import AcceleratedClock
from simulator.errors import SimulatorError
from simulator.scenario import KINDS, Scenario, generate, load_sessions_csv
from simulator.site import SimSite

LOG = logging.getLogger("sitecharge.simulate")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "simulate",
        help="run simulated chargers against an OCPP 1.6J or 2.0.1 central system",
        description="Run simulated chargers playing a scenario against a central system.",
    )
    parser.add_argument("--url", required=True, help="central system URL, e.g. ws://host:9000/ocpp")
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--scenario", choices=sorted(KINDS), default="workplace")
    source.add_argument("--sessions-csv", help="session log (connection/disconnect time, kWh)")
    parser.add_argument("--chargers", type=int, default=20, help="number of chargers (20)")
    parser.add_argument("--connectors", type=int, default=1, help="connectors per charger (1)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--speed", type=float, default=1.0, help="clock speed-up (1 = real time)")
    parser.add_argument("--start", help="scenario local time of day at the start, HH:MM")
    parser.add_argument("--duration-h", type=float, default=24.0, help="hours to run (24)")
    parser.add_argument("--tz", default="UTC", help="IANA zone of the scenario's hours (UTC)")
    parser.add_argument("--max-current-a", type=float, default=32.0, help="per charger (32)")
    parser.add_argument("--meter-interval-s", type=int, default=60)
    parser.add_argument("--sampled-data", default=DEFAULT_SAMPLED_DATA)
    parser.add_argument("--password", help="HTTP Basic auth password (Security Profile 1)")
    parser.add_argument(
        "--ocpp-version",
        choices=("1.6", "2.0.1", "mixed"),
        default="1.6",
        help="what the chargers speak; mixed: every second one 2.0.1 (1.6)",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.set_defaults(func=run)


def build_scenario(args: argparse.Namespace, now_utc: datetime) -> Scenario:
    """The scenario, shifted so that ``--start`` (local time of day) falls on ``now_utc``."""
    zone = ZoneInfo(args.tz)
    local_now = now_utc.astimezone(zone)
    if args.sessions_csv:
        scenario = load_sessions_csv(args.sessions_csv, tz=args.tz, n_chargers=args.chargers)
        anchor = scenario.start_utc
        if args.start:
            day = scenario.start_utc.astimezone(zone).date()
            anchor = datetime.combine(day, _hhmm(args.start), tzinfo=zone).astimezone(UTC)
        return scenario.shifted(now_utc - anchor)
    start_tod = _hhmm(args.start) if args.start else local_now.time()
    day = local_now.date() - timedelta(days=1)
    days = 2 + math.ceil(args.duration_h / 24.0)
    scenario = generate(
        args.scenario,
        args.chargers,
        args.seed,
        start_local_day=day,
        tz=args.tz,
        days=days,
        connectors_per_charger=args.connectors,
    )
    anchor = datetime.combine(local_now.date(), start_tod, tzinfo=zone).astimezone(UTC)
    return scenario.shifted(now_utc - anchor)


def _hhmm(text: str) -> time:
    try:
        return time.fromisoformat(text)
    except ValueError as exc:
        raise SimulatorError(f"--start: {text!r} is not HH:MM") from exc


async def _run(args: argparse.Namespace) -> int:
    now = datetime.now(UTC)
    clock = AcceleratedClock(now, args.speed)
    end = now + timedelta(hours=args.duration_h)
    scenario = build_scenario(args, now).window(now, end)
    spec = ChargerSpec(
        "template",
        n_connectors=max(args.connectors, scenario.connectors_per_charger),
        max_current_a=args.max_current_a,
        meter_interval_s=args.meter_interval_s,
        sampled_data=args.sampled_data,
        ocpp_version="1.6" if args.ocpp_version == "mixed" else args.ocpp_version,
        password=args.password,
    )
    specs = None
    if args.ocpp_version == "mixed":
        specs = {
            cid: replace(spec, charger_id=cid, ocpp_version="2.0.1")
            for cid in scenario.charger_ids[1::2]
        }
    site = SimSite(
        args.url, scenario, clock, charger_spec=spec, specs=specs, password=args.password
    )
    print(
        f"{len(scenario.charger_ids)} chargers, {len(scenario.sessions)} sessions "
        f"({args.sessions_csv or args.scenario}), {args.duration_h:g} h at {args.speed:g}x "
        f"against {args.url}"
    )
    progress = None if args.no_progress else asyncio.create_task(_progress(site, clock, end))
    try:
        record = await site.run(until_utc=end)
    finally:
        if progress is not None:
            progress.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await progress
    summary = record.summary()
    print("\nsummary")
    for key, value in summary.items():
        print(f"  {key:<24} {value:g}")
    boots = sum(cp.booted_count for cp in site.chargers.values())
    drops = sum(cp.disconnect_count for cp in site.chargers.values())
    rejected = sum(len(cp.rejected_profiles) for cp in site.chargers.values())
    print(f"  {'boots':<24} {boots}\n  {'disconnects':<24} {drops}")
    print(f"  {'profiles_rejected':<24} {rejected}")
    return 0 if boots > 0 else 1


async def _progress(site: SimSite, clock: AcceleratedClock, end: datetime) -> None:
    from tqdm import tqdm

    total_s = max(1.0, (end - clock.now()).total_seconds())
    with tqdm(total=round(total_s / 60), unit="sim-min", dynamic_ncols=True) as bar:
        while True:
            await asyncio.sleep(0.5)
            done = round(clock.elapsed_s() / 60)
            bar.update(max(0, min(done, bar.total) - bar.n))
            bar.set_postfix(
                connected=site.connected_count(),
                charging=len(site.active),
                done=len(site.finished),
                kw=f"{site.power_now_kw():.1f}",
            )


def run(args: argparse.Namespace) -> int:
    if args.chargers < 1 or args.speed <= 0 or args.duration_h <= 0:
        print("simulate: --chargers, --speed and --duration-h must be > 0")
        return 2
    if logging.getLogger().level > logging.DEBUG:
        logging.getLogger("simulator.ocpp").setLevel(logging.WARNING)
        logging.getLogger("simulator.charger").setLevel(logging.WARNING)
    try:
        return asyncio.run(_run(args))
    except SimulatorError as exc:
        print(f"simulate: {exc}")
        return 2
    except KeyboardInterrupt:
        return 130
