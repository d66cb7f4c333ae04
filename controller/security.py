"""Hashing of charger passwords and API tokens: only hashes are kept in config files."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

_SCHEME = "pbkdf2_sha256"
_ITERATIONS = 120_000


def hash_secret(secret: str, *, iterations: int = _ITERATIONS, salt: bytes | None = None) -> str:
    salt = salt if salt is not None else secrets.token_bytes(16)
    digest = hashlib.pbkdf2_hmac("sha256", secret.encode(), salt, iterations)
    encoded_salt = base64.b64encode(salt).decode()
    return f"{_SCHEME}${iterations}${encoded_salt}${base64.b64encode(digest).decode()}"


class SecretVerifier:
    """Verifies secrets against stored hashes, remembering recent successes.

    PBKDF2 is deliberately slow; 200 chargers reconnecting at once must not cost 200 of those.
    The cache holds a keyed digest of the secret, never the secret itself.
    """

    def __init__(self) -> None:
        self._key = secrets.token_bytes(32)
        self._verified: dict[str, bytes] = {}

    def verify(self, secret: str, stored_hash: str) -> bool:
        fingerprint = hmac.new(self._key, secret.encode(), "sha256").digest()
        known = self._verified.get(stored_hash)
        if known is not None and hmac.compare_digest(known, fingerprint):
            return True
        if not verify_secret(secret, stored_hash):
            return False
        self._verified[stored_hash] = fingerprint
        return True


def verify_secret(secret: str, stored_hash: str) -> bool:
    try:
        scheme, iterations, salt, digest = stored_hash.split("$")
        if scheme != _SCHEME:
            return False
        expected = base64.b64decode(digest)
        actual = hashlib.pbkdf2_hmac(
            "sha256", secret.encode(), base64.b64decode(salt), int(iterations)
        )
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(expected, actual)
