"""What the OCPP edge refused or dropped, counted for ``/metrics``.

Hostile or broken input is answered (or dropped) at the edge; the operator sees how often,
by reason, without the log growing with the input.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field


@dataclass
class EdgeStats:
    """Counters by reason: ``rejected`` frames and readings, ``dropped`` replies, refusals."""

    rejected_readings: Counter[str] = field(default_factory=Counter)  # by measurand
    dropped: Counter[str] = field(default_factory=Counter)  # by reason
    refused_connections: Counter[str] = field(default_factory=Counter)  # by reason
    replaced_timestamps: int = 0

    def drop(self, reason: str) -> bool:
        """Count a drop; True when it is worth a log line (the 1st, 2nd, 4th, 8th, ...)."""
        self.dropped[reason] += 1
        count = self.dropped[reason]
        return count & (count - 1) == 0
