"""OCPP-J 1.6 framing on top of the ``ocpp`` package's ChargePoint.

The package's router logs and drops a frame it cannot parse (no CALLERROR at all), validates
on a thread pool, and uses some OCPP 2.0.1 error names. This class keeps the package's
``@on`` handler style but answers every bad frame with the right 1.6 CALLERROR, validates
synchronously (cached validators), and records every frame in and out for the audit log.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import json
import logging
import math
import re
from collections.abc import Awaitable, Callable
from typing import Any

import ocpp.messages
from jsonschema.exceptions import ValidationError as SchemaValidationError
from ocpp.charge_point import (
    camel_to_snake_case,
    remove_nones,
    serialize_as_dict,
    snake_to_camel_case,
)
from ocpp.messages import Call, CallError, CallResult, MessageType, get_validator
from ocpp.v16 import ChargePoint as V16ChargePoint
from ocpp.v16.enums import Action
from ocpp.v201 import call as v201_call
from ocpp.v201 import call_result as v201_call_result
from ocpp.v201.enums import Action as V201Action

from controller.ocpp.edge import EdgeStats
from controller.ocpp.errors import SCHEMA_ERROR_CODES, CallErrorReply

log = logging.getLogger(__name__)

# Validation on the default thread pool costs more than the validation itself.
ocpp.messages.ASYNC_VALIDATION = False

_KNOWN_V16_ACTIONS = frozenset(a.value for a in Action)
_KNOWN_V201_ACTIONS = frozenset(a.value for a in V201Action)
MAX_DEPTH = 16  # the deepest OCPP payload (SetChargingProfile) nests 6-8 levels
INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1  # OCPP integers are 32-bit (and so are our columns)
_CALL_START = re.compile(r"^\s*\[\s*2\s*,")
_UNIQUE_ID = re.compile(r'^\s*\[\s*\d+\s*,\s*"([^"]{1,36})"')

FrameSink = Callable[[str, str], None]  # (direction "in"/"out", frame)


class ProtocolChargePoint(V16ChargePoint):
    """A charger's connection, seen from the central system (OCPP 1.6J; see the 2.0.1 subclass)."""

    known_actions = _KNOWN_V16_ACTIONS

    def __init__(
        self,
        charger_id: str,
        connection: Any,
        *,
        response_timeout_s: float,
        frame_sink: FrameSink | None = None,
        stats: EdgeStats | None = None,
    ) -> None:
        super().__init__(charger_id, connection, response_timeout=response_timeout_s, logger=log)
        self._frame_sink = frame_sink
        self._post_response: list[Callable[[], Awaitable[None]]] = []
        self.stats = stats if stats is not None else EdgeStats()
        self._awaited_id: str | None = None  # the unique id of our CALL in flight

    def after_response(self, job: Callable[[], Awaitable[None]]) -> None:
        """Run ``job`` once the current answer is on the wire (e.g. configure after boot)."""
        self._post_response.append(job)

    async def _send(self, message: str) -> None:
        if self._frame_sink is not None:
            self._frame_sink("out", message)
        await self._connection.send(message)

    async def start(self) -> None:
        while True:
            message = await self._connection.recv()
            await self.route_message(message)

    async def route_message(self, raw_msg: str | bytes) -> None:
        if isinstance(raw_msg, bytes):
            raw_msg = raw_msg.decode("utf-8", errors="replace")
        if self._frame_sink is not None:
            self._frame_sink("in", raw_msg)
        try:
            msg = _unpack(raw_msg)
        except CallErrorReply as error:
            log.warning("%s: bad frame answered with %s: %.200r", self.id, error.code, raw_msg)
            await self._send_error(_guess_unique_id(raw_msg), error)
            return
        except Exception:  # never close the connection over one frame
            log.exception("%s: frame could not be unpacked: %.200r", self.id, raw_msg)
            error = CallErrorReply("InternalError", "the frame could not be processed")
            await self._send_error(_guess_unique_id(raw_msg), error)
            return
        if msg.message_type_id == MessageType.Call:
            try:
                await self._dispatch(msg)
            except CallErrorReply as error:
                log.warning(
                    "%s: %s answered with %s: %s",
                    self.id,
                    msg.action,
                    error.code,
                    error.description,
                )
                await self._send_error(msg.unique_id, error)
            except Exception:
                # The description goes to the charger: no exception text (it may hold SQL).
                log.exception("%s: handler for %s failed", self.id, msg.action)
                error = CallErrorReply("InternalError", f"{msg.action} could not be processed")
                await self._send_error(msg.unique_id, error)
            jobs, self._post_response = self._post_response, []
            for job in jobs:
                await job()
        elif msg.unique_id == self._awaited_id:
            self._response_queue.put_nowait(msg)
        else:
            # Queued, it would be read (and logged in full) by the next call: drop it here.
            if self.stats.drop("unsolicited_reply"):
                count = self.stats.dropped["unsolicited_reply"]
                log.warning("%s: unsolicited reply dropped (%d so far)", self.id, count)

    async def refuse_flood(self, raw_msg: str | bytes) -> None:
        """Answer a CALL over the message rate with a short error; drop anything else."""
        if self.stats.drop("rate_limited"):
            count = self.stats.dropped["rate_limited"]
            log.warning("%s: over the message rate (%d refused so far)", self.id, count)
        text = raw_msg.decode("utf-8", "replace") if isinstance(raw_msg, bytes) else raw_msg
        if _CALL_START.match(text):
            error = CallErrorReply("GenericError", "too many messages: slow down")
            await self._send_error(_guess_unique_id(text), error)

    async def _get_specific_response(self, unique_id: str, timeout: float) -> Any:  # noqa: ASYNC109
        """The reply to our CALL ``unique_id``; only that reply is ever queued (no recursion)."""
        self._awaited_id = unique_id
        try:
            # asyncio.timeout, not wait_for: 3.11's wait_for can swallow a cancellation that
            # arrives with the answer, and a control loop being stopped would then run on.
            async with asyncio.timeout(timeout):
                while True:
                    response = await self._response_queue.get()
                    if response.unique_id == unique_id:
                        return response
        finally:
            self._awaited_id = None

    async def _dispatch(self, msg: Call) -> None:
        handlers = self.route_map.get(msg.action)
        if handlers is None or "_on_action" not in handlers:
            if msg.action in self.known_actions:
                raise CallErrorReply("NotSupported", f"{msg.action} is not supported here")
            raise CallErrorReply("NotImplemented", f"unknown action {msg.action!r}")
        if not isinstance(msg.payload, dict):
            raise CallErrorReply("FormationViolation", "the payload must be a JSON object")
        _validate(msg, self._ocpp_version)
        _check_values(msg.payload, "")
        handler = handlers["_on_action"]
        kwargs = _snake_case_keys(msg.payload)
        if _wants_unique_id(handler):
            kwargs["call_unique_id"] = msg.unique_id
        try:
            response = handler(**kwargs)
            if inspect.isawaitable(response):
                response = await response
        except CallErrorReply:
            raise
        except (ValueError, TypeError) as exc:
            raise CallErrorReply("PropertyConstraintViolation", str(exc)) from exc
        payload = snake_to_camel_case(remove_nones(serialize_as_dict(response)))
        await self._send(msg.create_call_result(payload).to_json())

    def error_code(self, error: CallErrorReply) -> str:
        return error.code

    async def _send_error(self, unique_id: str, error: CallErrorReply) -> None:
        code = self.error_code(error)
        frame = CallError(unique_id, code, error.description[:255], error.details)
        await self._send(frame.to_json())


