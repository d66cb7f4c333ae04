"""`sitecharge prices`: print or plot the price per slot of a site's tariff or a price file."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from tariffs import (
    CurveTariff,
    DayAheadTariff,
    PriceSeries,
    SiteTariff,
    TariffError,
    describe_demand_charge,
    load_site_tariff,
    load_tariff_file,
)
from tariffs.fees import FeeTariff
from tariffs.timeutil import load_zone


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "prices",
        help="print or plot the price per slot of a tariff",
        description="Print (or plot) the price per kWh in each slot of a period. Slots beyond "
        "the published prices come from the tariff's fallback and are marked as forecast.",
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--config", type=Path, help="site TOML with [site] timezone and [tariff]")
    source.add_argument(
        "--tariff",
        type=Path,
        help="a price file (CSV timestamp,price per kWh; ENTSO-E XML; aWATTar or Octopus "
        "JSON; recognised by content or extension) or a TOML with a [tariff] table",
    )
    parser.add_argument(
        "--start",
        help="first slot, ISO 8601; without an offset it is the site's local time "
        "(default: the first published price, or the current slot)",
    )
    parser.add_argument("--hours", type=float, default=24.0, help="period length (default 24)")
    parser.add_argument("--slot-minutes", type=int, default=15, help="slot length (default 15)")
    parser.add_argument(
        "--timezone", default=None, help="zone for --tariff files and the printed local time"
    )
    parser.add_argument(
        "--peak-kw", type=float, default=0.0, help="peak already reached this billing period"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object to stdout")
    parser.add_argument("--plot", type=Path, help="write a PNG plot of the prices to this file")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        site = _load(args)
        zone = load_zone(args.timezone or site.timezone, "--timezone")
        slot_s = _positive_int(args.slot_minutes * 60, "--slot-minutes")
        slots = _positive_int(round(args.hours * 3600 / slot_s), "--hours")
        start_utc = _start(args.start, zone, site.tariff, slot_s)
        series = site.tariff.prices(start_utc, slot_s, slots)
        demand = None
        if site.demand_charge is not None:
            demand = describe_demand_charge(
                site.demand_charge, start_utc, slot_s, slots, peak_so_far_kw=args.peak_kw
            )
    except TariffError as exc:
        print(f"sitecharge prices: {exc}", file=sys.stderr)
        return 2
    source = str(args.config or args.tariff)
    if args.json:
        document = _as_json(series, source, zone.key)
        if demand is not None:
            document["demand_charge"] = {
                "price_per_kw": demand.price_per_kw,
                "window_s": demand.window_s,
                "threshold_kw": demand.threshold_kw,
                "on_peak": [bool(x) for x in demand.on_peak],
            }
        json.dump(document, sys.stdout)
        sys.stdout.write("\n")
    else:
        print(_as_table(series, source, zone))
        if demand is not None:
            print(
                f"demand charge: {demand.price_per_kw:g} per kW of the highest "
                f"{demand.window_s // 60}-min average above {demand.threshold_kw:g} kW; "
                f"{int(demand.on_peak.sum())} of {slots} slots on-peak"
            )
    if args.plot is not None:
        from controller.plots.prices_plot import plot_prices  # matplotlib only when asked

        plot_prices(series, args.plot, zone=zone, title=source)
        if not args.json:
            print(f"plot written to {args.plot}")
    return 0


def _positive_int(value: float, flag: str) -> int:
    if value < 1:
        raise TariffError(f"must give at least one slot, got {value}", source=flag)
    return int(value)


def _load(args: argparse.Namespace) -> SiteTariff:
    if args.config is not None:
        return load_site_tariff(args.config)
    zone = args.timezone or "UTC"
    load_zone(zone, "--timezone")
    return load_tariff_file(args.tariff, timezone=zone)


def _published(tariff: CurveTariff) -> DayAheadTariff | None:
    inner = tariff.inner if isinstance(tariff, FeeTariff) else tariff
    return inner if isinstance(inner, DayAheadTariff) else None


def _start(text: str | None, zone: ZoneInfo, tariff: CurveTariff, slot_s: int) -> datetime:
    if text is not None:
        try:
            value = datetime.fromisoformat(text)
        except ValueError:
            raise TariffError(f"not an ISO 8601 time: {text!r}", source="--start") from None
        if value.tzinfo is None:
            value = value.replace(tzinfo=zone)  # a person's input: local time of the site
        return value.astimezone(UTC)
    published = _published(tariff)
    if published is not None and not published.repeat_daily:
        return datetime.fromtimestamp(published.series.start_s, tz=UTC)
    now = datetime.now(UTC)  # the CLI edge may read the clock; the library never does
    return now - timedelta(seconds=int(now.timestamp()) % slot_s, microseconds=now.microsecond)


def _as_json(series: PriceSeries, source: str, zone_name: str) -> dict[str, object]:
    return {
        "source": source,
        "timezone": zone_name,
        "slot_s": series.slot_s,
        "slot_start_utc": [_iso(t) for t in series.slot_starts_utc()],
        "prices_per_kwh": [round(float(p), 6) for p in series.prices_per_kwh],
        "forecast": [bool(f) for f in series.forecast],
    }


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _as_table(series: PriceSeries, source: str, zone: ZoneInfo) -> str:
    lines = [
        f"prices from {source} ({zone.key}), {series.slot_s // 60}-min slots, * = forecast",
        f"{'local time':<25} {'UTC':<20} {'price/kWh':>10}",
    ]
    for start, price, guess in zip(
        series.slot_starts_utc(), series.prices_per_kwh, series.forecast, strict=True
    ):
        local = start.astimezone(zone).isoformat(timespec="minutes")
        lines.append(f"{local:<25} {_iso(start):<20} {price:>10.4f}{' *' if guess else ''}")
    prices = series.prices_per_kwh
    lines.append(
        f"min {prices.min():.4f}  mean {prices.mean():.4f}  max {prices.max():.4f}"
        f"  forecast slots {int(series.forecast.sum())}/{series.slots}"
    )
    return "\n".join(lines)
