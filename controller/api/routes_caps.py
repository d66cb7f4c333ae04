"""Operator caps: permanent, one-off windows and recurring windows; create, change, cancel.

Every change goes through the LimitBook, which persists it, audits it with the previous
value and announces it, so the control loop re-plans at once.
"""

from __future__ import annotations

import secrets
from typing import Any

from fastapi import APIRouter

from controller.api.auth import Operator, Reader
from controller.api.bodies import CapIn
from controller.api.deps import Ctl
from controller.api.errors import InvalidRequest, NotFound
from controller.api.limit_views import entry_view
from controller.api.models import EntryView
from controller.limit_book import Entry
from controller.limits import LimitError

router = APIRouter(prefix="/caps", tags=["operator caps"])
CAP_KINDS = ("permanent", "window", "recurring")
SOURCE = "operator"
NOT_FOUND = {404: {"description": "no such cap (or it was cancelled)"}}


def _cap(ctl: Any, cap_id: str, *, include_cancelled: bool = False) -> Entry:
    entry = ctl.limits.entries.get(cap_id)
    if entry is None or entry.kind not in CAP_KINDS:
        raise NotFound(f"cap_id: no cap {cap_id!r}")
    if entry.cancelled_utc is not None and not include_cancelled:
        raise NotFound(f"cap_id: cap {cap_id!r} was cancelled")
    return entry


def _view(ctl: Any, entry: Entry) -> EntryView:
    return entry_view(entry, ctl.limits.timezone, ctl.clock.now())


async def put_entry(
    ctl: Any, entry_id: str, *, source: str, kind: str, spec: dict[str, Any], actor: str
) -> Entry:
    try:
        entry, _previous = await ctl.limits.put(
            entry_id, source=source, kind=kind, spec=spec, actor=actor
        )
    except (LimitError, ValueError) as exc:  # the book re-checks; it names the entry
        raise InvalidRequest("body", str(exc)) from None
    return entry


@router.get("", summary="Operator caps (cancelled ones too)")
async def list_caps(ctl: Ctl, _who: Reader) -> list[EntryView]:
    entries = [e for e in ctl.limits.entries.values() if e.kind in CAP_KINDS]
    return [_view(ctl, e) for e in sorted(entries, key=lambda e: e.created_utc)]


@router.get("/{cap_id}", summary="One cap", responses=NOT_FOUND)
async def get_cap(cap_id: str, ctl: Ctl, _who: Reader) -> EntryView:
    return _view(ctl, _cap(ctl, cap_id, include_cancelled=True))


@router.post("", status_code=201, summary="Create a cap")
async def create_cap(body: CapIn, ctl: Ctl, who: Operator) -> EntryView:
    spec = body.to_spec(grid_limit_kw=ctl.config.site.grid_limit_kw, now_utc=ctl.clock.now())
    cap_id = f"cap-{secrets.token_hex(4)}"
    entry = await put_entry(ctl, cap_id, source=SOURCE, kind=body.kind, spec=spec, actor=who.name)
    return _view(ctl, entry)


@router.put("/{cap_id}", summary="Change a cap (the body replaces it)", responses=NOT_FOUND)
async def change_cap(cap_id: str, body: CapIn, ctl: Ctl, who: Operator) -> EntryView:
    previous = _cap(ctl, cap_id)
    spec = body.to_spec(grid_limit_kw=ctl.config.site.grid_limit_kw, now_utc=ctl.clock.now())
    entry = await put_entry(
        ctl, cap_id, source=previous.source, kind=body.kind, spec=spec, actor=who.name
    )
    return _view(ctl, entry)


@router.delete("/{cap_id}", summary="Cancel a cap", responses=NOT_FOUND)
async def delete_cap(cap_id: str, ctl: Ctl, who: Operator) -> EntryView:
    _cap(ctl, cap_id)
    entry = await ctl.limits.cancel(cap_id, actor=who.name)
    if entry is None:
        raise NotFound(f"cap_id: cap {cap_id!r} was cancelled")
    return _view(ctl, entry)
