"""`sitecharge demo`: every strategy through the replay pipeline, the same table on every run.

These run the default demo day end to end (the real controller over websockets, on the
event-stepped clock, in worker processes): the issue's acceptance, not a sample of it.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from controller.cli import main
from controller.demo.run import STRATEGIES

FIELDS = {
    "strategy",
    "peak_kw",
    "minutes_over_limit",
    "kwh_over_limit",
    "delivered_kwh",
    "requested_kwh",
    "sessions_served",
    "sessions",
    "energy_cost",
    "demand_charge",
    "total_cost",
    "saving_vs_uncontrolled_pct",
}


def _demo(out: Path, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[list[dict], str]:
    assert main(["demo", "--out", str(out), "--no-progress", *args]) == 0
    table = capsys.readouterr().out
    return json.loads((out / "figures.json").read_text()), table


@pytest.mark.timeout(900)
def test_the_default_demo_shows_the_controller_at_work_and_repeats_itself(tmp_path, capsys):
    rows, table = _demo(tmp_path / "first", capsys)
    again, table_again = _demo(tmp_path / "second", capsys)
    assert again == rows
    assert table_again.splitlines()[-8:] == table.splitlines()[-8:]

    assert isinstance(rows, list) and [r["strategy"] for r in rows] == list(STRATEGIES)
    assert all(set(r) == FIELDS for r in rows)
    by = {r["strategy"]: r for r in rows}
    base, ours = by["uncontrolled"], by["sitecharge"]
    assert base["minutes_over_limit"] > 0 and base["kwh_over_limit"] > 0
    for name in ("equal_share", "edf", "sitecharge"):
        assert by[name]["minutes_over_limit"] == 0, name
    assert ours["delivered_kwh"] >= 0.98 * base["delivered_kwh"]
    assert ours["total_cost"] < base["total_cost"]
    assert ours["saving_vs_uncontrolled_pct"] > 0
    report = (tmp_path / "first" / "report.html").read_text()
    assert "Uncontrolled charging went over the site" in report
    assert (tmp_path / "first" / "site_power_against_the_limit.png").stat().st_size > 10_000
    assert "sitecharge vs uncontrolled:" in table


def test_a_depot_night_runs_until_its_cars_leave(tmp_path, capsys):
    rows, _ = _demo(
        tmp_path, capsys, "--scenario", "depot", "--chargers", "3", "--strategy", "uncontrolled"
    )
    (row,) = rows
    # every session is whole: uncontrolled charging delivers what each car could take
    assert row["sessions_served"] == row["sessions"] == 3
    site = (tmp_path / "demo-site.toml").read_text()
    assert "grid_limit_kw" in site


def test_bad_arguments_are_refused_with_a_reason(tmp_path, capsys):
    assert main(["demo", "--out", str(tmp_path), "--strategy", "magic"]) == 2
    assert "unknown ['magic']" in capsys.readouterr().err
