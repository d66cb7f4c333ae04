"""What a charger says, checked against what it can physically do and against our clock.

A reading no charger can produce (1e12 W, a negative energy register, SoC 300 %) or a
timestamp centuries away would poison the site state, the plan and the stored history; they
are refused here, once, at the edge, logged and counted.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from dataclasses import dataclass
from datetime import datetime

from controller.config import OcppLimits, SiteConfig
from controller.meter import CURRENT, CURRENT_OFFERED, ENERGY_REGISTER, POWER, SOC, Sample
from controller.ocpp.edge import EdgeStats
from controller.units import kw_from_a

log = logging.getLogger(__name__)

MAX_REGISTER_KWH = 1e9  # a meter register beyond 1 TWh is not a charger's


@dataclass(frozen=True)
class Rating:
    """The most a charger can draw: per phase [A] and in total [kW]."""

    max_a: float
    max_kw: float


def charger_rating(config: SiteConfig, charger_id: str) -> Rating:
    """A listed charger's own rating; an admitted unknown one is bounded by the site."""
    configured = config.charger(charger_id)
    if configured is None:
        site_kw = config.site.grid_limit_kw
        return Rating(max_a=site_kw * 1000.0 / config.site.voltage_v, max_kw=site_kw)
    voltage_v = config.charger_voltage_v(configured)
    return Rating(
        max_a=configured.max_current_a,
        max_kw=kw_from_a(configured.max_current_a, configured.phases, voltage_v),
    )


def implausible(sample: Sample, rating: Rating, margin: float) -> str | None:
    """Why ``sample`` cannot be real, or None."""
    value = sample.value
    if not math.isfinite(value):
        return "not a finite number"
    measurand = sample.measurand
    if measurand == POWER and not -0.05 * rating.max_kw <= value <= rating.max_kw * margin:
        return f"{value:g} kW is outside 0..{rating.max_kw * margin:g} kW"
    if measurand in (CURRENT, CURRENT_OFFERED) and not -1.0 <= value <= rating.max_a * margin:
        return f"{value:g} A is outside 0..{rating.max_a * margin:g} A"
    if measurand == ENERGY_REGISTER and not 0.0 <= value <= MAX_REGISTER_KWH:
        return f"{value:g} kWh is not a meter register"
    if measurand == SOC and not 0.0 <= value <= 100.0:
        return f"SoC {value:g} % is outside 0..100"
    return None


class EdgeChecks:
    """One charger's plausibility checks, with its rating and the site's limits."""

    def __init__(self, charger_id: str, config: SiteConfig, stats: EdgeStats) -> None:
        self.charger_id = charger_id
        self.limits: OcppLimits = config.ocpp.limits
        self.rating = charger_rating(config, charger_id)
        self.stats = stats

    def samples(self, samples: list[Sample], now_utc: datetime) -> list[Sample]:
        """The samples worth believing, with implausible timestamps replaced by ``now_utc``."""
        kept = []
        for sample in samples:
            reason = implausible(sample, self.rating, self.limits.reading_margin)
            if reason is not None:
                self.stats.rejected_readings[sample.measurand] += 1
                log.warning(
                    "%s: %s reading rejected: %s", self.charger_id, sample.measurand, reason
                )
                continue
            at = self.timestamp(sample.timestamp_utc, now_utc, "meterValue.timestamp")
            kept.append(
                sample
                if at == sample.timestamp_utc
                else dataclasses.replace(sample, timestamp_utc=at)
            )
        return kept

    def timestamp(self, at_utc: datetime, now_utc: datetime, field: str) -> datetime:
        """``at_utc`` if it is plausible; the receive time ``now_utc`` if it is not."""
        skew_s = (at_utc - now_utc).total_seconds()
        limits = self.limits
        if -limits.timestamp_max_age_s <= skew_s <= limits.timestamp_max_ahead_s:
            if skew_s > limits.clock_skew_warn_s:
                log.info("%s: %s is %.0f s ahead of our clock", self.charger_id, field, skew_s)
            return at_utc
        self.stats.replaced_timestamps += 1
        log.warning(
            "%s: %s %s is implausible (our clock: %s); the receive time is used",
            self.charger_id,
            field,
            at_utc.isoformat(),
            now_utc.isoformat(),
        )
        return now_utc
