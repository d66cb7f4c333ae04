"""The safe share and the snapshot -> Problem step, checked against hand computations."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from controller.limits import effective_limits
from controller.meter import Reading
from controller.planning import build_problem, slot_grid, take_snapshot
from controller.safety import safe_share_a
from controller.site import SessionState, SiteState
from controller.units import kw_from_a
from tests.controller.site_factory import site_config

NOW = datetime(2026, 6, 1, 10, 7, tzinfo=UTC)


def test_slot_grid_has_a_partial_first_slot_aligned_to_the_interval():
    grid = slot_grid(NOW, 900, 3600)
    assert grid.first_slot_s == 480
    assert grid.starts_utc()[1] == datetime(2026, 6, 1, 10, 15, tzinfo=UTC)
    assert grid.ends_utc()[-1] >= NOW + timedelta(hours=1)
    assert grid.slot_of(datetime(2026, 6, 1, 10, 20, tzinfo=UTC)) == 1


@pytest.mark.parametrize(
    ("chargers", "grid_kw", "circuit_a", "expected_a"),
    [
        (3, 100.0, 160.0, 6.0),  # plenty of room: the configured default
        (10, 30.0, 160.0, 0.0),  # 10 × 3 × 230 V × 6 A = 41.4 kW > 30 kW: nothing fits
        (4, 30.0, 160.0, 6.0),  # 4 × 690 W/A × 6 A = 16.56 kW fits
        (4, 100.0, 20.0, 0.0),  # a 20 A feeder cannot carry 4 × 6 A per phase
    ],
)
def test_safe_share_fits_every_connector_at_once(
    tmp_path, chargers, grid_kw, circuit_a, expected_a
):
    config = site_config(
        f"sqlite:///{tmp_path / 's.db'}",
        chargers=chargers,
        site={"grid_limit_kw": grid_kw},
        circuits=[{"id": "feeder", "limit_a": circuit_a}],
    )
    share = safe_share_a(config, grid_kw)
    assert share == expected_a
    assert chargers * kw_from_a(share, 3, 230.0) <= grid_kw + 1e-9
    assert chargers * share <= circuit_a + 1e-9


def test_snapshot_reserves_idle_connectors_and_plans_sessions(tmp_path):
    config = site_config(f"sqlite:///{tmp_path / 's.db'}", chargers=3)
    site = SiteState(config)
    for charger in site.chargers.values():
        charger.online = True
    site.sessions[5] = SessionState(
        5, "CP001", 1, "TAG", NOW - timedelta(hours=1), 0.0, energy_kwh=10.0
    )
    site.chargers["CP003"].controllable = False
    site.chargers["CP003"].uncontrollable_reason = "Rejected"
    site.sessions[6] = SessionState(6, "CP003", 1, "TAG", NOW - timedelta(hours=1), 0.0)
    snapshot = take_snapshot(
        site, NOW, safe_default_a=6.0, assigned_kw={}, horizon_s=4 * 3600, slot_s=900
    )
    assert [n.transaction_id for n in snapshot.needs] == [5]
    need = snapshot.needs[0]
    assert need.energy_kwh == pytest.approx(20.0)  # 30 kWh default minus 10 delivered
    assert need.departure_utc == NOW - timedelta(hours=1) + timedelta(hours=8)
    assert need.max_kw == pytest.approx(kw_from_a(32, 3, 230))
    # CP002 idle (6 A default) + CP003 uncontrollable (full 32 A) are reserved.
    assert snapshot.reservations.site_kw == pytest.approx(
        kw_from_a(6, 3, 230) + kw_from_a(32, 3, 230)
    )
    grid = snapshot.grid
    limits = effective_limits(100.0, [], grid.starts_utc(), grid.ends_utc())
    problem = build_problem(config, snapshot, limits, np.full(grid.n_slots, 0.3))
    assert problem.ev_ids == ("tx5",)
    assert problem.base_load_kw[0] == 0.0  # reservations narrow the limit; they are not load
    assert problem.site_limit_kw[0] == pytest.approx(100.0 - snapshot.reservations.site_kw)
    feeder = next(c for c in problem.circuits if c.id == "feeder")
    assert feeder.limit_kw_per_phase == pytest.approx(160 * 0.230)
    # Reserved once, on the chargers' own nodes; the Problem counts them on the feeder above.
    assert sum(feeder.reserved_kw_per_phase) == 0.0
    head = problem.circuit_headroom_kw()[[c.id for c in problem.circuits].index("feeder")]
    assert head.sum() == pytest.approx(3 * 160 * 0.230 - snapshot.reservations.site_kw)


def test_soc_and_overrides_tighten_the_need(tmp_path):
    config = site_config(f"sqlite:///{tmp_path / 's.db'}", chargers=1)
    site = SiteState(config)
    site.chargers["CP001"].online = True
    session = SessionState(
        1, "CP001", 1, "T", NOW - timedelta(hours=2), 0.0, energy_kwh=12.0, soc_percent=60.0
    )
    session.overrides = {"soc_start_percent": 40.0}
    site.sessions[1] = session
    need = take_snapshot(
        site, NOW, safe_default_a=6, assigned_kw={}, horizon_s=3600, slot_s=900
    ).needs[0]
    assert need.energy_kwh == pytest.approx(12.0 / 20.0 * 40.0)  # 0.6 kWh per % × 40 % left
    departure = NOW + timedelta(hours=3)
    session.overrides = {
        "energy_kwh": 50.0,
        "departure_utc": departure.isoformat(),
        "priority": 2.0,
    }
    need = take_snapshot(
        site, NOW, safe_default_a=6, assigned_kw={}, horizon_s=3600, slot_s=900
    ).needs[0]
    assert (need.energy_kwh, need.departure_utc, need.priority) == (
        pytest.approx(38.0),
        departure,
        2.0,
    )


def test_single_phase_car_loads_the_phase_its_rotation_says(tmp_path):
    config = site_config(
        f"sqlite:///{tmp_path / 's.db'}",
        chargers=[{"id": "CP001", "max_current_a": 32, "phase_rotation": "STR"}],
        circuits=[],
    )
    site = SiteState(config)
    site.chargers["CP001"].online = True
    session = SessionState(1, "CP001", 1, "T", NOW, 0.0)
    site.sessions[1] = session
    site.apply_reading(session, Reading(NOW, power_kw=3.68, current_a=(16.0, 0.0, 0.0)), 230.0)
    # A pause (0 A everywhere) afterwards does not make it a three-phase car again.
    site.apply_reading(session, Reading(NOW, power_kw=0.0, current_a=(0.0, 0.0, 0.0)), 230.0)
    need = take_snapshot(
        site, NOW, safe_default_a=6, assigned_kw={}, horizon_s=3600, slot_s=900
    ).needs[0]
    assert need.phases == 1
    assert need.phase_share == (0.0, 1.0, 0.0)  # charger L1 is wired to grid L2
    assert need.max_kw == pytest.approx(kw_from_a(32, 1, 230))
