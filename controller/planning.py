"""From the site's live state to the optimiser's Problem.

OCPP 1.6 tells neither when a car leaves nor how much energy it wants: defaults from the
config (per idTag group), per-session overrides, and what the session shows as it goes (SoC,
a tapering draw) fill the gap. Chargers and their connectors become nodes of the circuit tree,
so a charger's own limit, shared by its connectors, is just another circuit limit. Whatever the
controller cannot steer (idle connectors under their default profile, chargers that reject
profiles, ignore them or went silent) is reserved on the site and on every circuit above it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import numpy as np

from controller.config import ChargerConfig, SiteConfig
from controller.limits import SlotLimits
from controller.site import ChargerState, SessionState, SiteState
from controller.units import kw_from_a
from optimizer.problem import EV, Circuit, DemandCharge, Problem

PHASE_INDEX = {"R": 0, "S": 1, "T": 2}


@dataclass(frozen=True)
class SlotGrid:
    start_utc: datetime
    slot_s: int
    n_slots: int
    first_slot_s: int

    def starts_utc(self) -> list[datetime]:
        starts = [self.start_utc]
        for i in range(1, self.n_slots):
            offset = self.first_slot_s + (i - 1) * self.slot_s
            starts.append(self.start_utc + timedelta(seconds=offset))
        return starts

    def ends_utc(self) -> list[datetime]:
        starts = self.starts_utc()
        last_s = self.slot_s if self.n_slots > 1 else self.first_slot_s
        return [*starts[1:], starts[-1] + timedelta(seconds=last_s)]

    def slot_of(self, at_utc: datetime) -> int:
        """Index of the slot holding ``at_utc`` (n_slots if beyond the horizon)."""
        offset = (at_utc - self.start_utc).total_seconds()
        if offset < self.first_slot_s:
            return 0
        return min(self.n_slots, 1 + int((offset - self.first_slot_s) // self.slot_s))


def slot_grid(now_utc: datetime, slot_s: int, horizon_s: float) -> SlotGrid:
    """Slots aligned to ``slot_s`` since the epoch; the first one runs from now to the boundary."""
    epoch_s = now_utc.timestamp()
    boundary_s = math.floor(epoch_s / slot_s) * slot_s + slot_s
    first_slot_s = max(1, round(boundary_s - epoch_s))
    n_slots = max(1, 1 + math.ceil(max(0.0, horizon_s - first_slot_s) / slot_s))
    return SlotGrid(now_utc.astimezone(UTC), slot_s, n_slots, int(first_slot_s))


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
    floor_kw: float = 0.0  # keep-awake floor for a car that has started charging [kW]
    margin_min: float = 0.0  # the plan aims to be done this long before the departure

    def deadline_utc(self, now_utc: datetime) -> datetime:
        """Plan to be done a little early: a car tapers near full and takes less than the
        plan counts on in its last slots, and departures are estimates."""
        early = self.departure_utc - timedelta(minutes=self.margin_min)
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

    def add(
        self, circuit_path: list[str], per_phase_kw: tuple[float, float, float], why: str
    ) -> None:
        self.site_kw += sum(per_phase_kw)
        for circuit_id in circuit_path:
            bucket = self.circuit_kw.setdefault(circuit_id, [0.0, 0.0, 0.0])
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
    safe_default_a: float = 0.0,
) -> SessionNeed:
    control = config.control
    defaults = control.session_defaults
    dwell_h, energy_kwh, priority = defaults.dwell_h, defaults.energy_kwh, 1.0
    for group in control.groups:
        if group.group == session.id_tag_group:
            dwell_h = group.dwell_h or dwell_h
            energy_kwh = group.energy_kwh or energy_kwh
            priority = group.priority
    overrides = session.overrides
    departure = session.start_utc + timedelta(hours=dwell_h)
    if overrides.get("departure_utc"):
        departure = datetime.fromisoformat(str(overrides["departure_utc"]))
    wanted_kwh = float(overrides.get("energy_kwh", energy_kwh))
    priority = float(overrides.get("priority", priority))
    remaining_kwh = max(0.0, wanted_kwh - session.energy_kwh)
    if "energy_kwh" not in overrides:
        remaining_kwh = _tighten_by_soc(session, remaining_kwh)
    if departure <= now_utc + timedelta(minutes=15):
        # Still plugged in past the expected departure: keep serving it for a while.
        departure = now_utc + timedelta(hours=1)

    voltage = config.charger_voltage_v(charger)
    phases = phases_in_use(charger, session)
    max_kw = kw_from_a(charger.max_current_a, phases, voltage)
    min_kw = kw_from_a(control.min_current_a, phases, voltage)
    max_kw = _car_limit(session, max_kw, min_kw)
    if session.external_limit_kw is not None:  # reported by the station (OCPP 2.0.1)
        max_kw = min(max_kw, max(0.0, session.external_limit_kw))
    # Some cars do not wake up after a pause at 0 A: once one has started (a car draws its
    # charger's default from the moment it plugs in), keep it at its minimum until its energy
    # is delivered, where the limits allow (see keep_awake_floors).
    drawing = session.power_kw is not None and session.power_kw > 0.3
    started = safe_default_a >= control.min_current_a or drawing or session.energy_kwh >= 0.05
    floor_kw = min(min_kw, max_kw) if control.keep_awake and started and remaining_kwh > 0 else 0.0
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
        floor_kw=floor_kw,
        margin_min=control.departure_margin_min,
    )


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
    minimum: a car offered less than its minimum current stops outright."""
    if session.car_max_kw is None:
        return max_kw
    return max(min_kw, min(max_kw, session.car_max_kw * 1.1 + 0.3))


