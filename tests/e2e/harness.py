"""A whole site over real websockets: the controller and simulated chargers on one clock.

The clock is the event-stepped one (:mod:`controller.stepped`): a test body is an
``async def day(clock)`` run by :func:`run_stepped`, simulated time only moves when every task
waits, and waits and timeouts are in simulated seconds. A run takes as long as the code needs
and gives the same result on an idle or a loaded machine, so margins need not absorb jitter.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from controller.app import SiteController
from controller.config import SiteConfig, parse_config
from controller.replay.run import REPLAY_STORE_FLUSH_S
from controller.stepped import StepClock
from simulator.charger import ChargerSpec
from simulator.ev import EVSpec
from simulator.scenario import Scenario, Session
from simulator.site import SimSite

START = datetime(2026, 6, 15, 8, 0, tzinfo=UTC)  # a Monday


def e2e_config(
    tmp_path: Path,
    *,
    chargers: int,
    grid_limit_kw: float,
    tariff: dict | None = None,
    **control: Any,
) -> SiteConfig:
    data: dict[str, Any] = {
        "site": {"id": "e2e", "timezone": "Europe/Berlin", "grid_limit_kw": grid_limit_kw},
        "ocpp": {
            "host": "127.0.0.1",
            "port": 0,
            "heartbeat_interval_s": 300,
            "meter_value_sample_interval_s": 60,
            "response_timeout_s": 5,
        },
        "store": {"url": f"sqlite:///{tmp_path / 'site.db'}"},
        "api": {"enabled": False, "port": 0},
        "circuits": [{"id": "feeder", "limit_a": 250.0}],
        "chargers": [
            {"id": f"CP{i:03d}", "max_current_a": 32.0, "circuit": "feeder"}
            for i in range(1, chargers + 1)
        ],
        "control": {
            "interval_s": 300,
            "slot_s": 900,
            "horizon_h": 6,
            "compliance_grace_s": 120,
            "session_defaults": {"dwell_h": 4, "energy_kwh": 40},
            **control,
        },
        "tariff": tariff or {"type": "flat", "price_per_kwh": 0.30},
    }
    return parse_config(data, source="e2e", base_dir=tmp_path)


def sessions_at_once(
    chargers: int,
    *,
    arrive_after_s: float = 120,
    stay_h: float = 4,
    energy_kwh: float = 40,
    ev: EVSpec | None = None,
) -> list[Session]:
    car = ev or EVSpec(name="car-22kw", capacity_kwh=80, max_current_a=32, phases=3)
    return [
        Session(
            session_key=f"S{i:03d}",
            charger_id=f"CP{i:03d}",
            connector_id=1,
            arrival_utc=START + timedelta(seconds=arrive_after_s + 7 * i),
            departure_utc=START + timedelta(hours=stay_h),
            energy_wanted_kwh=energy_kwh,
            ev=car,
            initial_soc=0.2,
            target_soc=0.2 + energy_kwh / car.capacity_kwh,
            id_tag=f"TAG{i:03d}",
        )
        for i in range(1, chargers + 1)
    ]


def scenario(chargers: int, sessions: Sequence[Session], hours: float = 6) -> Scenario:
    ids = tuple(f"CP{i:03d}" for i in range(1, chargers + 1))
    return Scenario("e2e", 0, ids, tuple(sessions), START, START + timedelta(hours=hours))


@contextlib.asynccontextmanager
async def site_run(
    config: SiteConfig,
    clock: StepClock,
    scen: Scenario,
    *,
    specs: dict[str, ChargerSpec] | None = None,
    **controller_kwargs: Any,
):
    controller = new_controller(config, clock, **controller_kwargs)
    port = await controller.start()
    url = f"ws://127.0.0.1:{port}/ocpp"
    sim = SimSite(
        url, scen, clock, charger_spec=ChargerSpec("template", meter_interval_s=60), specs=specs
    )
    try:
        yield controller, sim, url
    finally:
        await controller.stop()


def new_controller(config: SiteConfig, clock: StepClock, **kwargs: Any) -> SiteController:
    """A controller as ``serve`` builds it, with the store's batching interval a replay uses:
    on the stepped clock each of its wake-ups is a step of time (rows a charger's answer
    waits for are written at once either way)."""
    controller = SiteController(config, clock=clock, **kwargs)
    controller.store.flush_interval_s = REPLAY_STORE_FLUSH_S
    return controller


async def run_for(sim: SimSite, clock: StepClock, hours: float) -> Any:
    return await sim.run(until_utc=clock.start_utc + timedelta(hours=hours))


def power_after(record: Any, after_utc: datetime) -> tuple[list[datetime], list[float]]:
    times, watts = record.site_power_w()
    kept = [(t, w / 1000.0) for t, w in zip(times, watts, strict=True) if t >= after_utc]
    return [t for t, _ in kept], [p for _, p in kept]


async def eventually(
    clock: StepClock, predicate: Callable[[], bool], within_s: float, *, step_s: float = 1.0
) -> datetime:
    """Wait until ``predicate()`` holds, looking every ``step_s`` simulated seconds; fail if it
    does not within ``within_s`` simulated seconds. Returns the simulated time it first held."""
    deadline = clock.now() + timedelta(seconds=within_s)
    while not predicate():
        if clock.now() >= deadline:
            raise AssertionError(f"condition not reached within {within_s} simulated seconds")
        await clock.sleep(step_s)
    return clock.now()
