"""The ledger (what chargers hold) and the orders built from a plan against it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from controller.config import ControlSection
from controller.loop.ledger import HeldProfile, Ledger
from controller.loop.orders import build_orders
from controller.planning import take_snapshot
from controller.site import Capabilities, SessionState, SiteState
from controller.units import kw_from_a
from tests.controller.site_factory import site_config

NOW = datetime(2026, 6, 1, 10, 7, tzinfo=UTC)
CONTROL = ControlSection(raise_delay_s=0)


def _snapshot(tmp_path, sessions=1, online=True):
    config = site_config(f"sqlite:///{tmp_path / 's.db'}", chargers=2)
    site = SiteState(config)
    for charger in site.chargers.values():
        charger.online = online
    for tx in range(1, sessions + 1):
        site.sessions[tx] = SessionState(tx, f"CP00{tx}", 1, "T", NOW, 0.0, power_kw=11.0)
    return site, take_snapshot(
        site, NOW, safe_default_a=6.0, assigned_kw={}, horizon_s=3600, slot_s=900
    )


def _orders(site, snapshot, ledger, power_kw, now=NOW):
    return build_orders(
        snapshot=snapshot,
        power_kw=np.array(power_kw, dtype=float),
        flagged=list(snapshot.flagged),
        ledger=ledger,
        sessions=site.sessions,
        capabilities=lambda cid: Capabilities(max_stack_level=1),
        safe_a=6.0,
        now=now,
        control=CONTROL,
    )


def _accept_all(ledger, orders, at):
    for order in orders.orders:
        key = order.key
        ledger.accept(
            HeldProfile(
                order.charger_id,
                order.connector_id,
                key.transaction_id,
                order.profile,
                key.phases,
                key.voltage_v,
                at,
            )
        )


def test_an_unchanged_plan_is_not_sent_again_until_its_validity_runs_low(tmp_path):
    site, snapshot = _snapshot(tmp_path)
    ledger = Ledger()
    row = [[11.0] * snapshot.grid.n_slots]
    first = _orders(site, snapshot, ledger, row)
    assert len(first.orders) == 2  # unknown what the charger holds: capped first, then raised
    _accept_all(ledger, first, NOW)
    again = _orders(site, snapshot, ledger, row, now=NOW + timedelta(seconds=30))
    assert (len(again.orders), again.unchanged) == (0, 1)
    changed = _orders(site, snapshot, ledger, [[7.0] * snapshot.grid.n_slots])
    assert len(changed.orders) == 1 and changed.orders[0].is_cut
    late = NOW + timedelta(seconds=CONTROL.profile_validity_s - 2 * CONTROL.interval_s + 1)
    assert len(_orders(site, snapshot, ledger, row, now=late).orders) == 1  # renewed in time


def test_compliance_is_judged_against_the_profile_in_force_when_read(tmp_path):
    site, snapshot = _snapshot(tmp_path)
    ledger = Ledger()
    high = _orders(site, snapshot, ledger, [[11.0] * snapshot.grid.n_slots])
    _accept_all(ledger, high, NOW)
    low = _orders(site, snapshot, ledger, [[4.5] * snapshot.grid.n_slots])
    _accept_all(ledger, low, NOW + timedelta(seconds=20))
    before = ledger.assigned_kw_at("CP001", 1, 1, NOW + timedelta(seconds=10))
    after = ledger.assigned_kw_at("CP001", 1, 1, NOW + timedelta(seconds=30))
    assert before == pytest.approx(kw_from_a(15.9, 3, 230), abs=0.1)
    assert after == pytest.approx(kw_from_a(6.5, 3, 230), abs=0.1)


def test_an_offline_charger_is_reserved_at_the_most_its_profiles_allow(tmp_path):
    site, snapshot = _snapshot(tmp_path)
    ledger = Ledger()
    # Alternating 16 A / 0 A, as a charger held during a cap: the offline reservation is 16 A.
    n = snapshot.grid.n_slots
    row = [[kw_from_a(16, 3, 230) if t % 2 else 0.0 for t in range(n)]]
    _accept_all(ledger, _orders(site, snapshot, ledger, row), NOW)
    held = ledger.current("CP001", 1)
    assert held.max_kw_from(NOW) == pytest.approx(kw_from_a(16, 3, 230))
    site.chargers["CP001"].online = False
    offline = take_snapshot(
        site,
        NOW,
        safe_default_a=6.0,
        assigned_kw={},
        horizon_s=3600,
        slot_s=900,
        held_max_kw={("CP001", 1): held.max_kw_from(NOW)},
    )
    assert offline.needs == ()
    reserved = [r for r in offline.reservations.reasons if "offline" in r]
    assert reserved and offline.reservations.site_kw == pytest.approx(
        kw_from_a(16, 3, 230) + kw_from_a(6, 3, 230)  # + CP002's idle default
    )
