"""Send fuzz frames to a central system over one websocket and check every answer.

After each frame a Heartbeat probe follows; OCPP-J servers answer a connection's CALLs in
order, so whatever arrives before the probe's answer is the answer to the frame. The
central system's own CALLs to this "charger" are answered with a CALLERROR NotSupported.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import websockets

from simulator.fuzz import FuzzFrame

V16_CODES = frozenset(
    {
        "NotImplemented",
        "NotSupported",
        "InternalError",
        "ProtocolError",
        "SecurityError",
        "FormationViolation",
        "PropertyConstraintViolation",
        "OccurenceConstraintViolation",
        "TypeConstraintViolation",
        "GenericError",
    }
)
INTERNAL_WORDS = ("insert ", "select ", "traceback", "sqlalchemy", "psycopg", "sqlite3")


@dataclass
class FuzzReport:
    frames: int = 0
    answers: Counter[str] = field(default_factory=Counter)  # "CALLRESULT" or the error code
    violations: list[str] = field(default_factory=list)
    closed: str | None = None  # why the connection closed, if it did
    probe_rtt_s: list[float] = field(default_factory=list)


async def run_fuzz(
    url: str, charger_id: str, frames: list[FuzzFrame], *, timeout_s: float = 10.0
) -> FuzzReport:
    report = FuzzReport()
    async with websockets.connect(
        f"{url}/{charger_id}", subprotocols=["ocpp1.6"], max_size=2**24, open_timeout=timeout_s
    ) as ws:
        inbox: asyncio.Queue[list[Any]] = asyncio.Queue()
        reader = asyncio.create_task(_read(ws, inbox))
        try:
            for n, frame in enumerate(frames):
                await ws.send(frame.text)
                probe_id = f"probe-{n}"
                sent_s = time.perf_counter()
                await ws.send(json.dumps([2, probe_id, "Heartbeat", {}]))
                replies = []
                while True:
                    reply = await asyncio.wait_for(inbox.get(), timeout_s)
                    if reply[1] == probe_id:
                        report.probe_rtt_s.append(time.perf_counter() - sent_s)
                        break
                    replies.append(reply)
                report.frames += 1
                _check(frame, replies, report)
        except (websockets.ConnectionClosed, TimeoutError) as exc:
            report.closed = f"after {report.frames} frames: {exc!r}"
        finally:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await reader
    return report


async def _read(ws: Any, inbox: asyncio.Queue[list[Any]]) -> None:
    async for text in ws:
        message = json.loads(text)
        if message[0] == 2:  # the central system's own request: not supported here
            await ws.send(json.dumps([4, message[1], "NotSupported", "fuzz client", {}]))
        else:
            inbox.put_nowait(message)


def _check(frame: FuzzFrame, replies: list[list[Any]], report: FuzzReport) -> None:
    where = f"{frame.kind} {frame.text[:80]!r}"
    for reply in replies:
        if reply[0] == 3:
            report.answers["CALLRESULT"] += 1
        elif reply[0] == 4:
            code, description = reply[2], str(reply[3])
            report.answers[code] += 1
            if code not in V16_CODES:
                report.violations.append(f"{where}: not an OCPP 1.6 error code {code!r}")
            if any(word in description.lower() for word in INTERNAL_WORDS):
                report.violations.append(f"{where}: internal text {description[:80]!r}")
    if frame.expect == "none":
        if replies:
            report.violations.append(f"{where}: answered an unsolicited reply {replies[0]}")
        return
    if len(replies) != 1:
        report.violations.append(f"{where}: {len(replies)} answers instead of 1")
        return
    reply = replies[0]
    if frame.expect == "error" and reply[0] != 4:
        report.violations.append(f"{where}: {reply} instead of a CALLERROR")
    if frame.expect == "reply" and reply[1] != frame.unique_id:
        report.violations.append(f"{where}: answer for {reply[1]!r}, not {frame.unique_id!r}")
    if reply[0] == 4 and reply[2] == "InternalError":
        report.violations.append(f"{where}: InternalError {reply[3]!r}")
