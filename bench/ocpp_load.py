"""Load on the OCPP central system: K chargers, each a Heartbeat and a MeterValues per period.

The server runs in a child process (this file with ``--serve``) so that its CPU time and
memory can be read from /proc; this process is the load generator: raw ``websockets``
clients with hand-made JSON frames (the ``ocpp`` client is too heavy for thousands of
chargers on two cores). Each charger boots (BootNotification, answers the server's
GetConfiguration/ChangeConfiguration, StatusNotification, StartTransaction), then sends a
Heartbeat at its own phase of the period and a MeterValues half a period later, never more
than one call outstanding (as OCPP requires). With ``--ocpp-version 2.0.1`` the chargers are
2.0.1 stations: BootNotification, GetVariables/SetVariables answered, StatusNotification,
TransactionEvent Started, then a Heartbeat and a TransactionEvent Updated with the same meter
values per period. Figures are taken over a steady window after a
warm-up. The generator shares the machine's cores with the server: its CPU is printed too,
and its event loop adds to the round trips it measures.

    .venv/bin/python bench/ocpp_load.py --sizes 100,1000,2000 --window-s 40 --runs 2
    .venv/bin/python bench/ocpp_load.py --sizes 1000 --profile /tmp/ocpp_load   # cProfile
    .venv/bin/python bench/ocpp_load.py --sizes 2000 --ocpp-version 2.0.1
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import resource
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024


def raise_file_limit() -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


# the server process -----------------------------------------------------------------------
def serve(
    chargers: int,
    db_path: str,
    heartbeat_s: int,
    listed: bool,
    control: bool,
    profile: str | None,
) -> None:
    """Child entry: run the controller until stdin closes; print its port on stdout."""
    import logging
    from inspect import signature

    from controller.app import SiteController
    from controller.config import parse_config

    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    raise_file_limit()
    charger_list = (
        [{"id": f"CP{i:05d}", "max_current_a": 32.0} for i in range(chargers)] if listed else []
    )
    config = parse_config(
        {
            "site": {"id": "bench", "grid_limit_kw": 10_000.0},
            "ocpp": {
                "host": "127.0.0.1",
                "port": 0,
                "heartbeat_interval_s": heartbeat_s,
                "meter_value_sample_interval_s": heartbeat_s,
                "allow_unknown_chargers": not listed,
                "response_timeout_s": 30.0,
            },
            "store": {"url": f"sqlite:///{db_path}"},
            "chargers": charger_list,
        },
        source="bench",
    )

    async def main() -> None:
        # The control cycle (optimiser) is off unless asked for: this measures the OCPP side.
        options = {"control": control} if "control" in signature(SiteController).parameters else {}
        controller = SiteController(config, **options)
        port = await controller.start(host="127.0.0.1", port=0)
        print(f"PORT {port}", flush=True)
        loop = asyncio.get_running_loop()
        done = asyncio.Event()
        threading.Thread(
            target=lambda: (sys.stdin.read(), loop.call_soon_threadsafe(done.set)), daemon=True
        ).start()
        lags: list[tuple[float, float]] = []
        watcher = asyncio.create_task(watch_lag(lags))
        await done.wait()
        watcher.cancel()
        await controller.stop()
        print("LAG " + json.dumps(lags), flush=True)

    if profile is None:
        asyncio.run(main())
        return
    import cProfile

    profiler = cProfile.Profile()
    profiler.enable()
    try:
        asyncio.run(main())
    finally:
        profiler.disable()
        profiler.dump_stats(profile)


async def watch_lag(lags: list[tuple[float, float]], step_s: float = 0.05) -> None:
    """Record how late the server's event loop wakes up: (when, lateness [s])."""
    while True:
        before = time.perf_counter()
        await asyncio.sleep(step_s)
        lags.append((before, time.perf_counter() - before - step_s))


