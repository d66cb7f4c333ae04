"""Snapshot -> Problem -> plan -> profile: the causes issue 11 found, each pinned by a test.

1. reservations counted once per node; 2. keep-awake floors never replace the optimiser;
3. a departure still ahead is used as given; 4. the default energy is no stop;
5. limits apply at their exact times.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

import optimizer
from controller.limits import LimitWindow, effective_limits, window_breaks
from controller.meter import Reading
from controller.ocpp.profiles import limit_kw_at, tx_profile
from controller.planning import build_problem, take_snapshot
from controller.site import Capabilities, SessionState, SiteState
from controller.units import kw_from_a
from tests.controller.site_factory import site_config

NOW = datetime(2026, 6, 1, 10, 7, tzinfo=UTC)
KW_16A = kw_from_a(16, 3, 230)


def _site(tmp_path, chargers=3, **sections):
    config = site_config(f"sqlite:///{tmp_path / 's.db'}", chargers=chargers, **sections)
    site = SiteState(config)
    for charger in site.chargers.values():
        charger.online = True
    return config, site


def _plan(config, site, now=NOW, windows=(), prices=0.3, method="optimal"):
    snapshot = take_snapshot(
        site,
        now,
        safe_default_a=6.0,
        assigned_kw={},
        horizon_s=4 * 3600,
        slot_s=900,
        breaks_utc=window_breaks(windows),
    )
    grid = snapshot.grid
    limits = effective_limits(
        config.site.grid_limit_kw, windows, grid.starts_utc(), grid.ends_utc()
    )
    problem = build_problem(config, snapshot, limits, np.full(grid.n_slots, prices))
    plan = optimizer.plan(problem, method=method)
    assert optimizer.check(problem, plan) == []
    return snapshot, problem, plan


@pytest.mark.parametrize("depth", [1, 2, 3])
def test_a_reservation_costs_its_own_power_once_at_every_level(tmp_path, depth):
    circuits = [{"id": "c1", "limit_a": 100.0}]
    for level in range(2, depth + 1):
        circuits.append({"id": f"c{level}", "parent": f"c{level - 1}", "limit_a": 100.0})
    chargers = [
        {"id": f"CP{i}", "max_current_a": 32.0, "circuit": f"c{depth}"} for i in range(1, 4)
    ]
    config, site = _site(tmp_path, chargers=chargers, circuits=circuits)
    snapshot, problem, _ = _plan(config, site)
    reserved_per_phase = snapshot.reservations.site_kw / 3  # three idle connectors at 6 A
    assert reserved_per_phase == pytest.approx(3 * 6 * 0.230)
    head = problem.circuit_headroom_kw()
    for level in range(1, depth + 1):
        k = [c.id for c in problem.circuits].index(f"c{level}")
        assert head[k] == pytest.approx(np.full(3, 100 * 0.230 - reserved_per_phase))


def test_ten_cars_get_the_whole_connection_not_their_minimum(tmp_path):
    """examples/site.toml's shape: ten cars wanting 154 kW from a 100 kW connection."""
    for keep_awake in (False, True):
        config, site = _site(
            tmp_path,
            chargers=[{"id": f"CP{i:02d}", "max_current_a": 32.0} for i in range(1, 11)],
            circuits=[],
            control={"keep_awake": keep_awake},
        )
        for tx in range(1, 11):
            site.sessions[tx] = SessionState(tx, f"CP{tx:02d}", 1, "T", NOW, 0.0, power_kw=4.1)
        _, problem, plan = _plan(config, site)
        assert problem.energy_kwh == pytest.approx([30.0] * 10)  # nothing taken out by floors
        assert plan.power_kw[:, 0].sum() == pytest.approx(100.0, abs=0.01)


def test_flat_tariff_plans_the_least_of_limit_and_draw_for_cars_past_the_default(tmp_path):
    config, site = _site(tmp_path, chargers=2, site={"grid_limit_kw": 100.0})
    for tx in (1, 2):  # already past the 30 kWh default: not a stop
        site.sessions[tx] = SessionState(
            tx, f"CP00{tx}", 1, "T", NOW - timedelta(hours=3), 0.0, energy_kwh=31.0
        )
    snapshot, _, plan = _plan(config, site)
    assert [n.open_ended for n in snapshot.needs] == [True, True]
    assert plan.power_kw[:, 0] == pytest.approx([kw_from_a(32, 3, 230)] * 2)
    # A car that draws nothing while offered power has stopped by itself: it is done.
    for _ in range(2):
        site.apply_reading(
            site.sessions[1], Reading(NOW, power_kw=0.0, current_offered_a=32.0), 230.0
        )
    _, _, plan = _plan(config, site)
    assert plan.power_kw[0, 0] == 0.0 and plan.power_kw[1, 0] > 20


