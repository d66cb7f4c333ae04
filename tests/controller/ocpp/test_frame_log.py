"""Frames as the store keeps them: both databases take every frame a charger can send."""

from __future__ import annotations

from controller.ocpp.frame_log import MAX_STORED_FRAME_CHARS, storable_text


def test_plain_frames_are_kept_as_they_are():
    frame = '[2, "1", "Heartbeat", {}]'
    assert storable_text(frame) is frame


def test_nul_and_lone_surrogates_are_escaped():
    assert storable_text('["a\x00b"]') == '["a\\u0000b"]'
    assert storable_text('["\ud800"]') == '["\\ud800"]'
    storable_text('["\ud800"]').encode("utf-8")


def test_a_huge_frame_keeps_its_start_and_says_how_long_it_was():
    frame = "x" * (MAX_STORED_FRAME_CHARS + 10)
    kept = storable_text(frame)
    assert kept.startswith("x" * MAX_STORED_FRAME_CHARS)
    assert kept.endswith(f"...[{MAX_STORED_FRAME_CHARS + 10} characters]")
