"""From the site's live state to the optimiser's Problem.

OCPP 1.6 tells neither when a car leaves nor how much energy it wants: defaults from the
config (per idTag group), per-session overrides, and what the session shows as it goes (SoC,
a tapering draw) fill the gap. Chargers and their connectors become nodes of the circuit tree,
so a charger's own limit, shared by its connectors, is just another circuit limit. Whatever the
controller cannot steer (idle connectors under their default profile, chargers that reject
profiles, ignore them or went silent) is reserved on the site and on every circuit above it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import numpy as np

from controller.config import ChargerConfig, SiteConfig
from controller.limits import SlotLimits
from controller.site import ChargerState, SessionState, SiteState
from controller.timegrid import SlotGrid, slot_grid
from controller.units import kw_from_a
from optimizer.problem import EV, Circuit, DemandCharge, Problem

__all__ = ["SlotGrid", "slot_grid"]  # the grid lives in timegrid; planning hands it on

log = logging.getLogger(__name__)

PHASE_INDEX = {"R": 0, "S": 1, "T": 2}


@dataclass(frozen=True)
class SessionNeed:
    """What one session wants from the plan (kW; the optimiser's EV before arrays)."""

    transaction_id: int
    charger_id: str
    connector_id: int
    energy_kwh: float
    departure_utc: datetime
    max_kw: float
    min_kw: float
    phases: int
    voltage_v: float
    phase_share: tuple[float, float, float]
    circuit_id: str
    priority: float
    keep_awake: bool = False  # never pause this car while it wants energy (where limits allow)
    margin_min: float = 0.0  # an assumed departure is planned this long early
    known_margin_min: float = 0.0  # a given departure: finish this long early (0: as given)
    open_ended: bool = False  # energy unknown: energy_kwh is assumed, the car may take more
    departure_known: bool = False
    need_source: str = "default"  # where departure/energy came from (override, default)
    proven: bool = True  # the car has shown what it draws (its phases and its own limit)

    def deadline_utc(self, now_utc: datetime) -> datetime:
        """A departure given by the car, a fleet system or the operator is used as given unless
        the site asks to finish early (cars slow down near full by more than a plan can see);
        an assumed one is planned a little early (cars leave at other times than assumed)."""
        margin_min = self.known_margin_min if self.departure_known else self.margin_min
        if margin_min <= 0:
            return self.departure_utc
        early = self.departure_utc - timedelta(minutes=margin_min)
        return max(early, min(self.departure_utc, now_utc + timedelta(minutes=15)))

    @property
    def ev_id(self) -> str:
        return f"tx{self.transaction_id}"


@dataclass
class Reservations:
    """Load the plan must leave free, on the site [kW] and per circuit per phase [kW]."""

    site_kw: float = 0.0
    circuit_kw: dict[str, list[float]] = field(default_factory=dict)
    reasons: list[str] = field(default_factory=list)

    def add(self, node_id: str, per_phase_kw: tuple[float, float, float], why: str) -> None:
        """Reserve on the node where the load is (a charger's own node); the Problem counts
        a node's reservation on every circuit above it, so it is recorded here once."""
        self.site_kw += sum(per_phase_kw)
        bucket = self.circuit_kw.setdefault(node_id, [0.0, 0.0, 0.0])
        for p in range(3):
            bucket[p] += per_phase_kw[p]
        self.reasons.append(why)


def charger_node(charger_id: str) -> str:
    return f"charger:{charger_id}"


def circuit_path(config: SiteConfig, charger: ChargerConfig) -> list[str]:
    """The charger's own node, then its circuit and every ancestor up to the site."""
    parents = {c.id: c.parent for c in config.circuits}
    path = [charger_node(charger.id)]
    node = charger.circuit
    while node is not None:
        path.append(node)
        node = parents.get(node)
    return path


def phase_share(charger: ChargerConfig, phases_used: int) -> tuple[float, float, float]:
    """Fraction of the EV's power on grid phases L1..L3, through the charger's rotation."""
    if phases_used >= 3 or (charger.phases == 3 and phases_used == 3):
        return (1 / 3, 1 / 3, 1 / 3)
    share = [0.0, 0.0, 0.0]
    for i in range(phases_used):
        share[PHASE_INDEX[charger.phase_rotation[i]]] = 1.0 / phases_used
    return (share[0], share[1], share[2])


def phases_in_use(charger: ChargerConfig, session: SessionState) -> int:
    """Phases the car draws on: as seen in its per-phase currents, else the charger's."""
    if session.phases_used in (1, 2, 3):
        return min(session.phases_used, charger.phases)
    return charger.phases


def session_need(
    config: SiteConfig,
    charger: ChargerConfig,
    session: SessionState,
    now_utc: datetime,
) -> SessionNeed:
    """What one session needs. A departure or energy the car, a fleet system or the operator
    gave is used as given; otherwise the session defaults are what the plan *assumes* for its
    cost decisions, never a stop: a car whose energy is unknown keeps charging while it draws
    (open-ended), until its state of charge says full or it stops drawing while offered power."""
    control = config.control
    defaults = control.session_defaults
    dwell_h, energy_kwh, priority = defaults.dwell_h, defaults.energy_kwh, 1.0
    for group in control.groups:
        if group.group == session.id_tag_group:
            dwell_h = group.dwell_h or dwell_h
            energy_kwh = group.energy_kwh or energy_kwh
            priority = group.priority
    overrides = session.overrides
    departure_known = bool(overrides.get("departure_utc"))
    energy_known = overrides.get("energy_kwh") is not None
    departure = session.start_utc + timedelta(hours=dwell_h)
    if departure_known:
        departure = datetime.fromisoformat(str(overrides["departure_utc"])).astimezone(UTC)
    wanted_kwh = float(overrides["energy_kwh"]) if energy_known else energy_kwh
    priority = float(overrides.get("priority", priority))
    remaining_kwh = max(0.0, wanted_kwh - session.energy_kwh)
    open_ended = not energy_known
    if open_ended:
        remaining_kwh = _tighten_by_soc(session, remaining_kwh)
        if _looks_full(session) and not session.no_resume:
            remaining_kwh, open_ended = 0.0, False
    if departure <= now_utc:
        # Still plugged in after its departure: serve the remaining need as soon as it can be.
        departure = now_utc + timedelta(hours=1)
    voltage = config.charger_voltage_v(charger)
    phases = phases_in_use(charger, session)
    max_kw = kw_from_a(charger.max_current_a, phases, voltage)
    min_kw = kw_from_a(control.min_current_a, phases, voltage)
    max_kw = _car_limit(session, max_kw, min_kw)
    if session.external_limit_kw is not None:  # reported by the station (OCPP 2.0.1)
        max_kw = min(max_kw, max(0.0, session.external_limit_kw))
    return SessionNeed(
        transaction_id=session.transaction_id,
        charger_id=charger.id,
        connector_id=session.connector_id,
        energy_kwh=remaining_kwh,
        departure_utc=departure,
        max_kw=max_kw,
        min_kw=min(min_kw, max_kw),
        phases=phases,
        voltage_v=voltage,
        phase_share=phase_share(charger, phases),
        circuit_id=charger_node(charger.id),
        priority=priority,
        keep_awake=(control.keep_awake or session.no_resume) and remaining_kwh > 0,
        margin_min=control.departure_margin_min,
        known_margin_min=control.known_departure_margin_min,
        open_ended=open_ended and (session.soc_percent is None or session.soc_percent < 99.5),
        departure_known=departure_known,
        proven=session.probed
        or session.car_max_kw is not None
        or session.offered_while_drawing_a >= charger.max_current_a - 0.5,
        need_source=str(overrides.get("need_source", "override"))
        if departure_known or energy_known
        else "default",
    )


def _looks_full(session: SessionState) -> bool:
    """A car that has charged and now draws nothing while offered its minimum or more."""
    return session.energy_kwh >= 0.05 and session.idle_while_offered >= 2


def _tighten_by_soc(session: SessionState, remaining_kwh: float) -> float:
    soc = session.soc_percent
    if soc is None:
        return remaining_kwh
    if soc >= 99.5:
        return 0.0
    start = session.overrides.get("soc_start_percent")
    if start is not None and soc - float(start) >= 5 and session.energy_kwh > 1:
        kwh_per_percent = session.energy_kwh / (soc - float(start))
        return kwh_per_percent * (100.0 - soc)
    return remaining_kwh


def _car_limit(session: SessionState, max_kw: float, min_kw: float) -> float:
    """The charger's rating, or less where the car has shown it takes less (tapering, full,
    or an 11 kW car on a 22 kW charger): the difference goes to the others. Never below the
    minimum: a car offered less than its minimum current stops outright. Planned at what it
    took (a plan that counts on more than the car draws falls short at the end; an open-ended
    car is offered more wherever the site has room, so it can show it takes more)."""
    if session.car_max_kw is None:
        return max_kw
    return max(min_kw, min(max_kw, session.car_max_kw))


@dataclass(frozen=True)
class Snapshot:
    grid: SlotGrid
    needs: tuple[SessionNeed, ...]
    reservations: Reservations
    non_ev_load_kw: float
    measured_site_kw: float
    flagged: tuple[SessionNeed, ...] = ()  # non-compliant: draw reserved, safe share re-sent
    chargers: tuple[ChargerConfig, ...] = ()  # the roster it was taken from (listed + admitted)


def take_snapshot(
    site: SiteState,
    now_utc: datetime,
    *,
    safe_default_a: float,
    assigned_kw: Mapping[int, float],
    horizon_s: float,
    slot_s: int,
    breaks_utc: Iterable[datetime] = (),
    held_max_kw: Mapping[tuple[str, int], float] | None = None,
) -> Snapshot:
    """Sessions to plan and loads to reserve, at ``now_utc``, on a grid cut at ``breaks_utc``.

    ``held_max_kw`` per (charger, connector): the most the profiles it holds let it draw until
    they lapse — what an offline charger may do on its own. A session whose data cannot be
    planned (a timestamp out of range, say) is reserved at its charger's full power and logged:
    one session's data never stops a cycle."""
    held = held_max_kw or {}
    flagged: list[SessionNeed] = []
    config = site.config
    reservations = Reservations()
    needs: list[SessionNeed] = []
    measured_ev_kw = 0.0
    by_charger: dict[str, dict[int, SessionState]] = {}
    for open_session in site.sessions.values():
        by_charger.setdefault(open_session.charger_id, {})[open_session.connector_id] = open_session
    roster = site.roster()
    for charger_cfg in roster:
        state = site.chargers.get(charger_cfg.id) or ChargerState(charger_cfg.id, charger_cfg)
        voltage = config.charger_voltage_v(charger_cfg)
        node = charger_node(charger_cfg.id)
        sessions = by_charger.get(charger_cfg.id, {})
        for session in sessions.values():
            measured_ev_kw += session.power_kw or 0.0
        default_per_phase = kw_from_a(safe_default_a, 1, voltage)
        for connector_id in range(1, charger_cfg.connectors + 1):
            session = sessions.get(connector_id)
            share = phase_share(charger_cfg, charger_cfg.phases)
            if session is None:
                # An idle connector: a car may plug in and draw the default at once, or the
                # charger's full rating where it refused its default profile.
                if state.controllable:
                    per_phase = tuple(default_per_phase * 3 * s for s in share)
                    why = f"{charger_cfg.id}/{connector_id}: idle default"
                else:
                    full_kw = kw_from_a(charger_cfg.max_current_a, charger_cfg.phases, voltage)
                    per_phase = tuple(full_kw * s for s in share)
                    why = f"{charger_cfg.id}/{connector_id}: uncontrollable"
                reservations.add(node, per_phase, why)
                continue
            if not state.online:
                draw = max(
                    session.power_kw or 0.0,
                    held.get((charger_cfg.id, connector_id), 0.0),
                    kw_from_a(safe_default_a, charger_cfg.phases, voltage),
                )
                reservations.add(
                    node,
                    tuple(draw * s for s in share),
                    f"{charger_cfg.id}: offline mid-session, the most its profiles allow",
                )
                continue
            if not state.controllable:
                draw = kw_from_a(charger_cfg.max_current_a, charger_cfg.phases, voltage)
                reservations.add(
                    node,
                    tuple(draw * s for s in share),
                    f"{charger_cfg.id}: uncontrollable ({state.uncontrollable_reason})",
                )
                continue
            try:
                need = session_need(config, charger_cfg, session, now_utc)
            except (ValueError, OverflowError, TypeError) as exc:
                log.error(
                    "%s: transaction %s cannot be planned (%s); its full power is reserved",
                    charger_cfg.id,
                    session.transaction_id,
                    exc,
                )
                draw = kw_from_a(charger_cfg.max_current_a, charger_cfg.phases, voltage)
                reservations.add(node, tuple(draw * s for s in share), f"{node}: bad session")
                continue
            if state.non_compliant:
                draw = max(session.power_kw or 0.0, assigned_kw.get(session.transaction_id, 0.0))
                reservations.add(
                    node,
                    tuple(draw * s for s in share),
                    f"{charger_cfg.id}: non-compliant, measured draw reserved",
                )
                flagged.append(need)
                continue
            needs.append(need)
    non_ev = site.other_load_kw(now_utc)
    # The grid is cut at every limit change and at every known departure: a car leaving at
    # 12:18 is planned until 12:18, not only until the slot boundary before it.
    departures = [n.deadline_utc(now_utc) for n in needs if n.departure_known]
    grid = slot_grid(now_utc, slot_s, horizon_s, [*breaks_utc, *departures])
    return Snapshot(
        grid, tuple(needs), reservations, non_ev, measured_ev_kw + non_ev, tuple(flagged), roster
    )


def slot_availability(grid: SlotGrid, departure_utc: datetime) -> np.ndarray:
    """A slot counts only if the car is there for all of it: no power after departure (the
    first slot always counts, so a car at its deadline still gets this slot's plan)."""
    ends = np.array([(e - grid.start_utc).total_seconds() for e in grid.ends_utc()])
    offset_s = (departure_utc - grid.start_utc).total_seconds()
    available = ends <= offset_s + 1e-6
    available[0] = True
    return available


def build_problem(
    config: SiteConfig,
    snapshot: Snapshot,
    limits: SlotLimits,
    prices_per_kwh: np.ndarray,
    demand_charge: DemandCharge | None = None,
) -> Problem:
    """The optimiser's Problem on the snapshot's grid. Every car's minimum power is the
    optimiser's choice (0, or at least the minimum, per slot); reservations narrow the limits
    and are counted once, on the node where the load is."""
    grid = snapshot.grid
    evs = [
        EV(
            id=need.ev_id,
            energy_kwh=need.energy_kwh,
            max_kw=need.max_kw,
            min_kw=need.min_kw,
            available=slot_availability(grid, need.deadline_utc(grid.start_utc)),
            phase_share=need.phase_share,
            circuit_id=need.circuit_id,
            priority=need.priority,
            open_ended=need.open_ended,
        )
        for need in snapshot.needs
    ]
    circuits = []
    for circuit in config.circuits:
        voltage = config.site.voltage_v
        circuits.append(
            Circuit(
                id=circuit.id,
                parent=circuit.parent,
                limit_kw_per_phase=kw_from_a(circuit.limit_a, 1, voltage),
                reserved_kw_per_phase=_reserved(snapshot, circuit.id),
            )
        )
    for charger in snapshot.chargers or config.chargers:
        voltage = config.charger_voltage_v(charger)
        node = charger_node(charger.id)
        circuits.append(
            Circuit(
                id=node,
                parent=charger.circuit,
                limit_kw_per_phase=kw_from_a(charger.max_current_a, 1, voltage),
                reserved_kw_per_phase=_reserved(snapshot, node),
            )
        )
    # Reserved headroom narrows the limit; it is not load, so it bears no energy or demand cost.
    base_load = np.full(grid.n_slots, snapshot.non_ev_load_kw)
    site_limit = np.maximum(limits.limit_kw - snapshot.reservations.site_kw, 0.0)
    return Problem.from_evs(
        start_utc=grid.start_utc,
        slot_s=grid.slot_s,
        n_slots=grid.n_slots,
        first_slot_s=grid.first_slot_s,
        slot_durations_s=list(grid.durations_s),
        site_limit_kw=site_limit,
        base_load_kw=np.minimum(base_load, site_limit),
        price_per_kwh=prices_per_kwh,
        evs=evs,
        demand_charge=demand_charge,
        circuits=circuits,
    )


def _reserved(snapshot: Snapshot, circuit_id: str) -> tuple[float, float, float]:
    values = snapshot.reservations.circuit_kw.get(circuit_id, [0.0, 0.0, 0.0])
    return (values[0], values[1], values[2])
