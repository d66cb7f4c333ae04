"""Site history: one sample of measured power, limit and price every ``sample_s``, kept.

The sampler only reads the controller's public state (the site, the limit book, the loop's
last plan), so the control loop knows nothing of it. Samples go to the store in the batched
writer's next flush; the last 24 h stay in memory for the live page and today's cost.
Rows older than ``retention_days`` are deleted once an hour; sessions are never deleted.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import delete, select

from controller.limits import limit_at
from controller.store import Store, sessions, site_history

log = logging.getLogger(__name__)
MEMORY = timedelta(hours=24)
PRUNE_EVERY = timedelta(hours=1)


@dataclass(frozen=True)
class Sample:
    at_utc: datetime
    measured_kw: float  # the site meter, else the sum of the sessions' power
    ev_kw: float
    limit_kw: float
    limit_source: str
    planned_kw: float | None  # the last plan's site power for the slot holding ``at_utc``
    price_per_kwh: float | None


def take_sample(ctl: Any, now_utc: datetime) -> Sample:
    """What the site draws, may draw and pays at ``now_utc``."""
    site = ctl.site
    ev_kw = site.ev_power_kw()
    measured_kw, _ = site.measured_kw(now_utc)
    windows = ctl.limits.windows(now_utc - timedelta(days=1), now_utc + timedelta(days=1))
    limit_kw, source = limit_at(ctl.config.site.grid_limit_kw, windows, now_utc)
    planned_kw = price = None
    state = ctl.loop.state if ctl.loop is not None else None
    if state is not None and state.plan is not None and state.snapshot is not None:
        grid = state.snapshot.grid
        for i, (start, end) in enumerate(zip(grid.starts_utc(), grid.ends_utc(), strict=True)):
            if start <= now_utc < end and i < state.plan.n_slots:
                planned_kw = float(state.plan.power_kw[:, i].sum())
                base = state.problem.base_load_kw if state.problem is not None else None
                planned_kw += float(base[i]) if base is not None else 0.0
                prices = state.prices_per_kwh
                price = float(prices[i]) if prices is not None else None
                break
    return Sample(
        at_utc=now_utc,
        measured_kw=float(measured_kw),
        ev_kw=float(ev_kw),
        limit_kw=limit_kw,
        limit_source=source,
        planned_kw=planned_kw,
        price_per_kwh=price,
    )


class HistorySampler:
    """Samples the site every ``sample_s`` on the controller's clock; keeps 24 h in memory."""

    def __init__(self, ctl: Any, *, sample_s: float, retention_days: float) -> None:
        self.ctl = ctl
        self.sample_s = sample_s
        self.retention_days = retention_days
        self.recent: deque[Sample] = deque()
        self._task: asyncio.Task[None] | None = None
        self._pruned_utc: datetime | None = None

    async def start(self) -> None:
        now = self.ctl.clock.now()
        rows = await self.ctl.store.run(
            history_rows, self.ctl.store.store, now - MEMORY, now, limit=100_000
        )
        self.recent.extend(Sample(**{k: r[k] for k in Sample.__dataclass_fields__}) for r in rows)
        self._task = asyncio.create_task(self._run(), name="history-sampler")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def record(self, now_utc: datetime) -> Sample:
        sample = take_sample(self.ctl, now_utc)
        self.recent.append(sample)
        while self.recent and self.recent[0].at_utc < now_utc - MEMORY:
            self.recent.popleft()
        self.ctl.store.enqueue(site_history, [asdict(sample)])
        return sample

    async def _run(self) -> None:
        while True:
            now = self.ctl.clock.now()
            try:
                self.record(now)
                if self._pruned_utc is None or now - self._pruned_utc >= PRUNE_EVERY:
                    self._pruned_utc = now
                    cutoff = now - timedelta(days=self.retention_days)
                    await self.ctl.store.run(prune_history, self.ctl.store.store, cutoff)
            except Exception:  # history must never stop the controller
                log.exception("history: sampling failed")
            await self.ctl.clock.sleep(self.sample_s)

    def cost_today(self) -> float | None:
        """Energy cost since local midnight from the samples [currency]; None without prices."""
        zone = ZoneInfo(self.ctl.config.site.timezone)
        now = self.ctl.clock.now()
        midnight = now.astimezone(zone).replace(hour=0, minute=0, second=0, microsecond=0)
        samples = [s for s in self.recent if s.at_utc >= midnight]
        if not any(s.price_per_kwh is not None for s in samples):
            return None
        cost = 0.0
        for a, b in zip(samples, [*samples[1:], None], strict=True):
            end = b.at_utc if b is not None else now
            hours = min((end - a.at_utc).total_seconds(), 2 * self.sample_s) / 3600.0
            cost += a.measured_kw * (a.price_per_kwh or 0.0) * hours
        return round(cost, 4)


# queries, run on the store's writer thread ---------------------------------------------------
def history_rows(
    store: Store, from_utc: datetime, to_utc: datetime, *, limit: int
) -> list[dict[str, Any]]:
    query = (
        select(site_history)
        .where(site_history.c.at_utc >= from_utc, site_history.c.at_utc < to_utc)
        .order_by(site_history.c.at_utc, site_history.c.id)
        .limit(limit)
    )
    with store.engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(query)]


def closed_session_rows(
    store: Store, from_utc: datetime, to_utc: datetime, *, limit: int, offset: int
) -> list[dict[str, Any]]:
    """Sessions that ended in [from, to), oldest first."""
    query = (
        select(sessions)
        .where(
            sessions.c.stop_utc.is_not(None),
            sessions.c.stop_utc >= from_utc,
            sessions.c.stop_utc < to_utc,
        )
        .order_by(sessions.c.stop_utc, sessions.c.transaction_id)
        .limit(limit)
        .offset(offset)
    )
    with store.engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(query)]


def prune_history(store: Store, cutoff_utc: datetime) -> int:
    with store.engine.begin() as conn:
        return conn.execute(delete(site_history).where(site_history.c.at_utc < cutoff_utc)).rowcount
