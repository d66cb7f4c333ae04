"""Requests the central system sends to a charger, as an API for the rest of the controller.

Each returns the charger's answer (the ``ocpp`` package's call_result dataclass) or raises
``ChargerTimeout`` / ``ChargerCallError`` with the charger id and action in the message.

SetChargingProfile, the request a limit change fans out to every charger, takes a quicker
path than the package's ``call()``: the same frame, key names, schema and answer, but without
the package's per-call costs, which made a 1,000-charger fan-out take seconds (``asdict`` deep
copy, a regex-free but uncached key conversion, a JSON round trip to Decimals and jsonschema
over every schedule period: about 7 ms of CPU per 96-period profile).
"""

from __future__ import annotations

import asyncio
import decimal
import functools
import math
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from ocpp.charge_point import camel_to_snake_case, snake_to_camel_case
from ocpp.exceptions import OCPPError
from ocpp.messages import Call, MessageType, get_validator, validate_payload
from ocpp.v16 import call, call_result

from controller.ocpp.errors import ChargerCallError, ChargerRequestError, ChargerTimeout


class ChargerRequests:
    def __init__(self, charge_point: Any) -> None:
        self._cp = charge_point

    @property
    def charger_id(self) -> str:
        return str(self._cp.id)

    async def _request(self, payload: Any) -> Any:
        return await self._guarded(type(payload).__name__, self._cp.call(payload, suppress=False))

    async def _guarded(self, action: str, request: Awaitable[Any]) -> Any:
        """Await ``request``, turning what can go wrong into our errors, naming the charger."""
        try:
            return await request
        except TimeoutError as exc:
            raise ChargerTimeout(self.charger_id, action, "no answer within the timeout") from exc
        except OCPPError as exc:
            raise ChargerCallError(self.charger_id, action, exc) from exc
        except ChargerRequestError:
            raise
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # connection closed, unknown error code, bad answer
            raise ChargerRequestError(
                self.charger_id, action, f"{type(exc).__name__}: {exc}"
            ) from exc

    async def get_configuration(self, keys: list[str] | None = None) -> Any:
        return await self._request(call.GetConfiguration(key=keys))

    async def change_configuration(self, key: str, value: str) -> Any:
        return await self._request(call.ChangeConfiguration(key=key, value=value))

    async def set_charging_profile(self, connector_id: int, profile: dict[str, Any]) -> Any:
        payload = {"connectorId": connector_id, "csChargingProfiles": _camel_keys(profile)}
        action = "SetChargingProfile"
        return await self._guarded(action, self._quick_call(action, payload))

    async def _quick_call(self, action: str, payload: dict[str, Any]) -> Any:
        """``ChargePoint.call(..., suppress=False)`` for a payload already in wire form."""
        cp = self._cp
        request = Call(str(cp._unique_id_generator()), action, payload)
        if not _quick_valid(MessageType.Call, action, payload):
            await validate_payload(request, "1.6")  # raises the package's exact error
        async with cp._call_lock:
            await cp._send(request.to_json())
            response = await cp._get_specific_response(request.unique_id, cp._response_timeout)
        if response.message_type_id == MessageType.CallError:
            cp.logger.warning("Received a CALLError: %s'", response)
            raise response.to_exception()
        response.action = action
        if not _quick_valid(MessageType.CallResult, action, response.payload):
            await validate_payload(response, "1.6")
        return getattr(call_result, action)(**camel_to_snake_case(response.payload))

    async def clear_charging_profile(
        self,
        *,
        profile_id: int | None = None,
        connector_id: int | None = None,
        purpose: str | None = None,
        stack_level: int | None = None,
    ) -> Any:
        return await self._request(
            call.ClearChargingProfile(
                id=profile_id,
                connector_id=connector_id,
                charging_profile_purpose=purpose,
                stack_level=stack_level,
            )
        )

    async def get_composite_schedule(
        self, connector_id: int, duration_s: int, rate_unit: str | None = None
    ) -> Any:
        return await self._request(
            call.GetCompositeSchedule(
                connector_id=connector_id, duration=duration_s, charging_rate_unit=rate_unit
            )
        )

    async def remote_start_transaction(
        self,
        id_tag: str,
        connector_id: int | None = None,
        charging_profile: dict[str, Any] | None = None,
    ) -> Any:
        return await self._request(
            call.RemoteStartTransaction(
                id_tag=id_tag, connector_id=connector_id, charging_profile=charging_profile
            )
        )

    async def remote_stop_transaction(self, transaction_id: int) -> Any:
        return await self._request(call.RemoteStopTransaction(transaction_id=transaction_id))

    async def trigger_message(self, requested_message: str, connector_id: int | None = None) -> Any:
        return await self._request(
            call.TriggerMessage(requested_message=requested_message, connector_id=connector_id)
        )

    async def change_availability(self, connector_id: int, availability: str) -> Any:
        return await self._request(
            call.ChangeAvailability(connector_id=connector_id, type=availability)
        )

    async def reset(self, kind: str = "Soft") -> Any:
        return await self._request(call.Reset(type=kind))

    async def unlock_connector(self, connector_id: int) -> Any:
        return await self._request(call.UnlockConnector(connector_id=connector_id))

    async def update_firmware(self, location: str, retrieve_utc: datetime) -> Any:
        """Fetch firmware from ``location`` from ``retrieve_utc`` on and install it (both
        versions: progress arrives as FirmwareStatusNotification)."""
        retrieve = retrieve_utc.isoformat().replace("+00:00", "Z")
        return await self._request(call.UpdateFirmware(location=location, retrieve_date=retrieve))

    async def upload_log(self, location: str) -> Any:
        """Upload a diagnostics log to ``location``: GetDiagnostics here, GetLog in 2.0.1."""
        return await self._request(call.GetDiagnostics(location=location))


