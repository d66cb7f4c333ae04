"""What the controller confirmed survives a SIGKILL right after the confirmation."""

from __future__ import annotations

import asyncio
import signal
import socket
import sys
from asyncio.subprocess import Process
from datetime import UTC, datetime, timedelta
from pathlib import Path

from ocpp.v16 import call

from controller.store import Store
from controller.store import meter_values as meter_values_table
from tests.controller.ocpp_client import connect, meter_values

SITE = """
[site]
id = "kill-test"
grid_limit_kw = 100.0

[ocpp]
host = "127.0.0.1"
port = {port}

[store]
url = "{url}"

[api]
enabled = false

[[chargers]]
id = "CP001"
max_current_a = 32.0
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def _wait_listening(port: int, process: Process, timeout_s: float = 60) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        assert process.returncode is None, "the controller exited"
        try:
            _reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            return
        except OSError:
            assert asyncio.get_running_loop().time() < deadline, "the controller did not listen"
            await asyncio.sleep(0.1)


async def test_confirmed_meter_values_survive_sigkill(store_url, tmp_path: Path):
    port = _free_port()
    site = tmp_path / "site.toml"
    site.write_text(SITE.format(port=port, url=store_url), encoding="utf-8")
    sitecharge = Path(sys.executable).parent / "sitecharge"
    process = await asyncio.create_subprocess_exec(
        str(sitecharge),
        "serve",
        "--config",
        str(site),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        await _wait_listening(port, process)
        async with connect(f"ws://127.0.0.1:{port}/ocpp", "CP001") as cp:
            await cp.boot()
            now = datetime.now(UTC)
            start = await cp.call(
                call.StartTransaction(
                    connector_id=1, id_tag="T", meter_start=0, timestamp=now.isoformat()
                ),
                suppress=False,
            )
            for i in range(6):
                at = (now + timedelta(seconds=i + 1)).isoformat()
                await cp.call(
                    meter_values(
                        1,
                        at,
                        energy_wh=100 * i,
                        power_w=7000,
                        currents_a=(10, 10, 10),
                        transaction_id=start.transaction_id,
                    ),
                    suppress=False,
                )
            process.send_signal(signal.SIGKILL)  # right after the sixth confirmation
            await asyncio.wait_for(process.wait(), 30)
    finally:
        if process.returncode is None:
            process.kill()
            await asyncio.wait_for(process.wait(), 30)
    store = Store(store_url)
    try:
        rows = store.rows(meter_values_table, transaction_id=start.transaction_id)
        assert len(rows) == 6 * 5  # every confirmed sample of all six messages
    finally:
        store.close()
