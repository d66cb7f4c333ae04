"""A seeded generator of hostile OCPP 1.6J frames, and what a central system must answer.

Structure (not JSON, not an array, bad MessageTypeIds, wrong lengths, deep nesting, NaN
literals), types and ranges (every field of every charger-initiated action's schema replaced
by a hostile value: 2^31, 2^63, NUL, lone surrogates, year 9999, NaN strings, huge numbers),
sizes and encodings. Each frame says what OCPP-J requires in return: a CALLRESULT or
CALLERROR with its unique id ("reply"), a CALLERROR ("error"), or nothing ("none", for a
CALLRESULT/CALLERROR nobody asked for). Pure: no I/O, no clock; the same seed gives the same
frames.
"""

from __future__ import annotations

import copy
import json
import random
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

ACTIONS = (
    "Authorize",
    "BootNotification",
    "DataTransfer",
    "DiagnosticsStatusNotification",
    "FirmwareStatusNotification",
    "Heartbeat",
    "MeterValues",
    "StartTransaction",
    "StatusNotification",
    "StopTransaction",
)
HOSTILE_VALUES: tuple[Any, ...] = (
    2**31,
    2**63,
    -(2**31) - 1,
    -1,
    0,
    99,
    1e308,
    -1e308,
    0.5,
    "",
    "\x00",
    "a\x00b",
    "\ud800",
    "x" * 5000,
    "9999-12-31T23:59:59Z",
    "9999-12-31T23:59:59-12:00",
    "0001-01-01T00:00:00Z",
    "1970-01-01T00:00:00",
    "NaN",
    "Infinity",
    "-Infinity",
    "1e12",
    "-1e400",
    None,
    True,
    [],
    {},
    [[[[]]]],
    "\U0001f600" * 30,
    "'; DROP TABLE sessions; --",
)
METER_STRINGS = ("NaN", "Infinity", "-Infinity", "1e12", "1e400", "-5e6", "", "0x10", "1_0")
STRUCTURAL = (
    "",
    "not json",
    "{",
    "null",
    "42",
    '"text"',
    "{}",
    "[]",
    "[2]",
    '[2, "id"]',
    '[2, "id", "Heartbeat"]',
    '[2, "id", "Heartbeat", {}, 5]',
    '[3, "id"]',
    '[4, "id", "GenericError"]',
    '[5, "id", "Heartbeat", {}]',
    '[-1, "id", "Heartbeat", {}]',
    '[[2], "id", "Heartbeat", {}]',
    '[{"a": 2}, "id", "Heartbeat", {}]',
    '["2", "id", "Heartbeat", {}]',
    '[2.0, "id", "Heartbeat", {}]',
    '[true, "id", "Heartbeat", {}]',
    '[null, "id", "Heartbeat", {}]',
    '[2, 7, "Heartbeat", {}]',
    '[2, null, "Heartbeat", {}]',
    '[2, "id", 7, {}]',
    '[2, "id", ["Heartbeat"], {}]',
    "[NaN]",
    '[2, "id", "Heartbeat", {"x": NaN}]',
    '[2, "id", "Heartbeat", Infinity]',
    "[" * 5000 + "]" * 5000,
    "[2, " + "[" * 2000 + "]" * 2000 + "]",
    '\ufeff[2, "id", "Heartbeat", {}]',
)


@dataclass(frozen=True)
class FuzzFrame:
    kind: str  # "structure" | "field" | "call" | "unsolicited"
    text: str
    expect: str  # "reply" (CALLRESULT or CALLERROR with unique_id) | "error" | "none"
    unique_id: str | None = None
    action: str | None = None


@cache
def _schema(action: str) -> dict[str, Any]:
    text = resources.files("ocpp.v16.schemas").joinpath(f"{action}.json").read_text("utf-8")
    return json.loads(text)


def valid_instance(schema: dict[str, Any], rng: random.Random) -> Any:
    """A small instance the schema accepts (required properties, some optional ones)."""
    kind = schema.get("type")
    if "enum" in schema:
        return rng.choice(schema["enum"])
    if kind == "object":
        out = {}
        required = set(schema.get("required", ()))
        for name, sub in schema.get("properties", {}).items():
            if name in required or rng.random() < 0.5:
                out[name] = valid_instance(sub, rng)
        return out
    if kind == "array":
        return [valid_instance(schema.get("items", {}), rng)]
    if kind == "string":
        if schema.get("format") == "date-time":
            return "2026-06-15T08:00:00Z"
        return "x" * min(schema.get("maxLength", 8), rng.randint(1, 8))
    if kind == "integer":
        return 1
    if kind == "number":
        return 12.5
    if kind == "boolean":
        return True
    return None


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    paths = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, item in value.items():
            paths += _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            paths += _paths(item, (*prefix, i))
    return paths


def _replace(value: Any, path: tuple[Any, ...], new: Any) -> Any:
    root = copy.deepcopy(value)
    target = root
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = new
    return root


def _call(unique_id: str, action: str, payload: Any) -> str:
    return json.dumps([2, unique_id, action, payload])


def frames(seed: int, count: int) -> list[FuzzFrame]:
    """``count`` hostile frames from ``seed`` (the same seed, the same frames)."""
    rng = random.Random(seed)
    out: list[FuzzFrame] = []
    for n in range(count):
        unique_id = f"fz-{seed}-{n}"
        roll = rng.random()
        if roll < 0.2:
            out.append(FuzzFrame("structure", rng.choice(STRUCTURAL), "error"))
        elif roll < 0.3:
            payload = rng.choice(({}, {"status": "Accepted"}, [], "x", {"x": "y" * 1000}))
            kind = rng.choice((3, 4))
            frame = [kind, unique_id, payload] if kind == 3 else [kind, unique_id, "X", "", {}]
            out.append(FuzzFrame("unsolicited", json.dumps(frame), "none", unique_id))
        else:
            action = rng.choice(ACTIONS)
            if rng.random() < 0.05:
                action = rng.choice(("Dance", "", "SetChargingProfile", "heartbeat"))
            payload = valid_instance(_schema(action), rng) if action in ACTIONS else {}
            paths = _paths(payload)
            if paths and roll < 0.9:
                path = rng.choice(paths)
                meter = path[-1] == "value" and action in ("MeterValues", "StopTransaction")
                hostile = rng.choice(METER_STRINGS if meter else HOSTILE_VALUES)
                payload = _replace(payload, path, hostile)
            elif roll >= 0.9:
                payload = rng.choice((payload, [], "x", None, {**payload, "extra": 1}))
            text = _call(unique_id, action, payload)
            out.append(FuzzFrame("field", text, "reply", unique_id, action))
    return out
