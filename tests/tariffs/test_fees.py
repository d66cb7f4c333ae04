"""The fee formula on top of any source, and demand-charge descriptions for the optimiser."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from tariffs.curve import make_curve
from tariffs.dayahead import DayAheadTariff
from tariffs.errors import TariffConfigError, TariffError
from tariffs.fees import FeeTariff, describe_demand_charge, parse_demand_charge, parse_fees
from tariffs.rules import build_flat

from .conftest import utc

H = 3600
T0 = int(utc(2026, 1, 5).timestamp())  # a Monday, 01:00 local in Berlin


@pytest.mark.parametrize(
    ("fees", "market", "expected"),
    [
        ({}, 0.10, 0.10),
        ({"markup_per_kwh": 0.12}, 0.10, 0.22),
        ({"markup_per_kwh": 0.12, "vat_percent": 19}, 0.10, 0.22 * 1.19),
        ({"markup_per_kwh": 0.015, "multiplier": 1.2}, -0.02, (-0.02 + 0.015) * 1.2),
        ({"market_multiplier": 1.03, "markup_per_kwh": 0.1}, 0.2, 0.2 * 1.03 + 0.1),
    ],
)
def test_fee_formula_hand_computed(fees, market, expected):
    tariff = FeeTariff(build_flat({"price_per_kwh": market}), parse_fees(fees, timezone="UTC"))
    assert tariff.prices_per_kwh(utc(2026, 1, 5), 900, 4) == pytest.approx([expected] * 4)


def test_time_of_use_grid_fee_on_top_of_market_price():
    market = DayAheadTariff(make_curve(T0 + H * np.arange(25), np.full(24, 0.08)), fallback="none")
    fees = parse_fees(
        {
            "markup_per_kwh": 0.10,
            "vat_percent": 20,
            "grid": {
                "default_price_per_kwh": 0.05,
                "periods": [{"start": "17:00", "end": "20:00", "price_per_kwh": 0.15}],
            },
        },
        timezone="Europe/Berlin",
    )
    series = FeeTariff(market, fees).prices(utc(2026, 1, 5, 15, 30), 3600, 3)
    # 16:30-17:30 local: half the slot at each grid fee; 17:30-18:30 on-peak; 18:30-19:30 too
    on, off = (0.08 + 0.10 + 0.15) * 1.2, (0.08 + 0.10 + 0.05) * 1.2
    assert series.prices_per_kwh.tolist() == pytest.approx([(on + off) / 2, on, on])


def test_fees_keep_forecast_flags():
    market = DayAheadTariff(make_curve([T0, T0 + 86400], [0.1]), fallback="day_before")
    tariff = FeeTariff(market, parse_fees({"markup_per_kwh": 0.1}, timezone="UTC"))
    series = tariff.prices(utc(2026, 1, 5, 23), 3600, 2)
    assert series.forecast.tolist() == [False, True]
    assert series.prices_per_kwh.tolist() == pytest.approx([0.2, 0.2])


@pytest.mark.parametrize(
    ("fees", "match"),
    [
        ({"markup": 0.1}, r"tariff.fees: unknown keys \['markup'\]"),
        ({"multiplier": 1.2, "vat_percent": 20}, "multiplier or vat_percent"),
        ({"markup_per_kwh": "0.1"}, r"tariff.fees.markup_per_kwh: expected a number"),
        (
            {"grid": {"periods": [{"start": "00:00", "end": "12:00", "price_per_kwh": 0.1}]}},
            r"tariff.fees.grid.periods: no period covers mon 12:00-24:00",
        ),
    ],
)
def test_bad_fees(fees, match):
    with pytest.raises(TariffConfigError, match=match):
        parse_fees(fees, timezone="UTC")


US_DEMAND = {
    "price_per_kw": 18.5,
    "window_minutes": 15,
    "holidays": ["2026-07-03"],
    "on_peak": [{"days": "weekdays", "start": "14:00", "end": "21:00"}],
}


def test_demand_charge_on_peak_mask_in_local_time():
    charge = parse_demand_charge(US_DEMAND, timezone="America/New_York")
    start = datetime(2026, 7, 2, 13, 30, tzinfo=ZoneInfo("America/New_York"))
    terms = describe_demand_charge(charge, start, 1800, 48, peak_so_far_kw=42.0)
    assert terms.price_per_kw == 18.5
    assert terms.window_s == 900
    assert terms.threshold_kw == 42.0
    local = [13.5 + 0.5 * i for i in range(48)]  # hours since Thursday 00:00 local
    expected = [14 <= h < 21 for h in local]  # Friday 3 July is a holiday: no on-peak
    assert terms.on_peak.tolist() == expected


def test_demand_charge_partial_slot_touching_on_peak_counts():
    charge = parse_demand_charge(
        {"price_per_kw": 10, "on_peak": [{"start": "17:00", "end": "18:00"}]}, timezone="UTC"
    )
    terms = describe_demand_charge(
        charge, utc(2026, 1, 5, 16, 50), 900, 2, peak_so_far_kw=0, first_slot_s=300
    )
    assert terms.on_peak.tolist() == [False, True]


def test_demand_charge_without_windows_applies_always():
    charge = parse_demand_charge({"price_per_kw": 9.8}, timezone="UTC")
    terms = describe_demand_charge(charge, utc(2026, 1, 1), 900, 8, peak_so_far_kw=3.5)
    assert terms.on_peak.all() and terms.window_s == 900


@pytest.mark.parametrize(
    ("table", "match"),
    [
        ({}, r"tariff.demand_charge: missing price_per_kw"),
        ({"price_per_kw": -1}, r"tariff.demand_charge.price_per_kw: must be >= 0"),
        ({"price_per_kw": 1, "window_minutes": 0}, r"window_minutes: must be a whole number"),
        ({"price_per_kw": 1, "ratchet": True}, r"unknown keys \['ratchet'\]"),
        (
            {"price_per_kw": 1, "on_peak": [{"start": "1700"}]},
            r"tariff.demand_charge.on_peak.periods\[0\].start: expected a time",
        ),
    ],
)
def test_bad_demand_charge(table, match):
    with pytest.raises(TariffConfigError, match=match):
        parse_demand_charge(table, timezone="UTC")


def test_negative_peak_so_far_rejected():
    charge = parse_demand_charge({"price_per_kw": 1}, timezone="UTC")
    with pytest.raises(TariffError, match="peak_so_far_kw"):
        describe_demand_charge(charge, utc(2026, 1, 1), 900, 4, peak_so_far_kw=-1)
