"""Reaction time of the control loop: a limit change until every charger acknowledged its profile.

The controller (``controller.app.SiteController``, real clock, control loop on, SQLite store in
a temp folder) runs in a child process (this file with ``--serve``) and takes commands on its
stdin, one JSON object a line. This process is the site: K raw ``websockets`` chargers with
hand-made frames, each booted (BootNotification; answers GetConfiguration/ChangeConfiguration;
StatusNotification; StartTransaction; one MeterValues with Power.Active.Import) so that K
sessions exist, answering every SetChargingProfile with Accepted at once.

Each change is an operator cap (``limits.put``), alternating between a low and a high value so
that every change is a real cut or raise. t0 is taken in the server just before ``put``; t1 is
when the last charger sent its answer to the TxProfile the change caused, taken in this process.
Both are ``time.monotonic()`` (CLOCK_MONOTONIC: one clock for every process on a Linux machine).

    .venv/bin/python bench/reaction.py --sizes 200,1000 --debounce 0,1 --changes 6
    .venv/bin/python bench/reaction.py --sizes 1000 --debounce 0 --profile /tmp/reaction
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import resource
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

SCRIPT = Path(__file__).resolve()
ROOT = SCRIPT.parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

KW_PER_CHARGER = 22.08  # 32 A x 3 x 230 V
LOW_KW_PER_CHARGER = 5.0  # the two caps, per charger: both bind (every car wants more)
HIGH_KW_PER_CHARGER = 9.0


def raise_file_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


# the server process -----------------------------------------------------------------------
@dataclass
class CycleTimes:
    """Where one control cycle spent its time (time.monotonic stamps)."""

    start: float
    dispatch_start: float = float("nan")
    fanout_s: float = float("nan")  # dispatch(): the concurrent SetChargingProfile fan-out
    dispatch_end: float = float("nan")
    end: float = float("nan")
    reasons: tuple[str, ...] = ()
    cuts: int = 0
    raises: int = 0
    failed: int = 0
    solve_s: float = float("nan")
    method: str = ""
    status: str = ""


def serve(args: argparse.Namespace) -> None:
    """Child entry: run the controller; obey JSON commands on stdin; answer on stdout."""
    import logging

    from controller.app import SiteController
    from controller.config import parse_config

    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    raise_file_limit()
    chargers = args.chargers
    config = parse_config(
        {
            "site": {
                "id": "bench",
                "timezone": "Europe/Berlin",
                "grid_limit_kw": 2 * KW_PER_CHARGER * chargers,
            },
            "ocpp": {
                "host": "127.0.0.1",
                "port": 0,
                "heartbeat_interval_s": 300,
                "meter_value_sample_interval_s": 300,
                "response_timeout_s": 30,
            },
            "store": {"url": f"sqlite:///{args.db}"},
            "api": {"enabled": False, "port": 0},
            "chargers": [{"id": f"CP{i:05d}", "max_current_a": 32.0} for i in range(chargers)],
            "control": {
                "interval_s": 900,
                "horizon_h": args.horizon_h,
                "debounce_s": args.debounce_s,
                **(
                    {"solver_time_limit_s": args.solver_time_limit_s}
                    if args.solver_time_limit_s
                    else {}
                ),
                "session_defaults": {"dwell_h": 4, "energy_kwh": 40},
            },
            "tariff": {"type": "flat", "price_per_kwh": 0.30},
        },
        source="bench",
    )
    profiler = None
    if args.profile_out:
        import cProfile

        profiler = cProfile.Profile()

    async def main() -> None:
        controller = SiteController(config, method=args.method)
        cycles: list[CycleTimes] = []
        cycle_ended = asyncio.Event()
        _instrument(controller.loop, cycles, cycle_ended)
        port = await controller.start(host="127.0.0.1", port=0)
        _say({"port": port})
        commands: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        loop = asyncio.get_running_loop()

        def read_stdin() -> None:
            for line in sys.stdin:
                loop.call_soon_threadsafe(commands.put_nowait, json.loads(line))
            loop.call_soon_threadsafe(commands.put_nowait, {"cmd": "quit"})

        threading.Thread(target=read_stdin, daemon=True).start()
        while True:
            command = await commands.get()
            if command["cmd"] == "quit":
                break
            if command["cmd"] == "settle":
                await _settle(controller, cycles, command["sessions"], args.debounce_s)
                _say({"settled": len(controller.site.sessions), "cycles": len(cycles)})
            elif command["cmd"] == "cap":
                if profiler is not None:
                    profiler.enable()
                t0 = time.monotonic()
                await controller.limits.put(
                    "bench-cap",
                    source="operator",
                    kind="permanent",
                    spec={"limit_kw": command["limit_kw"]},
                    actor="bench",
                )
                t_put = time.monotonic()
                while not any(c.start >= t0 and c.end == c.end for c in cycles):
                    cycle_ended.clear()
                    await cycle_ended.wait()
                if profiler is not None:
                    profiler.disable()
                cycle = next(c for c in cycles if c.start >= t0)
                await _settle(controller, cycles, 0, args.debounce_s)
                _say({"t0": t0, "t_put": t_put, "cycle": cycle.__dict__})
        await controller.stop()
        if profiler is not None:
            profiler.dump_stats(args.profile_out)
        _say({"bye": True})

    asyncio.run(main())


def _say(message: dict[str, Any]) -> None:
    print(json.dumps(message), flush=True)


def _instrument(loop: Any, cycles: list[CycleTimes], cycle_ended: asyncio.Event) -> None:
    """Wrap the loop's cycle and dispatch (on the instance) to stamp where the time goes."""
    run_cycle, dispatch = loop.run_cycle, loop._dispatch

    async def timed_cycle(reasons: tuple[str, ...] = ("manual",)) -> Any:
        times = CycleTimes(start=time.monotonic(), reasons=reasons)
        cycles.append(times)
        try:
            record = await run_cycle(reasons)
        finally:
            times.end = time.monotonic()
            cycle_ended.set()
        times.cuts, times.raises, times.failed = record.cuts, record.raises, record.failed
        times.solve_s, times.method, times.status = record.solve_s, record.method, record.status
        return record

    async def timed_dispatch(*a: Any, **kw: Any) -> Any:
        cycles[-1].dispatch_start = time.monotonic()
        result = await dispatch(*a, **kw)
        cycles[-1].dispatch_end = time.monotonic()
        cycles[-1].fanout_s = result[0].elapsed_s
        return result

    loop.run_cycle, loop._dispatch = timed_cycle, timed_dispatch


