"""Bounds on what one API client may cost: body size (413) and request rate (429).

A pure ASGI middleware: a body over the limit is refused before it is read in full, and a
client (by token, else by address) over its rate gets 429 with ``Retry-After``.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]

_MAX_CLIENTS = 10_000  # buckets kept; beyond that the idle ones are forgotten


class _BodyTooLarge(Exception):
    pass


class ApiGuard:
    def __init__(self, app: App, *, max_body_bytes: int, rate_per_s: float, burst: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.rate_per_s = rate_per_s
        self.burst = float(burst)
        self._buckets: dict[str, tuple[float, float]] = {}  # client -> (tokens, at monotonic)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        wait_s = self._take(_client(scope))
        if wait_s > 0:
            await _answer(
                send, 429, "too many requests", {"retry-after": str(max(1, round(wait_s)))}
            )
            return
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_body_bytes):
            await _answer(send, 413, f"the body is over {self.max_body_bytes} bytes")
            return
        received = 0
        started = False

        async def bounded_receive() -> dict[str, Any]:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body_bytes:
                    raise _BodyTooLarge
            return message

        async def tracking_send(message: dict[str, Any]) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, bounded_receive, tracking_send)
        except _BodyTooLarge:
            if not started:
                await _answer(send, 413, f"the body is over {self.max_body_bytes} bytes")

    def _take(self, client: str) -> float:
        """0 if the request may go on, else the seconds until it could."""
        now_s = time.monotonic()
        tokens, last_s = self._buckets.get(client, (self.burst, now_s))
        tokens = min(self.burst, tokens + (now_s - last_s) * self.rate_per_s)
        if tokens < 1.0:
            self._buckets[client] = (tokens, now_s)
            return (1.0 - tokens) / self.rate_per_s
        if len(self._buckets) >= _MAX_CLIENTS and client not in self._buckets:
            self._buckets.clear()
        self._buckets[client] = (tokens - 1.0, now_s)
        return 0.0


def _client(scope: Scope) -> str:
    """The token if one is given (hashed: never kept), else the source address."""
    for name, value in scope.get("headers") or []:
        if name == b"authorization":
            return "token:" + hashlib.sha256(value).hexdigest()[:32]
    address = scope.get("client")
    return f"address:{address[0] if address else '?'}"


async def _answer(
    send: Send, status: int, message: str, extra: dict[str, str] | None = None
) -> None:
    body = json.dumps({"detail": message, "message": message}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    headers += [(k.encode(), v.encode()) for k, v in (extra or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
