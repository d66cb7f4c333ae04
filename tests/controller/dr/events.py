"""Build OpenADR events as openleadr hands them to a VEN's on_event (plain dicts)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

T0 = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def signal(
    name: str,
    kind: str,
    payloads: Sequence[float],
    *,
    minutes: float = 15,
    measurement: dict[str, Any] | None = None,
    start: datetime | None = None,
) -> dict[str, Any]:
    """One signal with consecutive intervals; ``start`` gives each interval its own dtstart."""
    intervals = []
    for uid, payload in enumerate(payloads):
        interval: dict[str, Any] = {
            "duration": timedelta(minutes=minutes),
            "signal_payload": payload,
            "uid": uid,
        }
        if start is not None:
            interval["dtstart"] = start + timedelta(minutes=minutes * uid)
        intervals.append(interval)
    result: dict[str, Any] = {
        "intervals": intervals,
        "signal_name": name,
        "signal_type": kind,
        "signal_id": f"{name}-{kind}",
    }
    if measurement is not None:
        result["measurement"] = measurement
    return result


def event(
    *signals: dict[str, Any],
    event_id: str = "e1",
    modification_number: int = 0,
    status: str = "far",
    start: datetime = T0,
    test_event: bool = False,
    ramp_up: timedelta | None = None,
) -> dict[str, Any]:
    total = sum((i["duration"] for i in signals[0]["intervals"]), timedelta(0)) if signals else 0
    period: dict[str, Any] = {"dtstart": start, "duration": total}
    if ramp_up is not None:
        period["ramp_up"] = ramp_up
    return {
        "event_descriptor": {
            "event_id": event_id,
            "modification_number": modification_number,
            "event_status": status,
            "market_context": "oadr://test",
            "priority": 0,
            "test_event": test_event,
        },
        "active_period": period,
        "event_signals": list(signals),
        "response_required": "always",
        "targets": [{"ven_id": "ven1"}],
    }