class V201ProtocolChargePoint(ProtocolChargePoint):
    """The same strict framing for an OCPP 2.0.1 station: its schemas, calls and error names."""

    _call = v201_call
    _call_result = v201_call_result
    _ocpp_version = "2.0.1"
    known_actions = _KNOWN_V201_ACTIONS

    def error_code(self, error: CallErrorReply) -> str:
        return error.v201_code


def _no_constant(name: str) -> Any:
    raise CallErrorReply("RpcFrameworkError", f"{name} is not a JSON number")


def _unpack(raw: str) -> Call | CallResult | CallError:
    try:
        frame = json.loads(raw, parse_constant=_no_constant)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CallErrorReply("RpcFrameworkError", f"not valid JSON: {exc.msg}") from exc
    except RecursionError as exc:
        raise CallErrorReply("RpcFrameworkError", "JSON nested too deeply") from exc
    if _depth(frame) > MAX_DEPTH:
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


def _depth(value: Any) -> int:
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


def _check_values(value: Any, where: str) -> None:
    """What the schemas leave open: 32-bit integers, finite numbers, text the store can hold."""
    if isinstance(value, dict):
        for key, item in value.items():
            _check_values(item, f"{where}/{key}" if where else key)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _check_values(item, f"{where}/{i}")
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


def _validate(msg: Call, version: str = "1.6") -> None:
    validator = get_validator(MessageType.Call, msg.action, version)
    key = (version, msg.action)
    quick = _quick_checks.get(key, _UNSET)
    if quick is _UNSET:
        quick = _quick_checks[key] = _compile_check(validator.schema)
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


def _snake_case_keys(data: Any) -> Any:
    """``camel_to_snake_case`` with each key converted once: the same result, cheaper."""
    if isinstance(data, dict):
        return {_snake_case_key(k): _snake_case_keys(v) for k, v in data.items()}
    if isinstance(data, list):
        return [_snake_case_keys(v) for v in data]
    return data


@functools.lru_cache(maxsize=256)
def _takes_unique_id(function: Callable[..., Any]) -> bool:
    return "call_unique_id" in inspect.signature(function).parameters


