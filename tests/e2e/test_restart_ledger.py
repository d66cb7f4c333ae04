"""The dispatch ledger survives a restart (issue 12, cases 8 and 9): a charger that dropped its
connection during a cap keeps the TxProfile it holds and steps up on its own schedule when the
cap ends. A controller started after it went offline has never spoken to it, yet reserves it at
the most that profile allows until it lapses (the ledger is in the store), so the other chargers
get only the rest and the site stays inside its limit. Without the ledger in the store the new
controller reserved the 6 A default for it and the site drew 33.7 kW on its 30 kW limit for ten
minutes. On the event-stepped clock, over real websockets, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from controller.app import SiteController
from controller.planning import charger_node
from controller.stepped import StepClock, run_stepped
from controller.units import kw_from_a
from simulator.charger import ChargerSpec, Faults
from simulator.site import SimSite
from tests.e2e.harness import START, e2e_config, power_after, scenario, sessions_at_once

TOLERANCE_KW = 0.05
LIMIT_KW = 30.0
CAP_KW = 3.0  # a curtailment below any car's minimum: every TxProfile is at 0 A during it
CAP_FROM = START + timedelta(minutes=20)
CAP_TO = START + timedelta(minutes=40)
DROPS_AT = START + timedelta(minutes=25)  # CP001 goes offline during the cap ...
BACK_AT = START + timedelta(minutes=70)  # ... and stays away until its TxProfile lapsed
STOPPED_AT = START + timedelta(minutes=28)
RESTARTED_AT = START + timedelta(minutes=31)
END = START + timedelta(minutes=80)


def _reserved_kw(controller: SiteController, charger_id: str) -> float:
    """What the last cycle reserved for an offline charger [kW]."""
    snapshot = controller.loop.state.snapshot
    assert snapshot is not None
    reservations = snapshot.reservations
    assert any(why.startswith(f"{charger_id}: offline") for why in reservations.reasons)
    return sum(reservations.circuit_kw[charger_node(charger_id)])


def test_a_restarted_controller_reserves_what_an_offline_charger_holds(tmp_path, store_url):
    config = e2e_config(tmp_path, chargers=3, grid_limit_kw=LIMIT_KW, profile_validity_s=1800)
    config = config.model_copy(update={"store": config.store.model_copy(update={"url": store_url})})
    scen = scenario(3, sessions_at_once(3, energy_kwh=60))
    connected_at = START  # the simulated chargers connect at once
    specs = {
        "CP001": ChargerSpec(
            "CP001",
            meter_interval_s=60,
            reconnect_delay_s=(BACK_AT - DROPS_AT).total_seconds(),
            faults=Faults(disconnects_every_s=(DROPS_AT - connected_at).total_seconds()),
        )
    }

    async def day(clock: StepClock):
        first = SiteController(config, clock=clock)
        port = await first.start()
        here = config.model_copy(update={"ocpp": config.ocpp.model_copy(update={"port": port})})
        await first.limits.put(
            "cap",
            source="operator",
            kind="window",
            spec={
                "start_utc": CAP_FROM.isoformat(),
                "end_utc": CAP_TO.isoformat(),
                "limit_kw": CAP_KW,
            },
            actor="test",
        )
        sim = SimSite(
            f"ws://127.0.0.1:{port}/ocpp",
            scen,
            clock,
            charger_spec=ChargerSpec("template", meter_interval_s=60, reconnect_delay_s=30),
            specs=specs,
        )
        run = asyncio.create_task(sim.run(until_utc=END))
        await clock.sleep_until(STOPPED_AT)
        assert "CP001" not in first.central.connections  # offline, holding its TxProfile
        held_before = first.loop.state.ledger.current("CP001", 1)
        await first.stop()
        await clock.sleep_until(RESTARTED_AT)
        second = SiteController(here, clock=clock)
        await second.start()
        try:
            restored = second.loop.state.ledger.current("CP001", 1)
            await clock.sleep_until(CAP_TO + timedelta(minutes=2))
            reserved_after_cap = _reserved_kw(second, "CP001")
            cp001_after_cap = sim.chargers["CP001"]
            assert not cp001_after_cap.connected.is_set()
            assert restored is not None
            await clock.sleep_until(restored.valid_to_utc + timedelta(minutes=6))
            reserved_after_lapse = _reserved_kw(second, "CP001")
            record = await run
        finally:
            await second.stop()
        return held_before, restored, reserved_after_cap, reserved_after_lapse, record

    held_before, restored, reserved_after_cap, reserved_after_lapse, record = run_stepped(
        day, START
    )
    # What the first controller knew is what the second restored: the same profile.
    assert held_before is not None and restored is not None
    assert restored.profile == held_before.profile
    assert restored.transaction_id == held_before.transaction_id
    # The profile steps up after the cap: the most it allows is more than the safe default
    # (6 A) that a controller without the ledger would have reserved for an offline charger.
    held_max_kw = restored.max_kw_from(CAP_TO)
    default_kw = kw_from_a(6.0, 3, 230.0)
    assert held_max_kw > default_kw + 1.0, held_max_kw
    assert reserved_after_cap >= held_max_kw - TOLERANCE_KW
    # Once its TxProfile lapsed, the charger is back at its TxDefault: so is its reservation.
    assert reserved_after_lapse <= default_kw + TOLERANCE_KW < reserved_after_cap
    # And through all of it the site stayed inside its limit (the cap while it lasted).
    times, power = power_after(record, START)
    for at, kw in zip(times, power, strict=True):
        limit = CAP_KW if CAP_FROM + timedelta(minutes=1) <= at < CAP_TO else LIMIT_KW
        assert kw <= limit + TOLERANCE_KW, (at, kw, limit)
