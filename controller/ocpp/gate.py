"""The handshake's gate: connection limits, and password checks that cannot stall the loop.

PBKDF2 is slow on purpose, so it runs on a thread; successes are remembered (by a keyed
digest, in ``SecretVerifier``), and repeated failures per charger id and per source address
are slowed down with a growing, bounded backoff: never a permanent lockout that a test or a
neighbour's misconfigured charger could trigger for good.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import time
from collections import Counter
from dataclasses import dataclass, field

from websockets.datastructures import Headers, MultipleValuesError

from controller.config import OcppLimits
from controller.security import SecretVerifier


class HandshakeRefused(Exception):
    """The handshake is answered with ``status``; ``retry_after_s`` for a 429/503."""

    def __init__(self, status: int, reason: str, retry_after_s: float | None = None) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason
        self.retry_after_s = retry_after_s


@dataclass
class _Failures:
    count: int = 0
    blocked_until_s: float = 0.0  # time.monotonic()


@dataclass
class Gate:
    limits: OcppLimits
    verifier: SecretVerifier = field(default_factory=SecretVerifier)
    open_by_source: Counter[str] = field(default_factory=Counter)
    _failures: dict[str, _Failures] = field(default_factory=dict)

    # connection counts ---------------------------------------------------------------
    @property
    def open_total(self) -> int:
        return sum(self.open_by_source.values())

    def check_capacity(self, source: str) -> None:
        if self.open_total >= self.limits.max_connections:
            raise HandshakeRefused(503, "too many connections", retry_after_s=30)
        if self.open_by_source[source] >= self.limits.max_connections_per_source:
            raise HandshakeRefused(503, "too many connections from this address", 30)

    def opened(self, source: str) -> None:
        self.open_by_source[source] += 1

    def closed(self, source: str) -> None:
        self.open_by_source[source] -= 1
        if self.open_by_source[source] <= 0:
            del self.open_by_source[source]

    # passwords -----------------------------------------------------------------------
    async def authenticate(
        self, headers: Headers, charger_id: str, password_hash: str, source: str
    ) -> None:
        """Return if the Basic credentials are right; raise HandshakeRefused otherwise."""
        keys = (f"id:{charger_id}", f"source:{source}")
        now_s = time.monotonic()
        waits = [self._failures[k].blocked_until_s - now_s for k in keys if k in self._failures]
        if waits and max(waits) > 0:
            raise HandshakeRefused(429, "too many failed attempts", retry_after_s=max(waits))
        password = _basic_password(headers, charger_id)
        ok = password is not None and await asyncio.to_thread(
            self.verifier.verify, password, password_hash
        )
        if ok:  # a success from an address also clears it for its neighbours
            for key in keys:
                self._failures.pop(key, None)
            return
        for key in keys:
            self._fail(key)
        raise HandshakeRefused(401, "authentication failed")

    def _fail(self, key: str) -> None:
        failures = self._failures.setdefault(key, _Failures())
        failures.count += 1
        # A source address may hold many chargers (NAT): it gets more free attempts.
        free = self.limits.auth_free_failures * (4 if key.startswith("source:") else 1)
        over = failures.count - free
        if over > 0:
            delay_s = min(2.0 ** (over - 1), self.limits.auth_backoff_max_s)
            failures.blocked_until_s = time.monotonic() + delay_s
        if len(self._failures) > 100_000:  # bounded memory under a spray of ids
            self._failures.clear()


def _basic_password(headers: Headers, charger_id: str) -> str | None:
    try:
        header = headers.get("Authorization", "")
    except MultipleValuesError:
        raise HandshakeRefused(400, "more than one Authorization header") from None
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        username, _, password = base64.b64decode(encoded, validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    return password if username == charger_id else None
