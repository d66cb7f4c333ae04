"""Read-only views: the site now, chargers, sessions, the plan, limit events, the audit log."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query

from controller.api.auth import AnyRole, Reader
from controller.api.deps import Ctl
from controller.api.errors import NotFound
from controller.api.limit_views import limits_view
from controller.api.models import (
    AuditRow,
    ChargerView,
    LimitsView,
    PlanView,
    SessionView,
    SiteView,
)
from controller.api.routes_history import ClosedSessionsPage, From, To, closed_sessions
from controller.api.views import charger_views, plan_view, session_views, site_view
from controller.store import audit_log

router = APIRouter(tags=["read"])


@router.get("/site", summary="The site now: effective limit and its source, load, headroom")
async def get_site(ctl: Ctl, _who: AnyRole) -> SiteView:
    return site_view(ctl)


@router.get("/chargers", summary="Chargers: online, capabilities, compliance")
async def get_chargers(ctl: Ctl, _who: Reader) -> list[ChargerView]:
    return charger_views(ctl)


@router.get(
    "/sessions",
    summary="Open sessions (energy, assigned and measured power, needs); or, with "
    "`state=closed`, the sessions that ended in [from, to), paginated",
)
async def get_sessions(
    ctl: Ctl,
    _who: Reader,
    state: Literal["open", "closed"] = "open",
    from_: From = None,
    to: To = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> list[SessionView] | ClosedSessionsPage:
    if state == "closed":
        return await closed_sessions(ctl, from_, to, limit, offset)
    return session_views(ctl)


@router.get("/sessions/{transaction_id}", summary="One open session", responses={404: {}})
async def get_session(transaction_id: int, ctl: Ctl, _who: Reader) -> SessionView:
    for view in session_views(ctl):
        if view.transaction_id == transaction_id:
            return view
    raise NotFound(f"transaction_id: no open session {transaction_id}")


@router.get(
    "/plan",
    summary="The current plan per slot: site total, per EV, limit, price",
    responses={404: {"description": "no plan yet"}},
)
async def get_plan(ctl: Ctl, _who: Reader) -> PlanView:
    view = plan_view(ctl)
    if view is None:
        raise NotFound("no plan yet: the control loop has not completed a cycle")
    return view


@router.get("/limits", summary="Caps and demand-response events, past and future")
async def get_limits(
    ctl: Ctl,
    _who: Reader,
    hours: Annotated[float, Query(gt=0, le=24 * 14, description="window horizon [h]")] = 48.0,
    kind: Annotated[list[Literal["permanent", "window", "recurring", "dr"]] | None, Query()] = None,
) -> LimitsView:
    return limits_view(ctl, hours=hours, kinds=set(kind) if kind else None)


@router.get("/audit", summary="The audit log, newest first")
async def get_audit(
    ctl: Ctl,
    _who: Reader,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    actor: str | None = None,
    action: str | None = None,
    target: str | None = None,
) -> list[AuditRow]:
    filters = {k: v for k, v in (("actor", actor), ("action", action), ("target", target)) if v}
    rows = await ctl.store.run(ctl.store.store.rows, audit_log, limit=limit, **filters)
    return [AuditRow(**row) for row in rows]
