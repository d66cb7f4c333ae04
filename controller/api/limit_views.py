"""The limit book as the API shows it: caps and DR entries with their status, the concrete
windows they make over the next hours, and the limit in force now with its source."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from controller.api.models import EntryView, LimitsView, WindowView
from controller.limit_book import Entry, windows_of
from controller.limits import LimitError, LimitWindow, limit_at

if TYPE_CHECKING:
    from controller.app import SiteController


def current_limit(ctl: SiteController, now_utc: datetime) -> tuple[float, str]:
    windows = ctl.limits.windows(now_utc - timedelta(days=1), now_utc + timedelta(days=1))
    return limit_at(ctl.config.site.grid_limit_kw, windows, now_utc)


def entry_status(entry: Entry, timezone: str, now_utc: datetime) -> str:
    if entry.cancelled_utc is not None:
        return "cancelled"
    try:
        windows = windows_of(entry, timezone, now_utc, now_utc + timedelta(days=8))
    except (LimitError, ValueError, KeyError, TypeError):  # a stored entry the book cannot use
        return "invalid"
    if any(_covers(w, now_utc) for w in windows):
        return "active"
    if any(w.start_utc is not None and w.start_utc > now_utc for w in windows):
        return "scheduled"
    return "past"


def _covers(window: LimitWindow, at_utc: datetime) -> bool:
    started = window.start_utc is None or window.start_utc <= at_utc
    return started and (window.end_utc is None or at_utc < window.end_utc)


def entry_view(entry: Entry, timezone: str, now_utc: datetime) -> EntryView:
    spec = entry.spec
    return EntryView(
        id=entry.entry_id,
        source=entry.source,
        kind=entry.kind,
        status=entry_status(entry, timezone, now_utc),
        limit_kw=spec.get("limit_kw"),
        reduction_kw=spec.get("reduction_kw"),
        reduction_pct=spec.get("reduction_pct"),
        ramp_s=spec.get("ramp_s"),
        start=spec.get("start_utc"),
        end=spec.get("end_utc"),
        start_local=spec.get("start_local"),
        end_local=spec.get("end_local"),
        weekdays=spec.get("weekdays"),
        timezone=spec.get("timezone") or (timezone if entry.kind == "recurring" else None),
        note=spec.get("note"),
        created_utc=entry.created_utc,
        updated_utc=entry.updated_utc,
        cancelled_utc=entry.cancelled_utc,
    )


def window_view(window: LimitWindow) -> WindowView:
    return WindowView(
        id=window.window_id,
        source=window.source,
        kind=window.kind,
        start=window.start_utc,
        end=window.end_utc,
        limit_kw=window.limit_kw,
        reduction_kw=window.reduction_kw,
        reduction_pct=window.reduction_pct,
        ramp_s=window.ramp_s,
    )


def limits_view(ctl: SiteController, *, hours: float, kinds: set[str] | None) -> LimitsView:
    now = ctl.clock.now()
    timezone = ctl.limits.timezone
    entries = [e for e in ctl.limits.entries.values() if kinds is None or e.kind in kinds]
    entries.sort(key=lambda e: e.created_utc)
    windows = []
    for entry in entries:
        if entry_status(entry, timezone, now) not in ("cancelled", "invalid"):
            windows.extend(windows_of(entry, timezone, now, now + timedelta(hours=hours)))
    windows = [w for w in windows if w.end_utc is None or w.end_utc > now]
    windows.sort(key=lambda w: (w.start_utc or now, w.window_id))
    limit_kw, source = current_limit(ctl, now)
    return LimitsView(
        now_utc=now,
        grid_limit_kw=ctl.config.site.grid_limit_kw,
        limit_kw=limit_kw,
        limit_source=source,
        entries=[entry_view(e, timezone, now) for e in entries],
        windows=[window_view(w) for w in windows],
    )
