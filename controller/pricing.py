"""The site's tariff as the cycle needs it: prices and demand-charge terms on a slot grid.

A reload that fails keeps the last good tariff in force (and says so in the log).
"""

from __future__ import annotations

import logging
from datetime import datetime

import numpy as np

from controller.config import SiteConfig
from controller.timegrid import SlotGrid
from optimizer.problem import DemandCharge
from tariffs.fees import describe_demand_charge
from tariffs.holder import TariffHolder
from tariffs.registry import SiteTariff, build_demand_charge, build_tariff

log = logging.getLogger(__name__)


def _build(config: SiteConfig) -> SiteTariff:
    timezone = config.site.timezone
    return SiteTariff(
        tariff=build_tariff(config.tariff, timezone=timezone, base_dir=config.base_dir),
        demand_charge=build_demand_charge(config.tariff, timezone=timezone),
        timezone=timezone,
    )


class PriceSource:
    def __init__(self, config: SiteConfig, now_utc: datetime) -> None:
        self.config = config
        self.holder = TariffHolder(_build(config), loaded_at_utc=now_utc)
        self.peak_so_far_kw = 0.0

    def reload(self, now_utc: datetime) -> bool:
        result = self.holder.reload(lambda: _build(self.config), now_utc=now_utc)
        if not result.ok:
            log.warning(
                "tariff reload failed, keeping the tariff loaded at %s: %s",
                result.loaded_at_utc.isoformat(),
                result.error,
            )
        return result.ok

    def prices(self, grid: SlotGrid) -> tuple[np.ndarray, np.ndarray]:
        """Price per slot [per kWh] and whether it is a forecast; a slot split at a limit
        change has the price of the aligned slot it lies in."""
        series = self.holder.tariff.tariff.prices(
            grid.start_utc, grid.slot_s, grid.n_base_slots, first_slot_s=grid.base_first_slot_s
        )
        return (
            grid.spread(np.asarray(series.prices_per_kwh, dtype=float)),
            grid.spread(np.asarray(series.forecast)),
        )

    def demand_charge(self, grid: SlotGrid) -> DemandCharge | None:
        charge = self.holder.tariff.demand_charge
        if charge is None:
            return None
        terms = describe_demand_charge(
            charge,
            grid.start_utc,
            grid.slot_s,
            grid.n_base_slots,
            peak_so_far_kw=self.peak_so_far_kw,
            first_slot_s=grid.base_first_slot_s,
        )
        return DemandCharge(
            price_per_kw=terms.price_per_kw,
            threshold_kw=terms.threshold_kw,
            on_peak=grid.spread(np.array(terms.on_peak, dtype=bool)),
        )
