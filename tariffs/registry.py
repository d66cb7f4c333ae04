"""`type` name in the site's `[tariff]` table -> tariff constructor (one entry per variant).

    [tariff]
    type = "csv"                 # flat | tou | csv | entsoe | awattar | octopus
    file = "prices.csv"          # day-ahead types: relative to the TOML's folder
    fallback = "day_before"      # none | day_before | week_before | auto | a table {type="tou",...}
    repeat_daily = false         # tile a whole-day recorded series over every date
    [tariff.fees]                # optional, applied to any type
    markup_per_kwh = 0.12
    vat_percent = 19
    [tariff.demand_charge]       # optional, see tariffs.fees.parse_demand_charge
    price_per_kw = 12.5

Per type: flat `price_per_kwh`; tou see `tariffs.rules`; csv `price_unit` ("kwh"|"mwh"),
`resolution_minutes`; entsoe `area` (EIC code); octopus `include_vat` (true).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from tariffs.base import CurveTariff
from tariffs.curve import Curve
from tariffs.dayahead import DAY_S, DayAheadTariff, series_from_points
from tariffs.errors import TariffConfigError
from tariffs.fees import DemandCharge, FeeTariff, parse_demand_charge, parse_fees
from tariffs.files import detect_format, parse_toml, read_text
from tariffs.formats import PricePoint
from tariffs.formats.awattar import parse_awattar_json
from tariffs.formats.csv_prices import parse_price_csv
from tariffs.formats.entsoe import parse_entsoe_xml
from tariffs.formats.octopus import parse_octopus_json
from tariffs.rules import build_flat, build_tou, parse_number
from tariffs.timeutil import load_zone


@dataclass(frozen=True)
class BuildContext:
    timezone: str
    base_dir: Path
    where: str = "tariff"


Constructor = Callable[[Mapping[str, object], BuildContext], CurveTariff]
_COMMON_KEYS = frozenset({"type", "fees", "demand_charge"})
_DAYAHEAD_KEYS = frozenset({"file", "fallback", "repeat_daily"})


@dataclass(frozen=True)
class _Variant:
    constructor: Constructor
    keys: frozenset[str] | None  # None: the variant validates its own keys


_REGISTRY: dict[str, _Variant] = {}


def register_tariff_type(name: str, constructor: Constructor, keys: set[str] | None = None) -> None:
    """Add a variant; `keys` are the keys it accepts besides type/fees/demand_charge."""
    _REGISTRY[name] = _Variant(constructor, None if keys is None else frozenset(keys))


def tariff_types() -> tuple[str, ...]:
    return tuple(sorted(_REGISTRY))


def build_tariff(table: Mapping[str, object], *, timezone: str, base_dir: Path) -> CurveTariff:
    """The site's tariff (fees applied) from its `[tariff]` table; errors name the field."""
    return _build(table, BuildContext(timezone=timezone, base_dir=Path(base_dir)))


def build_demand_charge(table: Mapping[str, object], *, timezone: str) -> DemandCharge | None:
    """The `[tariff.demand_charge]` sub-table of a `[tariff]` table, or None when absent."""
    if "demand_charge" not in table:
        return None
    load_zone(timezone, "site.timezone")
    return parse_demand_charge(table["demand_charge"], timezone=timezone)


def _build(table: Mapping[str, object], ctx: BuildContext) -> CurveTariff:
    if not isinstance(table, Mapping):
        raise TariffConfigError("expected a table", source=ctx.where)
    load_zone(ctx.timezone, "site.timezone")
    kind = table.get("type")
    if kind not in _REGISTRY:
        raise TariffConfigError(
            f"unknown type {kind!r} (use one of {', '.join(tariff_types())})",
            source=f"{ctx.where}.type",
        )
    variant = _REGISTRY[str(kind)]
    if variant.keys is not None:
        unknown = set(table) - _COMMON_KEYS - variant.keys
        if unknown:
            raise TariffConfigError(f"unknown keys {sorted(unknown)} for type {kind}", ctx.where)
    tariff = variant.constructor(table, ctx)
    if "fees" in table:
        fees = parse_fees(table["fees"], timezone=ctx.timezone, where=f"{ctx.where}.fees")
        tariff = FeeTariff(tariff, fees)
    return tariff


def _file(table: Mapping[str, object], ctx: BuildContext) -> tuple[Path, str]:
    raw = table.get("file")
    if not isinstance(raw, str) or not raw:
        raise TariffConfigError("missing file (a path to the price file)", f"{ctx.where}.file")
    path = Path(raw)
    if not path.is_absolute():
        path = ctx.base_dir / path
    return path, read_text(path)


def _dayahead(
    table: Mapping[str, object],
    ctx: BuildContext,
    points: list[PricePoint],
    source: str,
    resolution_s: int | None = None,
) -> DayAheadTariff:
    series = series_from_points(points, source=source, resolution_s=resolution_s)
    repeat = table.get("repeat_daily", False)
    if not isinstance(repeat, bool):
        raise TariffConfigError("expected true or false", f"{ctx.where}.repeat_daily")
    return DayAheadTariff(
        series,
        fallback=_fallback(table.get("fallback", "auto"), series, ctx),
        repeat_daily=repeat,
        source=source,
    )


def _fallback(raw: object, series: Curve, ctx: BuildContext) -> str | CurveTariff:
    if raw == "auto":
        return "day_before" if series.end_s - series.start_s >= DAY_S else "none"
    if isinstance(raw, str):
        return raw
    if isinstance(raw, Mapping):
        if "fees" in raw:
            raise TariffConfigError("fees belong to the tariff, not its fallback", ctx.where)
        return _build(raw, BuildContext(ctx.timezone, ctx.base_dir, f"{ctx.where}.fallback"))
    raise TariffConfigError(f"expected a name or a table, got {raw!r}", f"{ctx.where}.fallback")


