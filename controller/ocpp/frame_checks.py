"""Checks on an inbound OCPP-J frame before any handler sees it: the frame's shape, its
nesting, the schema (quick check first), and what the schemas leave open (32-bit integers,
finite numbers, text the store can hold). Each failure is the CALLERROR to answer with."""

from __future__ import annotations

import functools
import inspect
import json
import math
import re
from collections.abc import Callable
from typing import Any

from jsonschema.exceptions import ValidationError as SchemaValidationError
from ocpp.charge_point import camel_to_snake_case
from ocpp.messages import Call, CallError, CallResult, MessageType, get_validator

from controller.ocpp.errors import SCHEMA_ERROR_CODES, CallErrorReply
from controller.ocpp.quick_check import quick_check

MAX_DEPTH = 16  # the deepest OCPP payload (SetChargingProfile) nests 6-8 levels
INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1  # OCPP integers are 32-bit (and so are our columns)
CALL_START = re.compile(r"^\s*\[\s*2\s*,")
_UNIQUE_ID = re.compile(r'^\s*\[\s*\d+\s*,\s*"([^"]{1,36})"')


def _no_constant(name: str) -> Any:
    raise CallErrorReply("RpcFrameworkError", f"{name} is not a JSON number")


def unpack(raw: str) -> Call | CallResult | CallError:
    try:
        frame = json.loads(raw, parse_constant=_no_constant)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CallErrorReply("RpcFrameworkError", f"not valid JSON: {exc.msg}") from exc
    except RecursionError as exc:
        raise CallErrorReply("RpcFrameworkError", "JSON nested too deeply") from exc
    if depth(frame) > MAX_DEPTH:
        raise CallErrorReply("RpcFrameworkError", f"JSON nested deeper than {MAX_DEPTH} levels")
    if not isinstance(frame, list) or not frame:
        raise CallErrorReply("RpcFrameworkError", "an OCPP-J frame is a JSON array")
    kind = frame[0]
    shapes = {2: (Call, 4), 3: (CallResult, 3), 4: (CallError, (4, 5))}
    if type(kind) is not int or kind not in shapes:
        raise CallErrorReply("MessageTypeNotSupported", f"unknown MessageTypeId {kind!r:.40}")
    cls, length = shapes[kind]
    lengths = length if isinstance(length, tuple) else (length,)
    if len(frame) not in lengths or not isinstance(frame[1], str):
        raise CallErrorReply("RpcFrameworkError", "the frame has the wrong number of elements")
    if kind == 2 and not isinstance(frame[2], str):
        raise CallErrorReply("RpcFrameworkError", "the action must be a string")
    return cls(*frame[1:])


def depth(value: Any) -> int:
    """How deeply ``value`` nests lists and objects, without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict):
            item = list(item.values())
        if isinstance(item, list):
            deepest = max(deepest, level)
            if level <= MAX_DEPTH:
                stack.extend((v, level + 1) for v in item)
    return deepest


def check_values(value: Any, where: str) -> None:
    """What the schemas leave open: 32-bit integers, finite numbers, text the store can hold."""
    if isinstance(value, dict):
        for key, item in value.items():
            check_values(item, f"{where}/{key}" if where else key)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            check_values(item, f"{where}/{i}")
    elif isinstance(value, bool):
        return
    elif isinstance(value, int):
        if not INT32_MIN <= value <= INT32_MAX:
            raise CallErrorReply("PropertyConstraintViolation", f"{where}: integer out of range")
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise CallErrorReply("PropertyConstraintViolation", f"{where}: not a finite number")
    elif isinstance(value, str):
        if "\x00" in value:
            raise CallErrorReply("PropertyConstraintViolation", f"{where}: NUL in text")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise CallErrorReply("PropertyConstraintViolation", f"{where}: not UTF-8") from exc


def validate(msg: Call, version: str = "1.6") -> None:
    """Check ``msg`` against its schema; raise the CALLERROR jsonschema's verdict calls for."""
    validator = get_validator(MessageType.Call, msg.action, version)
    quick = quick_check(version, msg.action, validator.schema)
    if quick is not None and quick(msg.payload):
        return  # certainly valid; anything else goes to jsonschema for the exact error
    try:
        validator.validate(msg.payload)
    except SchemaValidationError as exc:
        code = SCHEMA_ERROR_CODES.get(str(exc.validator), "FormationViolation")
        field = "/".join(str(p) for p in exc.absolute_path) or "(payload)"
        raise CallErrorReply(code, f"{field}: {exc.message}") from exc


@functools.lru_cache(maxsize=4096)
def _snake_case_key(key: str) -> str:
    """The ocpp package's key conversion (two regex passes per key), remembered per key."""
    return next(iter(camel_to_snake_case({key: None})))


def snake_case_keys(data: Any) -> Any:
    """``camel_to_snake_case`` with each key converted once: the same result, cheaper."""
    if isinstance(data, dict):
        return {_snake_case_key(k): snake_case_keys(v) for k, v in data.items()}
    if isinstance(data, list):
        return [snake_case_keys(v) for v in data]
    return data


@functools.lru_cache(maxsize=256)
def _takes_unique_id(function: Callable[..., Any]) -> bool:
    return "call_unique_id" in inspect.signature(function).parameters


def wants_unique_id(handler: Callable[..., Any]) -> bool:
    """Whether a handler takes ``call_unique_id``; its signature is read once per function."""
    function = getattr(handler, "__func__", None)
    if function is None:
        return "call_unique_id" in inspect.signature(handler).parameters
    return _takes_unique_id(function)


def guess_unique_id(raw: str) -> str:
    match = _UNIQUE_ID.match(raw)
    return match.group(1) if match else "-1"
