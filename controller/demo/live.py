"""The sitecharge run of the demo: the controller and a simulated site over real websockets,
on one accelerated clock, with a progress bar."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from typing import Any

from tqdm import tqdm

from controller.app import SiteController
from controller.config import SiteConfig
from controller.demo.setup import DemoEvent, DemoSettings
from controller.loop import CycleRecord
from simulator.charger import ChargerSpec
from simulator.clock import AcceleratedClock
from simulator.record import SiteRecord
from simulator.scenario import Scenario
from simulator.site import SimSite

log = logging.getLogger(__name__)


@dataclass
class LiveResult:
    record: SiteRecord
    history: list[CycleRecord] = field(default_factory=list)
    profiles_acknowledged: int = 0
    profiles_rejected: int = 0


def _fleet_overrides(controller: SiteController, scenario: Scenario):
    """Tell the controller each car's departure and energy as it starts charging, as a fleet
    backend would through ``PUT /sessions/{tx}/overrides`` (OCPP 1.6 does not carry them)."""

    def on_event(kind: str, charger_id: str, detail: dict[str, Any]) -> None:
        if kind != "session_started":
            return
        session = controller.site.sessions.get(detail["transaction_id"])
        if session is None:
            return
        now = controller.clock.now()
        for planned in scenario.sessions:
            if (planned.charger_id, planned.connector_id) == (
                charger_id,
                session.connector_id,
            ) and planned.arrival_utc <= now < planned.departure_utc:
                session.overrides.update(
                    departure_utc=planned.departure_utc.isoformat(),
                    energy_kwh=planned.energy_wanted_kwh,
                )
                return

    return on_event


async def run_live(
    settings: DemoSettings,
    config: SiteConfig,
    scenario: Scenario,
    events: list[DemoEvent],
    *,
    progress: bool = True,
) -> LiveResult:
    clock = AcceleratedClock(settings.start_utc(), settings.speed)
    controller = SiteController(config, clock=clock)
    port = await controller.start()
    controller.site.subscribe(_fleet_overrides(controller, scenario))
    for event in events:
        await controller.limits.put(
            event.entry_id,
            source=event.source,
            kind=event.kind,
            spec=event.spec,
            actor=event.source,
        )
    spec = ChargerSpec("template", max_current_a=settings.charger_current_a, meter_interval_s=60)
    sim = SimSite(f"ws://127.0.0.1:{port}/ocpp", scenario, clock, charger_spec=spec)
    bar = tqdm(
        total=int(settings.hours * 60),
        unit="min",
        desc="sitecharge (live)",
        disable=not progress,
        leave=True,
    )
    stop_bar = asyncio.Event()

    async def follow() -> None:
        while not stop_bar.is_set():
            elapsed_min = int((clock.now() - settings.start_utc()).total_seconds() // 60)
            bar.n = max(0, min(bar.total, elapsed_min))
            bar.set_postfix(power_kw=f"{sim.power_now_kw():.0f}", cars=len(sim.active))
            bar.refresh()
            await asyncio.sleep(0.25)

    follower = asyncio.create_task(follow())
    try:
        record = await sim.run(until_utc=settings.end_utc())
    finally:
        stop_bar.set()
        with contextlib.suppress(asyncio.CancelledError):
            await follower
        bar.n = bar.total
        bar.refresh()
        bar.close()
        result_history = list(controller.loop.state.history) if controller.loop else []
        acks = controller.loop.state.acks if controller.loop else 0
        rejections = controller.loop.state.rejections if controller.loop else 0
        await controller.stop()
    return LiveResult(record, result_history, acks, rejections)
