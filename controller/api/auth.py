"""Bearer tokens and roles.

The config holds only PBKDF2 hashes of the tokens. Checking a token against every hash is
slow on purpose, so it runs on a worker thread (the OCPP server shares this event loop) and
its outcome is remembered under a keyed digest of the token, never the token itself.
Roles: ``viewer`` reads, ``operator`` reads and changes caps, overrides and re-plans,
``utility`` sends demand-response events and reads those and the site.
"""

from __future__ import annotations

import asyncio
import hmac
import secrets
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from controller.config import ApiToken
from controller.security import verify_secret

VIEWER, OPERATOR, UTILITY = "viewer", "operator", "utility"
READERS = (VIEWER, OPERATOR)
_REJECTED_MEMORY = 1024

bearer = HTTPBearer(auto_error=False, description="A token from the site config's [api] tokens")


class TokenBook:
    """Finds the configured token a presented secret belongs to."""

    def __init__(self, tokens: Iterable[ApiToken]) -> None:
        self.tokens = tuple(tokens)
        self._key = secrets.token_bytes(32)
        self._known: dict[bytes, ApiToken] = {}
        self._rejected: OrderedDict[bytes, None] = OrderedDict()

    def _fingerprint(self, secret: str) -> bytes:
        return hmac.new(self._key, secret.encode(), "sha256").digest()

    def _search(self, secret: str) -> ApiToken | None:
        for token in self.tokens:
            if verify_secret(secret, token.token_hash):
                return token
        return None

    async def identify(self, secret: str) -> ApiToken | None:
        fingerprint = self._fingerprint(secret)
        known = self._known.get(fingerprint)
        if known is not None:
            return known
        if fingerprint in self._rejected:
            return None
        token = await asyncio.to_thread(self._search, secret)
        if token is None:
            self._rejected[fingerprint] = None
            while len(self._rejected) > _REJECTED_MEMORY:
                self._rejected.popitem(last=False)
        else:
            self._known[fingerprint] = token
        return token


def _unauthorized(message: str) -> HTTPException:
    return HTTPException(401, message, headers={"WWW-Authenticate": "Bearer"})


ANONYMOUS = ApiToken(name="anonymous", role=VIEWER, token_hash="")


def _anonymous_read(request: Request) -> bool:
    """The site file's ``[api] anonymous_read``: read without a token (trusted networks)."""
    return bool(request.app.state.controller.config.api.anonymous_read)


def require(*roles: str) -> Callable[..., Awaitable[ApiToken]]:
    """A dependency that returns the caller's token if its role is one of ``roles``."""

    async def dependency(
        request: Request,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    ) -> ApiToken:
        if credentials is None and VIEWER in roles and _anonymous_read(request):
            return ANONYMOUS
        if credentials is None or credentials.scheme.lower() != "bearer":
            raise _unauthorized("missing bearer token (Authorization: Bearer <token>)")
        book: TokenBook = request.app.state.tokens
        token = await book.identify(credentials.credentials)
        if token is None:
            raise _unauthorized("unknown token")
        if token.role not in roles:
            raise HTTPException(
                403, f"role {token.role!r} may not do this (needs one of {', '.join(roles)})"
            )
        return token

    dependency.__name__ = f"require_{'_or_'.join(roles)}"
    return dependency


Reader = Annotated[ApiToken, Depends(require(*READERS))]
AnyRole = Annotated[ApiToken, Depends(require(VIEWER, OPERATOR, UTILITY))]
Operator = Annotated[ApiToken, Depends(require(OPERATOR))]
Utility = Annotated[ApiToken, Depends(require(UTILITY))]