@dataclass(frozen=True)
class Snapshot:
    grid: SlotGrid
    needs: tuple[SessionNeed, ...]
    reservations: Reservations
    non_ev_load_kw: float
    measured_site_kw: float


def take_snapshot(
    site: SiteState,
    now_utc: datetime,
    *,
    safe_default_a: float,
    assigned_kw: Mapping[int, float],
    horizon_s: float,
    slot_s: int,
) -> Snapshot:
    """Sessions to plan and loads to reserve, at ``now_utc``."""
    config = site.config
    grid = slot_grid(now_utc, slot_s, horizon_s)
    reservations = Reservations()
    needs: list[SessionNeed] = []
    measured_ev_kw = 0.0
    by_charger: dict[str, dict[int, SessionState]] = {}
    for open_session in site.sessions.values():
        by_charger.setdefault(open_session.charger_id, {})[open_session.connector_id] = open_session
    for charger_cfg in config.chargers:
        state = site.chargers.get(charger_cfg.id) or ChargerState(charger_cfg.id, charger_cfg)
        voltage = config.charger_voltage_v(charger_cfg)
        path = circuit_path(config, charger_cfg)
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
                reservations.add(path, per_phase, why)
                continue
            if not state.online:
                draw = max(
                    session.power_kw or 0.0, kw_from_a(safe_default_a, charger_cfg.phases, voltage)
                )
                reservations.add(
                    path,
                    tuple(draw * s for s in share),
                    f"{charger_cfg.id}: offline mid-session, last draw reserved",
                )
                continue
            if not state.controllable:
                draw = kw_from_a(charger_cfg.max_current_a, charger_cfg.phases, voltage)
                reservations.add(
                    path,
                    tuple(draw * s for s in share),
                    f"{charger_cfg.id}: uncontrollable ({state.uncontrollable_reason})",
                )
                continue
            if state.non_compliant:
                draw = max(session.power_kw or 0.0, assigned_kw.get(session.transaction_id, 0.0))
                reservations.add(
                    path,
                    tuple(draw * s for s in share),
                    f"{charger_cfg.id}: non-compliant, measured draw reserved",
                )
                continue
            needs.append(session_need(config, charger_cfg, session, now_utc, safe_default_a))
    non_ev = 0.0
    if site.site_meter_kw is not None:
        non_ev = max(0.0, site.site_meter_kw - measured_ev_kw)
    return Snapshot(grid, tuple(needs), reservations, non_ev, measured_ev_kw + non_ev)