async def _settle(controller: Any, cycles: list[CycleTimes], sessions: int, debounce_s: float):
    """Wait for the sessions to exist and the loop to go quiet (no cycle for a while)."""
    deadline = time.monotonic() + 300
    while len(controller.site.sessions) < sessions:
        if time.monotonic() > deadline:
            raise RuntimeError(f"only {len(controller.site.sessions)} of {sessions} sessions")
        await asyncio.sleep(0.05)
    quiet_s = 1.0 + debounce_s
    while time.monotonic() < deadline:
        busy = controller.loop.triggers.pending or (cycles and cycles[-1].end != cycles[-1].end)
        last_end = cycles[-1].end if cycles else 0.0
        if not busy and time.monotonic() - last_end > quiet_s:
            return
        await asyncio.sleep(0.05)
    raise RuntimeError("the control loop never went quiet")


# the chargers -----------------------------------------------------------------------------
@dataclass
class Acks:
    """Every SetChargingProfile answer sent: (monotonic when sent, charger, purpose)."""

    sent: list[tuple[float, int, str]] = field(default_factory=list)
    first_request: list[float] = field(default_factory=list)  # when requests arrived


def _now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


class RawCharger:
    def __init__(self, index: int, url: str, acks: Acks) -> None:
        self.index = index
        self.url = url
        self.acks = acks
        self.ws: Any = None
        self._ids = itertools.count(1)
        self._pending: dict[str, asyncio.Future[Any]] = {}
        self.configured = asyncio.Event()

    async def call(self, action: str, payload: dict[str, Any]) -> Any:
        unique_id = str(next(self._ids))
        future = asyncio.get_running_loop().create_future()
        self._pending[unique_id] = future
        await self.ws.send(json.dumps([2, unique_id, action, payload]))
        async with asyncio.timeout(60):
            return await future

    async def read(self) -> None:
        from websockets.exceptions import ConnectionClosed

        with contextlib.suppress(ConnectionClosed):
            async for raw in self.ws:
                frame = json.loads(raw)
                if frame[0] == 2:
                    await self._answer(frame[1], frame[2], frame[3])
                    continue
                future = self._pending.pop(frame[1], None)
                if future is not None and not future.done():
                    future.set_result(frame[2] if frame[0] == 3 else None)

    async def _answer(self, unique_id: str, action: str, payload: dict[str, Any]) -> None:
        if action == "SetChargingProfile":
            purpose = payload["csChargingProfiles"]["chargingProfilePurpose"]
            self.acks.first_request.append(time.monotonic())
            reply: list[Any] = [3, unique_id, {"status": "Accepted"}]
            self.acks.sent.append((time.monotonic(), self.index, purpose))
        elif action == "GetConfiguration":
            keys = list(payload.get("key") or [])
            reply = [3, unique_id, {"configurationKey": [], "unknownKey": keys}]
        elif action in ("ChangeConfiguration", "ClearChargingProfile"):
            reply = [3, unique_id, {"status": "Accepted"}]
        else:
            reply = [4, unique_id, "NotImplemented", f"{action} not simulated", {}]
        await self.ws.send(json.dumps(reply))
        if action == "ChangeConfiguration" and payload.get("key") == "MeterValuesSampledData":
            self.configured.set()

    async def boot(self, slots: asyncio.Semaphore) -> None:
        from websockets.asyncio.client import connect

        async with slots:
            self.ws = await connect(
                self.url,
                subprotocols=["ocpp1.6"],  # type: ignore[list-item]
                open_timeout=60,
                ping_interval=None,
                compression=None,
            )
            asyncio.create_task(self.read())  # noqa: RUF006 (ends with the socket)
            answer = await self.call(
                "BootNotification", {"chargePointVendor": "bench", "chargePointModel": "raw"}
            )
        if not answer or answer.get("status") != "Accepted":
            raise RuntimeError(f"charger {self.index}: boot answered {answer!r}")
        async with asyncio.timeout(60):
            await self.configured.wait()
        await self.call(
            "StatusNotification", {"connectorId": 1, "errorCode": "NoError", "status": "Charging"}
        )
        answer = await self.call(
            "StartTransaction",
            {"connectorId": 1, "idTag": f"T{self.index}", "meterStart": 0, "timestamp": _now_iso()},
        )
        transaction_id = answer["transactionId"]
        sampled = [
            {"value": "100", "measurand": "Energy.Active.Import.Register", "unit": "Wh"},
            {"value": "22080", "measurand": "Power.Active.Import", "unit": "W"},
        ]
        await self.call(
            "MeterValues",
            {
                "connectorId": 1,
                "transactionId": transaction_id,
                "meterValue": [{"timestamp": _now_iso(), "sampledValue": sampled}],
            },
        )


