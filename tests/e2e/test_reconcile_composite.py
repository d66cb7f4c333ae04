"""Reconciliation with the charger's GetCompositeSchedule (issue 12), on the event-stepped
clock over real websockets.

Prices are dear until 10:00 and cheap after: the plan holds both cars at 0 A now, well below
their chargers' standing default. A charger that loses its TxProfile (firmware that drops it,
with or without its link) runs at that default. Its composite schedule disagrees with the
ledger, so the ledger takes the charger's word and the TxProfile is sent again, instead of the
charger being judged non-compliant against a profile it no longer holds. A charger whose
composite agrees keeps its ledger entry: nothing needs sending again.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from controller.app import SiteController
from controller.stepped import StepClock, run_stepped
from controller.store import audit_log
from simulator.charger import ChargerSpec, Faults
from simulator.site import SimSite
from tests.e2e.harness import START, e2e_config, scenario, sessions_at_once

LOSE_AT = START + timedelta(minutes=30)


def _config(tmp_path):
    prices = tmp_path / "prices.csv"
    rows = ["timestamp,price"]
    for hour in range(24):
        at = START.replace(hour=0) + timedelta(hours=hour)
        rows.append(f"{at.isoformat()},{0.10 if 10 <= hour < 13 else 0.50}")
    prices.write_text("\n".join(rows) + "\n")
    return e2e_config(
        tmp_path,
        chargers=2,
        grid_limit_kw=50.0,
        tariff={"type": "csv", "file": "prices.csv", "fallback": "none"},
        session_defaults={"dwell_h": 5, "energy_kwh": 20},
        keep_awake=False,
    )


def _tx_profiles(charger) -> list:
    return [p for p in charger.profiles if p.profile.purpose == "TxProfile"]


def _day(tmp_path, lose):
    """Run to LOSE_AT, let ``lose(controller, sim)`` happen, run 5 more minutes; report."""
    config = _config(tmp_path)

    async def day(clock: StepClock):
        controller = SiteController(config, clock=clock)
        port = await controller.start()
        spec = ChargerSpec(
            "template",
            meter_interval_s=60,
            reconnect_delay_s=5,
            faults=Faults(reconnects_without_boot=True),
        )
        sim = SimSite(
            f"ws://127.0.0.1:{port}/ocpp",
            scenario(2, sessions_at_once(2, energy_kwh=20, stay_h=5.5)),
            clock,
            charger_spec=spec,
        )
        run = asyncio.create_task(sim.run(until_utc=LOSE_AT + timedelta(minutes=10)))
        try:
            await clock.sleep_until(LOSE_AT)
            ledger = controller.loop.state.ledger
            before = {cid: ledger.current(cid, 1) for cid in ("CP001", "CP002")}
            assert all(h is not None and h.transaction_id is not None for h in before.values())
            assert _tx_profiles(sim.chargers["CP001"])
            await lose(controller, sim)
            await clock.sleep(300)
            report = {
                "before": before,
                "after": {cid: ledger.current(cid, 1) for cid in ("CP001", "CP002")},
                "held": _tx_profiles(sim.chargers["CP001"]),
                "offered_a": sim.chargers["CP001"].connectors[1].offered_a,
                "flagged": controller.site.charger("CP001").non_compliant,
                "reconciled": controller.loop.standing.reconcile.reconciled,
                "boots": {cid: cp.booted_count for cid, cp in sim.chargers.items()},
            }
            await controller.store.flush()
            report["audit"] = await controller.store.run(
                controller.store.store.rows, audit_log, action="ledger.reconciled"
            )
        finally:
            await run
            await controller.stop()
        return report

    return run_stepped(day, START)


def test_a_charger_that_drops_its_profile_is_given_it_again_not_flagged(tmp_path):
    async def lose(controller, sim):
        sim.chargers["CP001"].clear_charging_profile(None, None, "TxProfile", None)

    report = _day(tmp_path, lose)
    assert report["reconciled"] >= 1
    assert {row["target"] for row in report["audit"]} == {"CP001/1"}
    assert not report["flagged"]  # it followed what it held; the ledger was wrong
    assert report["held"]  # its TxProfile was sent again
    assert report["offered_a"] is not None and report["offered_a"] < 1.0  # dear hours: 0 A


def test_a_charger_back_without_its_profile_gets_it_again(tmp_path):
    async def lose(controller, sim):
        for charger_id in ("CP001", "CP002"):
            await controller.central.connections[charger_id]._connection.close()
        sim.chargers["CP001"].clear_charging_profile(None, None, "TxProfile", None)

    report = _day(tmp_path, lose)
    assert set(report["boots"].values()) == {1}  # nobody booted again
    assert {row["target"] for row in report["audit"]} == {"CP001/1"}
    assert report["held"]
    assert report["offered_a"] is not None and report["offered_a"] < 1.0
    # CP002 kept its profile: its composite agreed and its ledger entry stands.
    assert report["after"]["CP002"] is report["before"]["CP002"]
