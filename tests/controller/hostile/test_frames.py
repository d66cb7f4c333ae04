"""Hostile frames over a real socket: each gets its OCPP-J error, the connection stays open,
and no description carries internal text (exception messages, SQL)."""

from __future__ import annotations

import asyncio

import pytest
import websockets
from ocpp.v16 import call

from tests.controller.ocpp_client import connect
from tests.controller.site_factory import running, site_config

DEEP = "[" * 1000 + "]" * 1000
BOOT = '"BootNotification", {"chargePointVendor": "V", "chargePointModel": "M"}'

HOSTILE = [
    ("MessageTypeId an array", '[[2], "raw-1", "Heartbeat", {}]', "FormationViolation"),
    ("MessageTypeId an object", '[{"a": 2}, "raw-1", "Heartbeat", {}]', "FormationViolation"),
    ("MessageTypeId a string", '["2", "raw-1", "Heartbeat", {}]', "FormationViolation"),
    ("MessageTypeId a float", '[2.0, "raw-1", "Heartbeat", {}]', "FormationViolation"),
    ("MessageTypeId true", '[true, "raw-1", "Heartbeat", {}]', "FormationViolation"),
    ("nested 1000 deep", DEEP, "FormationViolation"),
    (
        "payload nested 1000 deep",
        '[2, "raw-1", "DataTransfer", ' + DEEP + "]",
        "FormationViolation",
    ),
    (
        "NaN literal",
        '[2, "raw-1", "MeterValues", {"connectorId": NaN, "meterValue": []}]',
        "FormationViolation",
    ),
    (
        "connectorId 2^31",
        '[2, "raw-1", "StatusNotification", {"connectorId": 2147483648, "errorCode": "NoError",'
        ' "status": "Available"}]',
        "PropertyConstraintViolation",
    ),
    (
        "connectorId 2^63",
        '[2, "raw-1", "StartTransaction", {"connectorId": 9223372036854775808, "idTag": "T",'
        ' "meterStart": 0, "timestamp": "2026-01-01T00:00:00Z"}]',
        "PropertyConstraintViolation",
    ),
    (
        "transactionId 2^31",
        '[2, "raw-1", "MeterValues", {"connectorId": 1, "transactionId": 2147483648,'
        ' "meterValue": [{"timestamp": "2026-01-01T00:00:00Z",'
        ' "sampledValue": [{"value": "1"}]}]}]',
        "PropertyConstraintViolation",
    ),
    (
        "NUL in a vendor string",
        '[2, "raw-1", "BootNotification", {"chargePointVendor": "V\\u0000x",'
        ' "chargePointModel": "M"}]',
        "PropertyConstraintViolation",
    ),
    (
        "lone surrogate",
        '[2, "raw-1", "BootNotification", {"chargePointVendor": "V\\ud800",'
        ' "chargePointModel": "M"}]',
        "PropertyConstraintViolation",
    ),
    (
        "timestamp beyond UTC",
        '[2, "raw-1", "StartTransaction", {"connectorId": 1, "idTag": "T", "meterStart": 0,'
        ' "timestamp": "9999-12-31T23:59:59-12:00"}]',
        "PropertyConstraintViolation",
    ),
]


@pytest.mark.parametrize(("case", "frame", "code"), HOSTILE, ids=[c[0] for c in HOSTILE])
async def test_hostile_frame_gets_its_error_and_the_connection_stays(store_url, case, frame, code):
    config = site_config(store_url)
    async with running(config) as ctl:
        async with connect(ctl.url, "CP001") as cp:
            await cp.boot()
            reply = await cp.send_raw(frame)
            assert reply[0] == 4, reply
            assert reply[1] in ("raw-1", "-1")
            assert reply[2] == code, reply
            description = reply[3].lower()
            for internal in ("insert", "select", "traceback", "sqlalchemy", "psycopg", "error:"):
                assert internal not in description, reply
            assert (await cp.call(call.Heartbeat(), suppress=False)).current_time
        await ctl.store.flush()
        assert ctl.store.dropped_rows == 0
        assert ctl.site.sessions == {}


async def test_two_authorization_headers_with_a_password_charger(tmp_path):
    from controller.security import hash_secret

    chargers = [{"id": "CP001", "max_current_a": 32, "password_hash": hash_secret("pw-123456")}]
    config = site_config(f"sqlite:///{tmp_path / 's.db'}", chargers=chargers, circuits=[])
    async with running(config) as ctl:
        with pytest.raises(websockets.InvalidStatus) as refused:
            async with websockets.connect(
                f"{ctl.url}/CP001",
                subprotocols=["ocpp1.6"],
                additional_headers=[("Authorization", "Basic YQ=="), ("Authorization", "x")],
            ):
                pass
        assert refused.value.response.status_code == 400


async def test_unsolicited_replies_are_dropped_and_the_next_call_works(tmp_path):
    limits = {"message_burst": 10_000}
    config = site_config(f"sqlite:///{tmp_path / 's.db'}", ocpp={"limits": limits})
    async with running(config) as ctl:
        async with connect(ctl.url, "CP001") as cp:
            await cp.boot()
            await asyncio.wait_for(cp.configured.wait(), 5)
            for i in range(1500):
                await cp._connection.send(f'[3, "stray-{i}", {{}}]')
            await cp.call(call.Heartbeat(), suppress=False)  # all 1,500 were read
            assert ctl.central.stats.dropped["unsolicited_reply"] == 1500
            answer = await ctl.central.requests("CP001").get_configuration(["HeartbeatInterval"])
            assert answer.configuration_key[0]["value"] == "300"


async def test_messages_over_the_rate_are_answered_with_an_error(tmp_path):
    limits = {"messages_per_charger_per_s": 0.001, "message_burst": 5}
    config = site_config(f"sqlite:///{tmp_path / 's.db'}", ocpp={"limits": limits})
    async with running(config) as ctl:
        async with connect(ctl.url, "CP001") as cp:
            codes = []
            for i in range(8):
                reply = await cp.send_raw(f'[2, "raw-{i}", "Heartbeat", {{}}]')
                codes.append(reply[0] if reply[0] == 3 else reply[2])
            assert codes == [3] * 5 + ["GenericError"] * 3
            assert ctl.central.stats.dropped["rate_limited"] == 3
