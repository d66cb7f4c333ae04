"""Properties of snapshot -> Problem -> plan over generated sites and sessions (hypothesis).

Never over any limit; work-conserving under a flat tariff (the plan for now is the least of
the limits and what the cars still wanting energy can draw, short of one car's minimum where
the 0-or-minimum rule leaves a sliver); floors only while needed; identical on reruns.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import optimizer
from controller.limits import LimitWindow, effective_limits, window_breaks
from controller.planning import build_problem, take_snapshot
from controller.site import SessionState, SiteState
from optimizer.fill import hold_minimum
from tests.controller.site_factory import site_config

NOW = datetime(2026, 6, 1, 9, 3, 41, tzinfo=UTC)

session_st = st.fixed_dictionaries(
    {
        "energy_kwh": st.floats(0.0, 40.0),
        "known": st.booleans(),
        "wanted_kwh": st.floats(0.5, 60.0),
        "stay_min": st.integers(5, 600),
        "max_a": st.sampled_from([16.0, 32.0]),
    }
)


@st.composite
def sites(draw):
    n = draw(st.integers(1, 6))
    sessions = draw(st.lists(session_st, min_size=0, max_size=n))
    grid_kw = draw(st.floats(5.0, 150.0))
    feeder_a = draw(st.one_of(st.none(), st.floats(10.0, 200.0)))
    cap = draw(
        st.one_of(
            st.none(),
            st.tuples(st.integers(0, 7200), st.integers(30, 7200), st.floats(0.0, 80.0)),
        )
    )
    keep_awake = draw(st.booleans())
    return n, sessions, grid_kw, feeder_a, cap, keep_awake


def _build(tmp_path, n, sessions, grid_kw, feeder_a, cap, keep_awake):
    circuits = [{"id": "feeder", "limit_a": feeder_a}] if feeder_a else []
    chargers = [
        {
            "id": f"CP{i}",
            "max_current_a": sessions[i - 1]["max_a"] if i <= len(sessions) else 32.0,
            **({"circuit": "feeder"} if feeder_a else {}),
        }
        for i in range(1, n + 1)
    ]
    config = site_config(
        f"sqlite:///{tmp_path / 's.db'}",
        chargers=chargers,
        circuits=circuits,
        site={"grid_limit_kw": grid_kw},
        control={"keep_awake": keep_awake},
    )
    site = SiteState(config)
    for charger in site.chargers.values():
        charger.online = True
    for tx, spec in enumerate(sessions, start=1):
        session = SessionState(
            tx, f"CP{tx}", 1, "T", NOW - timedelta(minutes=30), 0.0, energy_kwh=spec["energy_kwh"]
        )
        if spec["known"]:
            departure = NOW + timedelta(minutes=spec["stay_min"])
            session.overrides = {
                "departure_utc": departure.isoformat(),
                "energy_kwh": spec["energy_kwh"] + spec["wanted_kwh"],
            }
        site.sessions[tx] = session
    windows = []
    if cap is not None:
        start_s, length_s, limit_kw = cap
        start = NOW + timedelta(seconds=start_s)
        windows.append(
            LimitWindow("cap", "operator", start, start + timedelta(seconds=length_s), limit_kw)
        )
    snapshot = take_snapshot(
        site,
        NOW,
        safe_default_a=0.0,
        assigned_kw={},
        horizon_s=4 * 3600,
        slot_s=900,
        breaks_utc=window_breaks(windows),
    )
    grid = snapshot.grid
    limits = effective_limits(grid_kw, windows, grid.starts_utc(), grid.ends_utc())
    problem = build_problem(config, snapshot, limits, np.full(grid.n_slots, 0.25))
    return snapshot, problem


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(sites())
def test_plans_are_safe_work_conserving_and_repeatable(tmp_path, generated):
    snapshot, problem = _build(tmp_path, *generated)
    plan = optimizer.plan(problem, time_limit_s=30)
    assert optimizer.check(problem, plan) == []
    again = optimizer.plan(_build(tmp_path, *generated)[1], time_limit_s=30)
    assert np.array_equal(plan.power_kw, again.power_kw)
    if problem.n_evs == 0:
        return
    # Work conservation in the first slot: the site and the feeder cap it, or the cars do.
    h0 = float(problem.slot_hours[0])
    draw = np.where(
        problem.open_ended,
        problem.max_kw,
        np.minimum(problem.max_kw, problem.energy_kwh / h0),
    )
    draw = np.where(problem.available[:, 0], draw, 0.0)
    # A known need smaller than its minimum power over its stay cannot be met exactly with
    # whole slots at >= the minimum: the plan may place it later. Such cars bound from above.
    stay_h = (problem.available * problem.slot_hours).sum(axis=1)
    coarse = ~problem.open_ended & (problem.energy_kwh < problem.min_kw * stay_h)
    bound_below = float(np.where(coarse, 0.0, draw).sum())
    room = [float(problem.site_headroom_kw[0])]
    ids = [c.id for c in problem.circuits]
    if "feeder" in ids:
        room.append(float(problem.circuit_headroom_kw()[ids.index("feeder")].min()) * 3)
    planned = float(plan.power_kw[:, 0].sum())
    assert planned <= min([*room, float(draw.sum())]) + 1e-6
    assert planned >= min([*room, bound_below]) - float(problem.min_kw.max()) - 1e-6
    # Keep-awake floors: only while the car still wants energy, never past a limit.
    keep = np.array([n.keep_awake for n in snapshot.needs])
    held = hold_minimum(problem, plan.power_kw, keep)
    h = problem.slot_hours
    for e in np.flatnonzero(keep):
        for t in range(problem.n_slots):
            if held[e, t] > plan.power_kw[e, t] + 1e-9:
                assert problem.energy_kwh[e] - held[e, :t] @ h[:t] > 0
    assert optimizer.check(problem, optimizer.Plan(**{**plan.__dict__, "power_kw": held})) == []
