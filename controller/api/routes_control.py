"""Operator actions on the control loop: per-session overrides and a manual re-plan."""

from __future__ import annotations

import asyncio
import itertools
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel

from controller.api.auth import Operator
from controller.api.bodies import OverridesIn
from controller.api.deps import Ctl
from controller.api.errors import ApiError, Conflict, InvalidRequest

router = APIRouter(tags=["operator actions"])
_counter = itertools.count(1)


class OverridesResult(BaseModel):
    transaction_id: int
    overrides: dict[str, Any]
    previous: dict[str, Any]
    replan_reason: str | None


class CycleView(BaseModel):
    at_utc: datetime
    reasons: list[str]
    method: str
    status: str
    fallback_reason: str
    sessions: int
    limit_kw: float
    limit_source: str
    planned_site_kw: float
    solve_s: float
    dispatch_s: float
    cuts: int
    raises: int
    failed: int


class ReplanResult(BaseModel):
    reason: str
    cycle: CycleView | None  # the cycle that ran for it, when asked to wait


class CycleTimeout(ApiError):
    status = 504


def _trigger(ctl: Any, reason: str) -> str | None:
    if ctl.loop is None:
        return None
    ctl.loop.trigger(reason)
    return reason


async def wait_for_reason(loop: Any, reason: str, timeout_s: float) -> Any:
    """The cycle record whose reasons include ``reason``, once that cycle has run."""

    def found() -> Any:
        return next((r for r in reversed(loop.state.history) if reason in r.reasons), None)

    async def wait() -> Any:
        while (record := found()) is None:
            await loop.wait_for_cycles(loop.cycles + 1, timeout_s)
        return record

    try:
        return await asyncio.wait_for(wait(), timeout_s)
    except TimeoutError:
        raise CycleTimeout(f"no cycle ran for {reason!r} within {timeout_s:g} s") from None


@router.put(
    "/sessions/{transaction_id}/overrides",
    summary="Set a session's departure, energy wanted or priority; re-plans",
)
async def put_overrides(
    transaction_id: int, body: OverridesIn, ctl: Ctl, who: Operator
) -> OverridesResult:
    now = ctl.clock.now()
    session = ctl.site.sessions.get(transaction_id)
    if session is None:
        raise InvalidRequest("transaction_id", f"no open session {transaction_id}", where="path")
    previous = dict(session.overrides)
    overrides = body.apply(previous, now_utc=now)
    store = ctl.store
    await store.run(store.store.update_session, transaction_id, overrides=overrides or None)
    session.overrides = overrides
    await store.run(
        store.store.audit,
        at_utc=now,
        actor=who.name,
        action="session.overrides",
        target=f"session:{transaction_id}",
        old_value=previous,
        new_value=overrides,
    )
    reason = _trigger(ctl, f"session_override:{transaction_id}:{next(_counter)}")
    return OverridesResult(
        transaction_id=transaction_id,
        overrides=overrides,
        previous=previous,
        replan_reason=reason,
    )


@router.post(
    "/replan",
    summary="Re-plan now",
    responses={409: {"description": "no control loop"}, 504: {"description": "wait timed out"}},
)
async def replan(
    ctl: Ctl,
    who: Operator,
    wait: Annotated[bool, Query(description="answer once the cycle has run")] = False,
    timeout_s: Annotated[float, Query(gt=0, le=120)] = 30.0,
) -> ReplanResult:
    if ctl.loop is None:
        raise Conflict("this controller runs without a control loop")
    reason = f"manual:{who.name}:{next(_counter)}"
    await ctl.store.run(
        ctl.store.store.audit,
        at_utc=ctl.clock.now(),
        actor=who.name,
        action="replan",
        target=None,
        old_value=None,
        new_value={"reason": reason},
    )
    ctl.loop.trigger(reason)
    cycle = None
    if wait:
        record = await wait_for_reason(ctl.loop, reason, timeout_s)
        cycle = CycleView(
            **{name: getattr(record, name) for name in CycleView.model_fields if name != "reasons"},
            reasons=list(record.reasons),
        )
    return ReplanResult(reason=reason, cycle=cycle)
