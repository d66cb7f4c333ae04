"""The same scenario in-process, without sockets: the EV physics under a strategy callback.

``allocate(now_utc, sessions_state) -> {session_key: limit_kw}`` is called at every step with
the cars present; a session it leaves out is not limited (the car takes what it can, up to the
charger's hardware limit). A limit in kW becomes a current per phase on the car's own phases
(``limit_kw * 1000 / (voltage × phases)``), and the car applies it as at a real charger: below
its minimum current it draws nothing. Steps are ``step_s`` long and also break at every arrival
and departure, so the result is deterministic and exact for piecewise-constant power.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from simulator.ev import EVState
from simulator.record import Sample, SessionResult, SiteRecord
from simulator.scenario import Scenario, Session


@dataclass(frozen=True)
class SessionState:
    """What a strategy sees of one car at ``now``."""

    session: Session
    soc: float
    energy_kwh: float
    remaining_kwh: float
    max_power_kw: float
    departure_utc: datetime


Allocate = Callable[[datetime, Mapping[str, SessionState]], Mapping[str, float]]


def uncontrolled(now_utc: datetime, states: Mapping[str, SessionState]) -> dict[str, float]:
    """Every car takes what it can."""
    return {}


def equal_share(site_limit_kw: float) -> Allocate:
    """Share ``site_limit_kw`` equally, handing what a car cannot take to the others.

    A naive baseline: a share below a car's minimum current (6 A) makes that car draw nothing.
    """

    def allocate(now_utc: datetime, states: Mapping[str, SessionState]) -> dict[str, float]:
        want = {k: s.max_power_kw for k, s in states.items() if s.max_power_kw > 0}
        out = {k: 0.0 for k in states}
        left = site_limit_kw
        while want and left > 1e-9:
            share = left / len(want)
            capped = {k: w for k, w in want.items() if w <= share}
            if not capped:
                for k in want:
                    out[k] = share
                break
            for k, w in capped.items():
                out[k] = w
                left -= w
                del want[k]
        return out

    return allocate


def replay(
    scenario: Scenario,
    allocate: Allocate | None = None,
    *,
    step_s: float = 60.0,
    start_utc: datetime | None = None,
    end_utc: datetime | None = None,
    charger_max_current_a: float = 32.0,
) -> SiteRecord:
    """Play ``scenario`` from ``start_utc`` to ``end_utc`` (default: its own window)."""
    start = start_utc or scenario.start_utc
    end = end_utc or scenario.end_utc
    strategy = allocate or uncontrolled
    record = SiteRecord(start, end)
    sessions = sorted(
        (s for s in scenario.sessions if s.departure_utc > start and s.arrival_utc < end),
        key=lambda s: s.arrival_utc,
    )
    events = sorted({t for s in sessions for t in (s.arrival_utc, s.departure_utc)})
    cars: dict[str, EVState] = {}
    soc_start: dict[str, float] = {}
    t = start
    ev_index = 0
    step = timedelta(seconds=step_s)
    while t < end:
        present = [s for s in sessions if s.arrival_utc <= t < s.departure_utc]
        for s in present:
            if s.session_key not in cars:
                cars[s.session_key] = s.new_ev_state()
                soc_start[s.session_key] = s.initial_soc
        states = {
            s.session_key: SessionState(
                s,
                cars[s.session_key].soc,
                cars[s.session_key].energy_wh / 1000.0,
                cars[s.session_key].remaining_kwh(),
                cars[s.session_key].max_power_kw(),
                s.departure_utc,
            )
            for s in present
        }
        limits = strategy(t, states)
        for s in present:
            car = cars[s.session_key]
            limit_kw = limits.get(s.session_key)
            limit_a = charger_max_current_a
            if limit_kw is not None:
                limit_a = min(limit_a, limit_kw * 1000.0 / (car.spec.voltage_v * car.spec.phases))
            car.draw(limit_a, 3)
            record.add(_sample(t, s, car, limit_a))
        while ev_index < len(events) and events[ev_index] <= t:
            ev_index += 1
        nxt = min(t + step, end)
        if ev_index < len(events):
            nxt = min(nxt, events[ev_index])
        to_full_s = min((cars[s.session_key].seconds_to_target() for s in present), default=1e18)
        if to_full_s < (nxt - t).total_seconds():
            nxt = t + timedelta(seconds=max(to_full_s, 1e-3))
        dt_s = (nxt - t).total_seconds()
        for s in present:
            cars[s.session_key].step(dt_s)
        t = nxt
        for s in present:
            if s.departure_utc <= t or t >= end:
                car = cars[s.session_key]
                if s.session_key in record.sessions:
                    continue
                record.sessions[s.session_key] = SessionResult(
                    s.session_key,
                    s.charger_id,
                    s.connector_id,
                    s.arrival_utc,
                    s.departure_utc,
                    s.energy_wanted_kwh,
                    car.energy_wh / 1000.0,
                    soc_start[s.session_key],
                    car.soc,
                )
                record.add(
                    Sample(t, s.charger_id, s.connector_id, None, 0.0, 0.0, 0, None, 0.0, None)
                )
    return record


def _sample(t: datetime, s: Session, car: EVState, limit_a: float) -> Sample:
    return Sample(
        t,
        s.charger_id,
        s.connector_id,
        s.session_key,
        car.power_w,
        car.current_a,
        car.phases,
        limit_a,
        car.energy_wh,
        car.soc,
    )
