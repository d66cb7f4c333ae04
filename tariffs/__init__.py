"""Pure tariff library: prices per slot. No network, no clock (`now` is passed in).

Entry points: `build_tariff` / `build_demand_charge` (from a site's `[tariff]` table),
`load_tariff_file` (a price file given directly), the `Tariff` protocol returning a
`PriceSeries`, `describe_demand_charge`, and `TariffHolder` for reloads.
"""

from pathlib import Path

from tariffs.base import CurveTariff, PriceSeries, Tariff
from tariffs.dayahead import DayAheadTariff, shift_series_to
from tariffs.errors import PriceDataError, TariffConfigError, TariffError
from tariffs.fees import DemandCharge, DemandChargeTerms, FeeFormula, describe_demand_charge
from tariffs.holder import ReloadResult, TariffHolder
from tariffs.registry import (
    SiteTariff,
    build_demand_charge,
    build_tariff,
    load_site_tariff,
    load_tariff_file,
    register_tariff_type,
)
from tariffs.rules import FlatTariff, TouTariff

SAMPLES_DIR = Path(__file__).resolve().parent / "samples"
"""Recorded sample files; `SAMPLES_DIR / "dayahead_demo.csv"` is the demo's price shape."""

__all__ = [
    "SAMPLES_DIR",
    "CurveTariff",
    "DayAheadTariff",
    "DemandCharge",
    "DemandChargeTerms",
    "FeeFormula",
    "FlatTariff",
    "PriceDataError",
    "PriceSeries",
    "ReloadResult",
    "SiteTariff",
    "Tariff",
    "TariffConfigError",
    "TariffError",
    "TariffHolder",
    "TouTariff",
    "build_demand_charge",
    "build_tariff",
    "describe_demand_charge",
    "load_site_tariff",
    "load_tariff_file",
    "register_tariff_type",
    "shift_series_to",
]
