"""Day-ahead tariffs: resampling, fallbacks marked as forecast, repeat and shift for demos."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest

from tariffs.curve import make_curve
from tariffs.dayahead import DayAheadTariff, series_from_points, shift_series_to
from tariffs.errors import PriceDataError, TariffConfigError
from tariffs.formats.csv_prices import parse_price_csv
from tariffs.rules import build_flat

from .conftest import SAMPLES, utc

H = 3600
T0 = int(utc(2026, 6, 15).timestamp())


def hourly(prices: list[float], start_s: int = T0):
    return make_curve(start_s + H * np.arange(len(prices) + 1), prices)


def test_resample_hourly_to_quarters_and_back():
    tariff = DayAheadTariff(hourly([0.1, 0.3, 0.2]), fallback="none")
    quarters = tariff.prices(utc(2026, 6, 15), 900, 12)
    assert quarters.prices_per_kwh.tolist() == [0.1] * 4 + [0.3] * 4 + [0.2] * 4
    hours = DayAheadTariff(
        make_curve(T0 + 900 * np.arange(9), [0.1, 0.2, 0.3, 0.4, 0.0, 0.0, 0.4, 0.4]),
        fallback="none",
    ).prices_per_kwh(utc(2026, 6, 15), 3600, 2)
    np.testing.assert_allclose(hours, [0.25, 0.2])


def test_partial_first_slot_straddling_price_change():
    tariff = DayAheadTariff(hourly([0.1, 0.3]), fallback="none")
    # re-plan at 00:52 on a 15-min grid: slot 0 = 00:52-01:00, slot 1 = 01:00-01:15
    series = tariff.prices(utc(2026, 6, 15, 0, 52), 900, 2, first_slot_s=480)
    assert series.prices_per_kwh.tolist() == pytest.approx([0.1, 0.3])
    # at 00:50 with a 30-min slot ending 01:10: (10 min × 0.1 + 10 min × 0.3) / 20 min
    series = tariff.prices(utc(2026, 6, 15, 0, 50), 1800, 1, first_slot_s=1200)
    assert series.prices_per_kwh[0] == pytest.approx(0.2)


def test_beyond_horizon_without_fallback_is_an_error():
    tariff = DayAheadTariff(hourly([0.1, 0.3]), fallback="none", source="p.csv")
    with pytest.raises(PriceDataError, match=r"p.csv: prices cover .* no fallback"):
        tariff.prices(utc(2026, 6, 15, 1), 3600, 2)


def test_day_before_fallback_is_marked_forecast():
    day = [float(h) for h in range(24)]
    tariff = DayAheadTariff(hourly(day), fallback="day_before")
    series = tariff.prices(utc(2026, 6, 15, 22), 3600, 4)
    assert series.prices_per_kwh.tolist() == [22.0, 23.0, 0.0, 1.0]
    assert series.forecast.tolist() == [False, False, True, True]
    before = tariff.prices(utc(2026, 6, 14, 23), 3600, 2)
    assert before.prices_per_kwh.tolist() == [23.0, 0.0]
    assert before.forecast.tolist() == [True, False]


def test_week_before_fallback_uses_same_hour_a_week_earlier():
    week = [float(i) for i in range(7 * 24)]
    tariff = DayAheadTariff(hourly(week), fallback="week_before")
    series = tariff.prices(utc(2026, 6, 22, 5), 3600, 1)
    assert series.prices_per_kwh[0] == 5.0 and series.forecast[0]


def test_week_before_needs_a_week_of_data():
    with pytest.raises(TariffConfigError, match=r"tariff.fallback: .* needs 168 h .* has 24 h"):
        DayAheadTariff(hourly([0.1] * 24), fallback="week_before")


def test_tariff_fallback_for_a_partly_covered_slot():
    tariff = DayAheadTariff(hourly([0.2]), fallback=build_flat({"price_per_kwh": 0.5}))
    series = tariff.prices(utc(2026, 6, 15, 0, 30), 3600, 2)
    # slot 0: 30 min published at 0.2, 30 min fallback at 0.5
    assert series.prices_per_kwh.tolist() == pytest.approx([0.35, 0.5])
    assert series.forecast.tolist() == [True, True]


def test_repeat_daily_and_shift_of_the_demo_shape():
    text = (SAMPLES / "dayahead_demo.csv").read_text()
    curve = series_from_points(parse_price_csv(text), source="demo")
    assert curve.end_s - curve.start_s == 2 * 86400
    shape = (
        DayAheadTariff(curve, fallback="none").prices(utc(2026, 6, 14, 22), 900, 192).prices_per_kwh
    )
    repeated = DayAheadTariff(curve, repeat_daily=True)
    later = repeated.prices(utc(2026, 6, 14, 22) + timedelta(days=200), 900, 192)
    assert not later.forecast.any()
    np.testing.assert_allclose(later.prices_per_kwh, shape)
    moved = shift_series_to(DayAheadTariff(curve, fallback="none"), utc(2031, 1, 5, 23))
    np.testing.assert_allclose(moved.prices_per_kwh(utc(2031, 1, 5, 23), 900, 192), shape)
    # a realistic shape: evening peak above the midday solar dip and the night
    day1 = shape[:96]
    assert day1[76:84].mean() > day1[:24].mean() > day1[48:60].mean()


def test_repeat_daily_needs_whole_days():
    with pytest.raises(TariffConfigError, match="repeat_daily needs whole days"):
        DayAheadTariff(hourly([0.1] * 5), repeat_daily=True)
