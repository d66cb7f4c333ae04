"""The example site as a new user tries it (issue 11): ten cars that want 154 kW from its
100 kW connection get the connection, not their minimum — needs known or not — through the
same pipeline as `serve` (replay on the event-stepped clock)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from controller.config import load_config
from controller.replay import ReplaySession, ReplaySettings, run_replay

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "site.toml"
START = datetime(2026, 6, 15, 6, 0, tzinfo=UTC)


@pytest.mark.parametrize(("needs", "stay_h", "energy_kwh"), [("unknown", 8, 60), ("known", 1, 40)])
def test_ten_cars_draw_the_whole_connection_after_the_first_profiles(needs, stay_h, energy_kwh):
    config = load_config(EXAMPLE)
    sessions = [
        ReplaySession(
            row=f"car {i}",
            arrival_utc=START + timedelta(seconds=10 * i),
            departure_utc=START + timedelta(hours=stay_h),
            energy_kwh=energy_kwh,
            charger_id=f"CP{i:03d}",
        )
        for i in range(1, 11)
    ]
    settings = ReplaySettings(needs=needs, start_utc=START, hours=0.5)
    result = run_replay(config, sessions, settings).as_json()
    # The site's draw, time-weighted, from the first profiles (the cars plug in over the
    # first two minutes) to the end. Where the plan moves power between cars at a slot
    # boundary, the raise waits for the cut (raise_delay_s): a dip of seconds, counted here.
    points = [(datetime.fromisoformat(at), kw) for at, kw in result["site_power_kw"]]
    since, until = START + timedelta(minutes=5), START + timedelta(minutes=30)
    energy_kwh = 0.0
    for (at, kw), nxt in zip(points, [*points[1:], (until, 0.0)], strict=True):
        begin, end = max(at, since), min(nxt[0], until)
        if end > begin:
            energy_kwh += kw * (end - begin).total_seconds() / 3600
    assert energy_kwh / ((until - since).total_seconds() / 3600) >= 95.0, points[:30]
    assert result["summary"]["peak_kw"] <= 100.0 + 0.01
