"""Inbound frame checks, frame by frame: each bad frame gets the CALLERROR it calls for."""

from __future__ import annotations

import pytest
from ocpp.messages import Call, CallError, CallResult

from controller.ocpp.errors import CallErrorReply
from controller.ocpp.frame_checks import (
    MAX_DEPTH,
    check_values,
    depth,
    guess_unique_id,
    snake_case_keys,
    unpack,
    validate,
    wants_unique_id,
)


@pytest.mark.parametrize(
    ("raw", "kind"),
    [
        ('[2, "a1", "Heartbeat", {}]', Call),
        ('[3, "a1", {"currentTime": "2026-01-01T00:00:00Z"}]', CallResult),
        ('[4, "a1", "NotSupported", "no", {}]', CallError),
    ],
)
def test_well_formed_frames_unpack(raw, kind):
    frame = unpack(raw)
    assert isinstance(frame, kind)
    assert frame.unique_id == "a1"


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("not json", "RpcFrameworkError"),
        ('{"a": 1}', "RpcFrameworkError"),
        ("[]", "RpcFrameworkError"),
        ('[7, "a1", "Heartbeat", {}]', "MessageTypeNotSupported"),
        ('[2.0, "a1", "Heartbeat", {}]', "MessageTypeNotSupported"),
        ('[2, "a1", "Heartbeat"]', "RpcFrameworkError"),
        ('[2, 1, "Heartbeat", {}]', "RpcFrameworkError"),
        ('[2, "a1", 5, {}]', "RpcFrameworkError"),
        ('[2, "a1", "MeterValues", {"connectorId": NaN}]', "RpcFrameworkError"),
        ("[" * (MAX_DEPTH + 2) + "]" * (MAX_DEPTH + 2), "RpcFrameworkError"),
    ],
)
def test_bad_frames_raise_their_error(raw, code):
    with pytest.raises(CallErrorReply) as raised:
        unpack(raw)
    assert raised.value.v201_code == code  # 2.0.1's names; 1.6 has FormationViolation
    assert raised.value.code == "FormationViolation"


def test_depth_counts_lists_and_objects():
    assert depth(1) == 0
    assert depth([]) == 1
    assert depth({"a": [{"b": 1}]}) == 3


@pytest.mark.parametrize(
    ("payload", "where"),
    [
        ({"connectorId": 2**31}, "connectorId: integer out of range"),
        ({"a": [1, -(2**31) - 1]}, "a/1: integer out of range"),
        ({"value": float("inf")}, "value: not a finite number"),
        ({"idTag": "A\x00"}, "idTag: NUL in text"),
        ({"idTag": "\ud800"}, "idTag: not UTF-8"),
    ],
)
def test_values_the_schemas_leave_open_are_checked(payload, where):
    with pytest.raises(CallErrorReply) as raised:
        check_values(payload, "")
    assert raised.value.code == "PropertyConstraintViolation"
    assert raised.value.description == where


def test_plain_values_pass():
    check_values({"connectorId": 2**31 - 1, "ok": True, "v": 1.5, "t": "x", "n": None}, "")


def test_schema_errors_name_the_field():
    validate(Call("a1", "Heartbeat", {}))
    with pytest.raises(CallErrorReply) as raised:
        validate(Call("a1", "StatusNotification", {"connectorId": 1, "errorCode": "NoError"}))
    assert raised.value.code == "OccurenceConstraintViolation"
    with pytest.raises(CallErrorReply) as raised:
        validate(
            Call(
                "a1",
                "StatusNotification",
                {"connectorId": "1", "errorCode": "NoError", "status": "Available"},
            )
        )
    assert raised.value.code == "TypeConstraintViolation"
    assert raised.value.description.startswith("connectorId:")


def test_keys_become_snake_case_all_the_way_down():
    assert snake_case_keys({"meterValue": [{"sampledValue": [{"unitOfMeasure": 1}]}]}) == {
        "meter_value": [{"sampled_value": [{"unit_of_measure": 1}]}]
    }


def test_unique_id_guessed_from_a_broken_frame():
    assert guess_unique_id('[2, "abc-1", "Heart') == "abc-1"
    assert guess_unique_id("garbage") == "-1"


def test_handlers_asking_for_the_unique_id_are_told_apart():
    class Handlers:
        def with_id(self, call_unique_id: str, **kwargs):
            return call_unique_id

        def without(self, **kwargs):
            return None

    handlers = Handlers()
    assert wants_unique_id(handlers.with_id)
    assert not wants_unique_id(handlers.without)
    assert wants_unique_id(lambda call_unique_id: None)
