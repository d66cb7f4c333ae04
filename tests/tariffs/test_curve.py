"""Exact slot means of step curves: resampling both ways, partial first slots, straddles."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tariffs.curve import clip, make_curve, mean_over, splice, tile
from tariffs.errors import PriceDataError

H = 3600
Q = 900


@pytest.mark.parametrize(
    ("edges", "values", "grid", "expected"),
    [
        # 60 -> 15 min: each hour's price repeats in its four quarters (a step)
        ([0, H, 2 * H], [0.2, 0.4], [0, Q, 2 * Q, 3 * Q, H, H + Q], [0.2, 0.2, 0.2, 0.2, 0.4]),
        # 15 -> 60 min: the mean of the four quarters
        ([0, Q, 2 * Q, 3 * Q, H], [0.1, 0.2, 0.3, 0.6], [0, H], [0.3]),
        # a slot straddling a price change at 00:10: (10 * 0.3 + 5 * 0.6) / 15
        ([0, 600, H], [0.3, 0.6], [0, Q], [(10 * 0.3 + 5 * 0.6) / 15]),
        # partial first slot 00:07-00:15 then whole slots
        ([0, 600, H], [0.3, 0.6], [420, Q, 2 * Q], [(3 * 0.3 + 5 * 0.6) / 8, 0.6]),
    ],
)
def test_mean_over_hand_computed(edges, values, grid, expected):
    means, forecast = mean_over(make_curve(edges, values), np.array(grid))
    np.testing.assert_allclose(means, expected, rtol=1e-12)
    assert not forecast.any()


def test_forecast_flag_marks_slots_touching_forecast_part():
    curve = make_curve([0, 1000, H], [0.1, 0.2], [False, True])
    _, forecast = mean_over(curve, np.array([0, Q, 2 * Q]))
    assert forecast.tolist() == [False, True]


def test_mean_over_outside_curve_is_an_error():
    with pytest.raises(PriceDataError, match="cover"):
        mean_over(make_curve([0, H], [0.1]), np.array([0, 2 * H]))


def test_splice_uses_primary_where_defined():
    primary = make_curve([H, 2 * H], [0.5])
    filler = make_curve([0, 3 * H], [0.1], True)
    result = splice(primary, filler)
    means, forecast = mean_over(result, np.array([0, H, 2 * H, 3 * H]))
    assert means.tolist() == [0.1, 0.5, 0.1]
    assert forecast.tolist() == [True, False, True]


def test_tile_repeats_pattern_both_ways():
    pattern = make_curve([10 * H, 11 * H, 12 * H], [1.0, 2.0])
    tiled = tile(pattern, 7 * H, 13 * H, forecast=True)
    means, forecast = mean_over(tiled, np.arange(7, 14) * H)
    assert means.tolist() == [2.0, 1.0, 2.0, 1.0, 2.0, 1.0]
    assert forecast.all()
    assert clip(tiled, 8 * H, 9 * H).values.tolist() == [1.0]


@settings(max_examples=60, deadline=None)
@given(
    widths=st.lists(st.integers(1, 7200), min_size=1, max_size=30),
    prices=st.lists(st.floats(-0.5, 1.0, allow_nan=False), min_size=30, max_size=30),
    slot_s=st.sampled_from([300, 900, 1800, 3600]),
    first_cut=st.integers(0, 299),
)
def test_slot_means_conserve_energy_cost(widths, prices, slot_s, first_cut):
    """Sum of slot mean × slot length equals the integral of the curve over the grid."""
    edges = np.concatenate([[0], np.cumsum(widths)])
    curve = make_curve(edges, prices[: len(widths)])
    span = int(edges[-1])
    if span - first_cut < 1:
        return
    grid = np.unique(np.concatenate([np.arange(first_cut, span, slot_s), [span]]))
    means, _ = mean_over(curve, grid)
    total = float(np.sum(means * np.diff(grid)))
    fine = np.arange(first_cut, span)  # exact: curve edges are whole seconds
    idx = np.searchsorted(curve.edges_s, fine, side="right") - 1
    assert total == pytest.approx(float(np.sum(curve.values[idx])), rel=1e-9, abs=1e-6)
