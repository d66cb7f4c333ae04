"""`sitecharge simulate`'s preparation: the site file's chargers and the server's clock speed.

The clock measurement runs over a real websocket on the event-stepped loop: the server answers
Heartbeats from a clock that runs ``speed`` times the loop's time, so the measured speed is
exact and independent of the machine's load.
"""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime, timedelta
from http import HTTPStatus
from pathlib import Path

import pytest
from websockets.asyncio.server import serve

from controller.commands import simulate as simulate_cmd
from controller.commands.simulate_site import (
    ChargerRefused,
    measure_server_speed,
    on_site,
    read_site,
    same_speed,
)
from controller.stepped import StepClock, run_stepped
from simulator.charger import ChargerSpec
from simulator.errors import SimulatorError
from simulator.scenario import generate

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "site.toml"
START = datetime(2026, 6, 1, 19, 0, tzinfo=UTC)


def _args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    simulate_cmd.register(parser.add_subparsers())
    return parser.parse_args(["simulate", *argv])


def test_the_example_site_file_gives_its_chargers_and_address() -> None:
    site = read_site(str(EXAMPLE), ChargerSpec("template", vendor="v"), "1.6")
    assert site.ids == tuple(f"CP{i:03d}" for i in range(1, 11))
    assert site.url == "ws://127.0.0.1:9000/ocpp"
    assert site.timezone == "Europe/Berlin"
    by_id = {s.charger_id: s for s in site.specs}
    assert by_id["CP001"].max_current_a == 32.0 and by_id["CP005"].max_current_a == 16.0
    assert {s.phases for s in site.specs} == {3}
    assert {s.meter_interval_s for s in site.specs} == {60}
    assert {s.vendor for s in site.specs} == {"v"}  # the template's own fields stay


def test_generated_chargers_take_the_site_files_ids_in_order(tmp_path: Path) -> None:
    text = EXAMPLE.read_text(encoding="utf-8").replace('id = "CP0', 'id = "DEPOT-')
    text = text.replace('id = "DEPOT-01"\n', 'id = "DEPOT-01"\nconnectors = 2\n')
    (tmp_path / "site.toml").write_text(text, encoding="utf-8")
    site = read_site(str(tmp_path / "site.toml"), ChargerSpec("template"), "1.6")
    scenario = generate("depot", 10, 1, connectors_per_charger=2)
    placed = on_site(scenario, site)
    assert placed.charger_ids == site.ids
    assert {s.charger_id for s in placed.sessions} <= set(site.ids)
    # only DEPOT-01 has a second connector: the other chargers' connector-2 sessions go
    assert {(s.charger_id, s.connector_id) for s in placed.sessions if s.connector_id == 2} == {
        ("DEPOT-01", 2)
    }
    assert len(placed.sessions) == 11


@pytest.mark.parametrize(
    ("argv", "error"),
    [
        (["--chargers", "11"], "lists 10 chargers"),
        ([], None),
        (["--chargers", "3"], None),
    ],
)
def test_chargers_count_with_a_site_file(argv: list[str], error: str | None) -> None:
    args = _args("--config", str(EXAMPLE), *argv)
    site = read_site(str(EXAMPLE), simulate_cmd._template(args), "1.6")
    if error:
        with pytest.raises(SimulatorError, match=error):
            simulate_cmd._site_specs(args, site)
    else:
        specs = simulate_cmd._site_specs(args, site)
        assert list(specs) == list(site.ids[: len(specs)])
        assert len(specs) == int(argv[1]) if argv else 10


@pytest.mark.parametrize(
    ("server", "simulator", "same"),
    [(1.0, 1.0, True), (1.2, 1.0, True), (1.0, 60.0, False), (60.0, 1.0, False), (58, 60, True)],
)
def test_same_speed(server: float, simulator: float, same: bool) -> None:
    assert same_speed(server, simulator) is same


def _heartbeat_server(clock: StepClock, speed: float, known: set[str]):
    """A central system whose Heartbeats tell a clock running ``speed`` x the loop's time."""
    origin_s = clock.elapsed_s()

    def process_request(connection, request):
        if request.path.rsplit("/", 1)[-1] not in known:
            return connection.respond(HTTPStatus.NOT_FOUND, "unknown charge point\n")
        return None

    async def handler(ws) -> None:
        async for raw in ws:
            message = json.loads(raw)
            elapsed_s = (clock.elapsed_s() - origin_s) * speed
            now = START + timedelta(seconds=elapsed_s)
            await ws.send(json.dumps([3, message[1], {"currentTime": now.isoformat()}]))

    return serve(
        handler,
        "127.0.0.1",
        0,
        subprotocols=["ocpp1.6"],
        process_request=process_request,
    )


@pytest.mark.parametrize("speed", [1.0, 60.0, 1200.0])
def test_the_servers_clock_speed_is_measured(speed: float) -> None:
    async def main(clock: StepClock) -> float:
        async with _heartbeat_server(clock, speed, {"CP001"}) as server:
            port = next(iter(server.sockets)).getsockname()[1]
            return await measure_server_speed(f"ws://127.0.0.1:{port}/ocpp", "CP001", headers=None)

    assert run_stepped(main, START) == pytest.approx(speed, rel=0.01)


def test_a_refused_probe_names_the_charger_and_the_answer() -> None:
    async def main(clock: StepClock) -> str:
        async with _heartbeat_server(clock, 1.0, {"CP001"}) as server:
            port = next(iter(server.sockets)).getsockname()[1]
            with pytest.raises(ChargerRefused) as refused:
                await measure_server_speed(f"ws://127.0.0.1:{port}/ocpp", "CP011", headers=None)
            return str(refused.value)

    assert run_stepped(main, START) == (
        "charger CP011: refused by the server (HTTP 404: unknown charge point)"
    )
