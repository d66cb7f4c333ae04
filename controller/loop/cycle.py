"""One control cycle: snapshot -> plan -> dispatch -> verify, and the loop that runs it.

Whatever fails, the chargers get a plan inside every limit: the optimiser's own fallback chain
inside the planner, and if the cycle itself fails (a planner overrun, bad data), every session
gets the safe share, with the reason logged and recorded.
"""

from __future__ import annotations

import logging
import time
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import numpy as np

import optimizer
from controller.clock import Clock
from controller.config import SiteConfig
from controller.limit_book import LimitBook
from controller.limits import effective_limits, window_breaks
from controller.loop.compliance import Compliance
from controller.loop.dispatch import DispatchResult, ProfileOrder, dispatch
from controller.loop.flags import ChargerFlags
from controller.loop.held import HeldStore
from controller.loop.ledger import HeldProfile
from controller.loop.orders import OrderKey, build_orders
from controller.loop.planner import Planner, PlannerFailed, thread_planner
from controller.loop.records import CycleRecord, CycleState
from controller.loop.standing import Standing
from controller.loop.triggers import REPLAN_EVENTS, Triggers
from controller.ocpp.server import CentralSystem
from controller.planning import Snapshot, build_problem, take_snapshot
from controller.pricing import PriceSource
from controller.site import SiteState
from controller.units import kw_from_a
from optimizer.fill import hold_minimum, probe_first_slot
from optimizer.problem import Plan, Problem

log = logging.getLogger(__name__)

PEAK_WINDOW_S = 900.0  # the demand charge's averaging window [s]


