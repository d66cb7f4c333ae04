"""Composition root: builds and wires the parts; the only module that knows them all."""

from __future__ import annotations

import logging
from typing import Any

from controller.api.server import ApiStartError, start_api, stop_api
from controller.async_store import AsyncStore
from controller.clock import Clock, RealClock
from controller.config import ConfigError, SiteConfig
from controller.dr import DrConfigError, start_dr_sources, stop_dr_sources, validate_dr_config
from controller.history import HistorySampler
from controller.limit_book import LimitBook
from controller.loop import ControlLoop
from controller.loop.planner import Planner
from controller.ocpp.server import CentralSystem
from controller.pricing import PriceSource
from controller.schedule import build_scheduler
from controller.site import SiteState
from controller.store import Store

log = logging.getLogger(__name__)


class SiteController:
    """One site's controller: OCPP central system, state, store, limits, prices, control
    loop, operator API and demand-response sources, on one asyncio loop."""

    def __init__(
        self,
        config: SiteConfig,
        *,
        clock: Clock | None = None,
        control: bool = True,
        method: str = "optimal",
        planner: Planner | None = None,
    ) -> None:
        try:
            validate_dr_config(config)
        except DrConfigError as exc:
            raise ConfigError(str(exc)) from None
        self.config = config
        self.clock = clock or RealClock()
        self.site = SiteState(config)
        self.store = AsyncStore(Store(config.store_url()))
        self.central = CentralSystem(config, self.clock, self.site, self.store)
        self.limits = LimitBook(self.clock, self.store, config.site.timezone)
        self.prices = PriceSource(config, self.clock.now())
        self.loop = (
            ControlLoop(
                config,
                self.clock,
                self.site,
                self.central,
                self.limits,
                self.prices,
                method=method,
                planner=planner,
            )
            if control
            else None
        )
        self.history = HistorySampler(
            self,
            sample_s=config.history.sample_s,
            retention_days=config.history.retention_days,
        )
        self.dr_sources: list[Any] = []
        self.api_port: int | None = None
        self._api: tuple[Any, Any] | None = None
        self._scheduler: Any = None

    @property
    def real_time(self) -> bool:
        return isinstance(self.clock, RealClock)

    async def start(self, *, host: str | None = None, port: int | None = None) -> int:
        """Restore state, start the OCPP server, the loop, the API and DR; returns the OCPP port."""
        self.store.start()
        await self.central.restore()
        if self.loop is not None:
            await self.loop.restore()
        await self.limits.restore()
        ocpp_port = await self.central.start(host, port)
        if self.loop is not None:
            # Under an accelerated clock the clock drives the interval; apscheduler reads
            # real time, so it drives the interval only in real time.
            self.loop.start(clock_driven=not self.real_time)
            if self.real_time:
                self._scheduler = build_scheduler(
                    now_utc=self.clock.now(),
                    interval_s=self.config.control.interval_s,
                    on_interval=lambda: self.loop.trigger("interval"),
                    refresh_tariff=self._refresh_tariff,
                )
                self._scheduler.start()
            self.loop.trigger("start")
        await self.history.start()
        if self.config.api.enabled:
            try:
                server, task, self.api_port = await start_api(self)
                self._api = (server, task)
                log.info("operator API on http://%s:%d", self.config.api.host, self.api_port)
            except ApiStartError as exc:
                # Control of the site matters more than the API: keep running without it.
                log.error("%s; running without the operator API", exc)
        self.dr_sources = await start_dr_sources(self)
        return ocpp_port

    def _refresh_tariff(self) -> None:
        if self.prices.reload(self.clock.now()) and self.loop is not None:
            self.loop.trigger("prices_changed")

    async def stop(self) -> None:
        await stop_dr_sources(self.dr_sources)
        if self._api is not None:
            await stop_api(*self._api)
            self._api = None
        if self._scheduler is not None:
            self._scheduler.shutdown(wait=False)
        await self.history.stop()
        if self.loop is not None:
            await self.loop.stop()
        await self.central.stop()
        await self.central.persist_sessions()
        await self.store.close()
