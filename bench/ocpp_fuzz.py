"""Long hostile-input runs against a running controller: the figures for the closing note.

Phases, each with a healthy charger sending a MeterValues and a Heartbeat every 100 ms:
  baseline    nothing else
  fuzz        seeded hostile frames (simulator/fuzz.py) on another charger's connection
  storm       wrong passwords for a password-protected charger, ``--storm-per-s`` per second
Prints frames tried, answers by code, violations (must be 0), the healthy charger's rows lost
(must be 0) and its round-trip latency per phase.

    .venv/bin/python bench/ocpp_fuzz.py --seeds 20 --frames 500
    .venv/bin/python bench/ocpp_fuzz.py --store postgresql+psycopg://postgres@127.0.0.1/test
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import logging
import statistics
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import websockets  # noqa: E402

from controller.app import SiteController  # noqa: E402
from controller.config import parse_config  # noqa: E402
from controller.security import hash_secret  # noqa: E402
from controller.store import meter_values  # noqa: E402
from simulator.fuzz import frames  # noqa: E402
from simulator.fuzz_run import run_fuzz  # noqa: E402


class Healthy:
    """A plain charger on a raw socket: MeterValues + Heartbeat, round trips recorded."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.rtt_s: dict[str, list[float]] = {}
        self.phase = "baseline"
        self.confirmed = 0
        self.transaction_id = 0
        self._n = 0

    async def _call(self, ws, action: str, payload: dict) -> dict:
        self._n += 1
        unique_id = f"h-{self._n}"
        started = time.perf_counter()
        await ws.send(json.dumps([2, unique_id, action, payload]))
        while True:
            reply = json.loads(await ws.recv())
            if reply[0] == 2:  # the controller's own requests: accept them
                await ws.send(json.dumps([3, reply[1], {"status": "Accepted"}]))
                continue
            if reply[1] == unique_id:
                break
        self.rtt_s.setdefault(self.phase, []).append(time.perf_counter() - started)
        if reply[0] != 3:
            raise RuntimeError(f"healthy charger got {reply}")
        return reply[2]

    async def run(self, stop: asyncio.Event) -> None:
        async with websockets.connect(f"{self.url}/CP001", subprotocols=["ocpp1.6"]) as ws:
            await self._call(
                ws, "BootNotification", {"chargePointVendor": "V", "chargePointModel": "M"}
            )
            await self._call(
                ws,
                "StatusNotification",
                {"connectorId": 1, "errorCode": "NoError", "status": "Charging"},
            )
            now = datetime.now(UTC).isoformat()
            answer = await self._call(
                ws,
                "StartTransaction",
                {"connectorId": 1, "idTag": "T", "meterStart": 0, "timestamp": now},
            )
            self.transaction_id = answer["transactionId"]
            while not stop.is_set():
                now = datetime.now(UTC).isoformat()
                sampled = [
                    {
                        "value": str(7000 + self.confirmed % 10),
                        "measurand": "Power.Active.Import",
                        "unit": "W",
                    }
                ]
                await self._call(
                    ws,
                    "MeterValues",
                    {
                        "connectorId": 1,
                        "transactionId": self.transaction_id,
                        "meterValue": [{"timestamp": now, "sampledValue": sampled}],
                    },
                )
                self.confirmed += 1
                await self._call(ws, "Heartbeat", {})
                await asyncio.sleep(0.1)


async def storm(url: str, per_s: float, seconds: float) -> Counter[int]:
    statuses: Counter[int] = Counter()
    token = base64.b64encode(b"CP002:wrong-password").decode()

    async def attempt() -> None:
        try:
            async with websockets.connect(
                f"{url}/CP002",
                subprotocols=["ocpp1.6"],
                additional_headers={"Authorization": f"Basic {token}"},
            ):
                statuses[101] += 1
        except websockets.InvalidStatus as refused:
            statuses[refused.response.status_code] += 1

    tasks = []
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        tasks.append(asyncio.create_task(attempt()))
        await asyncio.sleep(1 / per_s)
    await asyncio.gather(*tasks, return_exceptions=True)
    return statuses