# one size ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Change:
    chargers: int
    debounce_s: float
    limit_kw: float
    reaction_s: float  # t0 to the last TxProfile answer sent by a charger
    put_s: float  # limits.put: validate, persist and audit the entry
    debounce_wait_s: float  # put done to the cycle's start
    plan_s: float  # snapshot, limits, prices, problem, optimiser, check
    solve_s: float  # the optimiser alone (in the cycle record)
    build_s: float  # profiles for every session, before the fan-out
    fanout_s: float  # dispatch(): concurrent SetChargingProfile, cuts first
    last_ack_after_fanout_s: float  # dispatch end to the last answer (negative: before)
    defaults_s: float  # cycle end - dispatch end: TxDefaultProfiles when the safe share moved
    tx_acks: int
    default_acks: int
    acks_per_s: float  # TxProfile answers per second of the fan-out
    cuts: int
    raises: int
    failed: int
    method: str
    status: str


class Server:
    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc

    async def ask(self, command: dict[str, Any], timeout_s: float = 300) -> dict[str, Any]:
        assert self.proc.stdin is not None
        self.proc.stdin.write((json.dumps(command) + "\n").encode())
        await self.proc.stdin.drain()
        return await self.read(timeout_s)

    async def read(self, timeout_s: float = 300) -> dict[str, Any]:
        assert self.proc.stdout is not None
        async with asyncio.timeout(timeout_s):
            line = await self.proc.stdout.readline()
        if not line:
            raise RuntimeError("the server ended early (see its stderr)")
        return json.loads(line)