def _csv(table: Mapping[str, object], ctx: BuildContext) -> DayAheadTariff:
    path, text = _file(table, ctx)
    unit = str(table.get("price_unit", "kwh")).lower()
    if unit not in ("kwh", "mwh"):
        raise TariffConfigError(f"expected kwh or mwh, got {unit!r}", f"{ctx.where}.price_unit")
    resolution_s = None
    if "resolution_minutes" in table:
        minutes = parse_number(table["resolution_minutes"], f"{ctx.where}.resolution_minutes")
        if minutes <= 0:
            raise TariffConfigError("must be > 0", f"{ctx.where}.resolution_minutes")
        resolution_s = int(minutes * 60)
    scale = 1.0 if unit == "kwh" else 1 / 1000.0
    points = parse_price_csv(text, source=str(path), price_scale=scale)
    return _dayahead(table, ctx, points, str(path), resolution_s)


def _entsoe(table: Mapping[str, object], ctx: BuildContext) -> DayAheadTariff:
    path, text = _file(table, ctx)
    area = table.get("area")
    points = parse_entsoe_xml(text, source=str(path), area=None if area is None else str(area))
    return _dayahead(table, ctx, points, str(path))


def _awattar(table: Mapping[str, object], ctx: BuildContext) -> DayAheadTariff:
    path, text = _file(table, ctx)
    return _dayahead(table, ctx, parse_awattar_json(text, source=str(path)), str(path))


def _octopus(table: Mapping[str, object], ctx: BuildContext) -> DayAheadTariff:
    path, text = _file(table, ctx)
    include_vat = table.get("include_vat", True)
    if not isinstance(include_vat, bool):
        raise TariffConfigError("expected true or false", f"{ctx.where}.include_vat")
    points = parse_octopus_json(text, source=str(path), include_vat=include_vat)
    return _dayahead(table, ctx, points, str(path))


register_tariff_type("flat", lambda t, c: build_flat(t, c.where), {"price_per_kwh"})
register_tariff_type(
    "tou",
    lambda t, c: build_tou(
        {k: v for k, v in t.items() if k not in _COMMON_KEYS}, timezone=c.timezone, where=c.where
    ),
)
register_tariff_type("csv", _csv, {*_DAYAHEAD_KEYS, "price_unit", "resolution_minutes"})
register_tariff_type("entsoe", _entsoe, {*_DAYAHEAD_KEYS, "area"})
register_tariff_type("awattar", _awattar, set(_DAYAHEAD_KEYS))
register_tariff_type("octopus", _octopus, {*_DAYAHEAD_KEYS, "include_vat"})


@dataclass(frozen=True)
class SiteTariff:
    tariff: CurveTariff
    demand_charge: DemandCharge | None
    timezone: str


def site_tariff_from_toml(text: str, *, source: str, base_dir: Path) -> SiteTariff:
    """`[site] timezone` and `[tariff]` of a site TOML (pure: the text is given)."""
    document = parse_toml(text, source=source)
    site = document.get("site", {})
    if not isinstance(site, Mapping):
        raise TariffConfigError("expected a table", source=f"{source}: site")
    timezone = site.get("timezone", document.get("timezone"))
    if timezone is None:
        raise TariffConfigError("missing [site] timezone", source=source)
    load_zone(timezone, f"{source}: site.timezone")
    table = document.get("tariff")
    if not isinstance(table, Mapping):
        raise TariffConfigError("missing [tariff] table", source=source)
    try:
        tariff = build_tariff(table, timezone=str(timezone), base_dir=base_dir)
        demand = build_demand_charge(table, timezone=str(timezone))
    except TariffConfigError as exc:
        if exc.source and not exc.source.startswith(("tariff", "site")):
            raise
        raise TariffConfigError(exc.detail, f"{source}: {exc.source}", line=exc.line) from None
    return SiteTariff(tariff, demand, str(timezone))


def load_site_tariff(path: Path) -> SiteTariff:
    """Read a site TOML and build its tariff (the edge)."""
    path = Path(path)
    return site_tariff_from_toml(read_text(path), source=str(path), base_dir=path.parent)


_PARSERS = {
    "csv": lambda text, src: parse_price_csv(text, source=src),
    "entsoe": lambda text, src: parse_entsoe_xml(text, source=src),
    "awattar": lambda text, src: parse_awattar_json(text, source=src),
    "octopus": lambda text, src: parse_octopus_json(text, source=src),
}


def load_tariff_file(path: Path, *, timezone: str = "UTC", fallback: str = "auto") -> SiteTariff:
    """A price file given directly (format from content or extension), or a TOML tariff."""
    path = Path(path)
    text = read_text(path)
    kind = detect_format(str(path), text)
    if kind == "toml":
        document = parse_toml(text, source=str(path))
        if "site" not in document and "timezone" not in document:
            text = f'timezone = "{timezone}"\n' + text
        return site_tariff_from_toml(text, source=str(path), base_dir=path.parent)
    points = _PARSERS[kind](text, str(path))
    series = series_from_points(points, source=str(path))
    ctx = BuildContext(timezone, path.parent)
    tariff = DayAheadTariff(series, fallback=_fallback(fallback, series, ctx), source=str(path))
    return SiteTariff(tariff, None, timezone)
