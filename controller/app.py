"""Composition root: builds and wires the parts; the only module that knows them all."""

from __future__ import annotations

import logging

from controller.clock import Clock, RealClock
from controller.config import SiteConfig
from controller.ocpp.server import CentralSystem
from controller.site import SiteState
from controller.store import AsyncStore, Store

log = logging.getLogger(__name__)


class SiteController:
    """One site's controller: the OCPP central system, its state and its store."""

    def __init__(self, config: SiteConfig, *, clock: Clock | None = None) -> None:
        self.config = config
        self.clock = clock or RealClock()
        self.site = SiteState(config)
        self.store = AsyncStore(Store(config.store_url()))
        self.central = CentralSystem(config, self.clock, self.site, self.store)

    async def start(self, *, host: str | None = None, port: int | None = None) -> int:
        """Restore state, start the OCPP server; returns the port it listens on."""
        self.store.start()
        await self.central.restore()
        return await self.central.start(host, port)

    async def stop(self) -> None:
        await self.central.stop()
        await self.central.persist_sessions()
        await self.store.close()