async def run_size(chargers: int, debounce_s: float, args: argparse.Namespace) -> list[Change]:
    with tempfile.TemporaryDirectory(prefix="reaction-") as tmp:
        command = [
            sys.executable,
            str(SCRIPT),
            "--serve",
            "--chargers",
            str(chargers),
            "--db",
            str(Path(tmp) / "site.db"),
            "--debounce-s",
            str(debounce_s),
            "--method",
            args.method,
            "--horizon-h",
            str(args.horizon_h),
        ]
        if args.solver_time_limit_s:
            command += ["--solver-time-limit-s", str(args.solver_time_limit_s)]
        if args.profile:
            command += ["--profile-out", f"{args.profile}-{chargers}-{debounce_s:g}.prof"]
        proc = await asyncio.create_subprocess_exec(
            *command, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE
        )
        server = Server(proc)
        try:
            return await _drive(server, chargers, debounce_s, args)
        finally:
            if proc.returncode is None:
                with contextlib.suppress(Exception):
                    assert proc.stdin is not None
                    proc.stdin.close()
                    await asyncio.wait_for(proc.wait(), 60)
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
            if args.profile:
                print_profile(f"{args.profile}-{chargers}-{debounce_s:g}.prof", args.profile_top)


async def _drive(
    server: Server, chargers: int, debounce_s: float, args: argparse.Namespace
) -> list[Change]:
    port = (await server.read(120))["port"]
    acks = Acks()
    sims = [RawCharger(i, f"ws://127.0.0.1:{port}/ocpp/CP{i:05d}", acks) for i in range(chargers)]
    slots = asyncio.Semaphore(50)
    await asyncio.gather(*(sim.boot(slots) for sim in sims))
    await server.ask({"cmd": "settle", "sessions": chargers})
    changes = []
    for n in range(args.changes):
        per_charger = LOW_KW_PER_CHARGER if n % 2 == 0 else HIGH_KW_PER_CHARGER
        limit_kw = per_charger * chargers
        answer = await server.ask({"cmd": "cap", "limit_kw": limit_kw})
        t0, t_put, c = answer["t0"], answer["t_put"], answer["cycle"]
        tx = [t for t, _, purpose in acks.sent if t >= t0 and purpose == "TxProfile"]
        defaults = [t for t, _, p in acks.sent if t >= t0 and p == "TxDefaultProfile"]
        if len(tx) != chargers:
            print(f"  warning: {len(tx)} TxProfile answers for {chargers} chargers")
        last = max(tx) if tx else float("nan")
        changes.append(
            Change(
                chargers=chargers,
                debounce_s=debounce_s,
                limit_kw=limit_kw,
                reaction_s=last - t0,
                put_s=t_put - t0,
                debounce_wait_s=c["start"] - t_put,
                plan_s=c["dispatch_start"] - c["start"],
                solve_s=c["solve_s"],
                build_s=c["dispatch_end"] - c["dispatch_start"] - c["fanout_s"],
                fanout_s=c["fanout_s"],
                last_ack_after_fanout_s=last - c["dispatch_end"],
                defaults_s=c["end"] - c["dispatch_end"],
                tx_acks=len(tx),
                default_acks=len(defaults),
                acks_per_s=len(tx) / c["fanout_s"] if c["fanout_s"] > 0 else float("nan"),
                cuts=c["cuts"],
                raises=c["raises"],
                failed=c["failed"],
                method=c["method"],
                status=c["status"],
            )
        )
        print(
            f"  {chargers} chargers, debounce {debounce_s:g} s, cap {limit_kw:.0f} kW: "
            f"reaction {changes[-1].reaction_s:.3f} s ({c['cuts']} cuts, {c['raises']} raises, "
            f"{c['method']} {c['status']})",
            flush=True,
        )
    await asyncio.gather(*(sim.ws.close() for sim in sims), return_exceptions=True)
    return changes


