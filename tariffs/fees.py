"""What a site really pays: the fee formula on top of any price source, and demand charges.

    price = (market × market_multiplier + markup_per_kwh + grid fee(t)) × multiplier

`multiplier` is e.g. 1.19 for 19 % VAT (or give `vat_percent`); the grid fee may itself be
time-of-use (the rules of `tariffs.rules` under `[tariff.fees.grid]`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

import numpy as np

from tariffs.base import CurveTariff
from tariffs.curve import Curve, combine, make_curve, mean_over
from tariffs.errors import TariffConfigError, TariffError
from tariffs.rules import TouRules, parse_number, parse_rules
from tariffs.timeutil import require_utc, slot_edges_s


@dataclass(frozen=True)
class FeeFormula:
    market_multiplier: float = 1.0
    markup_per_kwh: float = 0.0  # [currency/kWh] retailer markup, levies, flat grid fee
    grid_fees: TouRules | None = None  # [currency/kWh] time-of-use grid fee
    multiplier: float = 1.0  # e.g. VAT

    def apply(self, market: Curve) -> Curve:
        base = market.values * self.market_multiplier + self.markup_per_kwh
        curve = make_curve(market.edges_s, base, market.forecast)
        if self.grid_fees is not None:
            fees = self.grid_fees.curve(market.start_s, market.end_s)
            curve = combine(curve, fees, np.add)
        return make_curve(curve.edges_s, curve.values * self.multiplier, curve.forecast)


class FeeTariff(CurveTariff):
    """Any curve tariff with the site's fees applied."""

    name = "with_fees"

    def __init__(self, inner: CurveTariff, formula: FeeFormula):
        self.inner = inner
        self.formula = formula

    def curve(self, start_s: int, end_s: int) -> Curve:
        return self.formula.apply(self.inner.curve(start_s, end_s))


_FEE_KEYS = {"market_multiplier", "markup_per_kwh", "multiplier", "vat_percent", "grid"}


def parse_fees(table: object, *, timezone: str, where: str = "tariff.fees") -> FeeFormula:
    if not isinstance(table, Mapping):
        raise TariffConfigError("expected a table", source=where)
    unknown = set(table) - _FEE_KEYS
    if unknown:
        raise TariffConfigError(f"unknown keys {sorted(unknown)}", source=where)
    if "multiplier" in table and "vat_percent" in table:
        raise TariffConfigError("give multiplier or vat_percent, not both", source=where)
    multiplier = parse_number(table.get("multiplier", 1.0), f"{where}.multiplier")
    if "vat_percent" in table:
        multiplier = 1.0 + parse_number(table["vat_percent"], f"{where}.vat_percent") / 100.0
    grid = None
    if "grid" in table:
        grid_table = table["grid"]
        if not isinstance(grid_table, Mapping):
            raise TariffConfigError("expected a table", source=f"{where}.grid")
        grid = parse_rules(grid_table, timezone=timezone, where=f"{where}.grid", default_value=None)
    return FeeFormula(
        market_multiplier=parse_number(
            table.get("market_multiplier", 1.0), f"{where}.market_multiplier"
        ),
        markup_per_kwh=parse_number(table.get("markup_per_kwh", 0.0), f"{where}.markup_per_kwh"),
        grid_fees=grid,
        multiplier=multiplier,
    )


@dataclass(frozen=True)
class DemandCharge:
    """Price per kW of the billing period's highest `window_s` average power (on-peak only
    when `on_peak` rules are given)."""

    price_per_kw: float
    window_s: int = 900
    on_peak: TouRules | None = None  # windows: value 1 on-peak, 0 off-peak


@dataclass(frozen=True)
class DemandChargeTerms:
    """What the optimiser needs for one horizon, as plain data."""

    price_per_kw: float  # [currency/kW]
    on_peak: np.ndarray  # bool, (slots,): slots whose power counts towards the peak
    window_s: int  # [s] averaging window of the metered peak
    threshold_kw: float  # [kW] peak already reached this billing period: only excess costs


def describe_demand_charge(
    charge: DemandCharge,
    start_utc: datetime,
    slot_s: int,
    slots: int,
    *,
    peak_so_far_kw: float,
    first_slot_s: int | None = None,
) -> DemandChargeTerms:
    """A slot is on-peak if any part of it lies in an on-peak window."""
    if not math.isfinite(peak_so_far_kw) or peak_so_far_kw < 0:
        raise TariffError(
            f"must be a finite number >= 0, got {peak_so_far_kw}", source="peak_so_far_kw"
        )
    edges = slot_edges_s(require_utc(start_utc, "start_utc"), slot_s, slots, first_slot_s)
    if charge.on_peak is None:
        mask = np.ones(slots, dtype=bool)
    else:
        share, _ = mean_over(charge.on_peak.curve(int(edges[0]), int(edges[-1])), edges)
        mask = share > 0
    mask.setflags(write=False)
    return DemandChargeTerms(
        price_per_kw=charge.price_per_kw,
        on_peak=mask,
        window_s=charge.window_s,
        threshold_kw=float(peak_so_far_kw),
    )


def parse_demand_charge(
    table: object, *, timezone: str, where: str = "tariff.demand_charge"
) -> DemandCharge:
    """`price_per_kw`, `window_minutes` (15), optional `on_peak` periods and `holidays`."""
    if not isinstance(table, Mapping):
        raise TariffConfigError("expected a table", source=where)
    unknown = set(table) - {"price_per_kw", "window_minutes", "on_peak", "holidays", "timezone"}
    if unknown:
        raise TariffConfigError(f"unknown keys {sorted(unknown)}", source=where)
    if "price_per_kw" not in table:
        raise TariffConfigError("missing price_per_kw", source=where)
    price = parse_number(table["price_per_kw"], f"{where}.price_per_kw")
    window_min = parse_number(table.get("window_minutes", 15), f"{where}.window_minutes")
    if price < 0:
        raise TariffConfigError("must be >= 0", source=f"{where}.price_per_kw")
    if window_min <= 0 or window_min != int(window_min):
        raise TariffConfigError("must be a whole number > 0", source=f"{where}.window_minutes")
    on_peak = None
    if "on_peak" in table:
        raw = table["on_peak"]
        rules_table: Mapping[str, object]
        if isinstance(raw, list):
            rules_table = {"periods": raw}
        elif isinstance(raw, Mapping):
            rules_table = raw
        else:
            raise TariffConfigError(
                "expected a list of periods or a table", source=f"{where}.on_peak"
            )
        if "holidays" in table and "holidays" not in rules_table:
            rules_table = {**rules_table, "holidays": table["holidays"]}
        on_peak = parse_rules(
            {**rules_table, **({"timezone": table["timezone"]} if "timezone" in table else {})},
            timezone=timezone,
            where=f"{where}.on_peak",
            value_key=None,
            default_value=0.0,
        )
    return DemandCharge(price_per_kw=price, window_s=int(window_min) * 60, on_peak=on_peak)
