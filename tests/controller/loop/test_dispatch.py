"""Dispatch: cuts go out first and all at once; raises only once every cut is answered; each
acknowledgement is heard as it arrives; what fails is reported with why (stepped clock)."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace

from controller.loop.dispatch import ProfileOrder, dispatch
from controller.ocpp.errors import ChargerCallError
from controller.stepped import StepClock, run_stepped

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


def _order(charger_id: str, new_kw: float, old_kw: float) -> ProfileOrder:
    return ProfileOrder(charger_id, 1, {"for": charger_id}, new_kw, old_kw)


def test_raises_wait_for_every_cut():
    orders = [_order("RAISE", 11.0, 4.0), _order("CUT-SLOW", 2.0, 11.0), _order("CUT", 0.0, 7.0)]
    delays_s = {"CUT-SLOW": 3.0, "CUT": 1.0, "RAISE": 0.5}

    async def day(clock: StepClock):
        events: list[tuple[str, str, float]] = []

        async def send(charger_id, connector_id, profile):
            events.append(("sent", charger_id, (clock.now() - T0).total_seconds()))
            await clock.sleep(delays_s[charger_id])
            return SimpleNamespace(status="Accepted")

        def accepted(order):
            events.append(("acked", order.charger_id, (clock.now() - T0).total_seconds()))

        result = await dispatch(orders, send, timeout_s=10, on_accepted=accepted)
        return events, result

    events, result = run_stepped(day, T0)
    assert (result.cuts, result.raises, result.failed) == (2, 1, [])
    assert events == [
        ("sent", "CUT-SLOW", 0.0),
        ("sent", "CUT", 0.0),
        ("acked", "CUT", 1.0),  # heard as it arrives, not after the fan-out
        ("acked", "CUT-SLOW", 3.0),
        ("sent", "RAISE", 3.0),  # only after the last cut
        ("acked", "RAISE", 3.5),
    ]


def test_what_fails_is_reported_with_why():
    orders = [_order(cid, 1.0, 5.0) for cid in ("OK", "REJECTS", "ERRS", "SILENT")]

    async def day(clock: StepClock):
        async def send(charger_id, connector_id, profile):
            if charger_id == "REJECTS":
                return SimpleNamespace(status="Rejected")
            if charger_id == "ERRS":
                raise ChargerCallError(
                    charger_id, "SetChargingProfile", SimpleNamespace(code="NotSupported")
                )
            if charger_id == "SILENT":
                await clock.sleep(3600)
            return SimpleNamespace(status="Accepted")

        return await dispatch(orders, send, timeout_s=10)

    result = run_stepped(day, T0)
    assert [o.charger_id for o in result.accepted] == ["OK"]
    assert {o.charger_id: why for o, why in result.failed} == {
        "REJECTS": "answered Rejected",
        "ERRS": "CALLERROR NotSupported",
        "SILENT": "no answer within the timeout",
    }
    assert result.elapsed_s == 10.0
