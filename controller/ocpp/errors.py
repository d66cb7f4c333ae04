"""OCPP-J 1.6 error codes, and the errors outbound requests raise.

The ``ocpp`` package answers with some OCPP 2.0.1 error names (FormatViolation,
OccurrenceConstraintViolation) and swaps NotImplemented/NotSupported; OCPP-J 1.6 §4.2.3
defines the codes below, so everything a 1.6 charger receives goes through ``to_v16_code``.
"""

from __future__ import annotations

from typing import Any

from ocpp.exceptions import OCPPError

V16_ERROR_CODES = frozenset(
    {
        "NotImplemented",  # the action is not known
        "NotSupported",  # the action is known but not supported here
        "InternalError",
        "ProtocolError",
        "SecurityError",
        "FormationViolation",
        "PropertyConstraintViolation",
        "OccurenceConstraintViolation",  # sic: 1.6 spells it this way
        "TypeConstraintViolation",
        "GenericError",
    }
)

_V201_TO_V16 = {
    "FormatViolation": "FormationViolation",
    "OccurrenceConstraintViolation": "OccurenceConstraintViolation",
}

# jsonschema validator keyword -> OCPP-J 1.6 error code
SCHEMA_ERROR_CODES = {
    "type": "TypeConstraintViolation",
    "maxLength": "TypeConstraintViolation",
    "required": "OccurenceConstraintViolation",
    "minItems": "OccurenceConstraintViolation",
    "maxItems": "OccurenceConstraintViolation",
    "additionalProperties": "FormationViolation",
    "enum": "PropertyConstraintViolation",
    "minimum": "PropertyConstraintViolation",
    "maximum": "PropertyConstraintViolation",
    "multipleOf": "PropertyConstraintViolation",
    "pattern": "PropertyConstraintViolation",
    "format": "PropertyConstraintViolation",
}


def to_v16_code(code: str) -> str:
    code = _V201_TO_V16.get(code, code)
    return code if code in V16_ERROR_CODES else "GenericError"


class CallErrorReply(Exception):
    """Raised inside the server to answer a CALL with a CALLERROR."""

    def __init__(self, code: str, description: str, details: dict[str, Any] | None = None):
        super().__init__(f"{code}: {description}")
        self.code = to_v16_code(code)
        self.description = description
        self.details = details or {}


class ChargerRequestError(RuntimeError):
    """An outbound request failed; ``charger_id`` and ``action`` say which."""

    def __init__(self, charger_id: str, action: str, message: str) -> None:
        super().__init__(f"{charger_id}: {action}: {message}")
        self.charger_id = charger_id
        self.action = action


class ChargerOffline(ChargerRequestError):
    """The charger has no open connection."""


class ChargerTimeout(ChargerRequestError):
    """The charger did not answer within the response timeout."""


class ChargerCallError(ChargerRequestError):
    """The charger answered with a CALLERROR."""

    def __init__(self, charger_id: str, action: str, error: OCPPError | Any) -> None:
        code = to_v16_code(getattr(error, "code", "GenericError"))
        description = getattr(error, "description", str(error))
        super().__init__(charger_id, action, f"CALLERROR {code}: {description}")
        self.code = code
