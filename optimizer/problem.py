"""The optimizer's input (Problem) and output (Plan), with their JSON form.

All powers are kW, energies kWh, prices per kWh (demand charge per kW). Arrays are numpy,
shaped ``(ev, slot)`` or ``(slot,)``; amps and phases were converted before a Problem is built.

JSON format of a Problem (``problem_to_json`` / ``problem_from_json``)::

    {
      "start_utc": "2026-01-05T10:00:00Z",   # ISO 8601 with an offset (UTC after parsing)
      "slot_s": 900, "n_slots": 4,
      "first_slot_s": 480,                    # optional, default slot_s (re-plan mid-slot)
      "slot_durations_s": [480, 900, ...],    # optional: slots split at limit changes [s]
      "site_limit_kw": [..n_slots..],         # a list, or one number for every slot
      "base_load_kw": [..] | number,          # optional, default 0: non-EV load on the connection
      "price_per_kwh": [..] | number,
      "demand_charge": {"price_per_kw": 12.0, "threshold_kw": 40.0,
                        "on_peak": [true, ...]} | null,          # on_peak optional
      "circuits": [{"id": "feeder-1", "parent": null, "limit_kw_per_phase": 11.0,
                    "reserved_kw_per_phase": [0, 0, 0]}, ...],
      "evs": [{"id": "ev1", "energy_kwh": 20, "max_kw": 11, "min_kw": 4.1,
               "phase_share": [0.333, 0.333, 0.334],   # or "phases": 3 | 1 with "phase": "L2"
               "circuit_id": "feeder-1" | null,
               "priority": 1.0,
               "open_ended": false,                    # true: energy_kwh assumed, may take more
               "available": [true, ...]                # or "window": [first_slot, end_slot)
              }, ...]
    }

JSON of a Plan (``plan_to_json`` / ``plan_from_json``): ``ev_ids``, ``start_utc``, ``slot_s``,
``first_slot_s``, ``n_slots``, ``power_kw`` (a list per EV), ``method``, ``status``, ``reason``,
``min_power``, ``objective`` (name -> number), ``timings_s`` (build_s, solve_s, solver_s,
total_s), ``mip_gap`` (null for LP/heuristics) and ``violations`` (list of str).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np

from optimizer.errors import InvalidProblem

METHODS = ("optimal", "edf", "equal_share", "uncontrolled", "safe_default")
PHASES = ("L1", "L2", "L3")


def _as_float_array(name: str, value: Any, shape: tuple[int, ...]) -> np.ndarray:
    try:
        arr = np.array(value, dtype=float)
    except (TypeError, ValueError) as exc:
        raise InvalidProblem(name, f"not numeric ({exc})") from None
    if arr.ndim == 0:
        arr = np.full(shape, float(arr))
    if arr.shape != shape:
        raise InvalidProblem(name, f"shape {arr.shape}, expected {shape}")
    if not np.all(np.isfinite(arr)):
        raise InvalidProblem(name, "contains NaN or infinity")
    arr.setflags(write=False)
    return arr


def _as_bool_array(name: str, value: Any, shape: tuple[int, ...]) -> np.ndarray:
    arr = np.array(value)
    if arr.shape != shape:
        raise InvalidProblem(name, f"shape {arr.shape}, expected {shape}")
    if arr.dtype != bool:
        if not np.all(np.isin(arr, (0, 1))):
            raise InvalidProblem(name, "must hold booleans")
        arr = arr.astype(bool)
    arr = arr.copy()
    arr.setflags(write=False)
    return arr


def _durations(value: Any, first_s: int, slot_s: int, shape: tuple[int, ...]) -> np.ndarray:
    """Slot lengths [s]: whole seconds, each within 1..slot_s (a slot is only ever split)."""
    if value is None:
        value = np.full(shape, slot_s, dtype=np.int64)
        value[0] = first_s
    arr = np.array(value)
    if arr.shape != shape:
        raise InvalidProblem("slot_durations_s", f"shape {arr.shape}, expected {shape}")
    if not np.all(np.isfinite(arr)) or np.any(arr != np.round(arr)):
        raise InvalidProblem("slot_durations_s", "must be whole seconds")
    arr = arr.astype(np.int64)
    if np.any(arr < 1) or np.any(arr > slot_s):
        raise InvalidProblem("slot_durations_s", f"each must be within 1..slot_s ({slot_s})")
    arr.setflags(write=False)
    return arr


def _utc(name: str, value: datetime) -> datetime:
    if not isinstance(value, datetime):
        raise InvalidProblem(name, f"expected a datetime, got {type(value).__name__}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise InvalidProblem(name, "naive datetime; give a timezone-aware UTC time")
    return value.astimezone(UTC)


@dataclass(frozen=True)
class Circuit:
    """A node of the circuit tree (feeder, sub-feeder, charger group).

    ``reserved_kw_per_phase`` is load the controller must keep free on this circuit (idle
    chargers' default, uncontrollable chargers); it counts on every ancestor too.
    """

    id: str
    parent: str | None
    limit_kw_per_phase: float
    reserved_kw_per_phase: tuple[float, float, float] = (0.0, 0.0, 0.0)

    def __post_init__(self) -> None:
        where = f"circuits[{self.id}]"
        if not isinstance(self.id, str) or not self.id:
            raise InvalidProblem("circuits.id", "must be a non-empty string")
        lim = float(self.limit_kw_per_phase)
        if not math.isfinite(lim) or lim < 0:
            raise InvalidProblem(f"{where}.limit_kw_per_phase", f"must be finite and >= 0: {lim}")
        object.__setattr__(self, "limit_kw_per_phase", lim)
        res = tuple(float(x) for x in self.reserved_kw_per_phase)
        if len(res) != 3 or not all(math.isfinite(x) and x >= 0 for x in res):
            raise InvalidProblem(
                f"{where}.reserved_kw_per_phase", f"must be 3 finite values >= 0: {res}"
            )
        object.__setattr__(self, "reserved_kw_per_phase", res)


@dataclass(frozen=True)
class DemandCharge:
    """Price per kW of the peak site power above ``threshold_kw`` (the peak already reached)."""

    price_per_kw: float
    threshold_kw: float = 0.0
    on_peak: np.ndarray | None = None  # (slot,) bool; None = every slot

    def __post_init__(self) -> None:
        for name in ("price_per_kw", "threshold_kw"):
            v = float(getattr(self, name))
            if not math.isfinite(v) or v < 0:
                raise InvalidProblem(f"demand_charge.{name}", f"must be finite and >= 0: {v}")
            object.__setattr__(self, name, v)


@dataclass(frozen=True)
class EV:
    """One EV's needs, used to build a Problem (the Problem stores them as arrays)."""

    id: str
    energy_kwh: float
    max_kw: float
    available: Sequence[bool] | np.ndarray
    min_kw: float = 0.0
    phase_share: tuple[float, float, float] = (1 / 3, 1 / 3, 1 / 3)
    circuit_id: str | None = None
    priority: float = 1.0
    open_ended: bool = False  # energy_kwh is an assumption: the car may take more


@dataclass(frozen=True, eq=False)
class Problem:
    """Everything one planning cycle needs; validated at construction (InvalidProblem)."""

    start_utc: datetime
    slot_s: int
    n_slots: int
    site_limit_kw: np.ndarray
    price_per_kwh: np.ndarray
    ev_ids: tuple[str, ...]
    energy_kwh: np.ndarray
    max_kw: np.ndarray
    available: np.ndarray
    min_kw: np.ndarray | None = None
    phase_share: np.ndarray | None = None
    circuit_id: tuple[str | None, ...] | None = None
    priority: np.ndarray | None = None
    base_load_kw: np.ndarray | None = None
    first_slot_s: int | None = None
    demand_charge: DemandCharge | None = None
    circuits: tuple[Circuit, ...] = ()
    slot_durations_s: np.ndarray | None = None  # (slot,) [s]; default first_slot_s, slot_s, ...
    open_ended: np.ndarray | None = None  # (ev,) bool: energy_kwh assumed, more may be delivered

    def __post_init__(self) -> None:
        s = object.__setattr__
        s(self, "start_utc", _utc("start_utc", self.start_utc))
        if not isinstance(self.slot_s, int | np.integer) or not 60 <= int(self.slot_s) <= 3600:
            raise InvalidProblem("slot_s", f"must be an integer in 60..3600: {self.slot_s!r}")
        s(self, "slot_s", int(self.slot_s))
        if not isinstance(self.n_slots, int | np.integer) or int(self.n_slots) < 1:
            raise InvalidProblem("n_slots", f"must be an integer >= 1: {self.n_slots!r}")
        s(self, "n_slots", int(self.n_slots))
        first = self.slot_s if self.first_slot_s is None else self.first_slot_s
        if not isinstance(first, int | np.integer) or not 1 <= int(first) <= self.slot_s:
            raise InvalidProblem("first_slot_s", f"must be an integer in 1..slot_s: {first!r}")
        s(self, "first_slot_s", int(first))
        t = (self.n_slots,)
        s(self, "slot_durations_s", _durations(self.slot_durations_s, first, self.slot_s, t))
        s(self, "site_limit_kw", _as_float_array("site_limit_kw", self.site_limit_kw, t))
        if np.any(self.site_limit_kw < 0):
            raise InvalidProblem("site_limit_kw", "negative limit")
        s(self, "price_per_kwh", _as_float_array("price_per_kwh", self.price_per_kwh, t))
        base = 0.0 if self.base_load_kw is None else self.base_load_kw
        s(self, "base_load_kw", _as_float_array("base_load_kw", base, t))

        ids = tuple(self.ev_ids)
        if not all(isinstance(i, str) and i for i in ids):
            raise InvalidProblem("ev_ids", "must be non-empty strings")
        if len(set(ids)) != len(ids):
            raise InvalidProblem("ev_ids", "duplicate id")
        s(self, "ev_ids", ids)
        n = len(ids)
        e = (n,)
        s(self, "energy_kwh", _as_float_array("energy_kwh", self.energy_kwh, e))
        s(self, "max_kw", _as_float_array("max_kw", self.max_kw, e))
        min_kw = 0.0 if self.min_kw is None else self.min_kw
        s(self, "min_kw", _as_float_array("min_kw", min_kw, e))
        priority = 1.0 if self.priority is None else self.priority
        s(self, "priority", _as_float_array("priority", priority, e))
        open_ended = np.zeros(e, dtype=bool) if self.open_ended is None else self.open_ended
        s(self, "open_ended", _as_bool_array("open_ended", open_ended, e))
        for name in ("energy_kwh", "max_kw", "min_kw"):
            bad = np.flatnonzero(getattr(self, name) < 0)
            if bad.size:
                raise InvalidProblem(f"{name}[{ids[bad[0]]}]", "negative value")
        bad = np.flatnonzero(self.priority <= 0)
        if bad.size:
            raise InvalidProblem(f"priority[{ids[bad[0]]}]", "must be > 0")
        # A request below a watt-hour is rounding noise from the caller's arithmetic; left in,
        # its relative-shortfall coefficient (1 / energy) grows past what HiGHS accepts.
        s(self, "energy_kwh", np.where(self.energy_kwh < 1e-3, 0.0, self.energy_kwh))
        bad = np.flatnonzero(self.min_kw > self.max_kw)
        if bad.size:
            raise InvalidProblem(f"min_kw[{ids[bad[0]]}]", "above max_kw")
        s(self, "available", _as_bool_array("available", self.available, (n, self.n_slots)))
        share = np.full((n, 3), 1 / 3) if self.phase_share is None else self.phase_share
        share = np.reshape(share, (-1, 3)) if n else np.zeros((0, 3))
        share = _as_float_array("phase_share", share, (n, 3))
        if np.any(share < 0) or (n and not np.allclose(share.sum(axis=1), 1.0, atol=1e-6)):
            raise InvalidProblem("phase_share", "each row must be >= 0 and sum to 1")
        s(self, "phase_share", share)

        circuits = tuple(self.circuits)
        by_id: dict[str, Circuit] = {}
        for c in circuits:
            if not isinstance(c, Circuit):
                raise InvalidProblem("circuits", f"expected Circuit, got {type(c).__name__}")
            if c.id in by_id:
                raise InvalidProblem(f"circuits[{c.id}]", "duplicate id")
            by_id[c.id] = c
        for c in circuits:
            if c.parent is not None and c.parent not in by_id:
                raise InvalidProblem(f"circuits[{c.id}].parent", f"unknown circuit {c.parent!r}")
        for c in circuits:  # cycle check: walking up must reach the site
            seen = {c.id}
            p = c.parent
            while p is not None:
                if p in seen:
                    raise InvalidProblem(f"circuits[{c.id}].parent", "cycle in the circuit tree")
                seen.add(p)
                p = by_id[p].parent
        s(self, "circuits", circuits)
        cids = (None,) * n if self.circuit_id is None else tuple(self.circuit_id)
        if len(cids) != n:
            raise InvalidProblem("circuit_id", f"length {len(cids)}, expected {n}")
        for i, cid in zip(ids, cids, strict=True):
            if cid is not None and cid not in by_id:
                raise InvalidProblem(f"circuit_id[{i}]", f"unknown circuit {cid!r}")
        s(self, "circuit_id", cids)
        if self.demand_charge is not None:
            dc = self.demand_charge
            if dc.on_peak is not None:
                mask = _as_bool_array("demand_charge.on_peak", dc.on_peak, t)
                object.__setattr__(dc, "on_peak", mask)

    # -- derived quantities -------------------------------------------------------------
    @property
    def n_evs(self) -> int:
        return len(self.ev_ids)

    @property
    def slot_hours(self) -> np.ndarray:
        """Length of each slot [h]; slots may be split at limit changes."""
        return np.asarray(self.slot_durations_s, dtype=float) / 3600.0

    @property
    def slot_offsets_s(self) -> np.ndarray:
        """Start of each slot from ``start_utc`` [s]."""
        return np.concatenate(([0], np.cumsum(self.slot_durations_s)[:-1])).astype(np.int64)

    @property
    def slot_starts_utc(self) -> list[datetime]:
        """Start of each slot; slot 0 starts at start_utc."""
        from datetime import timedelta

        return [self.start_utc + timedelta(seconds=int(o)) for o in self.slot_offsets_s]

    @property
    def site_headroom_kw(self) -> np.ndarray:
        """Power the EVs may draw together per slot: limit minus base load, never below 0."""
        return np.maximum(0.0, self.site_limit_kw - self.base_load_kw)

    def ev_circuit_paths(self) -> list[tuple[int, ...]]:
        """Per EV, the indices into ``circuits`` of its leaf and every ancestor."""
        index = {c.id: k for k, c in enumerate(self.circuits)}
        paths = []
        for cid in self.circuit_id:
            path = []
            while cid is not None:
                k = index[cid]
                path.append(k)
                cid = self.circuits[k].parent
            paths.append(tuple(path))
        return paths

    def circuit_headroom_kw(self) -> np.ndarray:
        """(circuit, phase) power the EVs may draw: limit minus reserved load of the subtree."""
        index = {c.id: k for k, c in enumerate(self.circuits)}
        reserved = np.zeros((len(self.circuits), 3))
        for c in self.circuits:
            r = np.array(c.reserved_kw_per_phase)
            cid: str | None = c.id
            while cid is not None:
                k = index[cid]
                reserved[k] += r
                cid = self.circuits[k].parent
        lim = np.array([c.limit_kw_per_phase for c in self.circuits]).reshape(-1, 1)
        return np.maximum(0.0, lim - reserved)

    def on_peak(self) -> np.ndarray:
        dc = self.demand_charge
        if dc is None or dc.on_peak is None:
            return np.ones(self.n_slots, dtype=bool)
        return np.asarray(dc.on_peak)

    def departure_slot(self) -> np.ndarray:
        """Per EV, one past its last available slot (0 if never available)."""
        av = self.available
        last = self.n_slots - np.argmax(av[:, ::-1], axis=1)
        return np.where(av.any(axis=1), last, 0)

    @classmethod
    def from_evs(
        cls,
        *,
        start_utc: datetime,
        slot_s: int,
        n_slots: int,
        site_limit_kw: Any,
        price_per_kwh: Any,
        evs: Sequence[EV],
        base_load_kw: Any = None,
        first_slot_s: int | None = None,
        demand_charge: DemandCharge | None = None,
        circuits: Sequence[Circuit] = (),
        slot_durations_s: Any = None,
    ) -> Problem:
        """Build a Problem from per-EV records (handier than arrays for small cases)."""
        n = len(evs)
        for ev in evs:
            if len(ev.available) != n_slots:
                raise InvalidProblem(
                    f"available[{ev.id}]", f"length {len(ev.available)}, expected {n_slots}"
                )
        return cls(
            start_utc=start_utc,
            slot_s=slot_s,
            n_slots=n_slots,
            site_limit_kw=site_limit_kw,
            price_per_kwh=price_per_kwh,
            base_load_kw=base_load_kw,
            first_slot_s=first_slot_s,
            demand_charge=demand_charge,
            circuits=tuple(circuits),
            slot_durations_s=slot_durations_s,
            open_ended=np.array([ev.open_ended for ev in evs], dtype=bool),
            ev_ids=tuple(ev.id for ev in evs),
            energy_kwh=[ev.energy_kwh for ev in evs],
            max_kw=[ev.max_kw for ev in evs],
            min_kw=[ev.min_kw for ev in evs],
            available=np.array([list(ev.available) for ev in evs], dtype=bool).reshape(n, n_slots)
            if n
            else np.zeros((0, n_slots), dtype=bool),
            phase_share=[list(ev.phase_share) for ev in evs] if n else np.zeros((0, 3)),
            circuit_id=tuple(ev.circuit_id for ev in evs),
            priority=[ev.priority for ev in evs],
        )


@dataclass(frozen=True, eq=False)
class Plan:
    """Power per EV per slot [kW] and how it was obtained."""

    ev_ids: tuple[str, ...]
    start_utc: datetime
    slot_s: int
    first_slot_s: int
    power_kw: np.ndarray  # (ev, slot)
    method: str
    status: str = "ok"
    reason: str = ""
    min_power: bool = True
    objective: Mapping[str, float] = field(default_factory=dict)
    timings_s: Mapping[str, float] = field(default_factory=dict)
    mip_gap: float | None = None
    violations: tuple[str, ...] = ()
    slot_durations_s: np.ndarray | None = None  # (slot,) [s]; default first_slot_s, slot_s, ...

    def __post_init__(self) -> None:
        object.__setattr__(self, "start_utc", _utc("start_utc", self.start_utc))
        if self.method not in METHODS:
            raise InvalidProblem("method", f"unknown method {self.method!r}; one of {METHODS}")
        p = np.array(self.power_kw, dtype=float)
        if p.ndim != 2 or p.shape[0] != len(self.ev_ids):
            raise InvalidProblem("power_kw", f"shape {p.shape}, expected ({len(self.ev_ids)}, n)")
        p.setflags(write=False)
        object.__setattr__(self, "power_kw", p)
        object.__setattr__(self, "ev_ids", tuple(self.ev_ids))
        object.__setattr__(self, "violations", tuple(self.violations))
        durations = _durations(self.slot_durations_s, self.first_slot_s, self.slot_s, (p.shape[1],))
        object.__setattr__(self, "slot_durations_s", durations)

    @property
    def n_slots(self) -> int:
        return int(self.power_kw.shape[1])

    @property
    def build_s(self) -> float:
        return float(self.timings_s.get("build_s", 0.0))

    @property
    def solve_s(self) -> float:
        return float(self.timings_s.get("solve_s", 0.0))

    @property
    def solver_s(self) -> float:
        return float(self.timings_s.get("solver_s", 0.0))

    @property
    def total_s(self) -> float:
        return float(self.timings_s.get("total_s", 0.0))

    def energy_kwh(self) -> np.ndarray:
        return self.power_kw @ (np.asarray(self.slot_durations_s, dtype=float) / 3600.0)


# -- JSON --------------------------------------------------------------------------------
def _iso(dt: datetime) -> str:
    return dt.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _parse_dt(name: str, text: Any) -> datetime:
    if not isinstance(text, str):
        raise InvalidProblem(name, "expected an ISO 8601 string")
    try:
        dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise InvalidProblem(name, str(exc)) from None
    return _utc(name, dt)


def problem_to_dict(problem: Problem) -> dict[str, Any]:
    dc = problem.demand_charge
    return {
        "start_utc": _iso(problem.start_utc),
        "slot_s": problem.slot_s,
        "first_slot_s": problem.first_slot_s,
        "n_slots": problem.n_slots,
        "slot_durations_s": problem.slot_durations_s.tolist(),
        "site_limit_kw": problem.site_limit_kw.tolist(),
        "base_load_kw": problem.base_load_kw.tolist(),
        "price_per_kwh": problem.price_per_kwh.tolist(),
        "demand_charge": None
        if dc is None
        else {
            "price_per_kw": dc.price_per_kw,
            "threshold_kw": dc.threshold_kw,
            "on_peak": None if dc.on_peak is None else np.asarray(dc.on_peak).tolist(),
        },
        "circuits": [
            {
                "id": c.id,
                "parent": c.parent,
                "limit_kw_per_phase": c.limit_kw_per_phase,
                "reserved_kw_per_phase": list(c.reserved_kw_per_phase),
            }
            for c in problem.circuits
        ],
        "evs": [
            {
                "id": problem.ev_ids[i],
                "energy_kwh": float(problem.energy_kwh[i]),
                "max_kw": float(problem.max_kw[i]),
                "min_kw": float(problem.min_kw[i]),
                "phase_share": problem.phase_share[i].tolist(),
                "circuit_id": problem.circuit_id[i],
                "priority": float(problem.priority[i]),
                "open_ended": bool(problem.open_ended[i]),
                "available": problem.available[i].tolist(),
            }
            for i in range(problem.n_evs)
        ],
    }


def _ev_from_dict(k: int, d: Mapping[str, Any], n_slots: int) -> EV:
    where = f"evs[{k}]"
    if not isinstance(d, Mapping):
        raise InvalidProblem(where, "expected an object")
    for key in ("id", "energy_kwh", "max_kw"):
        if key not in d:
            raise InvalidProblem(f"{where}.{key}", "missing")
    if "available" in d:
        available = d["available"]
    elif "window" in d:
        w = d["window"]
        if not (isinstance(w, Sequence) and len(w) == 2):
            raise InvalidProblem(f"{where}.window", "expected [first_slot, end_slot]")
        first, end = int(w[0]), int(w[1])
        if not 0 <= first < end <= n_slots:
            raise InvalidProblem(
                f"{where}.window", f"need 0 <= first < end <= n_slots, got [{first}, {end}]"
            )
        available = [first <= t < end for t in range(n_slots)]
    else:
        available = [True] * n_slots
    if "phase_share" in d:
        share = tuple(float(x) for x in d["phase_share"])
    elif int(d.get("phases", 3)) == 1:
        phase = d.get("phase", "L1")
        if phase not in PHASES:
            raise InvalidProblem(f"{where}.phase", f"one of {PHASES}, got {phase!r}")
        share = tuple(1.0 if p == phase else 0.0 for p in PHASES)
    else:
        share = (1 / 3, 1 / 3, 1 / 3)
    return EV(
        id=d["id"],
        energy_kwh=d["energy_kwh"],
        max_kw=d["max_kw"],
        min_kw=d.get("min_kw", 0.0),
        available=available,
        phase_share=share,  # type: ignore[arg-type]
        circuit_id=d.get("circuit_id"),
        priority=d.get("priority", 1.0),
        open_ended=bool(d.get("open_ended", False)),
    )


def problem_from_dict(d: Mapping[str, Any]) -> Problem:
    """Parse the JSON form (see the module docstring); errors name the field."""
    if not isinstance(d, Mapping):
        raise InvalidProblem("problem", "expected a JSON object")
    for key in ("start_utc", "slot_s", "n_slots", "site_limit_kw", "price_per_kwh"):
        if key not in d:
            raise InvalidProblem(key, "missing")
    n_slots = d["n_slots"]
    if not isinstance(n_slots, int) or n_slots < 1:
        raise InvalidProblem("n_slots", f"must be an integer >= 1: {n_slots!r}")
    dcd = d.get("demand_charge")
    dc = None
    if dcd is not None:
        if "price_per_kw" not in dcd:
            raise InvalidProblem("demand_charge.price_per_kw", "missing")
        dc = DemandCharge(
            price_per_kw=dcd["price_per_kw"],
            threshold_kw=dcd.get("threshold_kw", 0.0),
            on_peak=dcd.get("on_peak"),
        )
    circuits = []
    for k, c in enumerate(d.get("circuits", [])):
        for key in ("id", "limit_kw_per_phase"):
            if key not in c:
                raise InvalidProblem(f"circuits[{k}].{key}", "missing")
        circuits.append(
            Circuit(
                id=c["id"],
                parent=c.get("parent"),
                limit_kw_per_phase=c["limit_kw_per_phase"],
                reserved_kw_per_phase=tuple(c.get("reserved_kw_per_phase", (0.0, 0.0, 0.0))),
            )
        )
    evs = [_ev_from_dict(k, e, n_slots) for k, e in enumerate(d.get("evs", []))]
    return Problem.from_evs(
        start_utc=_parse_dt("start_utc", d["start_utc"]),
        slot_s=d["slot_s"],
        n_slots=n_slots,
        first_slot_s=d.get("first_slot_s"),
        slot_durations_s=d.get("slot_durations_s"),
        site_limit_kw=d["site_limit_kw"],
        base_load_kw=d.get("base_load_kw"),
        price_per_kwh=d["price_per_kwh"],
        demand_charge=dc,
        circuits=circuits,
        evs=evs,
    )


def problem_to_json(problem: Problem, indent: int | None = 2) -> str:
    return json.dumps(problem_to_dict(problem), indent=indent)


def problem_from_json(text: str) -> Problem:
    try:
        d = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidProblem("json", f"line {exc.lineno} column {exc.colno}: {exc.msg}") from None
    return problem_from_dict(d)


def plan_to_dict(plan: Plan) -> dict[str, Any]:
    return {
        "ev_ids": list(plan.ev_ids),
        "start_utc": _iso(plan.start_utc),
        "slot_s": plan.slot_s,
        "first_slot_s": plan.first_slot_s,
        "n_slots": plan.n_slots,
        "slot_durations_s": np.asarray(plan.slot_durations_s).tolist(),
        "method": plan.method,
        "status": plan.status,
        "reason": plan.reason,
        "min_power": plan.min_power,
        "objective": {k: float(v) for k, v in plan.objective.items()},
        "timings_s": {k: float(v) for k, v in plan.timings_s.items()},
        "mip_gap": plan.mip_gap,
        "violations": list(plan.violations),
        "power_kw": plan.power_kw.tolist(),
    }


def plan_from_dict(d: Mapping[str, Any]) -> Plan:
    for key in ("ev_ids", "start_utc", "slot_s", "power_kw", "method"):
        if key not in d:
            raise InvalidProblem(key, "missing")
    n_ev = len(d["ev_ids"])
    return Plan(
        ev_ids=tuple(d["ev_ids"]),
        start_utc=_parse_dt("start_utc", d["start_utc"]),
        slot_s=int(d["slot_s"]),
        first_slot_s=int(d.get("first_slot_s", d["slot_s"])),
        power_kw=np.array(d["power_kw"], dtype=float).reshape(n_ev, -1),
        method=d["method"],
        status=d.get("status", "ok"),
        reason=d.get("reason", ""),
        min_power=bool(d.get("min_power", True)),
        objective=dict(d.get("objective", {})),
        timings_s=dict(d.get("timings_s", {})),
        mip_gap=d.get("mip_gap"),
        violations=tuple(d.get("violations", ())),
        slot_durations_s=d.get("slot_durations_s"),
    )


def plan_to_json(plan: Plan, indent: int | None = 2) -> str:
    return json.dumps(plan_to_dict(plan), indent=indent)


def plan_from_json(text: str) -> Plan:
    try:
        d = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidProblem("json", f"line {exc.lineno} column {exc.colno}: {exc.msg}") from None
    return plan_from_dict(d)
