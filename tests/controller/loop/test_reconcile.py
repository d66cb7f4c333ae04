"""Reconciliation with outside-style chargers over real websockets, on the event-stepped clock.

* A charger that answers GetCompositeSchedule with Rejected breaks nothing: it is logged once
  (asked again after each reconnect, never for a reading), and after a reconnect without a
  boot its profiles are sent again as before.
* A TxProfile rejected for a transaction the charger no longer runs (it ended during an
  outage, and the charger came back without a boot and without a StatusNotification) is a
  reconciliation: the connector's status is asked (TriggerMessage), the stale session closed
  (audited ``session.reconciled``), and the charger stays controllable. A charger that rejects
  the profile while its connector still charges is marked uncontrollable, as before.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from ocpp.routing import after, on
from ocpp.v16 import call, call_result
from ocpp.v16.enums import Action

from controller.ocpp.server import RECONNECT_BOOT_GRACE_S
from controller.stepped import StepClock, run_stepped
from controller.store import audit_log
from tests.controller.api.harness import iso
from tests.controller.ocpp_client import ClientChargePoint, connect
from tests.controller.site_factory import running, site_config
from tests.e2e.harness import START


class OutsideCharger(ClientChargePoint):
    """A plain charger: answers GetCompositeSchedule as told, rejects TxProfiles for
    transactions it does not run, and reports a connector's status when triggered."""

    composite_status = "Rejected"
    running_transaction: int | None = None
    connector_status = "Available"
    pending: asyncio.Future[Any] | None = None

    @on(Action.set_charging_profile)
    def on_set_charging_profile(self, connector_id: int, cs_charging_profiles: dict[str, Any]):
        self.received.append(("SetChargingProfile", {"connector_id": connector_id}))
        tx = cs_charging_profiles.get("transaction_id")
        if tx is not None and tx != self.running_transaction:
            return call_result.SetChargingProfile(status="Rejected")
        self.profiles.append({"connector_id": connector_id, **cs_charging_profiles})
        return call_result.SetChargingProfile(status="Accepted")

    @on(Action.get_composite_schedule)
    def on_get_composite_schedule(self, connector_id: int, duration: int, **kwargs: Any):
        self.received.append(("GetCompositeSchedule", {"connector_id": connector_id}))
        return call_result.GetCompositeSchedule(status=self.composite_status)

    @after(Action.trigger_message)
    def after_trigger_message(self, requested_message: str, **kwargs: Any):
        if requested_message == "StatusNotification":
            connector_id = kwargs.get("connector_id") or 1
            status = call.StatusNotification(
                connector_id=connector_id, error_code="NoError", status=self.connector_status
            )
            self.pending = asyncio.ensure_future(self.call(status))

    def purposes(self) -> list[str]:
        return [p["charging_profile_purpose"] for p in self.profiles]


def _config(tmp_path):
    return site_config(
        f"sqlite:///{tmp_path / 's.db'}",
        chargers=1,
        ocpp={"response_timeout_s": 5},
    )


async def _start_session(clock: StepClock, cp: OutsideCharger) -> int:
    await cp.boot()
    await clock.sleep(5)  # configured; the standing default set
    start = call.StartTransaction(
        connector_id=1, id_tag="TAG1", meter_start=0, timestamp=iso(clock.now())
    )
    tx = (await cp.call(start, suppress=False)).transaction_id
    cp.running_transaction = tx
    await clock.sleep(5)  # the first plan's TxProfile
    assert "TxProfile" in cp.purposes()
    return tx


def test_a_charger_rejecting_get_composite_schedule_breaks_nothing(tmp_path, caplog):
    caplog.set_level(logging.WARNING, logger="controller.loop.reconcile")

    async def day(clock: StepClock):
        async with running(_config(tmp_path), clock=clock) as ctl:
            async with connect(ctl.url, "CP001", charge_point_class=OutsideCharger) as cp:
                tx = await _start_session(clock, cp)
            sent_again = []
            for _ in range(2):  # back twice without a boot, its transaction still running
                async with connect(ctl.url, "CP001", charge_point_class=OutsideCharger) as cp:
                    cp.running_transaction = tx
                    await clock.sleep(RECONNECT_BOOT_GRACE_S + 10)
                    asked = [name for name, _ in cp.received if name == "GetCompositeSchedule"]
                    sent_again.append((asked, cp.purposes()))
            state = ctl.site.charger("CP001")
            return tx, sent_again, state.controllable, tx in ctl.site.sessions

    _, sent_again, controllable, still_open = run_stepped(day, START)
    assert controllable and still_open
    first, second = sent_again
    assert first[0] == second[0] == ["GetCompositeSchedule"]  # asked; answered Rejected
    for _, purposes in sent_again:  # its default and its session's profile, sent again
        assert "TxDefaultProfile" in purposes and "TxProfile" in purposes
    warnings = [r for r in caplog.records if "GetCompositeSchedule not usable" in r.message]
    assert len(warnings) == 1


def _outage(tmp_path, connector_status: str):
    """A session starts; the charger drops off; it comes back without a boot and (unless
    ``connector_status`` is Charging) without the transaction, and says nothing."""

    async def day(clock: StepClock):
        async with running(_config(tmp_path), clock=clock) as ctl:
            async with connect(ctl.url, "CP001", charge_point_class=OutsideCharger) as cp:
                tx = await _start_session(clock, cp)
            await clock.sleep(60)  # the outage: the car left, the transaction ended unseen
            async with connect(ctl.url, "CP001", charge_point_class=OutsideCharger) as cp:
                cp.connector_status = connector_status
                if connector_status == "Charging":
                    cp.running_transaction = -1  # another transaction than ours
                await clock.sleep(RECONNECT_BOOT_GRACE_S + 30)
                rejected = [p for p in cp.received if p[0] == "SetChargingProfile"]
                triggered = [p for p in cp.received if p[0] == "TriggerMessage"]
            await ctl.store.flush()
            audit = await ctl.store.run(
                ctl.store.store.rows, audit_log, action="session.reconciled"
            )
            state = ctl.site.charger("CP001")
            closed = ctl.site.closed_sessions.get(tx)
            return {
                "tx": tx,
                "profiles_sent": rejected,
                "triggered": triggered,
                "controllable": state.controllable,
                "reason": state.uncontrollable_reason,
                "closed": closed.stop_reason if closed else None,
                "audit": [row["target"] for row in audit],
            }

    return run_stepped(day, START)


def test_a_profile_rejected_for_a_transaction_that_ended_in_an_outage_is_reconciled(tmp_path):
    report = _outage(tmp_path, "Available")
    assert report["profiles_sent"]  # the TxProfile went out, and was rejected
    assert report["triggered"]  # the connector's status was asked before any verdict
    assert report["closed"] == "Reconciled"
    assert report["audit"] == [str(report["tx"])]
    assert report["controllable"], report["reason"]


def test_a_profile_rejected_while_the_connector_charges_is_a_fault(tmp_path):
    report = _outage(tmp_path, "Charging")
    assert report["triggered"]
    assert report["closed"] is None
    assert not report["controllable"]
    assert report["reason"] == "answered Rejected"
