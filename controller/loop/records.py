"""What each cycle decided, for the next cycle, the API and the audit: typed records."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import numpy as np

from controller.limits import SlotLimits
from controller.loop.ledger import Ledger
from controller.planning import Snapshot
from optimizer.problem import Plan, Problem


@dataclass
class CycleRecord:
    at_utc: datetime
    reasons: tuple[str, ...]
    method: str
    status: str
    fallback_reason: str
    sessions: int
    limit_kw: float
    limit_source: str
    planned_site_kw: float
    reserved_kw: float
    solve_s: float
    dispatch_s: float
    cuts: int
    raises: int
    failed: int
    violations: tuple[str, ...] = ()
    unchanged: int = 0  # profiles not re-sent: the charger already holds the same limits


@dataclass
class CycleState:
    """What the last cycle decided, and what the chargers hold (the ledger)."""

    problem: Problem | None = None
    plan: Plan | None = None
    snapshot: Snapshot | None = None
    limits: SlotLimits | None = None
    prices_per_kwh: np.ndarray | None = None
    assigned_kw: dict[int, float] = field(default_factory=dict)  # by transaction, now
    ledger: Ledger = field(default_factory=Ledger)
    default_a: dict[str, float] = field(default_factory=dict)  # TxDefault held, per charger
    history: list[CycleRecord] = field(default_factory=list)
    acks: int = 0
    rejections: int = 0
    site_kw_samples: list[tuple[datetime, float]] = field(default_factory=list)
