"""controller.demo.analysis: the notebooks' numbers come from real replays that keep limits."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest

from controller.demo import analysis
from controller.demo.figures import site_power_per_minute

TIGHT = {"chargers": 4, "grid_limit_kw": 12.0, "hours": 10.0}


@pytest.fixture(scope="module")
def tight_day() -> tuple[analysis.SiteDay, dict]:
    """A small workplace day whose limit binds (4 cars, 12 kW), under every strategy,
    re-decided every 5 minutes as the controller does."""
    day = analysis.site_day(analysis.settings_for("workplace", 3, **TIGHT))
    return day, analysis.replay_strategies(day, step_s=300.0, time_limit_s=0.2)


def test_the_baseline_ignores_the_limit_so_the_case_is_a_real_test(tight_day) -> None:
    day, records = tight_day
    power = site_power_per_minute(records["uncontrolled"], day.curves.minutes_utc)
    assert np.any(power > day.curves.limit_kw + 0.1)


@pytest.mark.parametrize("strategy", ["equal_share", "edf", "optimal"])
def test_controlled_strategies_never_exceed_the_limit(tight_day, strategy: str) -> None:
    day, records = tight_day
    power = site_power_per_minute(records[strategy], day.curves.minutes_utc)
    assert power.max() > 0.5 * day.curves.limit_kw.min()  # it did charge
    assert np.all(power <= day.curves.limit_kw + 0.1)
    row = next(r for r in analysis.day_figures(day, records) if r.strategy == strategy)
    assert row.minutes_over_limit == 0


def test_optimal_pays_no_more_per_kwh_than_equal_share(tight_day) -> None:
    day, records = tight_day
    rows = {r.strategy: r for r in analysis.day_figures(day, records)}
    optimal = analysis.price_paid_per_kwh(rows["optimal"])
    equal = analysis.price_paid_per_kwh(rows["equal_share"])
    assert optimal is not None and equal is not None
    assert optimal <= equal + 1e-9
    assert rows["optimal"].energy_cost <= rows["equal_share"].energy_cost + 1e-9
    saving = analysis.unit_price_saving_pct(list(rows.values()))
    assert saving["uncontrolled"] == 0.0
    assert saving["optimal"] >= saving["equal_share"]


@pytest.mark.parametrize("spread", [0.0, 0.5, 2.0])
def test_spread_tariff_scales_swings_around_the_day_mean(spread: float) -> None:
    settings = analysis.settings_for("workplace", 1)
    base = analysis.site_day(settings)
    scaled = analysis.site_day(settings, price_spread=spread)
    start, slots = settings.start_utc(), int(settings.hours * 4)
    base_prices = base.tariff.prices_per_kwh(start, 900, slots)
    prices = scaled.tariff.prices_per_kwh(start, 900, slots)
    centre = analysis.time_mean_price(base.tariff, start, settings.end_utc())
    np.testing.assert_allclose(prices, centre + spread * (base_prices - centre), atol=1e-12)
    assert prices.mean() == pytest.approx(base_prices.mean(), abs=1e-9)
    np.testing.assert_allclose(np.ptp(prices), spread * np.ptp(base_prices), atol=1e-12)
    # the one-minute curve the figures use is the same tariff
    np.testing.assert_allclose(scaled.curves.price_per_kwh[::15][:slots], prices, atol=1e-12)


def test_spread_tariff_gives_the_same_price_to_every_rolling_window() -> None:
    settings = analysis.settings_for("depot", 2)
    day = analysis.site_day(settings, price_spread=1.7)
    at = settings.start_utc() + timedelta(hours=5)
    whole = day.prices(settings.start_utc(), 900, 40, 900)
    later = day.prices(at, 900, 20, 900)
    np.testing.assert_allclose(later, whole[20:40], atol=1e-12)


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ([4.0], (4.0, 4.0, 4.0)),
        ([1.0, 2.0, 3.0, 4.0, 10.0], None),
        ([0.5, -2.0, 7.25, 3.0], None),
    ],
)
def test_summarise_matches_numpy_quartiles(values: list[float], expected) -> None:
    rows = [{"kind": "k", "strategy": "s", "m": v} for v in values]
    rows.append({"kind": "k", "strategy": "s", "m": None})  # left out, not counted as 0
    (stats,) = analysis.summarise(rows, "m", ("kind", "strategy"))
    q1, median, q3 = expected or np.percentile(values, [25, 50, 75])
    assert stats["n"] == len(values)
    assert (stats["q1"], stats["median"], stats["q3"]) == pytest.approx((q1, median, q3), abs=0.01)
    assert (stats["min"], stats["max"]) == (min(values), max(values))


def test_compare_in_two_processes_gives_the_rows_of_one() -> None:
    cases = analysis.kinds_cases(["retail", "workplace"], [5], chargers=3)
    strategies = ("uncontrolled", "equal_share")
    serial = analysis.compare(cases, strategies, workers=1)
    try:
        parallel = analysis.compare(cases, strategies, workers=2)
    finally:
        analysis.close_workers()
    assert serial == parallel
    assert [(r["kind"], r["strategy"]) for r in serial] == [
        ("retail", "uncontrolled"),
        ("retail", "equal_share"),
        ("workplace", "uncontrolled"),
        ("workplace", "equal_share"),
    ]


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda: analysis.settings_for("harbour", 1), "kind"),
        (lambda: analysis.limit_cases("depot", [1], [0.0]), "limit_fractions"),
        (lambda: analysis.site_day(analysis.settings_for("retail", 1), price_spread=-1), "spread"),
        (
            lambda: analysis.replay_strategies(
                analysis.site_day(analysis.settings_for("retail", 1)), ["greedy"]
            ),
            "strategies",
        ),
    ],
)
def test_bad_arguments_name_the_field(call, field: str) -> None:
    with pytest.raises(analysis.AnalysisError, match=field):
        call()


def test_plots_draw_every_strategy(tight_day) -> None:
    day, records = tight_day
    fig = analysis.plot_power(day, records)
    assert len(fig.axes) == len(records)
    assert [ax.get_legend_handles_labels()[1][0] for ax in fig.axes] == list(records)
    rows = [
        {"kind": "a", "strategy": "x", "m": 1.0, "f": 0.2},
        {"kind": "a", "strategy": "x", "m": 3.0, "f": 0.4},
    ]
    assert len(analysis.plot_distributions(rows, [("m", "m")]).axes) == 1
    assert len(analysis.plot_sweep(rows, "f", [("m", "m")], xlabel="f").axes) == 1
