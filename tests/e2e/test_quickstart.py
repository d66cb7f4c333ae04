"""The README's quick start, as a newcomer runs it: `serve` and `simulate` as real processes.

The commands are read out of README.md's quick-start section, so the test breaks when the
README changes in a way that no longer works. They run verbatim in a temporary folder holding
a copy of ``examples/`` (so ``examples/sitecharge.db`` is written there, not into the repo);
the copy's ``[ocpp]`` and ``[api]`` ports are moved to free ones so that the test does not
collide with anything on 9000 / 8080. This is a real-time test: conditions are polled with
generous bounds, never asserted after a fixed sleep.

Also: a simulator whose charger ids the server does not list says so and exits non-zero, and
`simulate --speed 60` is refused against a real-time server (and accepted against `serve
--speed 60`).
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
DEPOT_NIGHT = ("--scenario", "depot", "--start", "21:00", "--duration-h", "0.1")
CHARGE_WITHIN_S = 180.0  # meter values come once a minute in real time; generous on a busy box


def quick_start_commands() -> dict[str, list[str]]:
    """``serve`` and ``simulate`` command lines of README.md's quick start, as argv lists."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    section = text.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    commands: dict[str, list[str]] = {}
    for block in re.findall(r"```sh\n(.*?)```", section, flags=re.S):
        for line in block.splitlines():
            argv = shlex.split(line, comments=True)
            if len(argv) >= 2 and argv[0] == "sitecharge" and argv[1] in ("serve", "simulate"):
                commands[argv[1]] = argv
    assert set(commands) == {"serve", "simulate"}, f"README quick start lost a command: {commands}"
    return commands


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def site_copy(root: Path, *, rename_ids: bool = False) -> tuple[int, int]:
    """``root/examples`` with free ports (and, if asked, other charger ids); (ocpp, api) port."""
    shutil.copytree(REPO / "examples", root / "examples", ignore=shutil.ignore_patterns("*.db*"))
    site = root / "examples" / "site.toml"
    ocpp_port, api_port = free_port(), free_port()
    text = site.read_text(encoding="utf-8")
    text, n_ocpp = re.subn(r"(?m)^port = 9000\b", f"port = {ocpp_port}", text)
    text, n_api = re.subn(r"(?m)^port = 8080\b", f"port = {api_port}", text)
    assert (n_ocpp, n_api) == (1, 1), "examples/site.toml no longer serves on 9000 and 8080"
    if rename_ids:
        text = text.replace('id = "CP0', 'id = "DEPOT-')
    site.write_text(text, encoding="utf-8")
    return ocpp_port, api_port


class Proc:
    """A `sitecharge` subprocess (the console script of this venv) with its output in files."""

    def __init__(self, argv: list[str], cwd: Path, name: str) -> None:
        assert argv[0] == "sitecharge"
        self.out = cwd / f"{name}.out"
        self.err = cwd / f"{name}.err"
        with self.out.open("wb") as out, self.err.open("wb") as err:
            self.popen = subprocess.Popen(
                [str(BIN / "sitecharge"), *argv[1:]],
                cwd=cwd,
                stdout=out,
                stderr=err,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )

    def stderr(self) -> str:
        return self.err.read_text(encoding="utf-8", errors="replace")

    def stdout(self) -> str:
        return self.out.read_text(encoding="utf-8", errors="replace")

    def wait(self, timeout_s: float) -> int:
        return self.popen.wait(timeout=timeout_s)

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGINT)
            try:
                self.popen.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(timeout=10)


def get_json(url: str) -> object:
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.loads(response.read())


def wait_until(condition, timeout_s: float, what: str, procs: list[Proc]) -> object:
    deadline = time.monotonic() + timeout_s
    while True:
        for proc in procs:
            if proc.popen.poll() is not None:
                pytest.fail(
                    f"{proc.err.stem} exited ({proc.popen.returncode}) before {what}:\n"
                    f"{proc.stderr()[-3000:]}"
                )
        try:
            value = condition()
        except OSError:
            value = None
        if value:
            return value
        if time.monotonic() > deadline:
            details = "\n".join(f"--- {p.err.stem}:\n{p.stderr()[-2000:]}" for p in procs)
            pytest.fail(f"not within {timeout_s:.0f} s: {what}\n{details}")
        time.sleep(1.0)


