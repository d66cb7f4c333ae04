"""History (site power, limit and price per sample), closed sessions, and the DR sources' state.

Both lists are paginated: ``/history`` by time (``next_from`` continues after the last row),
closed sessions by ``offset``.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import AwareDatetime, BaseModel

from controller.api.auth import AnyRole, Reader
from controller.api.deps import Ctl
from controller.api.errors import InvalidRequest
from controller.history import closed_session_rows, history_rows

router = APIRouter(tags=["history"])
From = Annotated[
    AwareDatetime | None, Query(alias="from", description="start, inclusive (default: 24 h ago)")
]
To = Annotated[AwareDatetime | None, Query(description="end, exclusive (default: now)")]


class HistoryRow(BaseModel):
    at_utc: datetime
    measured_kw: float
    ev_kw: float
    limit_kw: float
    limit_source: str
    planned_kw: float | None
    price_per_kwh: float | None


class HistoryPage(BaseModel):
    from_utc: datetime
    to_utc: datetime
    sample_s: float
    rows: list[HistoryRow]
    next_from: datetime | None  # pass as ``from`` for the next page; None: this was the last


class ClosedSession(BaseModel):
    transaction_id: int
    charger_id: str
    connector_id: int
    id_tag: str
    start_utc: datetime
    stop_utc: datetime
    stop_reason: str | None
    energy_kwh: float
    soc_percent: float | None


class ClosedSessionsPage(BaseModel):
    from_utc: datetime
    to_utc: datetime
    offset: int
    sessions: list[ClosedSession]
    next_offset: int | None


def window(ctl: Any, from_utc: datetime | None, to_utc: datetime | None) -> tuple[datetime, ...]:
    now = ctl.clock.now()
    to_utc = to_utc or now
    from_utc = from_utc or to_utc - timedelta(hours=24)
    if from_utc >= to_utc:
        raise InvalidRequest("from", "must be before 'to'", where="query")
    return from_utc, to_utc


@router.get("/history", summary="Site power, limit and price per sample in [from, to)")
async def get_history(
    ctl: Ctl,
    _who: Reader,
    from_: From = None,
    to: To = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1440,
) -> HistoryPage:
    from_utc, to_utc = window(ctl, from_, to)
    await ctl.store.flush()  # samples still queued for the batched writer
    rows = await ctl.store.run(history_rows, ctl.store.store, from_utc, to_utc, limit=limit)
    more = len(rows) == limit
    return HistoryPage(
        from_utc=from_utc,
        to_utc=to_utc,
        sample_s=ctl.config.history.sample_s,
        rows=[HistoryRow(**{k: r[k] for k in HistoryRow.model_fields}) for r in rows],
        next_from=rows[-1]["at_utc"] + timedelta(microseconds=1) if more else None,
    )


async def closed_sessions(
    ctl: Any, from_utc: datetime | None, to_utc: datetime | None, limit: int, offset: int
) -> ClosedSessionsPage:
    from_utc, to_utc = window(ctl, from_utc, to_utc)
    rows = await ctl.store.run(
        closed_session_rows, ctl.store.store, from_utc, to_utc, limit=limit, offset=offset
    )
    return ClosedSessionsPage(
        from_utc=from_utc,
        to_utc=to_utc,
        offset=offset,
        sessions=[ClosedSession(**{k: r[k] for k in ClosedSession.model_fields}) for r in rows],
        next_offset=offset + limit if len(rows) == limit else None,
    )


@router.get("/dr", tags=["demand response"], summary="Each demand-response source's state")
async def get_dr(ctl: Ctl, _who: AnyRole) -> list[dict[str, Any]]:
    return [source.status() for source in ctl.dr_sources]
