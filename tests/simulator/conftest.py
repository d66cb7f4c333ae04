"""A tiny OCPP 1.6J central system for the simulator's socket tests.

It answers what a charger sends, keeps every message it got per charger, and lets a test call
the charger (SetChargingProfile, GetCompositeSchedule, ...) through ``server.cps[id]``.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections import defaultdict
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest
from ocpp.routing import on
from ocpp.v16 import ChargePoint, call_result
from ocpp.v16.enums import Action
from websockets.asyncio.server import serve


class CentralSystemCP(ChargePoint):
    def __init__(self, cp_id: str, ws: Any, server: MiniCentralSystem) -> None:
        super().__init__(cp_id, ws, response_timeout=5)
        self.server = server

    def _log(self, action: str, payload: dict[str, Any]) -> None:
        self.server.messages[self.id].append((action, payload))
        self.server.new_message.set()

    @on(Action.boot_notification)
    def on_boot(self, **kw: Any) -> Any:
        self._log("BootNotification", kw)
        return call_result.BootNotification(
            current_time=datetime.now(UTC).isoformat(), interval=300, status="Accepted"
        )

    @on(Action.heartbeat)
    def on_heartbeat(self, **kw: Any) -> Any:
        self._log("Heartbeat", kw)
        return call_result.Heartbeat(current_time=datetime.now(UTC).isoformat())

    @on(Action.status_notification)
    def on_status(self, **kw: Any) -> Any:
        self._log("StatusNotification", kw)
        return call_result.StatusNotification()

    @on(Action.authorize)
    def on_authorize(self, **kw: Any) -> Any:
        self._log("Authorize", kw)
        return call_result.Authorize(id_tag_info={"status": "Accepted"})

    @on(Action.start_transaction)
    def on_start(self, **kw: Any) -> Any:
        self._log("StartTransaction", kw)
        tx_id = next(self.server.tx_ids)
        return call_result.StartTransaction(
            transaction_id=tx_id, id_tag_info={"status": "Accepted"}
        )

    @on(Action.meter_values)
    def on_meter_values(self, **kw: Any) -> Any:
        self._log("MeterValues", kw)
        return call_result.MeterValues()

    @on(Action.stop_transaction)
    def on_stop(self, **kw: Any) -> Any:
        self._log("StopTransaction", kw)
        return call_result.StopTransaction(id_tag_info={"status": "Accepted"})


@dataclass
class MiniCentralSystem:
    url: str = ""
    cps: dict[str, CentralSystemCP] = field(default_factory=dict)
    messages: dict[str, list[tuple[str, dict[str, Any]]]] = field(
        default_factory=lambda: defaultdict(list)
    )
    auth_headers: dict[str, str | None] = field(default_factory=dict)
    tx_ids: Any = field(default_factory=lambda: itertools.count(100))
    connected: asyncio.Event = field(default_factory=asyncio.Event)
    new_message: asyncio.Event = field(default_factory=asyncio.Event)

    def of(self, cp_id: str, action: str) -> list[dict[str, Any]]:
        return [p for a, p in self.messages[cp_id] if a == action]

    async def wait_for(self, cp_id: str, action: str, count: int = 1, timeout_s: float = 5) -> None:
        async def poll() -> None:
            while len(self.of(cp_id, action)) < count:
                self.new_message.clear()
                await self.new_message.wait()

        await asyncio.wait_for(poll(), timeout_s)


@pytest.fixture
async def central_system() -> AsyncIterator[MiniCentralSystem]:
    async with running_central_system() as system:
        yield system


@contextlib.asynccontextmanager
async def running_central_system() -> AsyncIterator[MiniCentralSystem]:
    """The central system on a free loopback port, on whatever loop runs the caller (the
    event-stepped one included)."""
    system = MiniCentralSystem()

    async def handler(ws: Any) -> None:
        cp_id = ws.request.path.rstrip("/").split("/")[-1]
        system.auth_headers[cp_id] = ws.request.headers.get("Authorization")
        cp = CentralSystemCP(cp_id, ws, system)
        system.cps[cp_id] = cp
        system.connected.set()
        try:
            await cp.start()
        except Exception:  # connection closed: the charger reconnects on its own
            return

    async with serve(handler, "127.0.0.1", 0, subprotocols=["ocpp1.6"]) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        system.url = f"ws://127.0.0.1:{port}/ocpp"
        yield system
