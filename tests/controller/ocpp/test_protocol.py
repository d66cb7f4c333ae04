"""The strict OCPP-J framing, frame in to frame out over a real socket: a minimal central
system built on ProtocolChargePoint alone (no site, no store), and a raw websocket client."""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

import pytest
import websockets
from ocpp.routing import on
from ocpp.v16 import call_result
from ocpp.v16.enums import Action

from controller.ocpp.protocol import ProtocolChargePoint

NOW = "2026-03-02T08:00:00Z"


class Central(ProtocolChargePoint):
    def __init__(self, connection: Any, frames: list[tuple[str, str]], jobs: list[str]) -> None:
        super().__init__(
            "CP001",
            connection,
            response_timeout_s=5,
            frame_sink=lambda direction, frame: frames.append((direction, frame)),
        )
        self.jobs = jobs

    @on(Action.heartbeat)
    def on_heartbeat(self) -> call_result.Heartbeat:
        self.after_response(self._after)
        return call_result.Heartbeat(current_time=NOW)

    @on(Action.authorize)
    def on_authorize(self, id_tag: str) -> call_result.Authorize:
        raise RuntimeError("SELECT secret FROM users")  # must not reach the charger

    @on(Action.data_transfer)
    def on_data_transfer(self, vendor_id: str, call_unique_id: str, **kwargs: Any):
        return call_result.DataTransfer(status="Accepted", data=call_unique_id)

    async def _after(self) -> None:
        self.jobs.append("after the answer")


@contextlib.asynccontextmanager
async def central():
    frames: list[tuple[str, str]] = []
    jobs: list[str] = []
    points: list[Central] = []

    async def handler(connection):
        point = Central(connection, frames, jobs)
        points.append(point)
        with contextlib.suppress(websockets.ConnectionClosed):
            await point.start()

    async with websockets.serve(handler, "127.0.0.1", 0, subprotocols=["ocpp1.6"]) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        async with websockets.connect(
            f"ws://127.0.0.1:{port}/CP001", subprotocols=["ocpp1.6"]
        ) as client:
            yield client, frames, jobs, points


async def _ask(client, frame: str) -> list[Any]:
    await client.send(frame)
    return json.loads(await asyncio.wait_for(client.recv(), 5))


async def test_a_call_is_answered_recorded_and_followed_by_its_job():
    async with central() as (client, frames, jobs, _):
        reply = await _ask(client, '[2, "h1", "Heartbeat", {}]')
        assert reply == [3, "h1", {"currentTime": NOW}]
        assert [d for d, _ in frames] == ["in", "out"]
        assert jobs == ["after the answer"]


@pytest.mark.parametrize(
    ("frame", "unique_id", "code"),
    [
        ('[2, "u1", "NoSuchAction", {}]', "u1", "NotImplemented"),
        ('[2, "u1", "StartTransaction", {}]', "u1", "NotSupported"),  # known, no handler
        ('[2, "u1", "Heartbeat", []]', "u1", "FormationViolation"),
        ('[2, "u1", "Heartbeat", {"extra": 1}]', "u1", "FormationViolation"),
        ("not json at all", "-1", "FormationViolation"),
        ('[2, "u1", "Heartbeat"', "u1", "FormationViolation"),
    ],
)
async def test_bad_calls_get_their_callerror_and_the_connection_stays(frame, unique_id, code):
    async with central() as (client, _, _, _):
        reply = await _ask(client, frame)
        assert reply[:3] == [4, unique_id, code]
        assert (await _ask(client, '[2, "h2", "Heartbeat", {}]'))[0] == 3


async def test_a_failing_handler_answers_without_its_exception_text():
    async with central() as (client, _, _, _):
        reply = await _ask(client, '[2, "a1", "Authorize", {"idTag": "T"}]')
        assert reply[:3] == [4, "a1", "InternalError"]
        assert "SELECT" not in json.dumps(reply)


async def test_a_handler_can_have_the_unique_id():
    async with central() as (client, _, _, _):
        reply = await _ask(client, '[2, "d1", "DataTransfer", {"vendorId": "V"}]')
        assert reply == [3, "d1", {"status": "Accepted", "data": "d1"}]


async def test_an_unsolicited_reply_is_dropped_and_counted():
    async with central() as (client, _, _, points):
        await client.send('[3, "nobody-asked", {}]')
        assert (await _ask(client, '[2, "h3", "Heartbeat", {}]'))[0] == 3
        assert points[0].stats.dropped["unsolicited_reply"] == 1
