"""One control cycle: snapshot -> plan -> dispatch -> verify; and the loop that runs it.

Cycles run one at a time from a single worker. Triggers (the interval, a session starting or
stopping, a charger coming or going, a limit or price change, a non-compliant charger) are
debounced into the next cycle. The optimiser runs on a worker thread under a time limit and a
wall-clock guard of our own; whatever fails, the chargers get a plan that is inside every
limit: the optimum, else a heuristic, else the safe share.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

import numpy as np

import optimizer
from controller.clock import Clock
from controller.config import SiteConfig
from controller.dispatch import DispatchResult, ProfileOrder, dispatch
from controller.limit_book import LimitBook
from controller.limits import SlotLimits, effective_limits
from controller.ocpp.errors import ChargerRequestError
from controller.ocpp.profiles import limit_kw_at, tx_default_profile, tx_profile
from controller.ocpp.server import CentralSystem
from controller.planning import (
    Snapshot,
    build_problem,
    floor_schedule,
    keep_awake_floors,
    take_snapshot,
)
from controller.pricing import PriceSource
from controller.safety import safe_share_a
from controller.site import SiteState
from controller.units import kw_from_a
from optimizer.problem import Plan, Problem

log = logging.getLogger(__name__)

REPLAN_EVENTS = {
    "session_started",
    "session_stopped",
    "session_needs",  # OCPP 2.0.1: a car said when it leaves and what it needs
    "charger_online",
    "charger_offline",
    "charger_ready",
    "non_compliant",
    "limit_changed",
    "prices_changed",
    "manual",
}


@dataclass
class CycleRecord:
    at_utc: datetime
    reasons: tuple[str, ...]
    method: str
    status: str
    fallback_reason: str
    sessions: int
    limit_kw: float
    limit_source: str
    planned_site_kw: float
    reserved_kw: float
    solve_s: float
    dispatch_s: float
    cuts: int
    raises: int
    failed: int
    violations: tuple[str, ...] = ()


@dataclass
class CycleState:
    """What the last cycle decided, for the next cycle, the verifier and the API."""

    problem: Problem | None = None
    plan: Plan | None = None
    snapshot: Snapshot | None = None
    limits: SlotLimits | None = None
    prices_per_kwh: np.ndarray | None = None
    assigned_kw: dict[int, float] = field(default_factory=dict)  # by transaction, now
    sent: dict[tuple[str, int], tuple[dict[str, Any], int, float]] = field(default_factory=dict)
    # (charger, connector) -> (last TxProfile accepted, phases, voltage_v)
    sent_by_tx: dict[int, tuple[str, int]] = field(default_factory=dict)
    default_a: dict[str, float] = field(default_factory=dict)  # TxDefault sent, per charger
    over_since: dict[int, datetime] = field(default_factory=dict)

    def assigned_kw_at(self, transaction_id: int, at_utc: datetime) -> float | None:
        """The limit in force now for a transaction, from the last profile it accepted [kW]."""
        key = self.sent_by_tx.get(transaction_id)
        entry = self.sent.get(key) if key is not None else None
        if entry is None or entry[0].get("transaction_id") != transaction_id:
            return None
        profile, phases, voltage = entry
        return limit_kw_at(profile, at_utc, phases, voltage)

    history: list[CycleRecord] = field(default_factory=list)
    acks: int = 0
    rejections: int = 0
    site_kw_samples: list[tuple[datetime, float]] = field(default_factory=list)


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
    ) -> None:
        self.config = config
        self.clock = clock
        self.site = site
        self.central = central
        self.limit_book = limits
        self.prices = prices
        self.method = method
        self.state = CycleState()
        self.fail_solver = False  # tests: force the optimiser path to fail
        self._wake = asyncio.Event()
        self._reasons: list[str] = []
        self._cycle_done = asyncio.Condition()
        self._cycles = 0
        self._worker: asyncio.Task[None] | None = None
        site.subscribe(self._on_site_event)
        limits.subscribe(lambda entry_id: self.trigger(f"limit_changed:{entry_id}"))
        central.ready_listeners.append(self._charger_ready)

    # triggers ----------------------------------------------------------------------------
    def _on_site_event(self, kind: str, charger_id: str, detail: dict[str, Any]) -> None:
        if kind == "meter_values":
            self._verify(detail.get("transaction_id"))
        elif kind in REPLAN_EVENTS:
            if kind in ("charger_online", "charger_ready"):
                state = self.site.charger(charger_id)
                state.controllable, state.uncontrollable_reason = True, None
            self.trigger(f"{kind}:{charger_id}")

    def trigger(self, reason: str) -> None:
        self._reasons.append(reason)
        self._wake.set()

    @property
    def cycles(self) -> int:
        return self._cycles

    async def wait_for_cycles(self, count: int, timeout_s: float = 30.0) -> None:
        async with self._cycle_done:
            await asyncio.wait_for(
                self._cycle_done.wait_for(lambda: self._cycles >= count), timeout_s
            )

    # the worker --------------------------------------------------------------------------
    def start(self, *, clock_driven: bool) -> None:
        self._worker = asyncio.create_task(self._run(clock_driven), name="control-loop")

    async def stop(self) -> None:
        if self._worker is not None:
            self._worker.cancel()
            try:
                await self._worker
            except asyncio.CancelledError:
                pass
            self._worker = None

    async def _run(self, clock_driven: bool) -> None:
        """Run a cycle whenever triggered; when ``clock_driven``, also at each interval.

        Under an accelerated clock the clock, not apscheduler (which reads real time), drives
        the interval.
        """
        interval_s = self.config.control.interval_s
        next_tick = self.clock.now()
        while True:
            if clock_driven:
                wait_s = max(0.0, (next_tick - self.clock.now()).total_seconds())
                sleeper = asyncio.ensure_future(self.clock.sleep(wait_s))
                waker = asyncio.ensure_future(self._wake.wait())
                done, pending = await asyncio.wait(
                    {sleeper, waker}, return_when=asyncio.FIRST_COMPLETED
                )
                for task in pending:
                    task.cancel()
                if sleeper in done:
                    self._reasons.append("interval")
                    next_tick = self.clock.now() + timedelta(seconds=interval_s)
            else:
                await self._wake.wait()
            debounce_s = self.config.control.debounce_s
            if any(r.startswith("limit_changed") for r in self._reasons):
                debounce_s = min(debounce_s, 0.1)  # a limit change goes out at once
            await self.clock.sleep(debounce_s)
            self._wake.clear()
            reasons, self._reasons = tuple(dict.fromkeys(self._reasons)), []
            if not reasons:
                continue
            try:
                await self.run_cycle(reasons)
            except Exception:
                log.exception("control cycle failed; chargers keep their last profiles")
            async with self._cycle_done:
                self._cycles += 1
                self._cycle_done.notify_all()

    # one cycle ---------------------------------------------------------------------------
    async def run_cycle(self, reasons: tuple[str, ...] = ("manual",)) -> CycleRecord:
        control = self.config.control
        now = self.clock.now()
        await self._retry_uncontrollable(now)
        snapshot = take_snapshot(
            self.site,
            now,
            safe_default_a=self._safe_a(now),
            assigned_kw={
                tx: kw
                for tx in self.site.sessions
                if (kw := self.state.assigned_kw_at(tx, now)) is not None
            },
            horizon_s=control.horizon_h * 3600,
            slot_s=control.slot_s,
        )
        grid = snapshot.grid
        windows = self.limit_book.windows(grid.start_utc, grid.ends_utc()[-1])
        limits = effective_limits(
            self.config.site.grid_limit_kw, windows, grid.starts_utc(), grid.ends_utc()
        )
        self._track_peak(now, snapshot.measured_site_kw)
        prices, _forecast = self.prices.prices(grid)
        floors = keep_awake_floors(self.config, snapshot, limits)
        problem = build_problem(
            self.config, snapshot, limits, prices, self.prices.demand_charge(grid), floors
        )
        started = time.perf_counter()
        plan = await self._plan(problem)
        solve_s = time.perf_counter() - started
        result = await self._dispatch(problem, plan, snapshot, now, floors)
        await self._send_defaults(now)
        # What the chargers were told: the plan plus each car's keep-awake floor.
        if floors.any():
            plan = replace(plan, power_kw=plan.power_kw + floor_schedule(snapshot, floors))
        record = self._record(now, reasons, problem, plan, snapshot, limits, solve_s, result)
        self.state.problem, self.state.plan = problem, plan
        self.state.snapshot, self.state.limits, self.state.prices_per_kwh = snapshot, limits, prices
        return record

    def _time_limit_s(self) -> float:
        configured = self.config.control.solver_time_limit_s
        if configured is not None:
            return configured
        speed = float(getattr(self.clock, "speed", 1.0) or 1.0)
        # A third of the interval in wall time, at least a second: under an accelerated clock
        # that is many simulated minutes, which the demo's speed has to allow for.
        return max(1.0, min(10.0, 0.3 * self.config.control.interval_s / speed))

    async def _plan(self, problem: Problem) -> Plan:
        loop = asyncio.get_running_loop()
        time_limit_s = self._time_limit_s()
        method = self.method
        if self.fail_solver and method == "optimal":
            method = "__broken__"
        try:
            plan = await asyncio.wait_for(
                loop.run_in_executor(
                    None, lambda: optimizer.plan(problem, method=method, time_limit_s=time_limit_s)
                ),
                timeout=time_limit_s * 2 + 5,
            )
        except Exception as exc:  # includes our own wall-clock guard
            log.warning("optimiser failed (%s); falling back to earliest-deadline-first", exc)
            try:
                plan = await loop.run_in_executor(
                    None, lambda: optimizer.plan(problem, method="edf")
                )
                plan = _with_reason(plan, f"{method} failed: {exc}")
            except Exception as exc2:
                log.error("heuristic failed too (%s); the safe share applies", exc2)
                plan = _safe_plan(problem, f"{method} and edf failed: {exc2}")
        violations = optimizer.check(problem, plan)
        if violations and plan.method != "uncontrolled":
            log.error(
                "plan %s failed its check (%s); the safe share applies", plan.method, violations[:3]
            )
            plan = _safe_plan(problem, f"plan failed check: {violations[0]}")
        return plan

    async def _dispatch(
        self, problem: Problem, plan: Plan, snapshot: Snapshot, now: datetime, floors: np.ndarray
    ) -> DispatchResult:
        control = self.config.control
        grid = snapshot.grid
        floor_rows = floor_schedule(snapshot, floors)
        orders = []
        assigned: dict[int, float] = {}
        safe_a = self._safe_a(now)
        for index, need in enumerate(snapshot.needs):
            # The plan shares what is left above each car's keep-awake floor.
            power_kw = plan.power_kw[index] + floor_rows[index]
            if plan.method == "safe_default":
                power_kw = np.full(grid.n_slots, kw_from_a(safe_a, need.phases, need.voltage_v))
            state = self.site.charger(need.charger_id)

            def profile_for(row: np.ndarray, raise_delay_s: int, need=need, state=state):
                return tx_profile(
                    transaction_id=need.transaction_id,
                    connector_id=need.connector_id,
                    power_kw=[float(p) for p in row],
                    start_utc=grid.start_utc,
                    first_slot_s=grid.first_slot_s,
                    slot_s=grid.slot_s,
                    phases=need.phases,
                    voltage_v=need.voltage_v,
                    capabilities=state.capabilities,
                    valid_for_s=control.profile_validity_s,
                    raise_delay_s=raise_delay_s,
                )

            profile = profile_for(power_kw, control.raise_delay_s)
            at = self.clock.now()
            new_kw = limit_kw_at(profile, at, need.phases, need.voltage_v) or 0.0
            default_kw = kw_from_a(safe_a, need.phases, need.voltage_v)
            old_kw = default_kw
            previous = self.state.sent.get((need.charger_id, need.connector_id))
            if previous is not None:
                old_profile, old_phases, old_voltage = previous
                old_limit = limit_kw_at(old_profile, at, old_phases, old_voltage)
                old_kw = old_limit if old_limit is not None else default_kw
            # What the car draws now counts too: after a restart the profiles a charger holds
            # are unknown, and ordering by the default alone could send a raise before a cut.
            session = self.site.sessions.get(need.transaction_id)
            if session is not None and session.power_kw is not None:
                old_kw = max(old_kw, session.power_kw)
            key = (need.transaction_id, need.phases, need.voltage_v)
            if previous is None and new_kw > default_kw:
                # Unknown what the charger holds (a restart, a reconnect): its last reading may
                # be stale. Cap it at its planned power and the safe share with the cuts first;
                # the raise to the planned power goes with the raises.
                capped = profile_for(np.minimum(power_kw, default_kw), 0)
                capped_kw = limit_kw_at(capped, at, need.phases, need.voltage_v) or 0.0
                orders.append(
                    ProfileOrder(
                        need.charger_id, need.connector_id, capped, capped_kw, float("inf"), key
                    )
                )
                old_kw = capped_kw
            assigned[need.transaction_id] = new_kw
            orders.append(
                ProfileOrder(
                    need.charger_id,
                    need.connector_id,
                    profile,
                    new_kw,
                    old_kw,
                    (need.transaction_id, need.phases, need.voltage_v),
                )
            )
        result = await dispatch(
            orders, self._send_profile, timeout_s=self.config.ocpp.response_timeout_s
        )
        for order in result.accepted:
            _, phases, voltage = order.key
            self.state.sent_by_tx[order.key[0]] = (order.charger_id, order.connector_id)
            self.state.sent[(order.charger_id, order.connector_id)] = (
                order.profile,
                phases,
                voltage,
            )
        for order, why in result.failed:
            self.state.sent.pop((order.charger_id, order.connector_id), None)
            transaction_id = order.key[0]
            if transaction_id not in self.site.sessions:
                # The session ended while its profile was on the way: no fault of the charger.
                log.info(
                    "%s: profile for ended transaction %s: %s",
                    order.charger_id,
                    transaction_id,
                    why,
                )
                continue
            log.warning(
                "%s: profile not applied (%s); marked uncontrollable", order.charger_id, why
            )
            self._mark_uncontrollable(order.charger_id, why)
        self.state.sent_by_tx = {
            tx: key for tx, key in self.state.sent_by_tx.items() if tx in self.site.sessions
        }
        self.state.acks += len(result.accepted)
        self.state.rejections += len(result.failed)
        self.state.assigned_kw = assigned
        return result

    async def _send_profile(
        self, charger_id: str, connector_id: int, profile: dict[str, Any]
    ) -> Any:
        return await self.central.requests(charger_id).set_charging_profile(connector_id, profile)

    def _safe_a(self, now: datetime) -> float:
        windows = self.limit_book.windows(now, now + timedelta(hours=1))
        limits = effective_limits(
            self.config.site.grid_limit_kw, windows, [now], [now + timedelta(hours=1)]
        )
        uncontrollable_kw = sum(
            kw_from_a(c.max_current_a, c.phases, self.config.charger_voltage_v(c)) * c.connectors
            for c in self.config.chargers
            if not self.site.charger(c.id).controllable
        )
        return safe_share_a(self.config, float(limits.limit_kw[0]), uncontrollable_kw)

    async def _charger_ready(self, charger_id: str) -> None:
        self.state.default_a.pop(charger_id, None)
        await self._send_default(charger_id, self._safe_a(self.clock.now()), self.clock.now())

    async def _send_defaults(self, now: datetime) -> None:
        safe_a = self._safe_a(now)
        stale = [
            cid
            for cid, conn in self.central.connections.items()
            if self.state.default_a.get(cid) != safe_a
            and self.site.charger(cid).booted
            and self.site.charger(cid).controllable
        ]
        await asyncio.gather(*(self._send_default(cid, safe_a, now) for cid in stale))

    async def _send_default(self, charger_id: str, safe_a: float, now: datetime) -> None:
        charger_cfg = self.config.charger(charger_id)
        if charger_cfg is None:
            return
        state = self.site.charger(charger_id)
        profile = tx_default_profile(
            current_a=safe_a,
            phases=charger_cfg.phases,
            voltage_v=self.config.charger_voltage_v(charger_cfg),
            capabilities=state.capabilities,
            start_utc=now - timedelta(minutes=1),
        )
        try:
            answer = await self.central.requests(charger_id).set_charging_profile(0, profile)
            status = answer.status
        except ChargerRequestError as exc:
            status = str(exc)
        if status == "Accepted":
            self.state.default_a[charger_id] = safe_a
            if not state.controllable:
                log.info(
                    "%s: takes profiles again (was: %s)", charger_id, state.uncontrollable_reason
                )
                state.controllable, state.uncontrollable_reason = True, None
                state.uncontrollable_since_utc = None
                self.trigger(f"controllable:{charger_id}")
            return
        # A charger without a standing safe default may draw its full rating at any moment.
        log.warning("%s: TxDefaultProfile not set (%s); marked uncontrollable", charger_id, status)
        if state.controllable:
            self._mark_uncontrollable(charger_id, f"TxDefaultProfile: {status}")

    def _mark_uncontrollable(self, charger_id: str, why: str) -> None:
        """Reserve the charger's full power from the next plan on, until it is tried again."""
        state = self.site.charger(charger_id)
        state.controllable, state.uncontrollable_reason = False, why
        state.uncontrollable_since_utc = self.clock.now()
        self.trigger(f"uncontrollable:{charger_id}")

    async def _retry_uncontrollable(self, now: datetime) -> None:
        """Probe chargers marked uncontrollable once in a while: a firmware that rejected one
        profile, or a link that timed out once, may take the next. The probe is the standing
        TxDefaultProfile; only its acceptance makes the charger count as controllable again, so
        no plan counts on a charger before it has taken a profile."""
        retry_s = self.config.control.uncontrollable_retry_s
        due = []
        for state in self.site.chargers.values():
            since = state.uncontrollable_since_utc
            if (
                not state.controllable
                and since is not None
                and state.charger_id in self.central.connections
            ):
                if (now - since).total_seconds() >= retry_s:
                    state.uncontrollable_since_utc = now  # next probe one period later
                    due.append(state.charger_id)
        if due:
            safe_a = self._safe_a(now)
            await asyncio.gather(*(self._send_default(cid, safe_a, now) for cid in due))

    def _track_peak(self, now: datetime, measured_kw: float) -> None:
        """The billing period's peak of the demand window's average power, for the demand
        charge's threshold (what is already paid for costs nothing more)."""
        window_s = 900.0
        samples = self.state.site_kw_samples
        samples.append((now, measured_kw))
        while samples and (now - samples[0][0]).total_seconds() > window_s:
            samples.pop(0)
        if samples and (now - samples[0][0]).total_seconds() >= 0.8 * window_s:
            average = sum(kw for _, kw in samples) / len(samples)
            self.prices.peak_so_far_kw = max(self.prices.peak_so_far_kw, average)

    # verification ------------------------------------------------------------------------
    def _verify(self, transaction_id: int | None) -> None:
        """Flag a charger that draws more than assigned for longer than the grace period."""
        if transaction_id is None:
            return
        session = self.site.sessions.get(transaction_id)
        assigned = self.state.assigned_kw_at(transaction_id, self.clock.now())
        if session is None or assigned is None or session.power_kw is None:
            return
        control = self.config.control
        now = self.clock.now()
        if session.power_kw > assigned + control.compliance_tolerance_kw:
            since = self.state.over_since.setdefault(transaction_id, now)
            state = self.site.charger(session.charger_id)
            if (
                now - since
            ).total_seconds() >= control.compliance_grace_s and not state.non_compliant:
                state.non_compliant = True
                log.warning(
                    "%s: draws %.1f kW against %.1f kW assigned: non-compliant",
                    session.charger_id,
                    session.power_kw,
                    assigned,
                )
                self.site.emit("non_compliant", session.charger_id, transaction_id=transaction_id)
        else:
            self.state.over_since.pop(transaction_id, None)

    # records -----------------------------------------------------------------------------
    def _record(
        self,
        now: datetime,
        reasons: tuple[str, ...],
        problem: Problem,
        plan: Plan,
        snapshot: Snapshot,
        limits: SlotLimits,
        solve_s: float,
        result: DispatchResult,
    ) -> CycleRecord:
        planned_now = float(plan.power_kw[:, 0].sum()) if plan.power_kw.size else 0.0
        record = CycleRecord(
            at_utc=now,
            reasons=reasons,
            method=plan.method,
            status=plan.status,
            fallback_reason=plan.reason,
            sessions=len(snapshot.needs),
            limit_kw=float(limits.limit_kw[0]),
            limit_source=limits.source[0],
            planned_site_kw=planned_now,
            reserved_kw=snapshot.reservations.site_kw,
            solve_s=solve_s,
            dispatch_s=result.elapsed_s,
            cuts=result.cuts,
            raises=result.raises,
            failed=len(result.failed),
            violations=tuple(plan.violations),
        )
        self.state.history.append(record)
        del self.state.history[:-500]
        log.info(
            "cycle %s: %d sessions, %.1f/%.1f kW (%s), %s in %.2fs, %d cuts + %d raises, %d failed",
            ",".join(reasons)[:60],
            record.sessions,
            planned_now,
            record.limit_kw,
            record.limit_source,
            plan.method,
            solve_s,
            result.cuts,
            result.raises,
            len(result.failed),
        )
        return record


def _with_reason(plan: Plan, reason: str) -> Plan:
    return replace(plan, reason=(reason + "; " + plan.reason).strip("; "))


def _safe_plan(problem: Problem, reason: str) -> Plan:
    """No usable plan: dispatch gives every session its charger's safe share."""
    base = optimizer.plan(problem, method="equal_share")
    return replace(
        base, power_kw=np.zeros_like(base.power_kw), method="safe_default", reason=reason
    )
