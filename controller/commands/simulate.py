"""`sitecharge simulate`: a site of simulated chargers against any OCPP 1.6J central system.

The only controller module (with the demo) that imports the simulator. Against an outside
central system the simulator's clock starts at the real current time, so the profiles it
receives line up; ``--start`` picks the scenario's local time of day at that moment (the
scenario is shifted onto the clock; the clock is not moved). ``--config SITE.toml`` names the
chargers as the site file does (a server refuses ids it does not list); before the run the
server's clock speed is measured and a different ``--speed`` refused (see ``simulate_site``).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import logging
import math
import sys
from dataclasses import replace
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from controller.commands.simulate_site import (
    ChargerRefused,
    SiteChargers,
    measure_server_speed,
    on_site,
    read_site,
    same_speed,
)
from simulator.charger import DEFAULT_SAMPLED_DATA, ChargerSpec
from simulator.clock import AcceleratedClock
from simulator.errors import SimulatorError
from simulator.scenario import KINDS, Scenario, generate, load_sessions_csv
from simulator.site import ChargersRefused, SimSite

LOG = logging.getLogger("sitecharge.simulate")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "simulate",
        help="run simulated chargers against an OCPP 1.6J or 2.0.1 central system",
        description="Run simulated chargers playing a scenario against a central system.",
    )
    parser.add_argument(
        "--config",
        help="the server's site file: simulate its chargers (ids, connectors, currents, "
        "phases) and, without --url, connect to its [ocpp] address",
    )
    parser.add_argument("--url", help="central system URL, e.g. ws://host:9000/ocpp")
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--scenario", choices=sorted(KINDS), default="workplace")
    source.add_argument("--sessions-csv", help="session log (connection/disconnect time, kWh)")
    parser.add_argument(
        "--chargers", type=int, help="number of chargers (20; with --config: all it lists)"
    )
    parser.add_argument("--connectors", type=int, default=1, help="connectors per charger (1)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--speed",
        type=float,
        default=1.0,
        help="clock speed-up (1 = real time); the server's clock must run at the same speed",
    )
    parser.add_argument(
        "--force-speed",
        action="store_true",
        help="skip the check that the server's clock runs at --speed",
    )
    parser.add_argument("--start", help="scenario local time of day at the start, HH:MM")
    parser.add_argument("--duration-h", type=float, default=24.0, help="hours to run (24)")
    parser.add_argument(
        "--tz", help="IANA zone of the scenario's hours (UTC; with --config: the site's)"
    )
    parser.add_argument(
        "--max-current-a", type=float, help="per charger (32; with --config: the site's)"
    )
    parser.add_argument(
        "--meter-interval-s", type=int, help="(60; with --config: the site's sample interval)"
    )
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


def _template(args: argparse.Namespace) -> ChargerSpec:
    return ChargerSpec(
        "template",
        n_connectors=args.connectors,
        max_current_a=32.0 if args.max_current_a is None else args.max_current_a,
        meter_interval_s=60 if args.meter_interval_s is None else args.meter_interval_s,
        sampled_data=args.sampled_data,
        ocpp_version="1.6" if args.ocpp_version == "mixed" else args.ocpp_version,
        password=args.password,
    )


def _site_specs(args: argparse.Namespace, site: SiteChargers) -> dict[str, ChargerSpec]:
    """The site file's chargers (the first ``--chargers``), with explicit flags on top."""
    if args.chargers is not None and args.chargers > len(site.specs):
        raise SimulatorError(
            f"--chargers {args.chargers}: {site.path} lists {len(site.specs)} chargers"
        )
    specs = site.specs[: args.chargers] if args.chargers else site.specs
    explicit = {
        key: value
        for key, value in (
            ("max_current_a", args.max_current_a),
            ("meter_interval_s", args.meter_interval_s),
        )
        if value is not None
    }
    return {spec.charger_id: replace(spec, **explicit) for spec in specs}


async def _check_clock(args: argparse.Namespace, url: str, first_id: str) -> str | None:
    """None when the server's clock runs at ``--speed``; else why the run must not start."""
    headers = _basic(first_id, args.password)
    try:
        server_speed = await measure_server_speed(url, first_id, headers=headers)
    except ChargerRefused as exc:
        if args.speed == 1:
            return None  # the run reports refusals charger by charger
        return f"cannot check that the server's clock runs at {args.speed:g}x: {exc}"
    except SimulatorError as exc:
        if args.speed == 1:
            LOG.warning("%s; assuming it runs in real time", exc)
            return None
        return f"{exc}: cannot check that it runs at {args.speed:g}x (--force-speed skips this)"
    LOG.info("the server's clock runs at %.3gx", server_speed)
    if same_speed(server_speed, args.speed):
        return None
    return (
        f"the server's clock runs at {server_speed:.2g}x (measured), this simulation at "
        f"{args.speed:g}x: every charging profile would start and lapse at the wrong time "
        f"for the cars. Simulate at the server's speed, or run a test site's server at "
        f"this one's (`sitecharge serve --config SITE.toml --speed {args.speed:g}`); "
        f"--force-speed skips this check"
    )