def machine_busy_s() -> float:
    """CPU seconds all cores have spent busy since boot (from /proc/stat)."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return (sum(fields[:8]) - idle) / CLOCK_TICKS


@dataclass
class ServerProcess:
    proc: subprocess.Popen[str]
    port: int

    def cpu_s(self) -> tuple[float, float]:
        """(main thread, other threads) CPU seconds so far."""
        main_s = other_s = 0.0
        task_dir = Path(f"/proc/{self.proc.pid}/task")
        for task in task_dir.iterdir():
            try:
                stat = (task / "stat").read_text()
            except OSError:
                continue  # the thread ended meanwhile
            fields = stat.rsplit(")", 1)[1].split()
            seconds = (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
            if int(task.name) == self.proc.pid:
                main_s += seconds
            else:
                other_s += seconds
        return main_s, other_s

    def memory_mb(self) -> tuple[float, float]:
        """(current RSS, peak RSS) in MB."""
        values = {}
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            name, _, rest = line.partition(":")
            if name in ("VmRSS", "VmHWM"):
                values[name] = int(rest.split()[0]) / 1024
        return values["VmRSS"], values["VmHWM"]


def start_server(
    chargers: int, db_path: str, args: argparse.Namespace, profile: str | None
) -> ServerProcess:
    command = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--serve",
        "--chargers",
        str(chargers),
        "--db",
        db_path,
        "--server-heartbeat-s",
        str(args.server_heartbeat_s),
    ]
    if args.unknown_chargers:
        command.append("--unknown-chargers")
    if args.control:
        command.append("--control")
    if profile:
        command += ["--profile-out", profile]
    proc = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line.startswith("PORT "):
        proc.kill()
        raise RuntimeError(f"server did not start (said {line!r})")
    return ServerProcess(proc, int(line.split()[1]))


def stop_server(server: ServerProcess, timeout_s: float = 120.0) -> list[tuple[float, float]]:
    """Stop the server; returns its event-loop lateness samples."""
    try:
        out, _ = server.proc.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        server.proc.kill()
        server.proc.wait()
        return []
    for line in out.splitlines():
        if line.startswith("LAG "):
            return [tuple(pair) for pair in json.loads(line[4:])]
    return []


# the load generator -----------------------------------------------------------------------
@dataclass
class Stats:
    """Everything the simulated chargers observed, for the whole run."""

    calls: list[tuple[float, float, str]] = field(default_factory=list)  # (sent, rtt_s, action)
    lost: list[tuple[float, str]] = field(default_factory=list)  # (sent, action), no answer
    errors: int = 0  # CALLERRORs received
    frames_sent: int = 0
    frames_received: int = 0
    booted_at: list[float] = field(default_factory=list)
    ready_at: list[float] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)


def _now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def meter_values_payload(transaction_id: int | None, energy_wh: int) -> dict[str, Any]:
    """The sampled data the server asks for: energy, power, current per phase, offered, SoC."""
    sampled = [
        {"value": str(energy_wh), "measurand": "Energy.Active.Import.Register", "unit": "Wh"},
        {"value": "11040", "measurand": "Power.Active.Import", "unit": "W"},
        *(
            {"value": "16.0", "measurand": "Current.Import", "phase": phase, "unit": "A"}
            for phase in ("L1", "L2", "L3")
        ),
        {"value": "16", "measurand": "Current.Offered", "unit": "A"},
        {"value": "42", "measurand": "SoC", "unit": "Percent"},
    ]
    payload: dict[str, Any] = {
        "connectorId": 1,
        "meterValue": [{"timestamp": _now_iso(), "sampledValue": sampled}],
    }
    if transaction_id is not None:
        payload["transactionId"] = transaction_id
    return payload


def transaction_event_payload(
    event_type: str, transaction_id: str, seq_no: int, energy_wh: int | None
) -> dict[str, Any]:
    """An OCPP 2.0.1 TransactionEvent with the same sampled data as the 1.6 MeterValues."""
    payload: dict[str, Any] = {
        "eventType": event_type,
        "timestamp": _now_iso(),
        "triggerReason": "Authorized" if event_type == "Started" else "MeterValuePeriodic",
        "seqNo": seq_no,
        "transactionInfo": {"transactionId": transaction_id, "chargingState": "Charging"},
        "evse": {"id": 1, "connectorId": 1},
    }
    if event_type == "Started":
        payload["idToken"] = {"idToken": "BENCH", "type": "ISO14443"}
    if energy_wh is not None:
        sampled = [
            {"value": energy_wh, "measurand": "Energy.Active.Import.Register"},
            {"value": 11040, "measurand": "Power.Active.Import"},
            *(
                {"value": 16.0, "measurand": "Current.Import", "phase": phase}
                for phase in ("L1", "L2", "L3")
            ),
            {"value": 16, "measurand": "Current.Offered"},
            {"value": 42, "measurand": "SoC"},
        ]
        payload["meterValue"] = [{"timestamp": _now_iso(), "sampledValue": sampled}]
    return payload


def _ref(item: dict[str, Any]) -> dict[str, Any]:
    return {"component": item["component"], "variable": item["variable"]}


class SimCharger:
    """One charger: a websocket, a reader that answers the server, and a call/answer pairing."""

    def __init__(
        self, charger_id: str, url: str, stats: Stats, timeout_s: float, version: str = "1.6"
    ) -> None:
        self.version = version
        self.charger_id = charger_id
        self.url = url
        self.stats = stats
        self.timeout_s = timeout_s
        self.ws: Any = None
        self.reader: asyncio.Task[None] | None = None
        self._ids = itertools.count(1)
        self._pending: dict[str, tuple[asyncio.Future[Any], float, str]] = {}
        self.server_requests = 0
        self.configured = asyncio.Event()
        self.transaction_id: int | None = None
        self.energy_wh = 0

    async def call(self, action: str, payload: dict[str, Any]) -> Any:
        unique_id = str(next(self._ids))
        future = asyncio.get_running_loop().create_future()
        sent = time.perf_counter()
        self._pending[unique_id] = (future, sent, action)
        await self.ws.send(json.dumps([2, unique_id, action, payload]))
        self.stats.frames_sent += 1
        try:
            async with asyncio.timeout(self.timeout_s):
                return await future
        except TimeoutError:
            self._pending.pop(unique_id, None)
            self.stats.lost.append((sent, action))
            return None

    async def read(self) -> None:
        from websockets.exceptions import ConnectionClosed

        with contextlib.suppress(ConnectionClosed):
            await self._read()

    async def _read(self) -> None:
        async for raw in self.ws:
            received = time.perf_counter()
            self.stats.frames_received += 1
            frame = json.loads(raw)
            if frame[0] == 2:
                await self._answer(frame[1], frame[2], frame[3])
                continue
            entry = self._pending.pop(frame[1], None)
            if entry is None:
                continue
            future, sent, action = entry
            self.stats.calls.append((sent, received - sent, action))
            if frame[0] == 4:
                self.stats.errors += 1
                future.set_result(None)
            elif not future.done():
                future.set_result(frame[2])

    async def _answer(self, unique_id: str, action: str, payload: dict[str, Any]) -> None:
        if action == "GetConfiguration":
            reply: list[Any] = [
                3,
                unique_id,
                {"configurationKey": [], "unknownKey": list(payload.get("key") or [])},
            ]
        elif action == "ChangeConfiguration":
            reply = [3, unique_id, {"status": "Accepted"}]
        elif action == "GetVariables":
            results = [
                {"attributeStatus": "UnknownVariable", **_ref(item)}
                for item in payload.get("getVariableData", [])
            ]
            reply = [3, unique_id, {"getVariableResult": results}]
        elif action == "SetVariables":
            results = [
                {"attributeStatus": "Accepted", **_ref(item)}
                for item in payload.get("setVariableData", [])
            ]
            reply = [3, unique_id, {"setVariableResult": results}]
        else:
            reply = [4, unique_id, "NotImplemented", f"{action} not simulated", {}]
        await self.ws.send(json.dumps(reply))
        self.stats.frames_sent += 1
        self.server_requests += 1
        if action == "ChangeConfiguration" and payload.get("key") == "MeterValuesSampledData":
            self.configured.set()
        if action == "SetVariables" and any(
            item["variable"]["name"] == "TxUpdatedMeasurands"
            for item in payload.get("setVariableData", [])
        ):
            self.configured.set()

    async def boot(self, connect_slots: asyncio.Semaphore) -> bool:
        from websockets.asyncio.client import connect

        async with connect_slots:
            self.ws = await connect(
                self.url,
                subprotocols=[f"ocpp{self.version}"],  # type: ignore[list-item]
                open_timeout=60,
                ping_interval=None,
                compression=None,
                max_queue=4,
            )
            self.reader = asyncio.create_task(self.read())  # ends with the socket
            boot = (
                {"chargingStation": {"vendorName": "bench", "model": "raw-ws"}, "reason": "PowerUp"}
                if self.version == "2.0.1"
                else {"chargePointVendor": "bench", "chargePointModel": "raw-ws"}
            )
            answer = await self.call("BootNotification", boot)
        if not answer or answer.get("status") != "Accepted":
            self.stats.failures.append(f"{self.charger_id}: boot answered {answer!r}")
            return False
        self.stats.booted_at.append(time.perf_counter())
        try:
            async with asyncio.timeout(self.timeout_s):
                await self.configured.wait()
        except TimeoutError:
            self.stats.failures.append(f"{self.charger_id}: configuration never finished")
        if self.version == "2.0.1":
            status = {
                "timestamp": _now_iso(),
                "connectorStatus": "Occupied",
                "evseId": 1,
                "connectorId": 1,
            }
            await self.call("StatusNotification", status)
            started = transaction_event_payload("Started", self.charger_id + "-tx", 0, 0)
            await self.call("TransactionEvent", started)
            self.stats.ready_at.append(time.perf_counter())
            return True
        await self.call(
            "StatusNotification", {"connectorId": 1, "errorCode": "NoError", "status": "Charging"}
        )
        answer = await self.call(
            "StartTransaction",
            {"connectorId": 1, "idTag": "BENCH", "meterStart": 0, "timestamp": _now_iso()},
        )
        self.transaction_id = (answer or {}).get("transactionId")
        self.stats.ready_at.append(time.perf_counter())
        return True

    async def steady(self, first_s: float, period_s: float) -> None:
        """Heartbeat at the charger's phase, MeterValues half a period later, forever."""
        tick = first_s
        while True:
            await asyncio.sleep(max(0.0, tick - time.perf_counter()))
            await self.call("Heartbeat", {})
            await asyncio.sleep(max(0.0, tick + period_s / 2 - time.perf_counter()))
            self.energy_wh += 31
            if self.version == "2.0.1":
                seq_no = self.energy_wh // 31
                event = transaction_event_payload(
                    "Updated", self.charger_id + "-tx", seq_no, self.energy_wh
                )
                await self.call("TransactionEvent", event)
            else:
                await self.call(
                    "MeterValues", meter_values_payload(self.transaction_id, self.energy_wh)
                )
            tick += period_s

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()


