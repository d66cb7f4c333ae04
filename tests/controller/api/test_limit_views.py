"""Limit entries as the API shows them: each entry's status at a given time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from controller.api.limit_views import entry_status, entry_view, window_view
from controller.limit_book import Entry, windows_of

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
TZ = "Europe/Berlin"


def _window(start_h: float, end_h: float, **extra) -> Entry:
    spec = {
        "limit_kw": 40.0,
        "start_utc": (NOW + timedelta(hours=start_h)).isoformat(),
        "end_utc": (NOW + timedelta(hours=end_h)).isoformat(),
    }
    return Entry("cap1", "operator", "window", spec, NOW, NOW, **extra)


@pytest.mark.parametrize(
    ("entry", "status"),
    [
        (_window(-1, 1), "active"),
        (_window(1, 2), "scheduled"),
        (_window(-2, -1), "past"),
        (_window(-1, 1, cancelled_utc=NOW), "cancelled"),
        (Entry("bad", "operator", "window", {"limit_kw": "x"}, NOW, NOW), "invalid"),
    ],
)
def test_an_entry_has_one_status(entry, status):
    assert entry_status(entry, TZ, NOW) == status


def test_views_carry_the_entry_and_its_window():
    entry = _window(-1, 1)
    view = entry_view(entry, TZ, NOW)
    assert (view.id, view.status, view.limit_kw) == ("cap1", "active", 40.0)
    (window,) = windows_of(entry, TZ, NOW, NOW + timedelta(hours=4))
    shown = window_view(window)
    assert (shown.id, shown.limit_kw, shown.end) == (window.window_id, 40.0, window.end_utc)