def print_profile(path: str, top: int) -> None:
    import pstats

    if not Path(path).exists():
        return
    print(f"\n-- server profile {path} (the changes only): top {top} by own time --")
    stats = pstats.Stats(path)
    stats.sort_stats("tottime").print_stats(top)
    print(f"-- top {top} by cumulative time --")
    stats.sort_stats("cumulative").print_stats(top)


# the table --------------------------------------------------------------------------------
def _q(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def print_table(changes: list[Change]) -> None:
    heads = [
        "chargers",
        "debounce s",
        "changes",
        "reaction p50 s",
        "p90 s",
        "put s",
        "debounce wait s",
        "snapshot+plan s",
        "(solve s)",
        "build s",
        "fan-out s",
        "acks/s",
        "defaults s",
    ]
    rows = []
    groups: dict[tuple[int, float], list[Change]] = {}
    for change in changes:
        groups.setdefault((change.chargers, change.debounce_s), []).append(change)
    for (chargers, debounce_s), group in groups.items():

        def med(name: str, group: list[Change] = group) -> float:
            return statistics.median(getattr(c, name) for c in group)

        reactions = [c.reaction_s for c in group]
        rows.append(
            [
                f"{chargers}",
                f"{debounce_s:g}",
                f"{len(group)}",
                f"{_q(reactions, 0.5):.3f}",
                f"{_q(reactions, 0.9):.3f}",
                f"{med('put_s'):.3f}",
                f"{med('debounce_wait_s'):.3f}",
                f"{med('plan_s'):.3f}",
                f"{med('solve_s'):.3f}",
                f"{med('build_s'):.3f}",
                f"{med('fanout_s'):.3f}",
                f"{med('acks_per_s'):.0f}",
                f"{med('defaults_s'):.3f}",
            ]
        )
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(heads)]
    print("\n| " + " | ".join(h.rjust(w) for h, w in zip(heads, widths, strict=True)) + " |")
    print("|" + "|".join("-" * (w + 1) + ":" for w in widths) + "|")
    for row in rows:
        print("| " + " | ".join(v.rjust(w) for v, w in zip(row, widths, strict=True)) + " |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="200,1000")
    parser.add_argument("--debounce", default="0,1", help="debounce_s values, comma-separated")
    parser.add_argument("--changes", type=int, default=6, help="cap changes per size (>= 5)")
    parser.add_argument("--method", default="optimal")
    parser.add_argument("--horizon-h", type=float, default=24.0)
    parser.add_argument("--solver-time-limit-s", type=float, help="[control] solver_time_limit_s")
    parser.add_argument("--profile", help="cProfile the server during the changes")
    parser.add_argument("--profile-top", type=int, default=30)
    parser.add_argument("--json", help="also write every change to this file")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--chargers", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--db", help=argparse.SUPPRESS)
    parser.add_argument("--debounce-s", type=float, default=0.0, help=argparse.SUPPRESS)
    parser.add_argument("--profile-out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args)
        return
    raise_file_limit()
    changes: list[Change] = []
    for chargers in (int(s) for s in args.sizes.split(",")):
        for debounce_s in (float(d) for d in args.debounce.split(",")):
            changes += asyncio.run(
                asyncio.wait_for(run_size(chargers, debounce_s, args), 900), debug=False
            )
    print_table(changes)
    if args.json:
        Path(args.json).write_text(json.dumps([c.__dict__ for c in changes], indent=1))


if __name__ == "__main__":
    main()