@dataclass(frozen=True)
class Row:
    chargers: int
    boot_s: float  # first connect to the last BootNotification answer
    ready_s: float  # ... to the last charger configured and in a transaction
    server_cpu_pct: float  # of one core, over the window
    loop_cpu_pct: float  # the event-loop thread alone
    server_rss_mb: float
    server_peak_mb: float
    rtt_p50_ms: float
    rtt_p99_ms: float
    rtt_max_ms: float
    handled_per_s: float
    offered_per_s: float
    lost: int
    gen_cpu_pct: float
    others_cpu_pct: float  # everything else on the machine during the window
    audit_rows: int
    audit_expected: int
    window: tuple[float, float] = (0.0, 0.0)  # perf_counter at its start and end
    lag_p99_ms: float = float("nan")  # server event loop waking late
    lag_max_ms: float = float("nan")


async def load(server: ServerProcess, chargers: int, args: argparse.Namespace) -> Row:
    stats = Stats()
    prefix = f"ws://127.0.0.1:{server.port}/ocpp/"
    sims = [
        SimCharger(f"CP{i:05d}", prefix + f"CP{i:05d}", stats, 30.0, args.ocpp_version)
        for i in range(chargers)
    ]
    slots = asyncio.Semaphore(args.connect_concurrency)
    t0 = time.perf_counter()
    booted = await asyncio.gather(*(sim.boot(slots) for sim in sims), return_exceptions=True)
    bad = [b for b in booted if b is not True]
    if bad:
        raise RuntimeError(f"{len(bad)} chargers failed to boot, e.g. {bad[0]!r}")
    boot_s = max(stats.booted_at) - t0
    ready_s = max(stats.ready_at) - t0

    period_s = args.period_s
    start = time.perf_counter() + 0.5
    tasks = [
        asyncio.create_task(sim.steady(start + period_s * i / chargers, period_s))
        for i, sim in enumerate(sims)
    ]
    await asyncio.sleep(0.5 + args.warmup_s)
    window_start = time.perf_counter()
    cpu_before = server.cpu_s()
    gen_before = time.process_time()
    busy_before = machine_busy_s()
    await asyncio.sleep(args.window_s)
    window_end = time.perf_counter()
    cpu_after = server.cpu_s()
    gen_after = time.process_time()
    busy_after = machine_busy_s()
    rss_mb, peak_mb = server.memory_mb()
    await asyncio.sleep(args.grace_s)  # let calls sent in the window finish or time out
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    await asyncio.sleep(1.0)  # answers still on their way, so the server sees no closed socket
    await asyncio.gather(*(sim.close() for sim in sims), return_exceptions=True)

    steady = {"Heartbeat", "MeterValues", "TransactionEvent"}
    in_window = [
        rtt
        for sent, rtt, action in stats.calls
        if window_start <= sent < window_end and action in steady
    ]
    handled = sum(
        1
        for sent, rtt, action in stats.calls
        if action in steady and window_start <= sent + rtt < window_end
    )
    lost = sum(1 for sent, action in stats.lost if window_start <= sent < window_end)
    # calls sent in the window and still unanswered when the load stopped count as lost
    for sim in sims:
        lost += sum(1 for _, sent, a in sim._pending.values() if window_start <= sent < window_end)
    in_window.sort()
    window_s = window_end - window_start
    main_s = cpu_after[0] - cpu_before[0]
    total_s = main_s + cpu_after[1] - cpu_before[1]
    return Row(
        chargers=chargers,
        boot_s=boot_s,
        ready_s=ready_s,
        server_cpu_pct=100 * total_s / window_s,
        loop_cpu_pct=100 * main_s / window_s,
        server_rss_mb=rss_mb,
        server_peak_mb=peak_mb,
        rtt_p50_ms=1000 * _quantile(in_window, 0.50),
        rtt_p99_ms=1000 * _quantile(in_window, 0.99),
        rtt_max_ms=1000 * (in_window[-1] if in_window else float("nan")),
        handled_per_s=handled / window_s,
        offered_per_s=2 * chargers / period_s,
        lost=lost,
        gen_cpu_pct=100 * (gen_after - gen_before) / window_s,
        others_cpu_pct=100
        * (busy_after - busy_before - total_s - (gen_after - gen_before))
        / window_s,
        audit_rows=0,
        audit_expected=stats.frames_sent + stats.frames_received,
        window=(window_start, window_end),
    )