class ControlLoop:
    def __init__(
        self,
        config: SiteConfig,
        clock: Clock,
        site: SiteState,
        central: CentralSystem,
        limits: LimitBook,
        prices: PriceSource,
        *,
        method: str = "optimal",
        planner: Planner | None = None,
    ) -> None:
        self.config = config
        self.clock = clock
        self.site = site
        self.central = central
        self.limit_book = limits
        self.prices = prices
        self.method = method
        self.planner = planner or thread_planner(
            method, self._time_limit_s, config.control.mip_rel_gap
        )
        self.state = CycleState()
        control = config.control
        self.triggers = Triggers(
            clock,
            lambda reasons: self.run_cycle(reasons),
            interval_s=control.interval_s,
            debounce_s=control.debounce_s,
        )
        self.standing = Standing(
            config, clock, site, central, limits, self.state, self.triggers.trigger
        )
        self.compliance = Compliance(
            config, clock, site, self.state, self.triggers.trigger,
            on_overdraw=self.standing.reconcile.on_overdraw,
        )  # fmt: skip
        self.flags = ChargerFlags(site, central.store)
        self.held = HeldStore(config, site, self.state.ledger, central.store)
        site.subscribe(self._on_site_event)
        limits.subscribe(lambda entry_id: self.trigger(f"limit_changed:{entry_id}"))
        central.ready_listeners.append(self.standing.on_ready)

    # triggers ----------------------------------------------------------------------------
    def _on_site_event(self, kind: str, charger_id: str, detail: dict[str, Any]) -> None:
        if kind == "meter_values":
            self.compliance.on_reading(detail.get("transaction_id"))
        elif kind in REPLAN_EVENTS:
            if kind in ("charger_online", "charger_ready"):
                state = self.site.charger(charger_id)
                state.controllable, state.uncontrollable_reason = True, None
            self.trigger(f"{kind}:{charger_id}")

    def trigger(self, reason: str) -> None:
        self.triggers.trigger(reason)

    @property
    def cycles(self) -> int:
        return self.triggers.cycles

    async def wait_for_cycles(self, count: int, timeout_s: float = 30.0) -> None:
        await self.triggers.wait_for_cycles(count, timeout_s)

    def start(self, *, clock_driven: bool) -> None:
        self.triggers.start(clock_driven=clock_driven)

    async def restore(self) -> None:
        """What an earlier run learned about each charger (see :mod:`controller.loop.flags`)
        and what each holds (:mod:`controller.loop.held`); after the sessions are restored."""
        await self.flags.restore()
        await self.held.restore(self.state.default_a, self.clock.now())

    async def stop(self) -> None:
        await self.triggers.stop()
        await self.standing.reconcile.stop()

    # one cycle ---------------------------------------------------------------------------
    async def run_cycle(self, reasons: tuple[str, ...] = ("manual",)) -> CycleRecord:
        now = self.clock.now()
        try:
            return await self._cycle(now, reasons)
        except Exception as exc:
            log.exception("control cycle failed; every session gets the safe share")
            return await self._safe_cycle(now, reasons, f"cycle failed: {exc!r}")

    async def _cycle(self, now: datetime, reasons: tuple[str, ...]) -> CycleRecord:
        await self.standing.retry_uncontrollable(now)
        snapshot = self._snapshot(now)
        grid = snapshot.grid
        windows = self.limit_book.windows(grid.start_utc, grid.end_utc())
        limits = effective_limits(
            self.config.site.grid_limit_kw, windows, grid.starts_utc(), grid.ends_utc()
        )
        self._track_peak(now, snapshot.measured_site_kw)
        prices, _forecast = self.prices.prices(grid)
        problem = build_problem(
            self.config, snapshot, limits, prices, self.prices.demand_charge(grid)
        )
        started = time.perf_counter()
        try:
            plan = await self.planner(problem)
        except Exception as exc:  # PlannerFailed, or whatever a planner passed in raises
            why = str(exc) if isinstance(exc, PlannerFailed) else f"planner: {exc!r}"
            log.error("planner failed (%s); every session gets the safe share", why)
            plan = _safe_plan(problem, why)
        plan = _adjusted(problem, plan, snapshot)
        # One probe per car: one that draws all it is offered is not probed every cycle.
        for need in snapshot.needs:
            session = self.site.sessions.get(need.transaction_id)
            if session is not None and not need.proven:
                session.probed = True
        solve_s = time.perf_counter() - started
        self.state.problem, self.state.plan = problem, plan
        self.state.snapshot, self.state.limits, self.state.prices_per_kwh = snapshot, limits, prices
        result, unchanged = await self._dispatch(plan, snapshot)
        await self.standing.refresh(now)
        self.held.sync_defaults(self.state.default_a, now)
        await self.flags.save()
        return self._record(
            now, reasons, problem, plan, snapshot, float(limits.limit_kw[0]), limits.source[0],
            solve_s, result, unchanged,
        )  # fmt: skip

    def _snapshot(self, now: datetime) -> Snapshot:
        control = self.config.control
        horizon_s = control.horizon_h * 3600
        windows = self.limit_book.windows(now, now + timedelta(seconds=horizon_s + control.slot_s))
        return take_snapshot(
            self.site,
            now,
            safe_default_a=self.standing.safe_a(now),
            assigned_kw=self.state.assigned_kw,
            horizon_s=horizon_s,
            slot_s=control.slot_s,
            breaks_utc=window_breaks(windows),
            held_max_kw=self.state.ledger.max_kw_by_connector(now, self._connectors),
        )

    def _connectors(self, charger_id: str) -> int:
        charger_cfg = self.site.charger_config(charger_id)
        return 0 if charger_cfg is None else charger_cfg.connectors

    async def _safe_cycle(self, now: datetime, reasons: tuple[str, ...], why: str) -> CycleRecord:
        """The safe plan from the simplest snapshot that can be had: every session at the
        safe share (what its standing default allows), under the grid connection's limit."""
        snapshot = take_snapshot(
            self.site,
            now,
            safe_default_a=self.standing.safe_a(now),
            assigned_kw={},
            horizon_s=self.config.control.interval_s * 2,
            slot_s=self.config.control.slot_s,
        )
        limit_kw = float(self.config.site.grid_limit_kw)
        grid = snapshot.grid
        power = np.zeros((len(snapshot.needs), grid.n_slots))
        plan = optimizer.Plan(
            ev_ids=tuple(n.ev_id for n in snapshot.needs),
            start_utc=grid.start_utc,
            slot_s=grid.slot_s,
            first_slot_s=grid.first_slot_s,
            slot_durations_s=np.array(grid.durations_s),
            power_kw=power,
            method="safe_default",
            status="fallback",
            reason=why,
        )
        result, unchanged = await self._dispatch(plan, snapshot)
        return self._record(
            now, reasons, None, plan, snapshot, limit_kw, "grid", 0.0, result, unchanged
        )

    def _time_limit_s(self) -> float:
        configured = self.config.control.solver_time_limit_s
        if configured is not None:
            return configured
        speed = float(getattr(self.clock, "speed", 1.0) or 1.0)
        # A third of the interval in wall time, at least a second: under an accelerated clock
        # that is many simulated minutes, which the demo's speed has to allow for.
        return max(1.0, min(10.0, 0.3 * self.config.control.interval_s / speed))

    # dispatch ----------------------------------------------------------------------------
    async def _dispatch(self, plan: Plan, snapshot: Snapshot) -> tuple[DispatchResult, int]:
        now = self.clock.now()
        safe_a = self.standing.safe_a(now)
        power = plan.power_kw
        if plan.method == "safe_default":
            power = np.array(
                [
                    np.full(snapshot.grid.n_slots, kw_from_a(safe_a, n.phases, n.voltage_v))
                    for n in snapshot.needs
                ]
            ).reshape(len(snapshot.needs), snapshot.grid.n_slots)
        built = build_orders(
            snapshot=snapshot,
            power_kw=power,
            flagged=list(snapshot.flagged),
            ledger=self.state.ledger,
            sessions=self.site.sessions,
            capabilities=lambda cid: self.site.charger(cid).capabilities,
            safe_a=safe_a,
            now=now,
            control=self.config.control,
        )
        result = await dispatch(
            built.orders,
            self._send_profile,
            timeout_s=self.config.ocpp.response_timeout_s,
            on_accepted=self._accepted,
        )
        for order, why in result.failed:
            self.state.ledger.forget(order.charger_id, order.connector_id)
            key: OrderKey = order.key
            if key.transaction_id not in self.site.sessions:
                # The session ended while its profile was on the way: no fault of the charger.
                log.info(
                    "%s: profile for ended transaction %s: %s",
                    order.charger_id,
                    key.transaction_id,
                    why,
                )
                continue
            # Marked uncontrollable unless the charger no longer runs it (see reconcile).
            self.standing.reconcile.on_rejected(
                order.charger_id, order.connector_id, key.transaction_id, why
            )
        self.state.acks += len(result.accepted)
        self.state.rejections += len(result.failed)
        self.state.assigned_kw = {
            tx: kw for tx, kw in built.assigned_kw.items() if tx in self.site.sessions
        }
        return result, built.unchanged

    def _accepted(self, order: ProfileOrder) -> None:
        key: OrderKey = order.key
        self.state.ledger.accept(
            HeldProfile(
                charger_id=order.charger_id,
                connector_id=order.connector_id,
                transaction_id=key.transaction_id,
                profile=order.profile,
                phases=key.phases,
                voltage_v=key.voltage_v,
                accepted_utc=self.clock.now(),
            )
        )

    async def _send_profile(
        self, charger_id: str, connector_id: int, profile: dict[str, Any]
    ) -> Any:
        return await self.central.requests(charger_id).set_charging_profile(connector_id, profile)

    def _track_peak(self, now: datetime, measured_kw: float) -> None:
        """The billing period's peak of the demand window's average power, for the demand
        charge's threshold (what is already paid for costs nothing more)."""
        samples = self.state.site_kw_samples
        samples.append((now, measured_kw))
        while samples and (now - samples[0][0]).total_seconds() > PEAK_WINDOW_S:
            samples.pop(0)
        if samples and (now - samples[0][0]).total_seconds() >= 0.8 * PEAK_WINDOW_S:
            average = sum(kw for _, kw in samples) / len(samples)
            self.prices.peak_so_far_kw = max(self.prices.peak_so_far_kw, average)

    # records -----------------------------------------------------------------------------
    def _record(
        self,
        now: datetime,
        reasons: tuple[str, ...],
        problem: Problem | None,
        plan: Plan,
        snapshot: Snapshot,
        limit_kw: float,
        limit_source: str,
        solve_s: float,
        result: DispatchResult,
        unchanged: int,
    ) -> CycleRecord:
        planned_now = float(plan.power_kw[:, 0].sum()) if plan.power_kw.size else 0.0
        record = CycleRecord(
            at_utc=now,
            reasons=reasons,
            method=plan.method,
            status=plan.status,
            fallback_reason=plan.reason,
            sessions=len(snapshot.needs),
            limit_kw=limit_kw,
            limit_source=limit_source,
            planned_site_kw=planned_now,
            reserved_kw=snapshot.reservations.site_kw,
            solve_s=solve_s,
            dispatch_s=result.elapsed_s,
            cuts=result.cuts,
            raises=result.raises,
            failed=len(result.failed),
            violations=tuple(plan.violations),
            unchanged=unchanged,
        )
        self.state.history.append(record)
        del self.state.history[:-500]
        log.info(
            "cycle %s: %d sessions, %.1f/%.1f kW (%s), %s in %.2fs, "
            "%d cuts + %d raises, %d unchanged, %d failed",
            ",".join(reasons)[:60],
            record.sessions,
            planned_now,
            record.limit_kw,
            record.limit_source,
            plan.method,
            solve_s,
            result.cuts,
            result.raises,
            unchanged,
            len(result.failed),
        )
        return record


