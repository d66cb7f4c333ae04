"""Scenario generation matches its configured distributions; CSV logs load; seeds repeat."""

from __future__ import annotations

import itertools
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from simulator.errors import ScenarioError
from simulator.scenario import KINDS, generate, load_sessions_csv

SAMPLE = Path(__file__).parents[2] / "simulator" / "samples" / "sessions.csv"
TZ = "Europe/Amsterdam"


def local_hours(times: list[datetime]) -> np.ndarray:
    zone = ZoneInfo(TZ)
    return np.array([(t.astimezone(zone).hour + t.astimezone(zone).minute / 60) for t in times])


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_distributions_match_configuration(kind: str) -> None:
    scenario = generate(kind, 200, seed=3, start_local_day=date(2026, 3, 2), tz=TZ, days=2)
    site = KINDS[kind]
    arrivals = local_hours([s.arrival_utc for s in scenario.sessions])
    lo, hi = site.arrival_h
    assert arrivals.min() >= lo - 1e-6 and arrivals.max() <= hi + 1e-6
    stays = np.array([s.stay_h for s in scenario.sessions])
    if site.stay_h is not None:
        assert stays.min() >= site.stay_h[0] - 1e-6 and stays.max() <= site.stay_h[1] + 1e-6
        if not site.back_to_back:
            # uniform: mean in the middle, within a few standard errors
            assert abs(stays.mean() - sum(site.stay_h) / 2) < 0.15
            assert abs(arrivals.mean() - (lo + hi) / 2) < 0.25
    else:
        leave = local_hours([s.departure_utc for s in scenario.sessions])
        d_lo, d_hi = site.departure_next_day_h  # type: ignore[misc]
        assert leave.min() >= d_lo - 1e-6 and leave.max() <= d_hi + 1e-6
        assert all(s.departure_utc - s.arrival_utc < timedelta(hours=24) for s in scenario.sessions)
    energy = np.array([s.energy_wanted_kwh for s in scenario.sessions])
    assert energy.max() <= site.energy_kwh[1] + 1e-6
    for s in scenario.sessions:
        assert s.energy_wanted_kwh == pytest.approx(
            (s.target_soc - s.initial_soc) * s.ev.capacity_kwh, abs=1e-3
        )
        assert s.ev.name in site.cars


def test_retail_sessions_do_not_overlap_on_a_connector() -> None:
    scenario = generate("retail", 30, seed=5)
    by_connector: dict[tuple[str, int], list] = {}
    for s in scenario.sessions:
        by_connector.setdefault((s.charger_id, s.connector_id), []).append(s)
    assert max(len(v) for v in by_connector.values()) > 2
    for visits in by_connector.values():
        visits.sort(key=lambda s: s.arrival_utc)
        for a, b in itertools.pairwise(visits):
            assert b.arrival_utc >= a.departure_utc


def test_same_seed_same_scenario_other_seed_differs() -> None:
    a = generate("workplace", 20, seed=1)
    b = generate("workplace", 20, seed=1)
    c = generate("workplace", 20, seed=2)
    assert a == b
    assert a.sessions != c.sessions


def test_dst_day_keeps_local_hours() -> None:
    # 29 March 2026: clocks go forward in Amsterdam; arrivals are still 7–10 h local
    scenario = generate("workplace", 50, seed=1, start_local_day=date(2026, 3, 29), tz=TZ)
    hours = local_hours([s.arrival_utc for s in scenario.sessions])
    assert hours.min() >= 7 and hours.max() <= 10
    assert scenario.end_utc - scenario.start_utc >= timedelta(hours=23)


def test_shift_moves_everything() -> None:
    scenario = generate("depot", 3, seed=1)
    moved = scenario.shifted(timedelta(hours=5))
    assert [s.arrival_utc - timedelta(hours=5) for s in moved.sessions] == [
        s.arrival_utc for s in scenario.sessions
    ]


def test_load_sample_csv() -> None:
    scenario = load_sessions_csv(SAMPLE)
    assert len(scenario.sessions) == 5
    first = scenario.sessions[0]
    assert first.arrival_utc.isoformat() == "2026-01-05T07:12:30+00:00"
    assert first.energy_wanted_kwh == pytest.approx(12.4)
    assert first.id_tag == "u101"
    assert scenario.sessions[3].id_tag.startswith("TAG")
    # no station column: first free charger; the 12:10 session reuses the 08:05–11:20 one
    assert len(scenario.charger_ids) == 4
    assert scenario.sessions[4].charger_id == scenario.sessions[2].charger_id


def test_csv_with_stations_and_naive_times(tmp_path: Path) -> None:
    path = tmp_path / "elaad.csv"
    path.write_text(
        "ChargePoint,UTCTransactionStart,UTCTransactionStop,TotalEnergy\n"
        "A,2026-01-05 08:00:00,2026-01-05 12:00:00,10\n"
        "A,2026-01-05 09:00:00,2026-01-05 10:00:00,3\n"
        "B,2026-01-05 09:30:00,2026-01-05 11:00:00,4\n"
    )
    scenario = load_sessions_csv(path, tz="UTC")
    assert [(s.charger_id, s.connector_id) for s in scenario.sessions] == [
        ("CP001", 1),
        ("CP001", 2),
        ("CP002", 1),
    ]
    assert scenario.connectors_per_charger == 2


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("start,end\n2026-01-05T08:00Z,2026-01-05T09:00Z\n", "no energy column"),
        ("start,end,energy\n2026-01-05T08:00Z,2026-01-05T07:00Z,3\n", ":2: disconnect"),
        ("start,end,energy\n2026-01-05T08:00Z,2026-01-05T09:00Z,abc\n", ":2: energy"),
        ("start,end,energy\nyesterday,2026-01-05T09:00Z,3\n", ":2: cannot read"),
    ],
)
def test_csv_errors_name_file_and_line(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(text)
    with pytest.raises(ScenarioError, match=message):
        load_sessions_csv(path)


def test_unknown_kind() -> None:
    with pytest.raises(ScenarioError, match="kind"):
        generate("stadium", 3, seed=1)