@pytest.fixture
def procs() -> Iterator[list[Proc]]:
    started: list[Proc] = []
    yield started
    for proc in reversed(started):
        proc.stop()


def start_server(argv: list[str], root: Path, api_port: int, procs: list[Proc]) -> Proc:
    server = Proc(argv, root, "serve")
    procs.append(server)
    wait_until(
        lambda: get_json(f"http://127.0.0.1:{api_port}/site"), 60, "the API answers", [server]
    )
    return server


def test_readme_quick_start_serve_and_simulate_charge_cars(tmp_path, procs):
    commands = quick_start_commands()
    assert "examples/site.toml" in commands["serve"]
    _, api_port = site_copy(tmp_path)
    server = start_server(commands["serve"], tmp_path, api_port, procs)
    simulator = Proc(commands["simulate"], tmp_path, "simulate")
    procs.append(simulator)

    def charging() -> list[dict]:
        sessions = get_json(f"http://127.0.0.1:{api_port}/sessions")
        assert isinstance(sessions, list)
        return [s for s in sessions if s["energy_kwh"] > 0 and (s["power_kw"] or 0) > 0]

    charged = wait_until(charging, CHARGE_WITHIN_S, "cars draw power", [server, simulator])
    chargers = {s["charger_id"] for s in charged}
    assert chargers <= {f"CP{i:03d}" for i in range(1, 11)}
    sim_err = simulator.stderr()
    assert "refused" not in sim_err, sim_err[-2000:]
    assert (tmp_path / "examples" / "sitecharge.db").exists()  # the copy's store, not the repo's


def test_simulated_ids_the_server_does_not_list_are_named_and_fail(tmp_path, procs):
    ocpp_port, api_port = site_copy(tmp_path, rename_ids=True)  # the server lists DEPOT-01..10
    start_server(
        ["sitecharge", "serve", "--config", "examples/site.toml"], tmp_path, api_port, procs
    )
    url = f"ws://127.0.0.1:{ocpp_port}/ocpp"
    simulator = Proc(
        ["sitecharge", "simulate", "--url", url, "--chargers", "10", "--no-progress"],
        tmp_path,
        "simulate",
    )
    procs.append(simulator)
    assert simulator.wait(90) == 1
    err = simulator.stderr()
    assert "charger CP001: refused by the server (HTTP 404: unknown charge point CP001)" in err
    assert "no charger could connect" in err and "--config SITE.toml" in err


def test_speed_is_refused_against_a_real_time_server_and_accepted_at_the_same_speed(
    tmp_path, procs
):
    _, api_port = site_copy(tmp_path)
    config = ["--config", "examples/site.toml"]
    server = start_server(["sitecharge", "serve", *config], tmp_path, api_port, procs)
    simulator = Proc(
        ["sitecharge", "simulate", *config, "--speed", "60", "--no-progress"], tmp_path, "sim60"
    )
    assert simulator.wait(90) == 2
    err = simulator.stderr()
    measured = re.search(r"the server's clock runs at ([0-9.]+)x \(measured\)", err)
    assert measured and 0.5 < float(measured.group(1)) < 2, err
    assert "this simulation at 60x" in err
    assert "--speed 60" in err
    server.stop()

    fast = start_server(
        ["sitecharge", "serve", *config, "--speed", "60"], tmp_path, api_port, procs
    )
    run = Proc(
        ["sitecharge", "simulate", *config, "--speed", "60", "--no-progress", *DEPOT_NIGHT],
        tmp_path,
        "sim60ok",
    )
    procs.append(run)
    assert run.wait(120) == 0, run.stderr()[-3000:]
    assert "boots                    10" in run.stdout()
    delivered = re.search(r"energy_delivered_kwh\s+([0-9.]+)", run.stdout())
    assert delivered and float(delivered.group(1)) > 0, run.stdout()
    assert fast.popen.poll() is None
