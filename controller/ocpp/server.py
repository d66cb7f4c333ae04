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
from http import HTTPStatus
from typing import Any
from urllib.parse import unquote

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from controller.async_store import AsyncStore
from controller.authorization import Authorizer
from controller.clock import Clock
from controller.config import SiteConfig
from controller.ocpp.edge import EdgeStats
from controller.ocpp.errors import ChargerOffline
from controller.ocpp.gate import Gate, HandshakeRefused
from controller.ocpp.outbound import ChargerRequests
from controller.ocpp.v16_handlers import CentralChargePoint
from controller.ocpp.v16_setup import configure_charger
from controller.ocpp.v201_handlers import V201CentralChargePoint
from controller.site import SessionState, SiteState
from controller.store import ocpp_messages
from controller.units import kw_from_a

log = logging.getLogger(__name__)

RECONNECT_BOOT_GRACE_S = 10.0  # a charger that has not booted by then reconnected without [s]

SUBPROTOCOL = "ocpp1.6"
SUBPROTOCOL_V201 = "ocpp2.0.1"
SUBPROTOCOLS = (SUBPROTOCOL_V201, SUBPROTOCOL)  # in order of preference


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
        self.gate = Gate(config.ocpp.limits)
        self.stats = EdgeStats()
        self._server: Server | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self.port: int | None = None

    # lifecycle ---------------------------------------------------------------------------
    async def restore(self) -> int:
        """Load open sessions from the store, so they continue when chargers reconnect."""
        rows = await self.store.run(self.store.store.open_sessions)
        for row in rows:
            session = SessionState(
                transaction_id=row["transaction_id"],
                charger_id=row["charger_id"],
                connector_id=row["connector_id"],
                id_tag=row["id_tag"],
                start_utc=row["start_utc"],
                meter_start_wh=row["meter_start_wh"],
                energy_kwh=row["energy_kwh"] or 0.0,
                power_kw=row["last_power_kw"],
                soc_percent=row["soc_percent"],
                overrides=row["overrides"] or {},
                id_tag_group=self.authorizer.group(row["id_tag"]),
                ocpp_transaction_id=row.get("ocpp_transaction_id"),
            )
            self.site.sessions[session.transaction_id] = session
        if rows:
            log.info("restored %d open sessions from the store", len(rows))
        return len(rows)

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
            select_subprotocol=self._select_subprotocol,
            process_request=self._process_request,
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

    # the handshake -----------------------------------------------------------------------
    def _charger_id_from_path(self, path: str) -> str | None:
        prefix = self.config.ocpp.path_prefix + "/"
        raw = path.split("?", 1)[0]
        if not raw.startswith(prefix):
            return None
        charger_id = unquote(raw[len(prefix) :])
        if not charger_id or "/" in charger_id or len(charger_id) > 48:
            return None
        return charger_id

    async def _process_request(
        self, connection: ServerConnection, request: Request
    ) -> Response | None:
        try:
            return await self._admit(connection, request)
        except HandshakeRefused as refused:
            self.stats.refused_connections[str(refused.status)] += 1
            log.warning(
                "%.48s: connection from %s refused: %s",
                self._charger_id_from_path(request.path),
                _source(connection),
                refused.reason,
            )
            response = connection.respond(HTTPStatus(refused.status), refused.reason + "\n")
            if refused.status == HTTPStatus.UNAUTHORIZED:
                response.headers["WWW-Authenticate"] = 'Basic realm="sitecharge"'
            if refused.retry_after_s is not None:
                response.headers["Retry-After"] = str(max(1, round(refused.retry_after_s)))
            return response

    async def _admit(self, connection: ServerConnection, request: Request) -> Response | None:
        charger_id = self._charger_id_from_path(request.path)
        if charger_id is None:
            return connection.respond(
                HTTPStatus.NOT_FOUND,
                f"no charge point at {request.path}: use {self.config.ocpp.path_prefix}/<id>\n",
            )
        self.gate.check_capacity(_source(connection))
        offered = [
            p.strip()
            for value in request.headers.get_all("Sec-WebSocket-Protocol")
            for p in value.split(",")
        ]
        if self._choose_subprotocol(charger_id, offered) is None:
            allowed = self._allowed_subprotocols(charger_id)
            log.warning(
                "%s: connection refused: offers %s, allowed %s", charger_id, offered, allowed
            )
            return connection.respond(
                HTTPStatus.BAD_REQUEST,
                f"unsupported or missing subprotocol {offered}: {charger_id} may speak "
                f"{', '.join(allowed)}\n",
            )
        configured = self.config.charger(charger_id)
        if configured is None and not self.config.ocpp.allow_unknown_chargers:
            log.warning("%s: connection refused: unknown charge point id", charger_id)
            return connection.respond(HTTPStatus.NOT_FOUND, f"unknown charge point {charger_id}\n")
        if configured is None and charger_id not in self.site.chargers:
            unlisted = len(self.site.chargers) - len(self.config.chargers)
            if unlisted >= self.config.ocpp.limits.max_unknown_chargers:
                raise HandshakeRefused(503, "no room for more unlisted chargers", 300)
        if configured is not None and configured.password_hash:
            await self.gate.authenticate(
                request.headers, charger_id, configured.password_hash, _source(connection)
            )
        return None

    def _allowed_subprotocols(self, charger_id: str) -> tuple[str, ...]:
        configured = self.config.charger(charger_id)
        if configured is None or configured.ocpp_version is None:
            return SUBPROTOCOLS
        return (f"ocpp{configured.ocpp_version}",)

    def _choose_subprotocol(self, charger_id: str, offered: list[str]) -> str | None:
        for subprotocol in self._allowed_subprotocols(charger_id):
            if subprotocol in offered:
                return subprotocol
        return None

    def _select_subprotocol(self, connection: ServerConnection, offered: Any) -> Any:
        charger_id = self._charger_id_from_path(connection.request.path) or ""
        return self._choose_subprotocol(charger_id, list(offered))

    # connections -------------------------------------------------------------------------
    async def _handle_connection(self, connection: ServerConnection) -> None:
        source = _source(connection)
        self.gate.opened(source)
        try:
            await self._serve_charger(connection)
        finally:
            self.gate.closed(source)

    async def _serve_charger(self, connection: ServerConnection) -> None:
        charger_id = self._charger_id_from_path(connection.request.path)
        assert charger_id is not None  # checked in _process_request
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
        def record(direction: str, frame: str) -> None:
            frame = storable_text(frame)
            self.store.enqueue(
                ocpp_messages,
                [
                    {
                        "at_utc": self.clock.now(),
                        "charger_id": charger_id,
                        "direction": direction,
                        "frame": frame,
                    }
                ],
            )

        return record

    def requests(self, charger_id: str) -> ChargerRequests:
        charge_point = self.connections.get(charger_id)
        if charge_point is None:
            raise ChargerOffline(charger_id, "request", "not connected")
        factory = getattr(charge_point, "requests_factory", ChargerRequests)
        return factory(charge_point)

    def voltage_v(self, charger_id: str) -> float:
        configured = self.config.charger(charger_id)
        if configured is None:
            return self.config.site.voltage_v
        return self.config.charger_voltage_v(configured)

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
        configure = getattr(charge_point, "configure_after_reconnect", None)
        await self.charger_booted(charger_id, configure)

    # after a boot ------------------------------------------------------------------------
    async def charger_booted(
        self, charger_id: str, configure: Callable[[str], Awaitable[None]] | None = None
    ) -> None:
        """Configure the charger in the background (``configure``: a version's own way)."""
        configure = configure or (lambda cid: configure_charger(self, cid))
        self._spawn(configure(charger_id), f"configure-{charger_id}")

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
        if meter_stop_wh is not None:
            # meterStop - meterStart is the session's energy, where the charger could have
            # delivered it; otherwise what the readings added up to stands.
            start_wh = session.meter_start_wh
            energy_wh = meter_stop_wh - start_wh if meter_stop_wh >= start_wh else meter_stop_wh
            hours = max(0.0, (stop_utc - session.start_utc).total_seconds() / 3600.0)
            charger = self.site.charger_config(session.charger_id)
            rating_kw = (
                kw_from_a(charger.max_current_a, charger.phases, self.voltage_v(charger.id))
                if charger is not None
                else float("inf")
            )
            if energy_wh / 1000.0 <= 1.25 * rating_kw * hours + 0.05:
                session.energy_kwh = energy_wh / 1000.0
            else:
                log.warning(
                    "%s: transaction %d: meterStop - meterStart = %.3f kWh is more than the "
                    "charger can deliver in %.2f h; the readings' %.3f kWh stand",
                    session.charger_id,
                    session.transaction_id,
                    energy_wh / 1000.0,
                    hours,
                    session.energy_kwh,
                )
        session.stop_utc = stop_utc
        session.stop_reason = reason
        session.power_kw = 0.0
        self.site.close_session(session.transaction_id)
        await self.store.run(
            self.store.store.update_session,
            session.transaction_id,
            stop_utc=stop_utc,
            meter_stop_wh=meter_stop_wh,
            stop_reason=reason,
            energy_kwh=session.energy_kwh,
            last_power_kw=0.0,
            soc_percent=session.soc_percent,
        )
        log.info(
            "%s: transaction %d stopped (%s), %.2f kWh",
            session.charger_id,
            session.transaction_id,
            reason,
            session.energy_kwh,
        )

    async def persist_sessions(self) -> None:
        """Write the open sessions' progress, so a restart resumes from recent values."""
        changes = [
            (
                session.transaction_id,
                {
                    "energy_kwh": session.energy_kwh,
                    "last_power_kw": session.power_kw,
                    "soc_percent": session.soc_percent,
                    "overrides": session.overrides or None,
                },
            )
            for session in list(self.site.sessions.values())
        ]
        if changes:  # one transaction for all of them
            await self.store.run(self.store.store.update_sessions, changes)

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


def _source(connection: ServerConnection) -> str:
    address = connection.remote_address
    return str(address[0]) if address else "?"


MAX_STORED_FRAME_CHARS = 65_536  # the audit trail keeps the start of a bigger frame


def storable_text(text: str) -> str:
    """``text`` as both databases store it: no NUL, no lone surrogates (escaped instead)."""
    if len(text) > MAX_STORED_FRAME_CHARS:
        text = f"{text[:MAX_STORED_FRAME_CHARS]}...[{len(text)} characters]"
    if "\x00" in text:
        text = text.replace("\x00", "\\u0000")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = text.encode("utf-8", errors="backslashreplace").decode("utf-8")
    return text
