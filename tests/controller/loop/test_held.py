"""The dispatch ledger in the store (migration 0005): every change is a row replacement on the
batched flush, and a restart puts back what still counts (issue 12, cases 8 and 9)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from controller.async_store import AsyncStore
from controller.loop.held import HeldStore
from controller.loop.ledger import TX_DEFAULT, HeldProfile, Ledger
from controller.ocpp.profiles import tx_default_profile, tx_profile
from controller.site import Capabilities, SessionState, SiteState
from controller.store import Replacement, Store, held_profiles
from controller.units import kw_from_a
from tests.controller.site_factory import site_config

NOW = datetime(2026, 6, 1, 10, 7, tzinfo=UTC)
CAPS = Capabilities(max_stack_level=1)


def _tx(transaction_id: int, amps: list[float], *, at=NOW, valid_for_s=1800) -> dict:
    return tx_profile(
        transaction_id=transaction_id,
        connector_id=1,
        power_kw=[kw_from_a(a, 3, 230.0) for a in amps],
        start_utc=at,
        durations_s=[900] * len(amps),
        phases=3,
        voltage_v=230.0,
        capabilities=CAPS,
        valid_for_s=valid_for_s,
    )


def _held(charger_id: str, transaction_id: int | None, profile: dict, at=NOW) -> HeldProfile:
    connector_id = 0 if transaction_id is None else 1
    return HeldProfile(charger_id, connector_id, transaction_id, profile, 3, 230.0, at)


def test_replacements_keep_the_newest_row_per_key_and_delete_on_none(store_url):
    store = Store(store_url)
    try:
        row = {
            "charger_id": "CP001",
            "connector_id": 1,
            "purpose": "TxProfile",
            "transaction_id": 7,
            "stack_level": 1,
            "phases": 3,
            "voltage_v": 230.0,
            "accepted_utc": NOW,
            "valid_from_utc": NOW,
            "valid_to_utc": NOW + timedelta(minutes=30),
            "profile": {"limit": 1},
        }
        key = ("CP001", 1, "TxProfile")
        other = {**row, "charger_id": "CP002"}
        assert store.insert_batches([], [Replacement(held_profiles, key, row)]) == set()
        store.insert_batches(
            [],
            [
                Replacement(held_profiles, key, {**row, "profile": {"limit": 2}}),
                Replacement(held_profiles, ("CP002", 1, "TxProfile"), other),
            ],
        )
        rows = {r["charger_id"]: r for r in store.held_profile_rows()}
        assert rows["CP001"]["profile"] == {"limit": 2}
        assert rows["CP001"]["accepted_utc"] == NOW  # aware UTC back, on both backends
        assert set(rows) == {"CP001", "CP002"}
        store.insert_batches([], [Replacement(held_profiles, key, None)])
        assert [r["charger_id"] for r in store.held_profile_rows()] == ["CP002"]
    finally:
        store.close()


async def test_ledger_changes_are_written_at_the_next_flush_and_restored(store_url):
    config = site_config(store_url, chargers=3)
    site = SiteState(config)
    site.sessions[1] = SessionState(1, "CP001", 1, "T", NOW, 0.0, power_kw=0.0)
    site.sessions[3] = SessionState(3, "CP003", 1, "T", NOW, 0.0, power_kw=0.0)
    store = AsyncStore(Store(config.store_url()))
    try:
        ledger = Ledger()
        held = HeldStore(config, site, ledger, store)
        ledger.accept(_held("CP001", 1, _tx(1, [0, 16, 0, 16])))
        ledger.accept(_held("CP002", 2, _tx(2, [16])))  # its session ends during the outage
        ledger.accept(_held("CP003", 3, _tx(3, [32], at=NOW - timedelta(hours=1))))  # lapsed
        ledger.accept(_held("CP003", 3, _tx(3, [32], at=NOW - timedelta(hours=1)), at=NOW))
        await store.flush()
        assert len(await store.run(store.store.held_profile_rows)) == 3  # newest per key
        # The standing defaults: CP001 holds 6 A, CP002 none any more.
        held.sync_defaults({"CP001": 6.0, "CP003": 8.0}, NOW)
        held.sync_defaults({"CP001": 6.0}, NOW)  # CP003's is unknown again (it reconnected)
        await store.flush()
        purposes = {
            (r["charger_id"], r["purpose"]) for r in await store.run(store.store.held_profile_rows)
        }
        assert ("CP001", TX_DEFAULT) in purposes and ("CP003", TX_DEFAULT) not in purposes

        restored = Ledger()
        default_a: dict[str, float] = {}
        count = await HeldStore(config, site, restored, store).restore(default_a, NOW)
        assert count == 2  # CP001's TxProfile and its TxDefault
        assert restored.current("CP001", 1).profile == ledger.current("CP001", 1).profile
        assert restored.current("CP002", 1) is None  # its transaction is closed
        assert restored.current("CP003", 1) is None  # its profile lapsed
        assert default_a == {"CP001": 6.0}
        await store.flush()
        rows = await store.run(store.store.held_profile_rows)
        assert {(r["charger_id"], r["purpose"]) for r in rows} == {
            ("CP001", "TxProfile"),
            ("CP001", TX_DEFAULT),
        }
        # What an offline CP001 may draw: 16 A from its TxProfile, 6 A after it lapses.
        by_connector = restored.max_kw_by_connector(NOW, lambda cid: 1)
        assert by_connector[("CP001", 1)] == pytest.approx(kw_from_a(16, 3, 230.0))
        later = restored.max_kw_by_connector(NOW + timedelta(hours=1), lambda cid: 1)
        assert later[("CP001", 1)] == pytest.approx(kw_from_a(6, 3, 230.0))
    finally:
        await store.close()


def test_the_most_a_profile_allows_ends_with_its_validity():
    # 0 A for 15 min, then 32 A: valid for 10 min only, it never allows the 32 A.
    short = _held("CP001", 1, _tx(1, [0, 32], valid_for_s=600))
    assert short.max_kw_from(NOW) == 0.0
    assert short.max_kw_from(NOW + timedelta(minutes=11)) == 0.0
    long = _held("CP001", 1, _tx(1, [0, 32], valid_for_s=1800))
    assert long.max_kw_from(NOW) == pytest.approx(kw_from_a(32, 3, 230.0))
    default = _held(
        "CP001",
        None,
        tx_default_profile(
            current_a=6.0, phases=3, voltage_v=230.0, capabilities=CAPS, start_utc=NOW
        ),
    )
    assert default.purpose == TX_DEFAULT
    assert default.max_kw_from(NOW + timedelta(days=3)) == pytest.approx(kw_from_a(6, 3, 230.0))
