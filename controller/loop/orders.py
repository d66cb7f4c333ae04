"""From a plan to the profile orders a dispatch sends: one TxProfile per session, ordered by
the limit in force now (the ledger's, or the default's and the measured draw where unknown),
and none where the charger already holds the same limits."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np

from controller.config import ControlSection
from controller.loop.dispatch import ProfileOrder
from controller.loop.ledger import Ledger
from controller.ocpp.profiles import limit_kw_at, tx_profile
from controller.planning import SessionNeed, Snapshot
from controller.site import Capabilities, SessionState
from controller.units import kw_from_a


@dataclass(frozen=True)
class OrderKey:
    """What a dispatch order stands for, to record it in the ledger once acknowledged."""

    transaction_id: int
    phases: int
    voltage_v: float


@dataclass
class Orders:
    orders: list[ProfileOrder]
    assigned_kw: dict[int, float]  # by transaction: the limit each sets now [kW]
    unchanged: int = 0


def build_orders(
    *,
    snapshot: Snapshot,
    power_kw: np.ndarray,
    flagged: list[SessionNeed],
    ledger: Ledger,
    sessions: dict[int, SessionState],
    capabilities: Callable[[str], Capabilities],
    safe_a: float,
    now: datetime,
    control: ControlSection,
) -> Orders:
    """``power_kw`` is (need, slot) for ``snapshot.needs``; ``flagged`` sessions (non-compliant,
    their draw reserved) get the safe share, re-sent each cycle until they follow it."""
    grid = snapshot.grid
    renew_s = 2 * control.interval_s
    result = Orders([], {})
    rows = [(need, power_kw[i]) for i, need in enumerate(snapshot.needs)]
    rows += [
        (need, np.full(grid.n_slots, kw_from_a(safe_a, need.phases, need.voltage_v)))
        for need in flagged
    ]
    for need, row in rows:
        caps = capabilities(need.charger_id)

        def profile_for(values: np.ndarray, raise_delay_s: int, need=need, caps=caps):
            return tx_profile(
                transaction_id=need.transaction_id,
                connector_id=need.connector_id,
                power_kw=[float(p) for p in values],
                start_utc=grid.start_utc,
                durations_s=grid.durations_s,
                phases=need.phases,
                voltage_v=need.voltage_v,
                capabilities=caps,
                valid_for_s=control.profile_validity_s,
                raise_delay_s=raise_delay_s,
            )

        profile = profile_for(row, control.raise_delay_s)
        new_kw = limit_kw_at(profile, now, need.phases, need.voltage_v) or 0.0
        result.assigned_kw[need.transaction_id] = new_kw
        default_kw = kw_from_a(safe_a, need.phases, need.voltage_v)
        key = OrderKey(need.transaction_id, need.phases, need.voltage_v)
        held = ledger.current(need.charger_id, need.connector_id)
        if held is not None and held.transaction_id == need.transaction_id:
            valid_to = held.valid_to_utc
            lasting = valid_to is None or valid_to - now > timedelta(seconds=renew_s)
            if lasting and held.same_limits(profile, now):
                result.unchanged += 1
                continue
            old_kw = held.limit_kw_at(now)
            old_kw = default_kw if old_kw is None else old_kw
        else:
            held = None
            old_kw = default_kw
        # What the car draws now counts too: after a restart the profiles a charger holds are
        # unknown, and ordering by the default alone could send a raise before a cut.
        session = sessions.get(need.transaction_id)
        if session is not None and session.power_kw is not None:
            old_kw = max(old_kw, session.power_kw)
        if held is None and new_kw > default_kw:
            # Unknown what the charger holds (a restart, a reconnect): its last reading may be
            # stale. Cap it at its plan and the safe share with the cuts first; the raise to
            # the plan goes with the raises.
            capped = profile_for(np.minimum(row, default_kw), 0)
            capped_kw = limit_kw_at(capped, now, need.phases, need.voltage_v) or 0.0
            result.orders.append(
                ProfileOrder(
                    need.charger_id, need.connector_id, capped, capped_kw, float("inf"), key
                )
            )
            old_kw = capped_kw
        result.orders.append(
            ProfileOrder(need.charger_id, need.connector_id, profile, new_kw, old_kw, key)
        )
    return result