def _quantile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return float("nan")
    index = min(len(sorted_values) - 1, round(q * (len(sorted_values) - 1)))
    return sorted_values[index]


def run_size(chargers: int, args: argparse.Namespace, run: int) -> Row:
    with tempfile.TemporaryDirectory(prefix="ocpp_load-") as tmp:
        db_path = str(Path(tmp) / "store.db")
        profile = f"{args.profile}-{chargers}.prof" if args.profile else None
        server = start_server(chargers, db_path, args, profile)
        try:
            row = asyncio.run(load(server, chargers, args))
        finally:
            lags = stop_server(server)
        with contextlib.closing(sqlite3.connect(db_path)) as db:
            (audit_rows,) = db.execute("SELECT count(*) FROM ocpp_messages").fetchone()
    late = sorted(lag for when, lag in lags if row.window[0] <= when < row.window[1])
    row = Row(
        **{
            **row.__dict__,
            "audit_rows": audit_rows,
            "lag_p99_ms": 1000 * _quantile(late, 0.99),
            "lag_max_ms": 1000 * (late[-1] if late else float("nan")),
        }
    )
    if profile:
        print_profile(profile, args.profile_top)
    return row


def print_profile(path: str, top: int) -> None:
    import pstats

    print(f"\n-- server profile {path}: top {top} by own time --")
    stats = pstats.Stats(path)
    stats.sort_stats("tottime").print_stats(top)
    print(f"-- top {top} by cumulative time --")
    stats.sort_stats("cumulative").print_stats(top)


