"""What the API shows of the site, its chargers, sessions and plan: builders that read the
response models (:mod:`controller.api.models`) off the live controller.

The builders only read; they run on the event loop (async handlers), so they see the site
state between two updates, never in the middle of one.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from controller.api.limit_views import current_limit
from controller.api.models import (
    ChargerView,
    CircuitView,
    ConnectorView,
    PlanEv,
    PlanSlot,
    PlanView,
    SessionView,
    SiteView,
)
from controller.planning import SessionNeed, circuit_path, phase_share, phases_in_use

if TYPE_CHECKING:
    from controller.app import SiteController


def site_view(ctl: SiteController) -> SiteView:
    config, site = ctl.config, ctl.site
    now = ctl.clock.now()
    limit_kw, source = current_limit(ctl, now)
    ev_kw = site.ev_power_kw()
    measured_kw, measured_source = site.measured_kw(now)
    planned_kw = None
    state = ctl.loop.state if ctl.loop is not None else None
    if state is not None and state.plan is not None and state.problem is not None:
        base = state.problem.base_load_kw
        planned_kw = float(state.plan.power_kw[:, 0].sum()) + (
            float(base[0]) if base is not None else 0.0
        )
    return SiteView(
        site_id=config.site.id,
        name=config.site.name,
        timezone=config.site.timezone,
        now_utc=now,
        grid_limit_kw=config.site.grid_limit_kw,
        limit_kw=limit_kw,
        limit_source=source,
        measured_kw=measured_kw,
        measured_source=measured_source,
        ev_kw=ev_kw,
        headroom_kw=limit_kw - measured_kw,
        planned_kw=planned_kw,
        sessions=len(site.sessions),
        chargers_online=sum(1 for c in site.chargers.values() if c.online),
        circuits=circuit_loads(ctl),
    )


def circuit_loads(ctl: SiteController) -> list[CircuitView]:
    """Measured load per circuit and grid phase, each session's power split by its phases."""
    config = ctl.config
    load_a = {c.id: [0.0, 0.0, 0.0] for c in config.circuits}
    load_kw = dict.fromkeys(load_a, 0.0)
    for session in ctl.site.sessions.values():
        charger = config.charger(session.charger_id)
        if charger is None or not session.power_kw:
            continue
        share = phase_share(charger, phases_in_use(charger, session))
        voltage_v = config.charger_voltage_v(charger)
        for circuit_id in circuit_path(config, charger)[1:]:
            load_kw[circuit_id] += session.power_kw
            for p in range(3):
                load_a[circuit_id][p] += session.power_kw * share[p] * 1000.0 / voltage_v
    return [
        CircuitView(
            id=c.id,
            parent=c.parent,
            limit_a=c.limit_a,
            load_a=[round(a, 3) for a in load_a[c.id]],
            load_kw=load_kw[c.id],
            headroom_a=c.limit_a - max(load_a[c.id]),
        )
        for c in config.circuits
    ]


def charger_views(ctl: SiteController) -> list[ChargerView]:
    assigned = ctl.loop.state.assigned_kw if ctl.loop is not None else {}
    views = []
    for charger_id, state in sorted(ctl.site.chargers.items()):
        sessions = [s for s in ctl.site.sessions.values() if s.charger_id == charger_id]
        by_connector = {s.connector_id: s.transaction_id for s in sessions}
        assigned_kw = [assigned[s.transaction_id] for s in sessions if s.transaction_id in assigned]
        cfg = state.config
        views.append(
            ChargerView(
                id=charger_id,
                configured=cfg is not None,
                online=state.online,
                booted=state.booted,
                vendor=state.vendor,
                model=state.model,
                firmware_version=state.firmware_version,
                last_seen_utc=state.last_seen_utc,
                max_current_a=cfg.max_current_a if cfg else None,
                phases=cfg.phases if cfg else None,
                circuit=cfg.circuit if cfg else None,
                capabilities=state.capabilities.as_dict(),
                ocpp_version=state.ocpp_version,
                reported_limits={
                    evse: {"limit": e["limit"], "schedules": e["schedules"]}
                    for evse, e in state.charging_limits.items()
                },
                controllable=state.controllable,
                uncontrollable_reason=state.uncontrollable_reason,
                non_compliant=state.non_compliant,
                power_kw=sum(s.power_kw or 0.0 for s in sessions),
                assigned_kw=sum(assigned_kw) if assigned_kw else None,
                connectors=[
                    ConnectorView(
                        connector_id=c.connector_id,
                        status=c.status,
                        error_code=c.error_code,
                        transaction_id=by_connector.get(c.connector_id),
                    )
                    for _, c in sorted(state.connectors.items())
                ],
            )
        )
    return views