def _basic(charger_id: str, password: str | None) -> dict[str, str] | None:
    """The HTTP Basic header a simulated charger sends (Security Profile 1), if any."""
    if password is None:
        return None
    token = base64.b64encode(f"{charger_id}:{password}".encode()).decode()
    return {"Authorization": "Basic " + token}


def _refusal_hint(args: argparse.Namespace, site: SiteChargers | None, url: str) -> str:
    if site is not None:
        return (
            f"the simulated chargers are those {site.path} lists ({site.listed()}); the "
            f"server at {url} does not accept them: does it run another site file?"
        )
    return (
        "the simulated chargers are named CP001, CP002, …; a server accepts only the ids its "
        "site file lists: pass that file with --config SITE.toml to simulate its chargers"
    )


async def _run(args: argparse.Namespace) -> int:
    template = _template(args)
    site_file = read_site(args.config, template, args.ocpp_version) if args.config else None
    url = args.url or (site_file.url if site_file else None)
    if url is None:
        raise SimulatorError("give --url ws://HOST:PORT/PREFIX or --config SITE.toml")
    if args.tz is None:
        args.tz = site_file.timezone if site_file else "UTC"
    site_specs = _site_specs(args, site_file) if site_file else None
    if site_specs is not None:
        args.chargers = len(site_specs)
        args.connectors = max(s.n_connectors for s in site_specs.values())
    elif args.chargers is None:
        args.chargers = 20
    first_id = next(iter(site_specs)) if site_specs else "CP001"
    if not args.force_speed:
        problem = await _check_clock(args, url, first_id)
        if problem is not None:
            print(f"simulate: {problem}", file=sys.stderr)
            return 2
    now = datetime.now(UTC)
    clock = AcceleratedClock(now, args.speed)
    end = now + timedelta(hours=args.duration_h)
    scenario = build_scenario(args, now).window(now, end)
    specs = None
    if site_file is not None and site_specs is not None:
        scenario = on_site(scenario, replace(site_file, specs=tuple(site_specs.values())))
        specs = site_specs
    elif args.ocpp_version == "mixed":
        specs = {
            cid: replace(template, charger_id=cid, ocpp_version="2.0.1")
            for cid in scenario.charger_ids[1::2]
        }
    spec = replace(template, n_connectors=max(args.connectors, scenario.connectors_per_charger))
    site = SimSite(url, scenario, clock, charger_spec=spec, specs=specs, password=args.password)
    print(
        f"{len(scenario.charger_ids)} chargers, {len(scenario.sessions)} sessions "
        f"({args.sessions_csv or args.scenario}), {args.duration_h:g} h at {args.speed:g}x "
        f"against {url}",
        flush=True,
    )
    progress = None if args.no_progress else asyncio.create_task(_progress(site, clock, end))
    try:
        record = await site.run(until_utc=end)
    except ChargersRefused as exc:
        for cid, why in exc.refusals.items():
            print(f"simulate: charger {cid}: refused by the server ({why})", file=sys.stderr)
        print(
            f"simulate: no charger could connect: {_refusal_hint(args, site_file, url)}",
            file=sys.stderr,
        )
        return 1
    finally:
        if progress is not None:
            progress.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await progress
    refused = site.refused()
    if refused:
        print(
            f"simulate: {len(refused)} of {len(site.chargers)} chargers were refused "
            f"({', '.join(refused)}): {_refusal_hint(args, site_file, url)}",
            file=sys.stderr,
        )
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
    if (args.chargers is not None and args.chargers < 1) or args.speed <= 0 or args.duration_h <= 0:
        print("simulate: --chargers, --speed and --duration-h must be > 0", file=sys.stderr)
        return 2
    if logging.getLogger().level > logging.DEBUG:
        logging.getLogger("simulator.ocpp").setLevel(logging.WARNING)
        logging.getLogger("simulator.charger").setLevel(logging.WARNING)
    try:
        return asyncio.run(_run(args))
    except SimulatorError as exc:
        print(f"simulate: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
