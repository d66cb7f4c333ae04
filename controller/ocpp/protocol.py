"""OCPP-J 1.6 framing on top of the ``ocpp`` package's ChargePoint.

The package's router logs and drops a frame it cannot parse (no CALLERROR at all), validates
on a thread pool, and uses some OCPP 2.0.1 error names. This class keeps the package's
``@on`` handler style but answers every bad frame with the right 1.6 CALLERROR, validates
synchronously (cached validators), and records every frame in and out for the audit log.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import ocpp.messages
from ocpp.charge_point import remove_nones, serialize_as_dict, snake_to_camel_case
from ocpp.messages import Call, CallError, MessageType
from ocpp.v16 import ChargePoint as V16ChargePoint
from ocpp.v16.enums import Action
from ocpp.v201 import call as v201_call
from ocpp.v201 import call_result as v201_call_result
from ocpp.v201.enums import Action as V201Action

from controller.ocpp.edge import EdgeStats
from controller.ocpp.errors import CallErrorReply
from controller.ocpp.frame_checks import (
    CALL_START,
    check_values,
    guess_unique_id,
    snake_case_keys,
    unpack,
    validate,
    wants_unique_id,
)

log = logging.getLogger(__name__)

# Validation on the default thread pool costs more than the validation itself.
ocpp.messages.ASYNC_VALIDATION = False

_KNOWN_V16_ACTIONS = frozenset(a.value for a in Action)
_KNOWN_V201_ACTIONS = frozenset(a.value for a in V201Action)

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
            msg = unpack(raw_msg)
        except CallErrorReply as error:
            log.warning("%s: bad frame answered with %s: %.200r", self.id, error.code, raw_msg)
            await self._send_error(guess_unique_id(raw_msg), error)
            return
        except Exception:  # never close the connection over one frame
            log.exception("%s: frame could not be unpacked: %.200r", self.id, raw_msg)
            error = CallErrorReply("InternalError", "the frame could not be processed")
            await self._send_error(guess_unique_id(raw_msg), error)
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
        if CALL_START.match(text):
            error = CallErrorReply("GenericError", "too many messages: slow down")
            await self._send_error(guess_unique_id(text), error)

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
        validate(msg, self._ocpp_version)
        check_values(msg.payload, "")
        handler = handlers["_on_action"]
        kwargs = snake_case_keys(msg.payload)
        if wants_unique_id(handler):
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