_camel_names: dict[str, str] = {}


def _camel_key(key: str) -> str:
    """The ``ocpp`` package's key conversion, remembered per key."""
    name = _camel_names.get(key)
    if name is None:
        name = _camel_names[key] = next(iter(snake_to_camel_case({key: None})))
    return name


def _camel_keys(data: Any) -> Any:
    """``remove_nones`` then ``snake_to_camel_case``, with each key converted once."""
    if isinstance(data, dict):
        names = _camel_names
        return {
            names.get(k) or _camel_key(k): _camel_keys(v) for k, v in data.items() if v is not None
        }
    if isinstance(data, list):
        return [_camel_keys(v) for v in data if v is not None]
    return data


# A quick validity check compiled from an OCPP 1.6 schema: True only for payloads jsonschema
# (Draft 4, no format checking) accepts; False sends the payload through the package's own
# validation for the exact error. ``multipleOf`` follows the package: the number as written in
# JSON, as a Decimal. A schema with a keyword not handled here gets no quick check.
Check = Callable[[Any], bool]
_ANNOTATIONS = frozenset({"$schema", "id", "title", "description", "format"})
_HANDLED = _ANNOTATIONS | {
    "type",
    "properties",
    "additionalProperties",
    "required",
    "enum",
    "items",
    "multipleOf",
    "maxLength",
}
_IS_TYPE: dict[str, Check] = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "boolean": lambda v: isinstance(v, bool),
    "integer": lambda v: type(v) is int or (isinstance(v, int) and not isinstance(v, bool)),
    "number": lambda v: (
        type(v) in (float, int) or (isinstance(v, int | float) and not isinstance(v, bool))
    ),
}
_checks: dict[tuple[int, str], Check | None] = {}


def _anything(v: Any) -> bool:
    return True


def _quick_valid(message_type: int, action: str, payload: Any) -> bool:
    key = (message_type, action)
    if key not in _checks:
        validator = get_validator(message_type, action, "1.6", parse_float=decimal.Decimal)
        _checks[key] = _compile(validator.schema)
    check = _checks[key]
    return check is not None and check(payload)


def _multiple_of(step: Any) -> Check:
    exact = decimal.Decimal(str(step))

    @functools.lru_cache(maxsize=4096)  # limits repeat: a few hundred distinct values
    def exact_multiple(v: int | float) -> bool:
        return decimal.Decimal(repr(v)) % exact == 0

    def check(v: Any) -> bool:
        if isinstance(v, bool) or not isinstance(v, int | float):
            return True
        if isinstance(v, float) and not math.isfinite(v):
            return False
        return exact_multiple(v)

    return check


def _compile(schema: Any) -> Check | None:
    """One closure per (sub)schema, with plain loops: a 96-period profile is checked often."""
    if not isinstance(schema, dict) or not _HANDLED.issuperset(schema):
        return None
    tests: list[Check] = []
    if "type" in schema:
        name = schema["type"]
        if not isinstance(name, str) or name not in _IS_TYPE:
            return None
        tests.append(_IS_TYPE[name])
    if "enum" in schema:
        if not all(isinstance(c, str) for c in schema["enum"]):
            return None
        allowed = frozenset(schema["enum"])
        tests.append(lambda v: isinstance(v, str) and v in allowed)
    if "maxLength" in schema:
        longest = int(schema["maxLength"])
        tests.append(lambda v: not isinstance(v, str) or len(v) <= longest)
    if "multipleOf" in schema:
        tests.append(_multiple_of(schema["multipleOf"]))
    needed = tuple(schema.get("required", ()))
    properties: dict[str, Check] = {}
    for name, sub in schema.get("properties", {}).items():
        compiled = _compile(sub)
        if compiled is None:
            return None
        properties[name] = compiled
    extra = schema.get("additionalProperties", True)
    if extra is not True and extra is not False:
        return None
    closed = frozenset(properties) if extra is False else None
    item: Check | None = None
    if "items" in schema:
        item = _compile(schema["items"])
        if item is None:
            return None
    has_object_rules = bool(needed or properties or closed is not None)
    if not has_object_rules and item is None:
        if len(tests) == 1:
            return tests[0]
        first, *others = tests or [_anything]
        return lambda v: first(v) and all(test(v) for test in others)

    def check(v: Any) -> bool:
        for test in tests:
            if not test(v):
                return False
        if has_object_rules and isinstance(v, dict):
            for key in needed:
                if key not in v:
                    return False
            if closed is not None and not closed.issuperset(v):
                return False
            for key, value in v.items():
                sub = properties.get(key)
                if sub is not None and not sub(value):
                    return False
        if item is not None and isinstance(v, list):
            for element in v:
                if not item(element):
                    return False
        return True

    return check
