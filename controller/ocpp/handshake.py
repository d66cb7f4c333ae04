"""The websocket handshake of a charger: which charger the path names, which OCPP version it
speaks, and whether it may connect at all (known or admitted, password, room, rate)."""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any
from urllib.parse import unquote

from websockets.asyncio.server import ServerConnection
from websockets.http11 import Request, Response

from controller.config import SiteConfig
from controller.ocpp.edge import EdgeStats
from controller.ocpp.gate import Gate, HandshakeRefused
from controller.site import SiteState

log = logging.getLogger(__name__)

SUBPROTOCOL = "ocpp1.6"
SUBPROTOCOL_V201 = "ocpp2.0.1"
SUBPROTOCOLS = (SUBPROTOCOL_V201, SUBPROTOCOL)  # in order of preference
MAX_CHARGER_ID_CHARS = 48  # OCPP 1.6: chargeBoxIdentity is CiString48


class Handshake:
    """Decides each connection attempt before the websocket is accepted."""

    def __init__(self, config: SiteConfig, site: SiteState, gate: Gate, stats: EdgeStats):
        self.config = config
        self.site = site
        self.gate = gate
        self.stats = stats

    def charger_id_from_path(self, path: str) -> str | None:
        prefix = self.config.ocpp.path_prefix + "/"
        raw = path.split("?", 1)[0]
        if not raw.startswith(prefix):
            return None
        charger_id = unquote(raw[len(prefix) :])
        if not charger_id or "/" in charger_id or len(charger_id) > MAX_CHARGER_ID_CHARS:
            return None
        return charger_id

    async def process_request(
        self, connection: ServerConnection, request: Request
    ) -> Response | None:
        """None to accept; otherwise the HTTP answer that refuses (with its reason)."""
        try:
            return await self._admit(connection, request)
        except HandshakeRefused as refused:
            self.stats.refused_connections[str(refused.status)] += 1
            log.warning(
                "%.48s: connection from %s refused: %s",
                self.charger_id_from_path(request.path),
                source(connection),
                refused.reason,
            )
            response = connection.respond(HTTPStatus(refused.status), refused.reason + "\n")
            if refused.status == HTTPStatus.UNAUTHORIZED:
                response.headers["WWW-Authenticate"] = 'Basic realm="sitecharge"'
            if refused.retry_after_s is not None:
                response.headers["Retry-After"] = str(max(1, round(refused.retry_after_s)))
            return response

    async def _admit(self, connection: ServerConnection, request: Request) -> Response | None:
        charger_id = self.charger_id_from_path(request.path)
        if charger_id is None:
            return connection.respond(
                HTTPStatus.NOT_FOUND,
                f"no charge point at {request.path}: use {self.config.ocpp.path_prefix}/<id>\n",
            )
        self.gate.check_capacity(source(connection))
        offered = [
            p.strip()
            for value in request.headers.get_all("Sec-WebSocket-Protocol")
            for p in value.split(",")
        ]
        if self.choose_subprotocol(charger_id, offered) is None:
            allowed = self.allowed_subprotocols(charger_id)
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
                request.headers, charger_id, configured.password_hash, source(connection)
            )
        return None

    def allowed_subprotocols(self, charger_id: str) -> tuple[str, ...]:
        """Both versions, unless the site file pins the charger to one."""
        configured = self.config.charger(charger_id)
        if configured is None or configured.ocpp_version is None:
            return SUBPROTOCOLS
        return (f"ocpp{configured.ocpp_version}",)

    def choose_subprotocol(self, charger_id: str, offered: list[str]) -> str | None:
        for subprotocol in self.allowed_subprotocols(charger_id):
            if subprotocol in offered:
                return subprotocol
        return None

    def select_subprotocol(self, connection: ServerConnection, offered: Any) -> Any:
        charger_id = self.charger_id_from_path(connection.request.path) or ""
        return self.choose_subprotocol(charger_id, list(offered))


def source(connection: ServerConnection) -> str:
    """The peer's address, for the per-address limits and the log."""
    address = connection.remote_address
    return str(address[0]) if address else "?"
