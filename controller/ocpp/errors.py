"""OCPP-J 1.6 and 2.0.1 error codes, and the errors outbound requests raise.

The ``ocpp`` package answers with some OCPP 2.0.1 error names (FormatViolation,
OccurrenceConstraintViolation) and swaps NotImplemented/NotSupported; OCPP-J 1.6 §4.2.3
defines the codes below, so everything a 1.6 charger receives goes through ``to_v16_code``;
a 2.0.1 station gets the OCPP-J 2.0.1 names (``to_v201_code``).
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
    "RpcFrameworkError": "FormationViolation",
    "MessageTypeNotSupported": "FormationViolation",
}

# OCPP-J 2.0.1 §4.3: the names 2.0.1 uses, and the 1.6 spellings they replace
V201_ERROR_CODES = frozenset(
    {
        "FormatViolation",
        "GenericError",
        "InternalError",
        "MessageTypeNotSupported",
        "NotImplemented",
        "NotSupported",
        "OccurrenceConstraintViolation",
        "PropertyConstraintViolation",
        "ProtocolError",
        "RpcFrameworkError",
        "SecurityError",
        "TypeConstraintViolation",
    }
)
_V16_TO_V201 = {
    "FormationViolation": "FormatViolation",
    "OccurenceConstraintViolation": "OccurrenceConstraintViolation",
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


def to_v201_code(code: str) -> str:
    code = _V16_TO_V201.get(code, code)
    return code if code in V201_ERROR_CODES else "GenericError"


class CallErrorReply(Exception):
    """Raised inside the server to answer a CALL with a CALLERROR."""

    def __init__(self, code: str, description: str, details: dict[str, Any] | None = None):
        super().__init__(f"{code}: {description}")
        self.code = to_v16_code(code)
        self.v201_code = to_v201_code(code)
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
