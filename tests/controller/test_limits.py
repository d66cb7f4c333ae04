"""Effective limit per slot from caps and demand-response windows (hand-worked cases)."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest

from controller.limits import LimitError, LimitWindow, RecurringCap, effective_limits, limit_at

T0 = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def grid(n: int, slot_min: int = 15):
    starts = [T0 + timedelta(minutes=slot_min * i) for i in range(n)]
    return starts, [s + timedelta(minutes=slot_min) for s in starts]


def test_no_windows_is_the_grid_connection():
    starts, ends = grid(4)
    result = effective_limits(100.0, [], starts, ends)
    assert list(result.limit_kw) == [100.0] * 4
    assert result.source == ("grid",) * 4


def test_overlapping_events_combine_to_the_lowest_and_name_their_source():
    starts, ends = grid(6)
    cap = LimitWindow("cap1", "operator", limit_kw=80.0)
    dr = LimitWindow(
        "ev1",
        "rest",
        start_utc=T0 + timedelta(minutes=30),
        end_utc=T0 + timedelta(minutes=60),
        limit_kw=50.0,
        kind="dr",
    )
    dr2 = LimitWindow(
        "ev2",
        "openadr",
        start_utc=T0 + timedelta(minutes=45),
        end_utc=T0 + timedelta(minutes=90),
        reduction_pct=40.0,
        kind="dr",
    )
    result = effective_limits(100.0, [cap, dr, dr2], starts, ends)
    assert list(result.limit_kw) == [80.0, 80.0, 50.0, 50.0, 60.0, 60.0]
    assert result.source[0] == "operator:cap1"
    assert result.source[2] == "rest:ev1"
    assert result.source[4] == "openadr:ev2"


def test_a_window_touching_part_of_a_slot_covers_the_whole_slot():
    starts, ends = grid(3)
    event = LimitWindow(
        "e",
        "rest",
        start_utc=T0 + timedelta(minutes=20),
        end_utc=T0 + timedelta(minutes=25),
        limit_kw=10.0,
    )
    assert list(effective_limits(100.0, [event], starts, ends).limit_kw) == [100.0, 10.0, 100.0]


def test_reduction_in_kw_and_ramp_before_start():
    starts, ends = grid(4)
    event = LimitWindow(
        "e", "rest", start_utc=T0 + timedelta(minutes=30), reduction_kw=40.0, ramp_s=1800
    )
    # Ramp from 100 at 12:00 to 60 at 12:30: the lowest value in each slot is at its end.
    limits = effective_limits(100.0, [event], starts, ends).limit_kw
    assert limits == pytest.approx([80.0, 60.0, 60.0, 60.0])


def test_recurring_cap_in_local_time_across_dst():
    cap = RecurringCap("evening", 60.0, time(17), time(20), frozenset(range(5)), "Europe/Berlin")
    # Sunday 2026-03-29 is the spring-forward day; Monday 30th is CEST (UTC+2).
    windows = cap.windows(
        datetime(2026, 3, 27, 0, tzinfo=UTC), datetime(2026, 3, 31, 0, tzinfo=UTC)
    )
    by_day = {w.start_utc.date().isoformat(): (w.start_utc.hour, w.end_utc.hour) for w in windows}
    assert by_day == {
        "2026-03-27": (16, 19),
        "2026-03-30": (15, 18),
    }  # Fri CET, Mon CEST; no weekend
    assert limit_at(100.0, windows, datetime(2026, 3, 30, 15, 30, tzinfo=UTC)) == (
        60.0,
        "operator:evening@2026-03-30",
    )
    assert limit_at(100.0, windows, datetime(2026, 3, 30, 18, 30, tzinfo=UTC))[0] == 100.0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({}, "exactly one"),
        ({"limit_kw": 10.0, "reduction_kw": 5.0}, "exactly one"),
        ({"limit_kw": -1.0}, "limit_kw"),
        ({"reduction_pct": 150.0}, "reduction_pct"),
        ({"limit_kw": 5.0, "start_utc": T0, "end_utc": T0}, "end_utc"),
        ({"limit_kw": 5.0, "start_utc": datetime(2026, 1, 1)}, "naive"),
    ],
)
def test_bad_windows_are_rejected_naming_the_field(kwargs, message):
    with pytest.raises((LimitError, ValueError), match=message):
        LimitWindow("w", "test", **kwargs)
