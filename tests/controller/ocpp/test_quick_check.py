"""The compiled quick schema check never accepts what jsonschema rejects (1.6 and 2.0.1)."""

from __future__ import annotations

import copy
import random

import pytest
from ocpp.messages import MessageType, get_validator

from controller.ocpp.quick_check import compile_check

TS = "2026-03-01T08:00:00Z"
VALID_V201 = {
    "Heartbeat": {},
    "StatusNotification": {
        "timestamp": TS,
        "connectorStatus": "Occupied",
        "evseId": 1,
        "connectorId": 1,
    },
    "TransactionEvent": {
        "eventType": "Updated",
        "timestamp": TS,
        "triggerReason": "MeterValuePeriodic",
        "seqNo": 3,
        "transactionInfo": {"transactionId": "T-1", "chargingState": "Charging"},
        "evse": {"id": 1, "connectorId": 1},
        "idToken": {"idToken": "TAG", "type": "ISO14443"},
        "meterValue": [
            {
                "timestamp": TS,
                "sampledValue": [
                    {"value": 1200.5, "measurand": "Energy.Active.Import.Register"},
                    {"value": 16, "measurand": "Current.Import", "phase": "L1"},
                    {"value": 7.2, "unitOfMeasure": {"unit": "kW", "multiplier": 0}},
                ],
            }
        ],
    },
    "MeterValues": {
        "evseId": 1,
        "meterValue": [{"timestamp": TS, "sampledValue": [{"value": 1.0}]}],
    },
}


def _mutations(payload: dict, rng: random.Random, count: int) -> list[dict]:
    """Random breakages and changes, anywhere in the payload."""
    replacements = ["x" * 60, 1, 1.5, True, None, [], {}, "Dancing", -1, "T"]
    found = []
    for _ in range(count):
        changed = copy.deepcopy(payload)
        node, path = changed, []
        while isinstance(node, dict | list) and node and rng.random() < 0.7:
            key = rng.choice(list(node)) if isinstance(node, dict) else rng.randrange(len(node))
            if not isinstance(node[key], dict | list):
                break
            path.append(key)
            node = node[key]
        if isinstance(node, dict):
            choice = rng.random()
            if node and choice < 0.35:
                del node[rng.choice(list(node))]
            elif choice < 0.5:
                node["extra"] = 1
            elif node:
                node[rng.choice(list(node))] = rng.choice(replacements)
        elif isinstance(node, list):
            if node and rng.random() < 0.5:
                node.clear()
            else:
                node.append(rng.choice(replacements))
        found.append(changed)
    return found


@pytest.mark.parametrize("action", sorted(VALID_V201))
def test_the_quick_check_agrees_with_jsonschema_on_2_0_1(action):
    validator = get_validator(MessageType.Call, action, "2.0.1")
    check = compile_check(validator.schema)
    assert check is not None, "the 2.0.1 schema should get a quick check"
    payload = VALID_V201[action]
    assert validator.is_valid(payload) and check(payload)
    rng = random.Random(action)
    accepted = rejected = 0
    for candidate in _mutations(payload, rng, 400):
        if check(candidate):
            assert validator.is_valid(candidate), candidate
            accepted += 1
        else:
            rejected += 1
    assert rejected > 0 and accepted >= 0
