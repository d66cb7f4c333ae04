"""Demand-response events over REST, for the utility or aggregator (role ``utility``).

Events from other sources (OpenADR) are listed too but can only be changed where they came
from.
"""

from __future__ import annotations

import secrets
from typing import Any

from fastapi import APIRouter

from controller.api.auth import AnyRole, Utility
from controller.api.bodies import DrEventIn
from controller.api.deps import Ctl
from controller.api.errors import Conflict, InvalidRequest, NotFound
from controller.api.limit_views import entry_view
from controller.api.models import EntryView
from controller.api.routes_caps import put_entry
from controller.limit_book import Entry

router = APIRouter(prefix="/dr/events", tags=["demand response"])
SOURCE = "rest"
KIND = "dr"
NOT_FOUND = {404: {"description": "no such event (or it was cancelled)"}}


def _event(ctl: Any, event_id: str, *, include_cancelled: bool = False) -> Entry:
    entry = ctl.limits.entries.get(event_id)
    if entry is None or entry.kind != KIND:
        raise NotFound(f"event_id: no demand-response event {event_id!r}")
    if entry.cancelled_utc is not None and not include_cancelled:
        raise NotFound(f"event_id: event {event_id!r} was cancelled")
    return entry


def _own(entry: Entry) -> Entry:
    if entry.source != SOURCE:
        raise Conflict(
            f"event_id: event {entry.entry_id!r} comes from {entry.source!r}; change it there"
        )
    return entry


def _view(ctl: Any, entry: Entry) -> EntryView:
    return entry_view(entry, ctl.limits.timezone, ctl.clock.now())


@router.get("", summary="Demand-response events from every source (cancelled ones too)")
async def list_events(ctl: Ctl, _who: AnyRole) -> list[EntryView]:
    entries = [e for e in ctl.limits.entries.values() if e.kind == KIND]
    return [_view(ctl, e) for e in sorted(entries, key=lambda e: e.created_utc)]


@router.get("/{event_id}", summary="One event", responses=NOT_FOUND)
async def get_event(event_id: str, ctl: Ctl, _who: AnyRole) -> EntryView:
    return _view(ctl, _event(ctl, event_id, include_cancelled=True))


@router.post(
    "",
    status_code=201,
    summary="Send an event",
    responses={409: {"description": "the id is taken; PUT changes an event"}},
)
async def create_event(body: DrEventIn, ctl: Ctl, who: Utility) -> EntryView:
    spec = body.to_spec(now_utc=ctl.clock.now())
    event_id = body.id or f"dr-{secrets.token_hex(4)}"
    if event_id in ctl.limits.entries:
        raise Conflict(f"id: {event_id!r} is taken; PUT /dr/events/{event_id} changes it")
    entry = await put_entry(ctl, event_id, source=SOURCE, kind=KIND, spec=spec, actor=who.name)
    return _view(ctl, entry)


@router.put("/{event_id}", summary="Change an event (the body replaces it)", responses=NOT_FOUND)
async def change_event(event_id: str, body: DrEventIn, ctl: Ctl, who: Utility) -> EntryView:
    _own(_event(ctl, event_id))
    if body.id is not None and body.id != event_id:
        raise InvalidRequest("id", f"{body.id!r} differs from the path's {event_id!r}")
    spec = body.to_spec(now_utc=ctl.clock.now())
    entry = await put_entry(ctl, event_id, source=SOURCE, kind=KIND, spec=spec, actor=who.name)
    return _view(ctl, entry)


@router.delete("/{event_id}", summary="Cancel an event", responses=NOT_FOUND)
async def delete_event(event_id: str, ctl: Ctl, who: Utility) -> EntryView:
    _own(_event(ctl, event_id))
    entry = await ctl.limits.cancel(event_id, actor=who.name)
    if entry is None:
        raise NotFound(f"event_id: event {event_id!r} was cancelled")
    return _view(ctl, entry)