def test_a_departure_ten_minutes_ahead_is_planned_as_given(tmp_path):
    config, site = _site(tmp_path, chargers=1)
    departure = NOW + timedelta(minutes=10)
    session = SessionState(1, "CP001", 1, "T", NOW - timedelta(hours=1), 0.0)
    session.overrides = {"departure_utc": departure.isoformat(), "energy_kwh": 5.0}
    site.sessions[1] = session
    snapshot, problem, plan = _plan(config, site)
    assert snapshot.needs[0].departure_utc == departure
    # Planned until it leaves at 10:17: the grid is cut at its departure.
    last = int(np.flatnonzero(problem.available[0])[-1])
    assert snapshot.grid.ends_utc()[last] == departure
    assert plan.power_kw[0, 0] == pytest.approx(kw_from_a(32, 3, 230))


def test_the_slot_grid_is_aligned_to_whole_seconds():
    from controller.timegrid import slot_grid

    grid = slot_grid(datetime(2026, 6, 1, 10, 0, 1, 50_000, tzinfo=UTC), 900, 3600)
    assert grid.ends_utc()[0] == datetime(2026, 6, 1, 10, 15, tzinfo=UTC)
    assert grid.first_slot_s == 899


@pytest.mark.parametrize(
    ("start", "end", "ramp_s"),
    [
        (datetime(2026, 6, 1, 17, 0, tzinfo=UTC), datetime(2026, 6, 1, 18, 0, tzinfo=UTC), 0),
        (datetime(2026, 6, 1, 16, 53, 20, tzinfo=UTC), None, 0),
        (datetime(2026, 6, 1, 16, 50, tzinfo=UTC), datetime(2026, 6, 1, 16, 51, 30, tzinfo=UTC), 0),
        (datetime(2026, 6, 1, 17, 0, tzinfo=UTC), None, 600),
    ],
)
def test_a_cap_applies_from_its_start_to_its_end_in_the_profile_sent(tmp_path, start, end, ramp_s):
    now = datetime(2026, 6, 1, 16, 41, 17, tzinfo=UTC)
    config, site = _site(tmp_path, chargers=2, site={"grid_limit_kw": 100.0})
    for tx in (1, 2):
        site.sessions[tx] = SessionState(tx, f"CP00{tx}", 1, "T", now, 0.0, power_kw=20.0)
    cap = LimitWindow("cap", "operator", start, end, limit_kw=20.0, ramp_s=ramp_s)
    snapshot, _, plan = _plan(config, site, now=now, windows=[cap])
    idle_kw = 0.0  # each charger has one connector, both in use
    grid = snapshot.grid
    profiles = [
        tx_profile(
            transaction_id=need.transaction_id,
            connector_id=1,
            power_kw=plan.power_kw[i].tolist(),
            start_utc=grid.start_utc,
            durations_s=grid.durations_s,
            phases=3,
            voltage_v=230.0,
            capabilities=Capabilities(max_stack_level=1),
            valid_for_s=4 * 3600,
        )
        for i, need in enumerate(snapshot.needs)
    ]

    def site_kw(at):
        return sum(limit_kw_at(p, at, 3, 230.0) or 0.0 for p in profiles) + idle_kw

    second = timedelta(seconds=1)
    full = 2 * kw_from_a(32, 3, 230)
    ramp_start = start - timedelta(seconds=ramp_s)
    assert site_kw(ramp_start - second) == pytest.approx(full, abs=0.2)  # not a moment early
    assert site_kw(start) <= 20.0 + 1e-6
    if ramp_s:
        halfway = ramp_start + timedelta(seconds=ramp_s / 2)
        assert 20.0 < site_kw(halfway - timedelta(seconds=60)) <= 60.0 + 1e-6
        assert site_kw(halfway) <= 60.0 + 1e-6  # linear from 100 kW to 20 kW
    if end is not None:
        assert site_kw(end - second) <= 20.0 + 1e-6
        assert site_kw(end) == pytest.approx(full, abs=0.2)  # released at its end


def test_a_charger_reporting_current_on_l1_only_is_not_a_single_phase_car(tmp_path):
    _, site = _site(tmp_path, chargers=1)
    session = SessionState(1, "CP001", 1, "T", NOW, 0.0)
    site.sessions[1] = session
    site.apply_reading(session, Reading(NOW, power_kw=11.0, current_a=(16.0,)), 230.0)
    assert session.phases_used == 3
    site.apply_reading(session, Reading(NOW, power_kw=3.68, current_a=(16.0,)), 230.0)
    assert session.phases_used == 1
    assert KW_16A == pytest.approx(11.04)


def test_a_car_that_does_not_resume_after_a_pause_is_held_at_its_minimum(tmp_path):
    config, site = _site(tmp_path, chargers=1)
    session = SessionState(1, "CP001", 1, "T", NOW, 0.0, energy_kwh=5.0)
    session.overrides = {"energy_kwh": 20.0}  # known to want 15 kWh more
    site.sessions[1] = session
    readings = [(11.0, 16.0), (0.0, 0.0), (0.0, 16.0), (0.0, 16.0)]  # drew, paused, asleep
    for power_kw, offered_a in readings:
        site.apply_reading(
            session, Reading(NOW, power_kw=power_kw, current_offered_a=offered_a), 230.0
        )
    assert session.no_resume and site.no_resume_count == 1
    snapshot, _, _ = _plan(config, site)
    assert snapshot.needs[0].keep_awake  # held at its minimum from now on
    assert snapshot.needs[0].energy_kwh > 0  # not mistaken for a full car
