"""Problems for the optimizer tests: small hand-made ones and seeded random ones."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np

from optimizer.problem import EV, Circuit, DemandCharge, Problem

T0 = datetime(2026, 1, 5, 10, 0, tzinfo=UTC)
THREE = (1 / 3, 1 / 3, 1 / 3)
L1 = (1.0, 0.0, 0.0)


def window(n_slots: int, first: int, end: int) -> list[bool]:
    return [first <= t < end for t in range(n_slots)]


def problem(evs: list[EV], n_slots: int, **kw) -> Problem:
    kw.setdefault("site_limit_kw", 1000.0)
    kw.setdefault("price_per_kwh", 0.2)
    kw.setdefault("slot_s", 3600)
    kw.setdefault("start_utc", T0)
    return Problem.from_evs(n_slots=n_slots, evs=evs, **kw)


def random_problem(
    seed: int,
    n_ev: int,
    n_slots: int,
    *,
    min_power: bool = True,
    circuits: bool = True,
    demand_charge: bool = True,
    tight: float = 0.5,
) -> Problem:
    """A random site: windows, mixed 1- and 3-phase EVs, a two-level circuit tree, base load."""
    rng = np.random.default_rng(seed)
    arrive = rng.integers(0, max(1, n_slots - 1), n_ev)
    depart = np.minimum(n_slots, arrive + rng.integers(1, n_slots + 1, n_ev))
    available = np.zeros((n_ev, n_slots), dtype=bool)
    for e in range(n_ev):
        available[e, arrive[e] : depart[e]] = True
    three = rng.random(n_ev) < 0.6
    share = np.zeros((n_ev, 3))
    share[three] = 1 / 3
    for e in np.flatnonzero(~three):
        share[e, rng.integers(0, 3)] = 1.0
    max_kw = np.where(three, 11.0, 7.4) * rng.uniform(0.5, 1.0, n_ev)
    min_kw = np.where(three, 4.14, 1.38) if min_power else np.zeros(n_ev)
    min_kw = np.minimum(min_kw, max_kw)
    slot_s = int(rng.choice([900, 1800, 3600]))
    first_slot_s = int(rng.integers(60, slot_s + 1))
    hours = available.sum(axis=1) * slot_s / 3600
    energy = rng.uniform(0.0, 1.2, n_ev) * max_kw * hours
    site = rng.uniform(tight, 1.0, n_slots) * max_kw.sum() + 2.0
    base = rng.uniform(0, 3, n_slots)
    circs: list[Circuit] = []
    cids: list[str | None] = [None] * n_ev
    if circuits and n_ev >= 2:
        circs = [
            Circuit("feeder", None, float(rng.uniform(5, 15))),
            Circuit("row", "feeder", float(rng.uniform(3, 10)), (0.5, 0.0, 0.0)),
        ]
        for e in range(n_ev):
            cids[e] = str(rng.choice(["feeder", "row", "none"]))
            cids[e] = None if cids[e] == "none" else cids[e]
    dc = None
    if demand_charge:
        mask = rng.random(n_slots) < 0.6
        dc = DemandCharge(float(rng.uniform(0, 15)), float(rng.uniform(0, 20)), mask)
    return Problem(
        start_utc=T0,
        slot_s=slot_s,
        n_slots=n_slots,
        first_slot_s=first_slot_s,
        site_limit_kw=site,
        base_load_kw=base,
        price_per_kwh=rng.uniform(-0.05, 0.5, n_slots),
        demand_charge=dc,
        circuits=tuple(circs),
        ev_ids=tuple(f"ev{e}" for e in range(n_ev)),
        energy_kwh=energy,
        max_kw=max_kw,
        min_kw=min_kw,
        available=available,
        phase_share=share,
        circuit_id=tuple(cids),
        priority=rng.choice([1.0, 1.0, 2.0], n_ev),
    )


def revised(p: Problem, factor: float = 0.9) -> Problem:
    """The same grid and EVs, requests and prices revised: the model keeps its structure."""
    return replace_arrays(p, energy_kwh=p.energy_kwh * factor, price_per_kwh=p.price_per_kwh[::-1])


def shifted(p: Problem) -> Problem:
    """One slot later on a rolling horizon; EVs whose window ended leave, one arrives."""
    from datetime import timedelta

    av = np.concatenate([p.available[:, 1:], p.available[:, -1:]], axis=1)
    keep = av.any(axis=1)
    new_av = np.ones((1, p.n_slots), dtype=bool)
    return Problem(
        start_utc=p.start_utc + timedelta(seconds=p.slot_s),
        slot_s=p.slot_s,
        n_slots=p.n_slots,
        site_limit_kw=p.site_limit_kw,
        base_load_kw=np.roll(p.base_load_kw, -1),
        price_per_kwh=np.roll(p.price_per_kwh, -1),
        demand_charge=p.demand_charge,
        circuits=p.circuits,
        ev_ids=(*(i for i, k in zip(p.ev_ids, keep, strict=True) if k), "newcomer"),
        energy_kwh=np.append(p.energy_kwh[keep], 5.0),
        max_kw=np.append(p.max_kw[keep], 7.4),
        min_kw=np.append(p.min_kw[keep], min(1.38, 7.4)),
        available=np.concatenate([av[keep], new_av]),
        phase_share=np.concatenate([p.phase_share[keep], [[1.0, 0.0, 0.0]]]),
        circuit_id=(*(c for c, k in zip(p.circuit_id, keep, strict=True) if k), None),
        priority=np.append(p.priority[keep], 1.0),
    )


def replace_arrays(p: Problem, **changes) -> Problem:
    fields = {
        name: getattr(p, name)
        for name in (
            "start_utc",
            "slot_s",
            "n_slots",
            "site_limit_kw",
            "price_per_kwh",
            "ev_ids",
            "energy_kwh",
            "max_kw",
            "available",
            "min_kw",
            "phase_share",
            "circuit_id",
            "priority",
            "base_load_kw",
            "first_slot_s",
            "demand_charge",
            "circuits",
        )
    }
    fields.update(changes)
    return Problem(**fields)
