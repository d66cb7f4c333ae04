"""Run the real controller against simulated chargers on the event-stepped clock.

The controller is the one ``serve`` runs (:class:`controller.app.SiteController`), changed only
where a replay must differ: its OCPP server on an ephemeral loopback port, no API, no
demand-response sources, a temporary store. Chargers are :class:`simulator.site.SimSite`
over real websockets. Time is virtual (:mod:`controller.stepped`): the run takes as long as the
code needs, and the same input gives the same result on every run.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from tqdm import tqdm

from controller.app import SiteController
from controller.config import SiteConfig
from controller.loop.planner import inline_planner
from controller.replay.result import ReplayResult, build_result
from controller.replay.sessions import ReplayInputError, ReplaySession, to_sim_sessions
from controller.stepped import StepClock, run_stepped
from simulator.charger import ChargerSpec
from simulator.scenario import Scenario, Session
from simulator.site import SimSite
from tariffs.registry import build_tariff

log = logging.getLogger(__name__)

#: replay strategy -> the controller's planning method
STRATEGIES = {
    "sitecharge": "optimal",
    "uncontrolled": "uncontrolled",
    "edf": "edf",
    "equal_share": "equal_share",
}
NEEDS = ("known", "unknown")
#: the optimiser's wall-clock limit in a replay [s], as in ``serve``. A plan that stops at it
#: depends on the machine's speed: RESULT.json is reproducible only while no solve reaches it
#: (``stats["solves_at_time_limit"]`` counts them; the command warns). The optimiser has no
#: deterministic work limit yet (note for the optimiser: e.g. HiGHS ``mip_max_nodes``).
REPLAY_SOLVER_LIMIT_S = 10.0
#: the store's batching interval in a replay [virtual s] (each wake-up is a step of the clock)
REPLAY_STORE_FLUSH_S = 60.0


@dataclass(frozen=True)
class LimitEntry:
    """A cap or DR event put into the controller's limit book before the run starts, as the
    operator API would (``kind`` and ``spec`` as for ``PUT /caps/{id}``)."""

    entry_id: str
    source: str
    kind: str
    spec: dict[str, Any]


@dataclass(frozen=True)
class ReplaySettings:
    strategy: str = "sitecharge"
    needs: str = "unknown"
    ev_model: str = "ideal"
    start_utc: datetime | None = None
    hours: float | None = None
    limits: tuple[LimitEntry, ...] = ()
    progress: bool = False
    meter_interval_s: int | None = None  # default: the site file's ocpp sample interval
    solver_time_limit_s: float = REPLAY_SOLVER_LIMIT_S

    def __post_init__(self) -> None:
        if self.strategy not in STRATEGIES:
            raise ReplayInputError(f"--strategy: {self.strategy!r}, choose one of {[*STRATEGIES]}")
        if self.needs not in NEEDS:
            raise ReplayInputError(f"--needs: {self.needs!r}, choose one of {NEEDS}")
        if self.hours is not None and not self.hours > 0:
            raise ReplayInputError(f"--hours: must be > 0, got {self.hours}")


@contextlib.contextmanager
def stdout_to_stderr() -> Iterator[None]:
    """Send everything written to file descriptor 1 to stderr for a while: the solver's C
    library prints its banner there, and stdout carries only the JSON."""
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        os.dup2(2, 1)
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


def replay_config(
    config: SiteConfig, store_url: str, solver_time_limit_s: float = REPLAY_SOLVER_LIMIT_S
) -> SiteConfig:
    """The site file as a replay runs it: loopback OCPP on a free port, no TLS, no API, no DR,
    its own store, chargers without passwords, the replay's solver limit."""
    return config.model_copy(
        update={
            "ocpp": config.ocpp.model_copy(update={"host": "127.0.0.1", "port": 0, "tls": None}),
            "api": config.api.model_copy(update={"enabled": False}),
            "dr": {},
            "store": config.store.model_copy(update={"url": store_url}),
            "chargers": tuple(
                c.model_copy(update={"password_hash": None}) for c in config.chargers
            ),
            "control": config.control.model_copy(
                update={"solver_time_limit_s": solver_time_limit_s}
            ),
        }
    )


def _window(
    sessions: Sequence[ReplaySession], settings: ReplaySettings
) -> tuple[datetime, datetime]:
    first = min(s.arrival_utc for s in sessions)
    start = settings.start_utc or first.replace(second=0, microsecond=0)
    start = start.replace(microsecond=0)
    if settings.hours is not None:
        return start, start + timedelta(hours=settings.hours)
    return start, max(s.departure_utc for s in sessions)


def _needs_listener(controller: SiteController, sessions: Sequence[Session]):
    """``needs=known``: tell the controller each car's departure and energy as its transaction
    starts, as a fleet backend would through the session overrides (OCPP 1.6 carries neither)."""

    def on_event(kind: str, charger_id: str, detail: dict[str, Any]) -> None:
        if kind != "session_started":
            return
        state = controller.site.sessions.get(detail["transaction_id"])
        if state is None:
            return
        now = controller.clock.now()
        for planned in sessions:
            if (planned.charger_id, planned.connector_id) == (
                charger_id,
                state.connector_id,
            ) and planned.arrival_utc <= now < planned.departure_utc:
                state.overrides.update(
                    departure_utc=planned.departure_utc.isoformat(),
                    energy_kwh=planned.energy_wanted_kwh,
                )
                return

    return on_event


