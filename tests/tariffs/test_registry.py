"""Site TOML -> tariff through the registry, every sample site, and reloads that fail."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from tariffs import (
    CurveTariff,
    PriceDataError,
    Tariff,
    TariffConfigError,
    TariffHolder,
    build_demand_charge,
    build_tariff,
    load_site_tariff,
    load_tariff_file,
)

from .conftest import SAMPLES, utc

SITES = sorted(p.name for p in SAMPLES.glob("site_*.toml"))
PRICE_FILES = sorted(p.name for p in SAMPLES.iterdir() if p.suffix in (".csv", ".xml", ".json"))


@pytest.mark.parametrize("name", SITES)
def test_every_sample_site_builds_and_prices_two_days(name):
    site = load_site_tariff(SAMPLES / name)
    assert isinstance(site.tariff, Tariff)
    series = site.tariff.prices(utc(2026, 6, 15), 900, 192)
    assert series.prices_per_kwh.shape == (192,) and series.forecast.shape == (192,)
    assert np.all(np.isfinite(series.prices_per_kwh))


@pytest.mark.parametrize("name", PRICE_FILES)
def test_every_price_file_loads_directly(name):
    site = load_tariff_file(SAMPLES / name, timezone="Europe/Berlin")
    assert isinstance(site.tariff, CurveTariff)
    assert site.demand_charge is None


def test_entsoe_site_with_fees_and_tou_fallback_hand_computed():
    site = load_site_tariff(SAMPLES / "site_entsoe_fees.toml")
    # 2026-10-24T22:00Z = 00:00 CEST: market 78.10 EUR/MWh, night grid fee 0.025
    series = site.tariff.prices(utc(2026, 10, 24, 22), 3600, 27)
    assert series.prices_per_kwh[0] == pytest.approx((0.0781 + 0.115 + 0.025) * 1.19)
    # after the 25 published hours: the TOU fallback (0.09 off-peak) marked as forecast
    assert series.forecast.tolist() == [False] * 25 + [True] * 2
    # 2026-10-25T23:00Z = 00:00 CET, fallback 0.09 + night grid fee
    assert series.prices_per_kwh[25] == pytest.approx((0.09 + 0.115 + 0.025) * 1.19)
    assert site.demand_charge is not None and site.demand_charge.price_per_kw == 9.8


def test_relative_file_resolved_against_base_dir(tmp_path: Path):
    shutil.copy(SAMPLES / "prices_hourly.csv", tmp_path / "p.csv")
    tariff = build_tariff(
        {"type": "csv", "file": "p.csv", "fallback": "none"},
        timezone="Europe/Berlin",
        base_dir=tmp_path,
    )
    assert tariff.prices_per_kwh(utc(2026, 6, 14, 22), 3600, 1)[0] == pytest.approx(0.092)


@pytest.mark.parametrize(
    ("table", "zone", "error", "match"),
    [
        ({"type": "magic"}, "UTC", TariffConfigError, r"tariff.type: unknown type 'magic'"),
        ({"price_per_kwh": 1}, "UTC", TariffConfigError, r"tariff.type: unknown type None"),
        ({"type": "flat"}, "UTC", TariffConfigError, r"tariff: missing price_per_kwh"),
        (
            {"type": "flat", "price_per_kwh": 1, "prize": 2},
            "UTC",
            TariffConfigError,
            r"unknown keys \['prize'\] for type flat",
        ),
        (
            {"type": "flat", "price_per_kwh": 1},
            "Europe/Atlantis",
            TariffConfigError,
            r"site.timezone: unknown time zone 'Europe/Atlantis'",
        ),
        ({"type": "csv"}, "UTC", TariffConfigError, r"tariff.file: missing file"),
        ({"type": "csv", "file": "nope.csv"}, "UTC", PriceDataError, r"nope.csv: cannot read"),
        (
            {"type": "csv", "file": "prices_hourly.csv", "fallback": "psychic"},
            "UTC",
            TariffConfigError,
            r"tariff.fallback: unknown fallback 'psychic'",
        ),
        (
            {"type": "csv", "file": "prices_hourly.csv", "price_unit": "gwh"},
            "UTC",
            TariffConfigError,
            r"tariff.price_unit: expected kwh or mwh",
        ),
        (
            {"type": "octopus", "file": "octopus_agile.json", "include_vat": "yes"},
            "UTC",
            TariffConfigError,
            r"tariff.include_vat: expected true or false",
        ),
        (
            {"type": "csv", "file": "prices_hourly.csv", "fallback": {"type": "flat"}},
            "UTC",
            TariffConfigError,
            r"tariff.fallback: missing price_per_kwh",
        ),
    ],
)
def test_bad_tariff_tables(table, zone, error, match):
    with pytest.raises(error, match=match):
        build_tariff(table, timezone=zone, base_dir=SAMPLES)


def test_build_demand_charge_from_tariff_table():
    table = {"type": "flat", "price_per_kwh": 0.3, "demand_charge": {"price_per_kw": 12.0}}
    charge = build_demand_charge(table, timezone="UTC")
    assert charge is not None and charge.price_per_kw == 12.0 and charge.window_s == 900
    assert build_demand_charge({"type": "flat"}, timezone="UTC") is None


def test_site_toml_errors_name_the_file(tmp_path: Path):
    path = tmp_path / "site.toml"
    path.write_text(
        '[site]\ntimezone = "Europe/Berlin"\n[tariff]\ntype = "flat"\nprice_per_kwh = "x"\n'
    )
    with pytest.raises(
        TariffConfigError, match=r"site.toml: tariff.price_per_kwh: expected a number"
    ):
        load_site_tariff(path)
    path.write_text('[tariff]\ntype = "flat"\n')
    with pytest.raises(TariffConfigError, match=r"site.toml: missing \[site\] timezone"):
        load_site_tariff(path)
    path.write_text("[tariff\n")
    with pytest.raises(TariffConfigError, match=r"site.toml: invalid TOML"):
        load_site_tariff(path)


def test_failed_reload_keeps_last_good_tariff(tmp_path: Path):
    path = tmp_path / "p.csv"
    path.write_text("timestamp,price\n2026-01-01T00:00Z,0.1\n2026-01-01T01:00Z,0.2\n")
    table = {"type": "csv", "file": "p.csv", "fallback": "none"}

    def build():
        return build_tariff(table, timezone="UTC", base_dir=tmp_path)

    holder = TariffHolder(build(), loaded_at_utc=utc(2026, 1, 1))
    path.write_text("timestamp,price\n2026-01-01T00:00Z,0.1\n2026-01-01T01:00Z,oops\n")
    result = holder.reload(build, now_utc=utc(2026, 1, 1, 12))
    assert not result.ok and "p.csv:3: price 'oops' is not a number" in str(result.error)
    assert holder.last_error is result.error
    assert holder.tariff.prices_per_kwh(utc(2026, 1, 1, 1), 3600, 1)[0] == 0.2
    assert holder.age_s(utc(2026, 1, 1, 12)) == 12 * 3600
    path.write_text("timestamp,price\n2026-01-01T00:00Z,0.1\n2026-01-01T01:00Z,0.4\n")
    result = holder.reload(build, now_utc=utc(2026, 1, 1, 13))
    assert result.ok and holder.last_error is None
    assert holder.tariff.prices_per_kwh(utc(2026, 1, 1, 1), 3600, 1)[0] == 0.4
    assert holder.loaded_at_utc == utc(2026, 1, 1, 13)


def test_bare_tariff_toml_given_as_price_file(tmp_path: Path):
    path = tmp_path / "tou.toml"
    path.write_text(
        '[tariff]\ntype = "tou"\ndefault_price_per_kwh = 0.2\n'
        '[[tariff.periods]]\nstart = "17:00"\nend = "20:00"\nprice_per_kwh = 0.5\n'
    )
    site = load_tariff_file(path, timezone="America/New_York")
    assert site.timezone == "America/New_York"
    # 21:30 UTC on 1 July = 17:30 EDT
    assert site.tariff.prices_per_kwh(utc(2026, 7, 1, 21, 30), 900, 1)[0] == 0.5
