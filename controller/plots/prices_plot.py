"""Step plot of a price series in local time, forecast slots shaded."""

from __future__ import annotations

from pathlib import Path
from zoneinfo import ZoneInfo

import matplotlib

matplotlib.use("Agg")

import matplotlib.dates as mdates
import matplotlib.pyplot as plt
import numpy as np

from tariffs import PriceSeries


def plot_prices(series: PriceSeries, path: Path, *, zone: ZoneInfo, title: str = "") -> None:
    """Write a PNG: price per kWh over the slots (local time axis)."""
    starts = series.slot_starts_utc()
    end = starts[-1] + (starts[1] - starts[0] if len(starts) > 1 else _slot(series))
    times = [t.astimezone(zone) for t in [*starts, end]]
    prices = np.append(series.prices_per_kwh, series.prices_per_kwh[-1])
    fig, ax = plt.subplots(figsize=(10, 4))
    ax.step(times, prices, where="post", color="tab:blue", label="price per kWh")
    for i, guess in enumerate(series.forecast):
        if guess:
            ax.axvspan(times[i], times[i + 1], color="tab:orange", alpha=0.15, lw=0)
    if series.forecast.any():
        ax.plot([], [], color="tab:orange", alpha=0.4, lw=6, label="forecast (fallback)")
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%d %H:%M", tz=zone))
    ax.set_xlabel(f"local time ({zone.key})")
    ax.set_ylabel("price per kWh")
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    ax.legend(loc="upper left")
    fig.autofmt_xdate()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _slot(series: PriceSeries):
    from datetime import timedelta

    return timedelta(seconds=series.first_slot_s or series.slot_s)