def _ms(values: list[float]) -> str:
    if not values:
        return "-"
    ordered = sorted(values)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    p50 = statistics.median(ordered)
    return f"p50 {p50 * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms (n={len(ordered)})"


async def main(args: argparse.Namespace) -> None:
    store_url = args.store or f"sqlite:///{tempfile.mkdtemp()}/fuzz.db"
    config = parse_config(
        {
            "site": {"id": "fuzz", "grid_limit_kw": 500.0},
            "ocpp": {
                "host": "127.0.0.1",
                "port": 0,
                "limits": {
                    "messages_per_charger_per_s": 1000.0,
                    "message_burst": 100_000,
                    "auth_free_failures": args.free_failures,
                },
            },
            "store": {"url": store_url},
            "api": {"enabled": False},
            "chargers": [
                {"id": "CP001", "max_current_a": 32, "auth": "none"},
                {"id": "CP002", "max_current_a": 32, "password_hash": hash_secret("right")},
                {"id": "CP003", "max_current_a": 32, "auth": "none"},
            ],
        },
        source="bench",
    )
    controller = SiteController(config, control=True, method="edf")
    port = await controller.start(host="127.0.0.1", port=0)
    url = f"ws://127.0.0.1:{port}/ocpp"
    healthy = Healthy(url)
    stop = asyncio.Event()
    runner = asyncio.create_task(healthy.run(stop))
    await asyncio.sleep(3)
    healthy.phase = "fuzz"
    answers: Counter[str] = Counter()
    violations: list[str] = []
    tried = closed = 0
    started = time.perf_counter()
    for seed in range(args.seeds):
        report = await run_fuzz(url, "CP003", frames(seed, args.frames))
        tried += report.frames
        answers.update(report.answers)
        violations += report.violations
        closed += report.closed is not None
    fuzz_s = time.perf_counter() - started
    healthy.phase = "storm"
    statuses = await storm(url, args.storm_per_s, args.storm_s)
    healthy.phase = "after"
    await asyncio.sleep(1)
    stop.set()
    await runner
    cycles = controller.loop.cycles if controller.loop else 0
    await controller.stop()
    from controller.store import Store

    store = Store(store_url)
    rows = len(store.rows(meter_values, limit=10**7, charger_id="CP001"))
    store.close()
    print(f"store: {store_url.split('?')[0]}")
    print(
        f"frames tried: {tried} in {fuzz_s:.1f} s; connections closed by the controller: {closed}"
    )
    print("answers: " + ", ".join(f"{k} {v}" for k, v in answers.most_common()))
    print(f"violations: {len(violations)}")
    for line in violations[:10]:
        print("  " + line)
    print(
        f"healthy readings confirmed {healthy.confirmed}, stored {rows}, "
        f"lost {healthy.confirmed - rows}"
    )
    print(f"wrong-password storm: {args.storm_per_s:g}/s for {args.storm_s:g} s: {dict(statuses)}")
    print(f"control cycles run: {cycles}")
    for phase, values in healthy.rtt_s.items():
        print(f"healthy round trip, {phase}: {_ms(values)}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--frames", type=int, default=300)
    parser.add_argument(
        "--store", default=None, help="store URL (default: a temporary SQLite file)"
    )
    parser.add_argument("--storm-per-s", type=float, default=36.0)
    parser.add_argument("--storm-s", type=float, default=10.0)
    parser.add_argument(
        "--free-failures",
        type=int,
        default=5,
        help="auth_free_failures (a large number: every storm attempt runs PBKDF2)",
    )
    logging.basicConfig(level=logging.ERROR, stream=sys.stderr)
    asyncio.run(main(parser.parse_args()))
