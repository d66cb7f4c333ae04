"""A token bucket on the controller's clock: replay at any speed is never throttled."""

from __future__ import annotations

from datetime import datetime


class TokenBucket:
    """``rate_per_s`` messages per second on average, ``burst`` at once."""

    def __init__(self, rate_per_s: float, burst: int) -> None:
        self.rate_per_s = rate_per_s
        self.burst = float(burst)
        self.tokens = float(burst)
        self.last_utc: datetime | None = None

    def take(self, now_utc: datetime) -> bool:
        if self.last_utc is not None:
            elapsed_s = (now_utc - self.last_utc).total_seconds()
            if elapsed_s > 0:
                self.tokens = min(self.burst, self.tokens + elapsed_s * self.rate_per_s)
        self.last_utc = now_utc
        if self.tokens < 1.0:
            return False
        self.tokens -= 1.0
        return True
