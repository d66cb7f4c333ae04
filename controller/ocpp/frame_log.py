"""Every OCPP frame in and out goes to the store's audit trail, as both databases can hold it."""

from __future__ import annotations

from collections.abc import Callable

from controller.async_store import AsyncStore
from controller.clock import Clock
from controller.store import ocpp_messages

MAX_STORED_FRAME_CHARS = 65_536  # the audit trail keeps the start of a bigger frame


def frame_recorder(store: AsyncStore, clock: Clock, charger_id: str) -> Callable[[str, str], None]:
    """A sink for one charger's frames: (direction "in"/"out", frame) -> a queued row."""

    def record(direction: str, frame: str) -> None:
        store.enqueue(
            ocpp_messages,
            [
                {
                    "at_utc": clock.now(),
                    "charger_id": charger_id,
                    "direction": direction,
                    "frame": storable_text(frame),
                }
            ],
        )

    return record


def storable_text(text: str) -> str:
    """``text`` as both databases store it: no NUL, no lone surrogates (escaped instead)."""
    if len(text) > MAX_STORED_FRAME_CHARS:
        text = f"{text[:MAX_STORED_FRAME_CHARS]}...[{len(text)} characters]"
    if "\x00" in text:
        text = text.replace("\x00", "\\u0000")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = text.encode("utf-8", errors="backslashreplace").decode("utf-8")
    return text