def _needs(ctl: SiteController) -> dict[int, SessionNeed]:
    snapshot = ctl.loop.state.snapshot if ctl.loop is not None else None
    return {n.transaction_id: n for n in snapshot.needs} if snapshot is not None else {}


def session_views(ctl: SiteController) -> list[SessionView]:
    needs = _needs(ctl)
    state = ctl.loop.state if ctl.loop is not None else None
    plan = state.plan if state is not None else None
    planned_energy: dict[str, float] = {}
    planned_finish: dict[str, datetime] = {}
    if plan is not None:
        hours = [d / 3600.0 for d in plan.slot_durations_s]
        ends = state.snapshot.grid.ends_utc() if state.snapshot is not None else None
        for index, ev_id in enumerate(plan.ev_ids):
            row = plan.power_kw[index]
            planned_energy[ev_id] = float(sum(p * h for p, h in zip(row, hours, strict=True)))
            charging = [i for i, p in enumerate(row) if p > 1e-3]
            if charging and ends is not None and charging[-1] < len(ends):
                planned_finish[ev_id] = ends[charging[-1]]
    views = []
    for tx, session in sorted(ctl.site.sessions.items()):
        need = needs.get(tx)
        views.append(
            SessionView(
                transaction_id=tx,
                charger_id=session.charger_id,
                connector_id=session.connector_id,
                id_tag=session.id_tag,
                start_utc=session.start_utc,
                energy_kwh=session.energy_kwh,
                power_kw=session.power_kw,
                assigned_kw=state.assigned_kw.get(tx) if state is not None else None,
                soc_percent=session.soc_percent,
                departure_utc=need.departure_utc if need else None,
                energy_remaining_kwh=need.energy_kwh if need else None,
                planned_energy_kwh=planned_energy.get(need.ev_id) if need else None,
                planned_finish_utc=planned_finish.get(need.ev_id) if need else None,
                priority=need.priority if need else None,
                planned=need is not None and need.ev_id in planned_energy,
                overrides=dict(session.overrides),
                need_source=_need_source(ctl, session),
                ocpp_transaction_id=session.ocpp_transaction_id,
            )
        )
    return views


def _need_source(ctl: SiteController, session: Any) -> str:
    overrides = session.overrides
    if overrides.get("need_source"):
        return str(overrides["need_source"])
    if "departure_utc" in overrides or "energy_kwh" in overrides:
        return "operator"
    groups = {g.group for g in ctl.config.control.groups}
    return "id_tag_group" if session.id_tag_group in groups else "default"


def plan_view(ctl: SiteController) -> PlanView | None:
    state = ctl.loop.state if ctl.loop is not None else None
    if state is None or state.plan is None or state.problem is None or state.snapshot is None:
        return None
    plan, problem, snapshot = state.plan, state.problem, state.snapshot
    record = state.history[-1] if state.history else None
    grid = snapshot.grid
    starts, ends = grid.starts_utc(), grid.ends_utc()
    base = problem.base_load_kw
    sources = state.limits.source if state.limits is not None else ("grid",) * grid.n_slots
    prices = state.prices_per_kwh if state.prices_per_kwh is not None else problem.price_per_kwh
    slots = []
    for i in range(plan.n_slots):
        ev_kw = {ev_id: float(plan.power_kw[e, i]) for e, ev_id in enumerate(plan.ev_ids)}
        ev_total = float(sum(ev_kw.values()))
        base_kw = float(base[i]) if base is not None else 0.0
        slots.append(
            PlanSlot(
                start_utc=starts[i],
                end_utc=ends[i],
                # The effective limit (grid, caps, DR); the plan's own limit is narrower by
                # the headroom it keeps for idle and uncontrollable chargers.
                limit_kw=float(
                    state.limits.limit_kw[i]
                    if state.limits is not None
                    else problem.site_limit_kw[i]
                ),
                limit_source=sources[i],
                price_per_kwh=float(prices[i]),
                base_load_kw=base_kw,
                ev_total_kw=ev_total,
                site_kw=ev_total + base_kw,
                ev_kw=ev_kw,
            )
        )
    return PlanView(
        at_utc=record.at_utc if record else plan.start_utc,
        reasons=list(record.reasons) if record else [],
        method=plan.method,
        status=plan.status,
        reason=plan.reason,
        solve_s=record.solve_s if record else plan.solve_s,
        objective={k: float(v) for k, v in plan.objective.items()},
        evs=[
            PlanEv(
                ev_id=n.ev_id,
                transaction_id=n.transaction_id,
                charger_id=n.charger_id,
                connector_id=n.connector_id,
                energy_remaining_kwh=n.energy_kwh,
                departure_utc=n.departure_utc,
            )
            for n in snapshot.needs
        ],
        slots=slots,
    )