# the table --------------------------------------------------------------------------------
COLUMNS = [
    ("chargers", "chargers", "{:d}"),
    ("boot s", "boot_s", "{:.1f}"),
    ("ready s", "ready_s", "{:.1f}"),
    ("srv CPU%", "server_cpu_pct", "{:.1f}"),
    ("loop%", "loop_cpu_pct", "{:.1f}"),
    ("RSS MB", "server_rss_mb", "{:.0f}"),
    ("peak MB", "server_peak_mb", "{:.0f}"),
    ("p50 ms", "rtt_p50_ms", "{:.1f}"),
    ("p99 ms", "rtt_p99_ms", "{:.1f}"),
    ("max ms", "rtt_max_ms", "{:.0f}"),
    ("handled/s", "handled_per_s", "{:.0f}"),
    ("offered/s", "offered_per_s", "{:.0f}"),
    ("lost", "lost", "{:d}"),
    ("lag p99", "lag_p99_ms", "{:.0f}"),
    ("lag max", "lag_max_ms", "{:.0f}"),
    ("gen CPU%", "gen_cpu_pct", "{:.1f}"),
    ("others%", "others_cpu_pct", "{:.0f}"),
    ("audit rows", "audit_rows", "{:d}"),
    ("frames", "audit_expected", "{:d}"),
]


