"""apscheduler jobs in real time: the cycle each interval (aligned to the slot grid),
the tariff refresh. Under an accelerated clock the loop drives itself instead."""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from datetime import UTC, datetime

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger

log = logging.getLogger(__name__)


def aligned_start(now_utc: datetime, interval_s: int) -> datetime:
    """The next multiple of ``interval_s`` since the epoch, so cycles line up with slots."""
    epoch_s = math.ceil(now_utc.timestamp() / interval_s) * interval_s
    return datetime.fromtimestamp(epoch_s, UTC)


def build_scheduler(
    *,
    now_utc: datetime,
    interval_s: int,
    on_interval: Callable[[], None],
    refresh_tariff: Callable[[], None],
    tariff_refresh_s: int = 3600,
) -> AsyncIOScheduler:
    scheduler = AsyncIOScheduler(timezone=UTC)
    scheduler.add_job(
        on_interval,
        IntervalTrigger(
            seconds=interval_s, start_date=aligned_start(now_utc, interval_s), timezone=UTC
        ),
        id="control-cycle",
        coalesce=True,
        max_instances=1,
        misfire_grace_time=interval_s,
    )
    scheduler.add_job(
        refresh_tariff,
        IntervalTrigger(seconds=tariff_refresh_s, timezone=UTC),
        id="tariff-refresh",
        coalesce=True,
        max_instances=1,
    )
    return scheduler
