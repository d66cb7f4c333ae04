"""The live operator page: static files shipped in the package, and its server-sent events.

The page and its assets load without a token (they hold no data); every data request and the
event stream go through the same role checks as the rest of the API. One event stream per
open page replaces polling: the server looks at the controller's state every ``push_s`` (or
at once when a cap or DR event changes) and sends a ``state`` event only when it changed.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import numpy as np
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import FileResponse, StreamingResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel

from controller.api.auth import AnyRole, Reader
from controller.api.deps import Ctl
from controller.api.limit_views import limits_view
from controller.api.views import charger_views, session_views, site_view

log = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).with_name("static")
KEEPALIVE_S = 15.0
router = APIRouter(tags=["page"])


class Changes:
    """Wakes every open event stream: on a limit change, and when the API stops."""

    def __init__(self) -> None:
        self.closing = False
        self._event = asyncio.Event()

    def bump(self, *_args: Any) -> None:
        event, self._event = self._event, asyncio.Event()
        event.set()

    def close(self) -> None:
        self.closing = True
        self.bump()

    async def wait(self, timeout_s: float) -> None:
        try:
            await asyncio.wait_for(self._event.wait(), timeout_s)
        except TimeoutError:
            pass


class PageConfig(BaseModel):
    site_id: str
    name: str
    anonymous_read: bool


class Me(BaseModel):
    name: str
    role: str


def mount_page(app: FastAPI, controller: Any) -> None:
    """Serve ``/``, ``/static`` and the event stream; wake the streams on limit changes."""
    changes = Changes()
    app.state.changes = changes
    controller.limits.subscribe(changes.bump)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.include_router(router)


@router.get("/", include_in_schema=False)
async def index() -> FileResponse:
    return FileResponse(STATIC_DIR / "index.html", headers={"Cache-Control": "no-cache"})


@router.get("/page/config", summary="What the page needs before it has a token (no token)")
async def page_config(ctl: Ctl) -> PageConfig:
    site = ctl.config.site
    return PageConfig(
        site_id=site.id, name=site.name or site.id, anonymous_read=ctl.config.api.anonymous_read
    )


@router.get("/me", summary="The caller's token name and role")
async def me(who: AnyRole) -> Me:
    return Me(name=who.name, role=who.role)


@router.get(
    "/events",
    summary="Server-sent events: `state` (site, chargers, sessions, limits, plan) on change",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}}},
)
async def events(request: Request, ctl: Ctl, _who: Reader) -> StreamingResponse:
    changes: Changes = request.app.state.changes
    push_s = ctl.config.api.push_s
    return StreamingResponse(
        _stream(request, ctl, changes, push_s),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


async def _stream(
    request: Request, ctl: Any, changes: Changes, push_s: float
) -> AsyncIterator[str]:
    loop = asyncio.get_running_loop()
    last_body, last_sent = "", loop.time()
    yield f"retry: {int(push_s * 2000)}\n\n"
    while not changes.closing and not await request.is_disconnected():
        state = page_state(ctl)
        # compared without the clock readings: a state is sent when something else changed
        now, limits_now = state["site"].pop("now_utc"), state["limits"].pop("now_utc")
        body = json.dumps(state, separators=(",", ":"))
        if body != last_body:
            state["site"]["now_utc"], state["limits"]["now_utc"] = now, limits_now
            yield f"event: state\ndata: {json.dumps(state, separators=(',', ':'))}\n\n"
            last_body, last_sent = body, loop.time()
        elif loop.time() - last_sent >= KEEPALIVE_S:
            yield ": keepalive\n\n"
            last_sent = loop.time()
        await changes.wait(push_s)


def page_state(ctl: Any) -> dict[str, Any]:
    """Everything the page shows, JSON-ready; the plan condensed to one row per slot."""
    history = getattr(ctl, "history", None)
    return {
        "site": site_view(ctl).model_dump(mode="json"),
        "cost_today": history.cost_today() if history is not None else None,
        "chargers": [c.model_dump(mode="json") for c in charger_views(ctl)],
        "sessions": [s.model_dump(mode="json") for s in session_views(ctl)],
        "limits": limits_view(ctl, hours=48.0, kinds=None).model_dump(mode="json"),
        "dr": [source.status() for source in getattr(ctl, "dr_sources", [])],
        "plan": plan_summary(ctl),
    }


def plan_summary(ctl: Any) -> dict[str, Any] | None:
    """The last plan's site totals per slot (not per EV: the page draws the site)."""
    state = ctl.loop.state if ctl.loop is not None else None
    if state is None or state.plan is None or state.snapshot is None:
        return None
    plan, grid = state.plan, state.snapshot.grid
    n = plan.n_slots
    site_kw = plan.power_kw.sum(axis=0) if len(plan.ev_ids) else np.zeros(n)
    base = state.problem.base_load_kw if state.problem is not None else None
    if base is not None:
        site_kw = site_kw + base[:n]
    limits = state.limits.limit_kw if state.limits is not None else state.problem.site_limit_kw
    sources = state.limits.source if state.limits is not None else ("grid",) * n
    problem_prices = state.problem.price_per_kwh if state.problem is not None else None
    prices = state.prices_per_kwh if state.prices_per_kwh is not None else problem_prices
    record = state.history[-1] if state.history else None
    starts, ends = grid.starts_utc(), grid.ends_utc()
    return {
        "at_utc": (record.at_utc if record else plan.start_utc).isoformat(),
        "method": plan.method,
        "status": plan.status,
        "reason": plan.reason,
        # [start s, end s, limit kW, planned site kW, price per kWh, limit source]
        "slots": [
            [
                starts[i].timestamp(),
                ends[i].timestamp(),
                round(float(limits[i]), 3),
                round(float(site_kw[i]), 3),
                float(prices[i]) if prices is not None else None,
                sources[i],
            ]
            for i in range(n)
        ],
    }