def keep_awake_floors(config: SiteConfig, snapshot: Snapshot, limits: SlotLimits) -> np.ndarray:
    """The floors [kW] per need, or all zeros where they would not fit inside every limit in
    every slot: a limit always wins over keeping a car awake."""
    floors = np.array([need.floor_kw for need in snapshot.needs], dtype=float)
    if not floors.any():
        return floors
    headroom = limits.limit_kw - snapshot.reservations.site_kw - snapshot.non_ev_load_kw
    if floors.sum() > float(headroom.min()) - 1e-6:
        return np.zeros_like(floors)
    limit_per_phase = {
        c.id: kw_from_a(c.limit_a, 1, config.site.voltage_v) for c in config.circuits
    }
    for charger in config.chargers:
        limit_per_phase[charger_node(charger.id)] = kw_from_a(
            charger.max_current_a, 1, config.charger_voltage_v(charger)
        )
    load: dict[str, np.ndarray] = {}
    for need, floor in zip(snapshot.needs, floors, strict=True):
        charger = config.charger(need.charger_id)
        for node in circuit_path(config, charger) if charger else []:
            load.setdefault(node, np.array(_reserved(snapshot, node))).__iadd__(
                floor * np.array(need.phase_share)
            )
    for node, per_phase in load.items():
        if node in limit_per_phase and per_phase.max() > limit_per_phase[node] + 1e-6:
            return np.zeros_like(floors)
    return floors


def slot_availability(grid: SlotGrid, departure_utc: datetime) -> np.ndarray:
    """A slot counts only if the car is there for all of it: no power after departure."""
    if departure_utc <= grid.start_utc:
        last = 1
    else:
        offset_s = (departure_utc - grid.start_utc).total_seconds()
        # Slots that end by the departure: the first slot, then whole slots after it.
        last = (
            0
            if offset_s < grid.first_slot_s
            else 1 + int((offset_s - grid.first_slot_s) // grid.slot_s)
        )
        last = max(1, min(grid.n_slots, last))
    available = np.zeros(grid.n_slots, dtype=bool)
    available[:last] = True
    return available


def floor_schedule(snapshot: Snapshot, floors_kw: np.ndarray) -> np.ndarray:
    """(ev, slot) keep-awake power [kW]: each car's floor while it is there, until the floor
    alone has delivered what the car still wants (the last slot takes only the rest)."""
    grid = snapshot.grid
    hours = np.array([grid.first_slot_s] + [grid.slot_s] * (grid.n_slots - 1)) / 3600.0
    schedule = np.zeros((len(snapshot.needs), grid.n_slots))
    for i, (need, floor) in enumerate(zip(snapshot.needs, floors_kw, strict=True)):
        if floor <= 0:
            continue
        left_kwh = need.energy_kwh
        for t in np.flatnonzero(slot_availability(grid, need.deadline_utc(grid.start_utc))):
            if left_kwh <= 1e-9:
                break
            schedule[i, t] = min(floor, left_kwh / hours[t])
            left_kwh -= schedule[i, t] * hours[t]
    return schedule


def build_problem(
    config: SiteConfig,
    snapshot: Snapshot,
    limits: SlotLimits,
    prices_per_kwh: np.ndarray,
    demand_charge: DemandCharge | None = None,
    floors_kw: np.ndarray | None = None,
) -> Problem:
    """The optimiser's Problem. With ``floors_kw``, each car's floor is held outside the
    optimisation (reserved like any fixed load) and the plan shares what is left above it."""
    grid = snapshot.grid
    floors = floors_kw if floors_kw is not None else np.zeros(len(snapshot.needs))
    floor_kwh = floor_schedule(snapshot, floors) @ (
        np.array([grid.first_slot_s] + [grid.slot_s] * (grid.n_slots - 1)) / 3600.0
    )
    evs = []
    for i, (need, floor) in enumerate(zip(snapshot.needs, floors, strict=True)):
        available = slot_availability(grid, need.deadline_utc(grid.start_utc))
        if floor > 0:
            path = circuit_path(config, config.charger(need.charger_id))
            snapshot.reservations.add(
                path,
                tuple(floor * s for s in need.phase_share),
                f"{need.charger_id}: keep-awake floor",
            )
        evs.append(
            EV(
                id=need.ev_id,
                energy_kwh=max(0.0, need.energy_kwh - floor_kwh[i]),
                max_kw=max(0.0, need.max_kw - floor),
                min_kw=0.0 if floor > 0 else need.min_kw,
                available=available,
                phase_share=need.phase_share,
                circuit_id=need.circuit_id,
                priority=need.priority,
            )
        )
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
    for charger in config.chargers:
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