def print_table(rows: list[Row], title: str) -> None:
    cells = [[fmt.format(getattr(r, name)) for _, name, fmt in COLUMNS] for r in rows]
    widths = [max(len(head), *(len(c[i]) for c in cells)) for i, (head, _, _) in enumerate(COLUMNS)]
    print(f"\n{title}")
    print("  ".join(head.rjust(w) for (head, _, _), w in zip(COLUMNS, widths, strict=True)))
    for c in cells:
        print("  ".join(v.rjust(w) for v, w in zip(c, widths, strict=True)))


def median_row(rows: list[Row]) -> Row:
    values: dict[str, Any] = {}
    for name, value in rows[0].__dict__.items():
        if name == "window":
            values[name] = value
            continue
        sample = [getattr(r, name) for r in rows]
        median = statistics.median(sample)
        values[name] = round(median) if isinstance(value, int) else median
    return Row(**values)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100,1000,2000")
    parser.add_argument("--window-s", type=float, default=40.0)
    parser.add_argument("--warmup-s", type=float, default=10.0)
    parser.add_argument("--grace-s", type=float, default=3.0)
    parser.add_argument("--period-s", type=float, default=10.0)
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--connect-concurrency", type=int, default=50)
    parser.add_argument("--server-heartbeat-s", type=int, default=10)
    parser.add_argument(
        "--unknown-chargers",
        action="store_true",
        help="empty charger list with allow_unknown_chargers (default: every charger listed)",
    )
    parser.add_argument(
        "--control", action="store_true", help="run the control cycle too (default: OCPP only)"
    )
    parser.add_argument("--ocpp-version", choices=("1.6", "2.0.1"), default="1.6")
    parser.add_argument("--profile", help="cProfile the server; stats go to PROFILE-<K>.prof")
    parser.add_argument("--profile-top", type=int, default=25)
    parser.add_argument("--json", help="also write every row to this file")
    # the server child
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--chargers", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--db", help=argparse.SUPPRESS)
    parser.add_argument("--profile-out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(
            args.chargers,
            args.db,
            args.server_heartbeat_s,
            not args.unknown_chargers,
            args.control,
            args.profile_out,
        )
        return

    raise_file_limit()
    sizes = [int(s) for s in args.sizes.split(",")]
    runs: dict[int, list[Row]] = {k: [] for k in sizes}
    for run in range(args.runs):
        for k in sizes:
            row = run_size(k, args, run)
            runs[k].append(row)
            print_table([row], f"run {run + 1}, {k} chargers")
    all_rows = [r for k in sizes for r in runs[k]]
    if args.runs > 1:
        print_table(all_rows, "every run")
    print_table(
        [median_row(runs[k]) for k in sizes],
        f"OCPP {args.ocpp_version} load, median of {args.runs} run(s); "
        f"{args.window_s:.0f} s window, "
        f"Heartbeat + MeterValues every {args.period_s:.0f} s per charger"
        + (" (server under cProfile)" if args.profile else ""),
    )
    if args.json:
        Path(args.json).write_text(json.dumps([r.__dict__ for r in all_rows], indent=1))


if __name__ == "__main__":
    main()
