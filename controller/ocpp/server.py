"""The OCPP central system: the websocket server and the registry of live connections.

One server speaks 1.6J and 2.0.1: the subprotocol is negotiated per connection (2.0.1 when a
charger offers it, unless the site file pins the charger to 1.6), and each version has its own
handler module behind the same site model.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from controller.async_store import AsyncStore
from controller.authorization import Authorizer
from controller.clock import Clock
from controller.config import SiteConfig
from controller.ocpp.edge import EdgeStats
from controller.ocpp.errors import ChargerOffline
from controller.ocpp.frame_log import frame_recorder
from controller.ocpp.gate import Gate
from controller.ocpp.handshake import SUBPROTOCOL_V201, SUBPROTOCOLS, Handshake, source
from controller.ocpp.outbound import ChargerRequests
from controller.ocpp.sessions import SessionKeeper, charger_voltage_v
from controller.ocpp.v16_handlers import CentralChargePoint
from controller.ocpp.v16_setup import configure_charger
from controller.ocpp.v201_handlers import V201CentralChargePoint
from controller.site import SessionState, SiteState

log = logging.getLogger(__name__)

RECONNECT_BOOT_GRACE_S = 10.0  # a charger that has not booted by then reconnected without [s]


DataTransferHandler = Callable[[str, str | None, str | None], Awaitable[tuple[str, str | None]]]
ReadyListener = Callable[[str], Awaitable[None]]


class CentralSystem:
    """Accepts chargers, keeps one live connection per charger id, and sends requests."""

    def __init__(self, config: SiteConfig, clock: Clock, site: SiteState, store: AsyncStore):
        self.config = config
        self.clock = clock
        self.site = site
        self.store = store
        self.authorizer = Authorizer(config.authorization)
        self.connections: dict[str, CentralChargePoint | V201CentralChargePoint] = {}
        self.data_transfer_handlers: dict[str, DataTransferHandler] = {}
        self.ready_listeners: list[ReadyListener] = []
        self._without_boot: dict[str, datetime] = {}  # reconnected without a boot: since
        self.gate = Gate(config.ocpp.limits)
        self.stats = EdgeStats()
        self.handshake = Handshake(config, site, self.gate, self.stats)
        self.sessions = SessionKeeper(config, site, store, self.authorizer)
        self._server: Server | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self.port: int | None = None

    # lifecycle ---------------------------------------------------------------------------
    async def restore(self) -> int:
        """Load open sessions from the store, so they continue when chargers reconnect."""
        return await self.sessions.restore()

    async def start(self, host: str | None = None, port: int | None = None) -> int:
        ocpp_cfg = self.config.ocpp
        ssl_context = None
        if ocpp_cfg.tls is not None:
            ssl_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            ssl_context.load_cert_chain(
                self.config.resolve(ocpp_cfg.tls.cert_file),
                self.config.resolve(ocpp_cfg.tls.key_file),
            )
        self._server = await serve(
            self._handle_connection,
            host if host is not None else ocpp_cfg.host,
            port if port is not None else ocpp_cfg.port,
            subprotocols=list(SUBPROTOCOLS),
            select_subprotocol=self.handshake.select_subprotocol,
            process_request=self.handshake.process_request,
            ssl=ssl_context,
            ping_interval=60,
            ping_timeout=60,
            max_size=ocpp_cfg.limits.max_frame_bytes,
            compression=None,
        )
        self.port = next(iter(self._server.sockets)).getsockname()[1]
        for warning in self.config.security_warnings():
            log.warning("security: %s", warning)
        if ssl_context is None and not any(c.password_hash for c in self.config.chargers):
            log.warning(
                "security: no TLS and no charger passwords (a lab set-up): anyone who can "
                "reach this port can act as any listed charger"
            )
        self._spawn(self._watchdog(), "ocpp-watchdog")
        scheme = "wss" if ssl_context else "ws"
        log.info(
            "OCPP 1.6J/2.0.1 central system on %s://%s:%s%s/<chargePointId>",
            scheme,
            host or ocpp_cfg.host,
            self.port,
            ocpp_cfg.path_prefix,
        )
        return self.port

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def _spawn(self, coro: Awaitable[Any], name: str) -> asyncio.Task[Any]:
        task = asyncio.ensure_future(coro)
        task.set_name(name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    # connections -------------------------------------------------------------------------
    async def _handle_connection(self, connection: ServerConnection) -> None:
        address = source(connection)
        self.gate.opened(address)
        try:
            await self._serve_charger(connection)
        finally:
            self.gate.closed(address)

    async def _serve_charger(self, connection: ServerConnection) -> None:
        charger_id = self.handshake.charger_id_from_path(connection.request.path)
        assert charger_id is not None  # checked in the handshake
        previous = self.connections.get(charger_id)
        version_201 = connection.subprotocol == SUBPROTOCOL_V201
        handler_class = V201CentralChargePoint if version_201 else CentralChargePoint
        charge_point = handler_class(charger_id, connection, self)
        self.site.charger(charger_id).ocpp_version = "2.0.1" if version_201 else "1.6"
        self.connections[charger_id] = charge_point
        if previous is not None:
            log.info("%s: new connection replaces the previous one", charger_id)
            await previous._connection.close(code=1000, reason="replaced by a new connection")
        self.site.mark_seen(charger_id, self.clock.now())
        self._spawn(
            self._reconcile_unless_booting(charger_id, charge_point, self.clock.now()),
            f"reconcile-{charger_id}",
        )
        log.info(
            "%s: connected from %s (%s)",
            charger_id,
            connection.remote_address,
            connection.subprotocol,
        )
        try:
            await charge_point.start()
        except ConnectionClosed:
            pass
        finally:
            if self.connections.get(charger_id) is charge_point:
                del self.connections[charger_id]
                self.site.mark_offline(charger_id, "connection closed")

    def frame_sink(self, charger_id: str) -> Callable[[str, str], None]:
        return frame_recorder(self.store, self.clock, charger_id)

    def requests(self, charger_id: str) -> ChargerRequests:
        charge_point = self.connections.get(charger_id)
        if charge_point is None:
            raise ChargerOffline(charger_id, "request", "not connected")
        factory = getattr(charge_point, "requests_factory", ChargerRequests)
        return factory(charge_point)

    def voltage_v(self, charger_id: str) -> float:
        return charger_voltage_v(self.config, charger_id)

    async def _reconcile_unless_booting(
        self, charger_id: str, charge_point: Any, connected_utc: datetime
    ) -> None:
        """Most chargers reconnect after a central-system restart without booting: whatever
        the controller does after a boot (read the configuration, set the standing default,
        re-send the session's profile) is done for them too, once they have had the time to
        boot and did not."""
        await self.clock.sleep(RECONNECT_BOOT_GRACE_S)
        if self.connections.get(charger_id) is not charge_point:
            return
        state = self.site.charger(charger_id)
        if state.last_boot_utc is not None and state.last_boot_utc >= connected_utc:
            return
        log.info(
            "%s: reconnected without a BootNotification; reading its configuration and "
            "re-sending its profiles",
            charger_id,
        )
        state.booted = True
        self._without_boot[charger_id] = self.clock.now()
        configure = getattr(charge_point, "configure_after_reconnect", None)
        await self.charger_booted(charger_id, configure)

    # after a boot ------------------------------------------------------------------------
    async def charger_booted(
        self, charger_id: str, configure: Callable[[str], Awaitable[None]] | None = None
    ) -> None:
        """Configure the charger in the background (``configure``: a version's own way)."""
        configure = configure or (lambda cid: configure_charger(self, cid))
        self._spawn(configure(charger_id), f"configure-{charger_id}")

    def reconnected_without_boot(self, charger_id: str) -> bool:
        """Whether the charger's coming ready is a reconnect without a boot (asked once):
        its profiles may have survived, so what it holds is asked, not assumed lost."""
        since = self._without_boot.pop(charger_id, None)
        if since is None:
            return False
        booted_utc = self.site.charger(charger_id).last_boot_utc
        return booted_utc is None or booted_utc < since

    async def charger_ready(self, charger_id: str) -> None:
        """Configured (or tried): the loop may now send its standing default and plans."""
        self.site.emit("charger_ready", charger_id)
        for listener in self.ready_listeners:
            try:
                await listener(charger_id)
            except Exception:
                log.exception("%s: ready listener failed", charger_id)

    # sessions ----------------------------------------------------------------------------
    async def finish_session(
        self, session: SessionState, *, stop_utc: datetime, meter_stop_wh: float | None, reason: str
    ) -> None:
        await self.sessions.finish(
            session, stop_utc=stop_utc, meter_stop_wh=meter_stop_wh, reason=reason
        )

    async def persist_sessions(self) -> None:
        """Write the open sessions' progress, so a restart resumes from recent values."""
        await self.sessions.persist()

    async def _watchdog(self) -> None:
        heartbeat_s = self.config.ocpp.heartbeat_interval_s
        silence_s = heartbeat_s * self.config.ocpp.offline_after_missed_heartbeats
        check_every_s = max(5.0, min(60.0, heartbeat_s / 2))
        ticks = 0
        while True:
            await self.clock.sleep(check_every_s)
            ticks += 1
            now = self.clock.now()
            self.site.expire_silent(now, silence_s)
            try:
                await self.persist_sessions()
                if ticks % max(1, int(3600 / check_every_s)) == 0:
                    store_cfg = self.config.store
                    await self.store.run(
                        self.store.store.prune,
                        now,
                        meter_days=store_cfg.meter_value_retention_days,
                        audit_days=store_cfg.audit_retention_days,
                    )
            except Exception:
                log.exception("watchdog: store maintenance failed")