def _wants_unique_id(handler: Callable[..., Any]) -> bool:
    """Whether a handler takes ``call_unique_id``; its signature is read once per function."""
    function = getattr(handler, "__func__", None)
    if function is None:
        return "call_unique_id" in inspect.signature(handler).parameters
    return _takes_unique_id(function)


def _guess_unique_id(raw: str) -> str:
    match = _UNIQUE_ID.match(raw)
    return match.group(1) if match else "-1"


# A quick validity check compiled from each schema. jsonschema spends about a third of the
# server's CPU on the Draft 4 schemas, mostly in its generic machinery. The compiled check
# covers only the keywords the OCPP 1.6 and 2.0.1 schemas use (2.0.1: local ``$ref``s to
# ``definitions``), with jsonschema's Draft 4 semantics
# (no format checking, bool is not a number, enum of strings only); it may answer False for
# a valid payload (then jsonschema decides, as before) but never True for an invalid one.
# A schema with any other keyword gets no quick check at all.
Check = Callable[[Any], bool]
_UNSET: Any = object()
_quick_checks: dict[tuple[str, str], Check | None] = {}
_ANNOTATIONS = frozenset(
    {"$schema", "$id", "id", "title", "description", "format", "javaType", "comment", "default"}
)
_DEFINITIONS = "#/definitions/"
_IS_TYPE: dict[str, Check] = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
}


def _compile_check(
    schema: Any, root: Any = None, resolving: frozenset[str] = frozenset()
) -> Check | None:
    """A predicate that is True only for instances ``schema`` accepts, or None if unsupported.

    ``$ref`` to the root's ``definitions`` (the OCPP 2.0.1 schemas) is followed; in Draft 4
    the keywords beside a ``$ref`` are ignored, and so they are here.
    """
    if not isinstance(schema, dict):
        return None
    root = schema if root is None else root
    if "$ref" in schema:
        ref = schema["$ref"]
        if not isinstance(ref, str) or not ref.startswith(_DEFINITIONS) or ref in resolving:
            return None
        target = (root.get("definitions") or {}).get(ref[len(_DEFINITIONS) :])
        return None if target is None else _compile_check(target, root, resolving | {ref})
    known = _ANNOTATIONS | {
        "type",
        "properties",
        "additionalProperties",
        "required",
        "enum",
        "maxLength",
        "items",
        "minItems",
        "definitions",
        "additionalItems",  # ignored by Draft 4 when ``items`` is one schema
    }
    if not known.issuperset(schema):
        return None
    if "additionalItems" in schema and not isinstance(schema.get("items"), dict):
        return None
    checks: list[Check] = []
    if "type" in schema:
        type_names = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        if not type_names or not all(isinstance(n, str) and n in _IS_TYPE for n in type_names):
            return None
        tests = [_IS_TYPE[n] for n in type_names]
        checks.append(tests[0] if len(tests) == 1 else lambda v: any(t(v) for t in tests))
    if "enum" in schema:
        choices = schema["enum"]
        if not isinstance(choices, list) or not all(isinstance(c, str) for c in choices):
            return None
        allowed = frozenset(choices)
        checks.append(lambda v: isinstance(v, str) and v in allowed)
    if "maxLength" in schema:
        longest = schema["maxLength"]
        if not isinstance(longest, int):
            return None
        checks.append(lambda v: not isinstance(v, str) or len(v) <= longest)
    if "required" in schema:
        needed = schema["required"]
        if not isinstance(needed, list):
            return None
        checks.append(lambda v: not isinstance(v, dict) or all(k in v for k in needed))
    properties = schema.get("properties", {})
    if not isinstance(properties, dict):
        return None
    if properties:
        compiled = {name: _compile_check(sub, root, resolving) for name, sub in properties.items()}
        if any(c is None for c in compiled.values()):
            return None
        pairs: list[tuple[str, Check]] = list(compiled.items())  # type: ignore[arg-type]

        def check_properties(v: Any) -> bool:
            return not isinstance(v, dict) or all(c(v[n]) for n, c in pairs if n in v)

        checks.append(check_properties)
    if "additionalProperties" in schema:
        extra = schema["additionalProperties"]
        if extra is False:
            declared = frozenset(properties)
            checks.append(lambda v: not isinstance(v, dict) or declared.issuperset(v))
        elif extra is not True:
            return None
    if "items" in schema:
        item_check = _compile_check(schema["items"], root, resolving)
        if item_check is None:
            return None
        checks.append(lambda v: not isinstance(v, list) or all(item_check(i) for i in v))
    if "minItems" in schema:
        fewest = schema["minItems"]
        if not isinstance(fewest, int):
            return None
        checks.append(lambda v: not isinstance(v, list) or len(v) >= fewest)
    if len(checks) == 1:
        return checks[0]
    return lambda v: all(check(v) for check in checks)
