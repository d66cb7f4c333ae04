"""OCPP-J 1.6 framing on top of the ``ocpp`` package's ChargePoint.

The package's router logs and drops a frame it cannot parse (no CALLERROR at all), validates
on a thread pool, and uses some OCPP 2.0.1 error names. This class keeps the package's
``@on`` handler style but answers every bad frame with the right 1.6 CALLERROR, validates
synchronously (cached validators), and records every frame in and out for the audit log.
"""

from __future__ import annotations

import functools
import inspect
import json
import logging
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

from controller.ocpp.errors import SCHEMA_ERROR_CODES, CallErrorReply

log = logging.getLogger(__name__)

# Validation on the default thread pool costs more than the validation itself.
ocpp.messages.ASYNC_VALIDATION = False

_KNOWN_V16_ACTIONS = frozenset(a.value for a in Action)
_KNOWN_V201_ACTIONS = frozenset(a.value for a in V201Action)
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
    ) -> None:
        super().__init__(charger_id, connection, response_timeout=response_timeout_s, logger=log)
        self._frame_sink = frame_sink
        self._post_response: list[Callable[[], Awaitable[None]]] = []

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
            log.warning("%s: bad frame answered with %s: %.200s", self.id, error.code, raw_msg)
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
            except Exception as exc:
                log.exception("%s: handler for %s failed", self.id, msg.action)
                await self._send_error(msg.unique_id, CallErrorReply("InternalError", str(exc)))
            jobs, self._post_response = self._post_response, []
            for job in jobs:
                await job()
        else:
            self._response_queue.put_nowait(msg)

    async def _dispatch(self, msg: Call) -> None:
        handlers = self.route_map.get(msg.action)
        if handlers is None or "_on_action" not in handlers:
            if msg.action in self.known_actions:
                raise CallErrorReply("NotSupported", f"{msg.action} is not supported here")
            raise CallErrorReply("NotImplemented", f"unknown action {msg.action!r}")
        if not isinstance(msg.payload, dict):
            raise CallErrorReply("FormationViolation", "the payload must be a JSON object")
        _validate(msg, self._ocpp_version)
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


def _unpack(raw: str) -> Call | CallResult | CallError:
    try:
        frame = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CallErrorReply("RpcFrameworkError", f"not valid JSON: {exc.msg}") from exc
    if not isinstance(frame, list) or not frame:
        raise CallErrorReply("RpcFrameworkError", "an OCPP-J frame is a JSON array")
    kind = frame[0]
    shapes = {2: (Call, 4), 3: (CallResult, 3), 4: (CallError, (4, 5))}
    if kind not in shapes:
        raise CallErrorReply("MessageTypeNotSupported", f"unknown MessageTypeId {kind!r}")
    cls, length = shapes[kind]
    lengths = length if isinstance(length, tuple) else (length,)
    if len(frame) not in lengths or not isinstance(frame[1], str):
        raise CallErrorReply("RpcFrameworkError", "the frame has the wrong number of elements")
    if kind == 2 and not isinstance(frame[2], str):
        raise CallErrorReply("RpcFrameworkError", "the action must be a string")
    return cls(*frame[1:])


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
