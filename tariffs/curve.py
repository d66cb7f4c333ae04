"""Piecewise-constant price curves over UTC epoch seconds, and their exact slot means.

Every tariff source (rules, day-ahead series, fees) becomes a step curve; resampling to
any slot grid is then one exact integral, so 60->15 min steps and 15->60 min averages
come from the same code.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from tariffs.errors import PriceDataError


@dataclass(frozen=True)
class Curve:
    """Step function: `values[i]` holds on [edges_s[i], edges_s[i+1]) (epoch seconds, UTC)."""

    edges_s: np.ndarray  # int64, (n + 1,), strictly increasing
    values: np.ndarray  # float64, (n,) [currency/kWh] or any per-time quantity
    forecast: np.ndarray  # bool, (n,)

    @property
    def start_s(self) -> int:
        return int(self.edges_s[0])

    @property
    def end_s(self) -> int:
        return int(self.edges_s[-1])


def make_curve(
    edges_s: np.ndarray | list[int],
    values: np.ndarray | list[float],
    forecast: np.ndarray | list[bool] | bool = False,
) -> Curve:
    """Validate and normalise; equal neighbours are merged so curves stay small."""
    edges = np.asarray(edges_s, dtype=np.int64)
    vals = np.asarray(values, dtype=np.float64)
    if isinstance(forecast, bool | np.bool_):
        flags = np.full(vals.shape, bool(forecast))
    else:
        flags = np.asarray(forecast, dtype=bool)
    if edges.ndim != 1 or vals.shape != (edges.size - 1,) or flags.shape != vals.shape:
        raise PriceDataError(f"curve shapes disagree: {edges.shape}, {vals.shape}, {flags.shape}")
    if vals.size == 0:
        raise PriceDataError("empty price curve")
    if np.any(np.diff(edges) <= 0):
        raise PriceDataError("curve edges must increase strictly")
    if not np.all(np.isfinite(vals)):
        raise PriceDataError("curve has non-finite prices")
    keep = np.ones(vals.size, dtype=bool)
    keep[1:] = (vals[1:] != vals[:-1]) | (flags[1:] != flags[:-1])
    return Curve(
        edges_s=np.append(edges[:-1][keep], edges[-1]),
        values=vals[keep],
        forecast=flags[keep],
    )


def constant_curve(start_s: int, end_s: int, value: float, forecast: bool = False) -> Curve:
    return make_curve([start_s, end_s], [value], forecast)


def _index_at(curve: Curve, points_s: np.ndarray) -> np.ndarray:
    return np.searchsorted(curve.edges_s, points_s, side="right") - 1


def mean_over(curve: Curve, edges_s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean value over each [edges_s[i], edges_s[i+1]), and whether any part of it is forecast.

    The curve must cover the whole grid; integrating the step function makes the mean exact.
    """
    edges = np.asarray(edges_s, dtype=np.int64)
    if edges[0] < curve.start_s or edges[-1] > curve.end_s:
        raise PriceDataError(
            f"prices cover {curve.start_s}..{curve.end_s} s, asked {edges[0]}..{edges[-1]} s"
        )
    base = curve.start_s
    rel = (curve.edges_s - base).astype(np.float64)
    widths = np.diff(rel)
    cum_price = np.concatenate([[0.0], np.cumsum(curve.values * widths)])
    cum_forecast = np.concatenate([[0.0], np.cumsum(curve.forecast * widths)])
    q = (edges - base).astype(np.float64)
    duration = np.diff(q)
    means = np.diff(np.interp(q, rel, cum_price)) / duration
    forecast = np.diff(np.interp(q, rel, cum_forecast)) > 0.5  # at least half a second
    return means, forecast


def clip(curve: Curve, start_s: int, end_s: int) -> Curve:
    """The part of `curve` inside [start_s, end_s); both ends must be covered."""
    if start_s < curve.start_s or end_s > curve.end_s or end_s <= start_s:
        raise PriceDataError(f"cannot clip {curve.start_s}..{curve.end_s} to {start_s}..{end_s}")
    inner = curve.edges_s[(curve.edges_s > start_s) & (curve.edges_s < end_s)]
    edges = np.concatenate([[start_s], inner, [end_s]]).astype(np.int64)
    idx = _index_at(curve, edges[:-1])
    return make_curve(edges, curve.values[idx], curve.forecast[idx])


def combine(a: Curve, b: Curve, op: Callable[[np.ndarray, np.ndarray], np.ndarray]) -> Curve:
    """Pointwise `op(a, b)` over the span both cover; forecast if either is."""
    start_s, end_s = max(a.start_s, b.start_s), min(a.end_s, b.end_s)
    if end_s <= start_s:
        raise PriceDataError("curves do not overlap")
    edges = np.union1d(a.edges_s, b.edges_s)
    edges = edges[(edges >= start_s) & (edges <= end_s)]
    ia, ib = _index_at(a, edges[:-1]), _index_at(b, edges[:-1])
    return make_curve(edges, op(a.values[ia], b.values[ib]), a.forecast[ia] | b.forecast[ib])


def splice(primary: Curve, filler: Curve) -> Curve:
    """`primary` where it is defined, `filler` elsewhere (filler spans the result)."""
    edges = np.union1d(filler.edges_s, primary.edges_s)
    edges = edges[(edges >= filler.start_s) & (edges <= filler.end_s)]
    starts = edges[:-1]
    inside = (starts >= primary.start_s) & (starts < primary.end_s)
    ip = np.clip(_index_at(primary, starts), 0, primary.values.size - 1)
    iff = _index_at(filler, starts)
    values = np.where(inside, primary.values[ip], filler.values[iff])
    flags = np.where(inside, primary.forecast[ip], filler.forecast[iff])
    return make_curve(edges, values, flags)


def shift(curve: Curve, offset_s: int) -> Curve:
    return Curve(curve.edges_s + np.int64(offset_s), curve.values, curve.forecast)


def tile(pattern: Curve, start_s: int, end_s: int, *, forecast: bool | None = None) -> Curve:
    """Repeat `pattern` (period = its span) forwards and backwards to cover [start_s, end_s).

    `forecast` overrides the pattern's flags (True for a fallback guess, False for a demo shape).
    """
    period = pattern.end_s - pattern.start_s
    first = pattern.start_s + ((start_s - pattern.start_s) // period) * period
    copies = int(-(-(end_s - first) // period))
    edges = [pattern.edges_s[:-1] + (first - pattern.start_s) + k * period for k in range(copies)]
    all_edges = np.concatenate([*edges, [first + copies * period]])
    values = np.tile(pattern.values, copies)
    if forecast is None:
        flags = np.tile(pattern.forecast, copies)
    else:
        flags = np.full(values.shape, forecast)
    return clip(make_curve(all_edges, values, flags), start_s, end_s)
