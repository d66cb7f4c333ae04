"""controller.demo.analysis and .study: the notebooks' numbers come from real replays of the
controller (over OCPP websockets, on the event-stepped clock) and agree with them."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

import numpy as np
import pytest

from controller.demo import analysis, study
from controller.demo.setup import DemoSettings
from controller.replay import ReplayResult

DAY_CHARGERS = 3


def _on_grid(points: list[tuple[datetime, float]], grid: list[datetime]) -> np.ndarray:
    """A step function's value at each instant of ``grid``."""
    times = np.array([p[0].timestamp() for p in points])
    values = np.array([p[1] for p in points])
    at = np.array([g.timestamp() for g in grid])
    return values[np.searchsorted(times, at, side="right") - 1]


def _instants(result: ReplayResult) -> list[datetime]:
    return sorted({t for t, _ in result.site_power_kw} | {t for t, _ in result.limit_kw})


@pytest.fixture(scope="module")
def day_runs():
    """The demo day with 3 chargers, uncontrolled and under sitecharge (in this process)."""
    day = analysis.site_day(chargers=DAY_CHARGERS)
    return day, analysis.run_day(day, ("uncontrolled", "sitecharge"), workers=1)


@pytest.fixture(scope="module")
def two_days():
    """Two days of 2 chargers under uncontrolled charging and earliest-deadline-first."""
    the_week = analysis.site_week(chargers=2, days=2)
    runs, days = analysis.run_week(the_week, ("uncontrolled", "edf"), workers=1)
    return the_week, runs, days


def test_uncontrolled_charging_goes_over_the_limit_so_the_day_is_a_real_test(day_runs) -> None:
    _, runs = day_runs
    row = {r.strategy: r for r in analysis.rows(runs)}["uncontrolled"]
    assert row.minutes_over_limit > 0
    assert row.kwh_over_limit > 0


def test_sitecharge_keeps_every_limit_at_every_instant(day_runs) -> None:
    day, runs = day_runs
    result = runs["sitecharge"]
    instants = _instants(result)
    power = _on_grid(result.site_power_kw, instants)
    limit = _on_grid(result.limit_kw, instants)
    assert power.max() > 0.5 * day.grid_kw  # it did charge
    assert np.all(power <= limit + 0.01)
    assert limit.min() < day.grid_kw  # the events reached the controller's limit book
    row = {r.strategy: r for r in analysis.rows(runs)}["sitecharge"]
    assert row.minutes_over_limit == 0 and row.kwh_over_limit == 0
    assert result.stats["cycles"] > 0


def test_figures_agree_with_the_replay_result(day_runs) -> None:
    day, runs = day_runs
    rows = {r.strategy: r for r in analysis.rows(runs)}
    for name, result in runs.items():
        row = rows[name]
        assert row.sessions == len(day.scenario.sessions) == len(result.sessions)
        assert row.delivered_kwh == pytest.approx(result.summary["delivered_kwh"], abs=0.05)
        wanted = sum(s["energy_wanted_kwh"] for s in result.sessions)
        assert row.requested_kwh == pytest.approx(wanted, abs=0.05)
        assert row.energy_cost == pytest.approx(result.summary["energy_cost"], abs=0.005)
        assert row.peak_kw == pytest.approx(result.summary["peak_kw"], abs=0.05)
    # uncontrolled charging is the reference of what a car could get alone: all served
    assert rows["uncontrolled"].sessions_served == rows["uncontrolled"].sessions
    assert rows["uncontrolled"].saving_vs_uncontrolled_pct == 0.0


def test_the_tables_show_every_run_and_every_car(day_runs) -> None:
    day, runs = day_runs
    text = analysis.figures_table(runs)
    assert all(name in text for name in runs)
    cars = analysis.sessions_table(runs, day.settings.timezone).splitlines()
    assert len(cars) == 1 + len(day.scenario.sessions)
    assert "grid limit" in analysis.describe(day)


def test_findings_name_every_starved_car(day_runs) -> None:
    _, runs = day_runs
    result = runs["sitecharge"]
    first = dict(result.sessions[0], charger_id="CPX99", energy_delivered_kwh=0.0)
    starving = replace(result, sessions=(first, *result.sessions[1:]))
    text = analysis.findings({"uncontrolled": runs["uncontrolled"], "sitecharge": starving})
    assert "CPX99 0.0 of" in text
    assert analysis.starved(starving)[0]["charger_id"] == "CPX99"


def test_the_decisions_plot_has_a_panel_per_charger_and_needs_the_samples(day_runs) -> None:
    day, runs = day_runs
    fig = analysis.decisions_figure(runs["sitecharge"], day.settings.timezone)
    assert len(fig.axes) == len({s["charger_id"] for s in runs["sitecharge"].sessions})
    with pytest.raises(study.StudyError):
        analysis.decisions_figure(replace(runs["sitecharge"], record=None), "UTC")
    png = analysis.power_figure(day, runs)._repr_png_()
    assert png.startswith(b"\x89PNG")


def test_a_week_adds_up_its_days(two_days) -> None:
    the_week, runs, days = two_days
    assert len(the_week.days) == 2
    for name, merged in runs.items():
        mine = [d for d in days if study.run_name(d) == name]
        assert len(mine) == 2
        assert merged.summary["delivered_kwh"] == pytest.approx(
            sum(d.summary["delivered_kwh"] for d in mine), abs=1e-3
        )
        assert merged.summary["energy_cost"] == pytest.approx(
            sum(d.summary["energy_cost"] for d in mine), abs=1e-3
        )
        assert len(merged.sessions) == the_week.sessions
        assert merged.start_utc == mine[0].start_utc and merged.end_utc == mine[1].end_utc
        # between the days nothing is drawn
        night = mine[0].end_utc + timedelta(hours=1)
        assert _on_grid(merged.site_power_kw, [night])[0] == 0.0


def test_a_week_under_edf_keeps_the_limit_every_day(two_days) -> None:
    _, runs, days = two_days
    rows = {r.strategy: r for r in analysis.rows(runs)}
    assert rows["uncontrolled"].minutes_over_limit > 0
    assert rows["edf"].minutes_over_limit == 0
    for day in days:
        if day.strategy == "edf":
            instants = _instants(day)
            power = _on_grid(day.site_power_kw, instants)
            assert np.all(power <= _on_grid(day.limit_kw, instants) + 0.01)
    per_day = analysis.daily(days)
    assert [len(v) for v in per_day.values()] == [2, 2]


def test_the_dr_event_falls_on_its_day_the_cap_on_every_day() -> None:
    the_week = analysis.site_week(chargers=2, days=3)
    jobs = study.week_jobs(the_week, ("edf",))
    kinds = [sorted(e.kind for e in job.limits) for job in jobs]
    assert kinds[0] == ["dr", "recurring"]
    assert all(k == ["recurring"] for k in kinds[1:])


def test_a_week_refuses_cars_that_stay_overnight() -> None:
    with pytest.raises(study.StudyError, match="overnight"):
        study.week(DemoSettings(chargers=2, scenario="depot"), days=2)


def test_the_needs_table_needs_both_runs(day_runs) -> None:
    _, runs = day_runs
    with pytest.raises(study.StudyError):
        analysis.needs_table(runs)