def _adjusted(problem: Problem, plan: Plan, snapshot: Snapshot) -> Plan:
    """What the loop knows that the optimiser does not: cars that have not drawn yet are
    offered what the limits leave in the first slot (so they show their phases and their own
    limit before a plan for later counts on them), and cars flagged to keep awake are held at
    their minimum while they want energy. An adjusted plan that fails the check is not used."""
    if plan.method in ("safe_default", "uncontrolled"):
        return plan
    for name, mask, adjust in (
        ("probe", [not n.proven for n in snapshot.needs], probe_first_slot),
        ("keep-awake floors", [n.keep_awake for n in snapshot.needs], hold_minimum),
    ):
        flags = np.array(mask, dtype=bool)
        if not flags.any():
            continue
        adjusted = replace(plan, power_kw=adjust(problem, plan.power_kw, flags))
        violations = optimizer.check(problem, adjusted)
        if violations:
            log.warning("%s left out: %s", name, violations[0])
            continue
        plan = adjusted
    return plan


def _safe_plan(problem: Problem, reason: str) -> Plan:
    """No plan: dispatch gives every session its charger's safe share (the standing default)."""
    return optimizer.Plan(
        ev_ids=problem.ev_ids,
        start_utc=problem.start_utc,
        slot_s=problem.slot_s,
        first_slot_s=problem.first_slot_s,
        slot_durations_s=problem.slot_durations_s,
        power_kw=np.zeros((problem.n_evs, problem.n_slots)),
        method="safe_default",
        status="fallback",
        reason=reason,
    )