def _charger_specs(config: SiteConfig, meter_interval_s: int) -> dict[str, ChargerSpec]:
    return {
        c.id: ChargerSpec(
            c.id,
            n_connectors=c.connectors,
            max_current_a=c.max_current_a,
            phases=c.phases,
            voltage_v=config.charger_voltage_v(c),
            meter_interval_s=meter_interval_s,
            heartbeat_interval_s=config.ocpp.heartbeat_interval_s,
        )
        for c in config.chargers
    }


async def _run(
    clock: StepClock,
    config: SiteConfig,
    scenario: Scenario,
    settings: ReplaySettings,
    end_utc: datetime,
) -> ReplayResult:
    # Uncontrolled charging is a site without load management: the central system runs (it
    # records the sessions) but no control loop sends a single profile.
    controlled = settings.strategy != "uncontrolled"
    method = STRATEGIES[settings.strategy]
    # The planner runs on the loop itself: on the stepped clock a cycle then takes no time at
    # all, and nothing depends on how busy the machine is (unless a solve reaches the limit).
    controller = SiteController(
        config,
        clock=clock,
        control=controlled,
        method=method,
        planner=inline_planner(method, settings.solver_time_limit_s, config.control.mip_rel_gap),
    )
    controller.store.flush_interval_s = REPLAY_STORE_FLUSH_S
    port = await controller.start()
    if settings.needs == "known":
        controller.site.subscribe(_needs_listener(controller, scenario.sessions))
    for entry in settings.limits:
        await controller.limits.put(
            entry.entry_id, source=entry.source, kind=entry.kind, spec=entry.spec, actor="replay"
        )
    meter_s = settings.meter_interval_s or config.ocpp.meter_value_sample_interval_s
    sim = SimSite(
        f"ws://127.0.0.1:{port}{config.ocpp.path_prefix}",
        scenario,
        clock,
        specs=_charger_specs(config, meter_s),
    )
    start_utc = clock.now()
    total_min = max(1, int((end_utc - start_utc).total_seconds() // 60))
    bar = tqdm(
        total=total_min,
        unit="min",
        desc=f"replay {settings.strategy} ({settings.needs})",
        leave=False,
        disable=not settings.progress,
    )

    at_limit = [0]
    seen: list[Any] = []

    def count_time_limits() -> None:
        # the loop keeps its last 500 cycles: count the new ones often enough
        history = controller.loop.state.history if controller.loop else []
        last = seen[-1] if seen else None
        new = [h for h in history if last is None or h.at_utc > last]
        # the optimiser may label its incumbent "optimal" at the limit: go by the time taken
        at_limit[0] += sum(h.solve_s >= 0.95 * settings.solver_time_limit_s for h in new)
        if new:
            seen[:] = [new[-1].at_utc]

    async def follow() -> None:
        while True:
            count_time_limits()
            bar.n = min(total_min, int(clock.elapsed_s() // 60))
            bar.set_postfix(kw=f"{sim.power_now_kw():.0f}", cars=len(sim.active), refresh=True)
            await clock.sleep(900)

    follower = asyncio.create_task(follow())
    started = time.perf_counter()
    try:
        record = await sim.run(until_utc=end_utc)
        windows = controller.limits.windows(start_utc, end_utc)
        cycles = controller.loop.cycles if controller.loop else 0
        count_time_limits()
    finally:
        follower.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await follower
        bar.close()
        await controller.stop()
    tariff = build_tariff(config.tariff, timezone=config.site.timezone, base_dir=config.base_dir)
    return build_result(
        strategy=settings.strategy,
        needs=settings.needs,
        start_utc=start_utc,
        end_utc=end_utc,
        record=record,
        grid_kw=config.site.grid_limit_kw,
        windows=windows,
        tariff=tariff,
        stats={
            "cycles": cycles,
            "solves_at_time_limit": at_limit[0],
            "real_s": round(time.perf_counter() - started, 3),
        },
    )


def run_replay(
    config: SiteConfig, sessions: Sequence[ReplaySession], settings: ReplaySettings
) -> ReplayResult:
    """Replay ``sessions`` on the site of ``config`` under ``settings``; blocks until done.

    Runs its own event loop (the stepped one): call it from synchronous code.
    """
    if not sessions:
        raise ReplayInputError("no sessions to replay")
    start_utc, end_utc = _window(sessions, settings)
    sim_sessions = to_sim_sessions(list(sessions), config, settings.ev_model)
    scenario = Scenario(
        "replay",
        None,
        tuple(c.id for c in config.chargers),
        sim_sessions,
        start_utc,
        end_utc,
        max(c.connectors for c in config.chargers),
    )
    return run_scenario(config, scenario, settings, start_utc, end_utc)


def run_scenario(
    config: SiteConfig,
    scenario: Scenario,
    settings: ReplaySettings,
    start_utc: datetime,
    end_utc: datetime,
) -> ReplayResult:
    """Run simulated cars that are already built (a generated scenario, as the demo's) on the
    site of ``config`` from ``start_utc`` to ``end_utc``; blocks until done."""
    if end_utc <= start_utc:
        raise ReplayInputError(f"the run ends ({end_utc}) before it starts ({start_utc})")
    with tempfile.TemporaryDirectory(prefix="sitecharge-replay-") as folder:
        store_url = f"sqlite:///{Path(folder) / 'replay.db'}"
        run_config = replay_config(config, store_url, settings.solver_time_limit_s)
        return run_stepped(
            lambda clock: _run(clock, run_config, scenario, settings, end_utc), start_utc
        )


__all__ = [
    "STRATEGIES",
    "LimitEntry",
    "ReplaySettings",
    "replay_config",
    "run_replay",
    "run_scenario",
    "stdout_to_stderr",
]
