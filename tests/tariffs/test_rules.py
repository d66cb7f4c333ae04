"""Flat and time-of-use rules in local time: DST days, seasons, holidays, bad configs."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tariffs.errors import TariffConfigError
from tariffs.rules import build_flat, build_tou, parse_rules

from .conftest import utc

EVENING = {
    "default_price_per_kwh": 0.10,
    "periods": [{"days": "all", "start": "17:00", "end": "20:00", "price_per_kwh": 0.30}],
}


def local_midnight_utc(zone: str, y: int, m: int, d: int) -> datetime:
    return datetime(y, m, d, tzinfo=ZoneInfo(zone)).astimezone(ZoneInfo("UTC"))


@pytest.mark.parametrize(
    ("zone", "day", "hours"),
    [
        ("Europe/Berlin", (2026, 3, 29), 23),
        ("Europe/Berlin", (2026, 10, 25), 25),
        ("America/New_York", (2026, 3, 8), 23),
        ("America/New_York", (2026, 11, 1), 25),
        ("Europe/Berlin", (2026, 6, 15), 24),
    ],
)
def test_band_stays_at_local_time_across_dst(zone, day, hours):
    tariff = build_tou(EVENING, timezone=zone)
    start = local_midnight_utc(zone, *day)
    end = local_midnight_utc(zone, *(datetime(*day) + timedelta(days=1)).timetuple()[:3])
    assert (end - start) == timedelta(hours=hours)
    series = tariff.prices(start, 3600, hours)
    local_hours = [t.astimezone(ZoneInfo(zone)).hour for t in series.slot_starts_utc()]
    expected = [0.30 if 17 <= h < 20 else 0.10 for h in local_hours]
    np.testing.assert_allclose(series.prices_per_kwh, expected)
    assert series.prices_per_kwh.tolist().count(0.30) == 3


US = {
    "default_price_per_kwh": 0.14,
    "holidays": ["2026-07-03"],
    "seasons": [
        {
            "name": "summer",
            "start": "06-01",
            "end": "09-30",
            "periods": [
                {"days": "weekdays", "start": "16:00", "end": "21:00", "price_per_kwh": 0.42},
            ],
        },
        {
            "name": "winter",
            "start": "10-01",
            "end": "05-31",
            "periods": [
                {
                    "days": ["mon", "tue", "wed", "thu", "fri"],
                    "start": "17:00",
                    "end": "20:00",
                    "price_per_kwh": 0.27,
                },
                {"days": "weekends", "start": "22:00", "end": "06:00", "price_per_kwh": 0.08},
            ],
        },
    ],
}


@pytest.mark.parametrize(
    ("local", "price"),
    [
        ((2026, 7, 1, 16, 0), 0.42),  # summer Wednesday on-peak
        ((2026, 7, 1, 21, 0), 0.14),  # band end is exclusive
        ((2026, 7, 3, 17, 0), 0.14),  # holiday Friday: priced like a Sunday
        ((2026, 7, 4, 17, 0), 0.14),  # Saturday
        ((2026, 9, 30, 16, 30), 0.42),  # last day of summer (inclusive)
        ((2026, 10, 1, 16, 30), 0.14),  # first day of winter
        ((2026, 10, 1, 17, 30), 0.27),
        ((2026, 10, 3, 23, 0), 0.08),  # Saturday night band wraps midnight
        ((2026, 10, 4, 5, 59), 0.08),  # Sunday early morning (same rule, same-day piece)
        ((2026, 10, 5, 5, 0), 0.14),  # Monday early morning: not a weekend
        ((2028, 2, 29, 18, 0), 0.27),  # leap day is winter
    ],
)
def test_us_seasons_weekdays_holidays(local, price):
    tariff = build_tou(US, timezone="America/New_York")
    start = datetime(*local, tzinfo=ZoneInfo("America/New_York"))
    assert tariff.prices_per_kwh(start, 60, 1)[0] == pytest.approx(price)


def test_holiday_periods_apply_when_named():
    table = {
        "default_price_per_kwh": 0.2,
        "holidays": ["2026-12-25"],
        "periods": [{"days": "holidays", "price_per_kwh": 0.05}],
    }
    tariff = build_tou(table, timezone="Europe/Berlin")
    assert tariff.prices_per_kwh(utc(2026, 12, 25, 12), 3600, 1)[0] == 0.05
    assert tariff.prices_per_kwh(utc(2026, 12, 24, 12), 3600, 1)[0] == 0.2


def test_flat_price_everywhere():
    tariff = build_flat({"price_per_kwh": 0.31})
    assert np.all(tariff.prices_per_kwh(utc(2026, 1, 1), 900, 200) == 0.31)


def test_partial_first_slot_mean():
    tariff = build_tou(EVENING, timezone="UTC")
    # re-plan at 16:52 on a 15-min grid: slot 0 is 16:52-17:00 (cheap), slot 1 17:00-17:15
    series = tariff.prices(utc(2026, 1, 5, 16, 52), 900, 3, first_slot_s=480)
    np.testing.assert_allclose(series.prices_per_kwh, [0.10, 0.30, 0.30])
    # 16:55 on a 30-min grid with first slot to 17:10 would straddle; compute by hand
    series = tariff.prices(utc(2026, 1, 5, 16, 55), 1800, 2, first_slot_s=900)
    assert series.prices_per_kwh[0] == pytest.approx((5 * 0.10 + 10 * 0.30) / 15)
    assert series.slot_starts_utc()[1] == utc(2026, 1, 5, 17, 10)


def test_naive_start_rejected():
    tariff = build_flat({"price_per_kwh": 0.3})
    with pytest.raises(ValueError, match="naive"):
        tariff.prices(datetime(2026, 1, 1), 900, 4)


@pytest.mark.parametrize(
    ("table", "zone", "match"),
    [
        (
            {
                "periods": [
                    {"start": "00:00", "end": "12:00", "price_per_kwh": 0.1},
                    {"start": "11:00", "end": "24:00", "price_per_kwh": 0.2},
                ]
            },
            "UTC",
            r"tariff.periods: periods overlap on mon 11:00-12:00",
        ),
        (
            {"periods": [{"days": "weekdays", "price_per_kwh": 0.1}]},
            "UTC",
            r"tariff.periods: no period covers sat 00:00-24:00",
        ),
        (
            {"periods": [{"start": "00:00", "end": "10:00", "price_per_kwh": 0.1}]},
            "UTC",
            r"no period covers mon 10:00-24:00",
        ),
        (EVENING, "Mars/Olympus", r"unknown time zone 'Mars/Olympus'"),
        (
            {"periods": [{"start": "25:00", "end": "26:00", "price_per_kwh": 0.1}]},
            "UTC",
            r"tariff.periods\[0\].start: expected a time",
        ),
        (
            {"default_price_per_kwh": 0.1, "periods": [{"days": "funday", "price_per_kwh": 1}]},
            "UTC",
            r"tariff.periods\[0\].days: unknown day 'funday'",
        ),
        (
            {"default_price_per_kwh": 0.1, "periods": [{"start": "10:00", "end": "11:00"}]},
            "UTC",
            r"tariff.periods\[0\]: missing price_per_kwh",
        ),
        (
            {"default_price_per_kwh": "cheap"},
            "UTC",
            r"tariff.default_price_per_kwh: expected a number",
        ),
        (
            {
                "default_price_per_kwh": 0.1,
                "seasons": [{"start": "01-01", "end": "06-30"}, {"start": "06-30", "end": "12-31"}],
            },
            "UTC",
            r"tariff.seasons: seasons overlap on 06-30",
        ),
        (
            {
                "default_price_per_kwh": 0.1,
                "seasons": [{"start": "01-01", "end": "06-30"}, {"start": "07-02", "end": "12-31"}],
            },
            "UTC",
            r"tariff.seasons: no season covers 07-01",
        ),
        (
            {"default_price_per_kwh": 0.1, "period": []},
            "UTC",
            r"tariff: unknown keys \['period'\]",
        ),
        (
            {"default_price_per_kwh": 0.1, "holidays": ["christmas"]},
            "UTC",
            r"tariff.holidays\[0\]: expected a date",
        ),
    ],
)
def test_bad_rules_name_the_field(table, zone, match):
    with pytest.raises(TariffConfigError, match=match):
        parse_rules(table, timezone=zone)


def test_spring_forward_gap_band_vanishes():
    table = {
        "default_price_per_kwh": 0.1,
        "periods": [{"start": "02:00", "end": "03:00", "price_per_kwh": 9.9}],
    }
    tariff = build_tou(table, timezone="Europe/Berlin")
    start = local_midnight_utc("Europe/Berlin", 2026, 3, 29)
    assert np.all(tariff.prices_per_kwh(start, 900, 23 * 4) == 0.1)
    # the next day has the band again
    assert tariff.prices_per_kwh(utc(2026, 3, 30, 0, 30), 900, 1)[0] == 9.9


@settings(max_examples=40, deadline=None)
@given(
    day=st.dates(min_value=date(2024, 1, 1), max_value=date(2030, 12, 31)),
    zone=st.sampled_from(["Europe/Berlin", "America/New_York", "Australia/Sydney"]),
)
def test_evening_band_is_three_local_hours_on_any_day(day, zone):
    tariff = build_tou(EVENING, timezone=zone)
    start = local_midnight_utc(zone, day.year, day.month, day.day)
    nxt = day + timedelta(days=1)
    hours = (local_midnight_utc(zone, nxt.year, nxt.month, nxt.day) - start) / timedelta(hours=1)
    assert hours in (23, 24, 25)
    prices = tariff.prices_per_kwh(start, 900, int(hours * 4))
    assert int(np.sum(prices == 0.30)) == 12
    first = int(np.argmax(prices == 0.30))
    assert (start + timedelta(minutes=15 * first)).astimezone(ZoneInfo(zone)).hour == 17
