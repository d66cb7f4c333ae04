"""The controller's VEN against a real openleadr VTN over HTTP on 127.0.0.1.

Events go VTN -> VEN -> LimitBook -> control loop; opt answers and telemetry come back.
The VTN sets a 1 s poll interval; no certificates, no signatures.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from openleadr import OpenADRServer, objects, utils

from controller.dr import start_dr_sources, stop_dr_sources
from controller.dr.openadr import OpenAdrSource
from controller.limits import effective_limits
from controller.units import kw_from_a
from tests.controller.site_factory import running, site_config

VEN_ID = "ven-under-test"
GRID_KW = 100.0
SIMPLE_MAP = {"1": 70.0, "2": 45.0, "3": 20.0}

pytestmark = pytest.mark.filterwarnings("ignore:It is recommended to use web.AppKey")


class Vtn:
    """An openleadr VTN that records opt answers and telemetry values."""

    def __init__(self, port: int = 0) -> None:
        self.opts: list[tuple[str, str]] = []
        self.reports: list[tuple[datetime, float]] = []
        self.server = OpenADRServer(
            vtn_id="TESTVTN",
            http_host="127.0.0.1",
            http_port=port,
            requested_poll_freq=timedelta(seconds=1),
            show_fingerprint=False,
        )
        opts, reports = self.opts, self.reports

        # Plain functions: the VTN inspects their signatures.
        def on_create_party_registration(registration_info):
            return VEN_ID, "registration-1"

        def on_update_report(data):
            reports.extend(data)

        def on_register_report(
            ven_id,
            resource_id,
            measurement,
            unit,
            scale,
            min_sampling_interval,
            max_sampling_interval,
        ):
            return on_update_report, max(min_sampling_interval, timedelta(seconds=1))

        def on_opt(ven_id, event_id, opt_type):
            opts.append((event_id, opt_type))

        self.on_opt = on_opt
        self.server.add_handler("on_create_party_registration", on_create_party_registration)
        self.server.add_handler("on_register_report", on_register_report)

    @property
    def url(self) -> str:
        port = self.server.app_runner.addresses[0][1]
        return f"http://127.0.0.1:{port}/OpenADR2/Simple/2.0b"

    def add(self, event_id: str, name: str, kind: str, payloads: list[float], start: datetime):
        intervals = [
            objects.Interval(
                dtstart=start + timedelta(minutes=15 * i),
                duration=timedelta(minutes=15),
                signal_payload=payload,
            )
            for i, payload in enumerate(payloads)
        ]
        self.server.add_event(
            ven_id=VEN_ID,
            signal_name=name,
            signal_type=kind,
            intervals=intervals,
            event_id=event_id,
            callback=self.on_opt,
        )

    def modify(self, event_id: str, payloads: list[float]) -> None:
        """Replace the intervals of an event and raise its modification number."""
        event = utils.find_by(self.server.events[VEN_ID], "event_descriptor.event_id", event_id)
        signal = event.event_signals[0]
        start = signal.intervals[0].dtstart
        signal.intervals = [
            objects.Interval(
                dtstart=start + timedelta(minutes=15 * i),
                duration=timedelta(minutes=15),
                signal_payload=payload,
            )
            for i, payload in enumerate(payloads)
        ]
        event.active_period = utils.get_active_period_from_intervals(signal.intervals, False)
        utils.increment_event_modification_number(event)
        self.server.event_callbacks[event_id] = (event, self.on_opt)
        self.server.events_updated[VEN_ID] = True

    def opt_of(self, event_id: str) -> list[str]:
        return [opt for eid, opt in self.opts if eid == event_id]


@contextlib.asynccontextmanager
async def vtn_running(port: int = 0):
    vtn = Vtn(port)
    await vtn.server.run()
    try:
        yield vtn
    finally:
        await vtn.server.stop()


def controller_config(tmp_path: Path, vtn_url: str, chargers: int = 3):
    return site_config(
        f"sqlite:///{tmp_path / 'store.db'}",
        chargers=chargers,
        site={"grid_limit_kw": GRID_KW},
        control={"debounce_s": 0.0},
        dr={
            "openadr": {
                "vtn_url": vtn_url,
                "ven_name": "sitecharge-test",
                "simple_levels_kw": SIMPLE_MAP,
                "telemetry_min_sampling_s": 1,
                "retry_s": 0.5,
            }
        },
    )


@contextlib.asynccontextmanager
async def controller_with_ven(config, **kwargs: Any):
    # The controller starts the sources its config names, and stops them with itself.
    async with running(config, **kwargs) as controller:
        (ven,) = controller.dr_sources
        assert isinstance(ven, OpenAdrSource)
        await ven.wait_registered(10.0)
        yield controller, ven


async def until(predicate: Callable[[], bool], what: str, timeout_s: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


def quarter_after(minutes: int) -> datetime:
    """A quarter-hour boundary at least ``minutes`` from now (events in the near future)."""
    now = datetime.now(UTC) + timedelta(minutes=minutes)
    return now.replace(minute=now.minute - now.minute % 15, second=0, microsecond=0)


def active_specs(controller, event_id: str) -> dict[str, dict[str, Any]]:
    return {
        e.entry_id: e.spec
        for e in controller.limits.active()
        if e.source == "openadr" and e.spec.get("event_id") == event_id
    }


async def test_dispatch_and_capacity_events_become_limits_that_combine_to_the_lowest(tmp_path):
    async with vtn_running() as vtn:
        config = controller_config(tmp_path, vtn.url)
        async with controller_with_ven(config) as (controller, ven):
            base = quarter_after(60)
            vtn.add("dispatch", "LOAD_DISPATCH", "setpoint", [60.0, 40.0], base)
            vtn.add(
                "capacity",
                "LOAD_CONTROL",
                "x-loadControlCapacity",
                [0.5, 0.5],
                base + timedelta(minutes=15),
            )
            await until(lambda: len(vtn.opts) == 2, "both opt answers")
            assert sorted(vtn.opts) == [("capacity", "optIn"), ("dispatch", "optIn")]

            dispatch = active_specs(controller, "dispatch")
            capacity = active_specs(controller, "capacity")
            assert {k: v["limit_kw"] for k, v in dispatch.items()} == {
                "openadr:dispatch:0": 60.0,
                "openadr:dispatch:1": 40.0,
            }
            assert {k: v["limit_kw"] for k, v in capacity.items()} == {
                "openadr:capacity:0": 0.5 * GRID_KW,
                "openadr:capacity:1": 0.5 * GRID_KW,
            }
            assert (
                dispatch["openadr:dispatch:1"]["start_utc"]
                == (base + timedelta(minutes=15)).isoformat()
            )

            starts = [base + timedelta(minutes=15 * i) for i in range(-1, 4)]
            ends = [s + timedelta(minutes=15) for s in starts]
            windows = controller.limits.windows(starts[0], ends[-1])
            limits = effective_limits(GRID_KW, windows, starts, ends)
            # grid | dispatch 60 | min(dispatch 40, capacity 50) | capacity 50 | grid
            assert list(limits.limit_kw) == [GRID_KW, 60.0, 40.0, 50.0, GRID_KW]
            assert limits.source[1] == "openadr:openadr:dispatch:0"
            assert limits.source[3] == "openadr:openadr:capacity:1"

            # The book woke the control loop: its latest plan carries the event's limits.
            await until(
                lambda: (
                    controller.loop.state.limits is not None
                    and min(controller.loop.state.limits.limit_kw) == pytest.approx(40.0)
                ),
                "a re-plan under the event",
            )

            # Telemetry: the VTN asked for the site's power and receives the meter reading.
            controller.site.site_meter_kw = 42.5
            controller.site.site_meter_utc = datetime.now(UTC)
            await until(lambda: any(v == 42.5 for _, v in vtn.reports), "a telemetry report")
            status = json.loads(json.dumps(ven.status()))  # JSON-ready for the API
            assert status["registered"] and status["poll_interval_s"] == 1.0
            assert status["events"]["dispatch"]["entry_ids"] == sorted(dispatch)


async def test_modification_replaces_the_windows_and_cancellation_withdraws_them(tmp_path):
    async with vtn_running() as vtn:
        async with controller_with_ven(controller_config(tmp_path, vtn.url)) as (controller, ven):
            base = quarter_after(60)
            vtn.add("simple", "SIMPLE", "level", [1, 3], base)
            await until(lambda: vtn.opt_of("simple") == ["optIn"], "the first answer")
            levels = {k: v["limit_kw"] for k, v in active_specs(controller, "simple").items()}
            assert levels == {"openadr:simple:0": 70.0, "openadr:simple:1": 20.0}

            # Modified: one interval at level 2. Interval 1 goes, interval 0 becomes 45 kW.
            vtn.modify("simple", [2])
            await until(lambda: len(vtn.opt_of("simple")) == 2, "the answer to the change")
            specs = active_specs(controller, "simple")
            assert {k: (v["limit_kw"], v["modification_number"]) for k, v in specs.items()} == {
                "openadr:simple:0": (45.0, 1)
            }
            assert controller.limits.entries["openadr:simple:1"].cancelled_utc is not None

            vtn.server.cancel_event(VEN_ID, "simple")
            await until(lambda: not active_specs(controller, "simple"), "the cancellation")
            # The windows go first; the answer is recorded once the audit row is written.
            await until(lambda: ven.answers["simple"].status == "cancelled", "the answer")
            assert ven.answers["simple"].opt == "optIn"
            windows = controller.limits.windows(base, base + timedelta(hours=1))
            assert [w for w in windows if w.source == "openadr"] == []


async def test_opt_out_where_the_site_cannot_comply_or_read_the_event(tmp_path):
    async with vtn_running() as vtn:
        config = controller_config(tmp_path, vtn.url)
        async with controller_with_ven(config) as (controller, ven):
            # Two 32 A three-phase chargers that take no profiles: 2 x 22.08 kW may be drawn.
            for charger_id in ("CP001", "CP002"):
                controller.site.charger(charger_id).controllable = False
            floor_kw = 2 * kw_from_a(32.0, 3, 230.0)
            base = quarter_after(60)
            vtn.add("too-low", "LOAD_DISPATCH", "setpoint", [floor_kw - 5.0], base)
            vtn.add("feasible", "LOAD_DISPATCH", "setpoint", [floor_kw + 5.0], base)
            vtn.add("unmapped", "LOAD_CONTROL", "x-loadControlLevelOffset", [4], base)
            vtn.add("price", "ELECTRICITY_PRICE", "price", [0.45], base)
            await until(lambda: len(vtn.opts) == 4, "four answers")
            assert dict(vtn.opts) == {
                "too-low": "optOut",
                "feasible": "optIn",
                "unmapped": "optOut",
                "price": "optOut",
            }
            # Opted out for want of control, the site still does its best under the cap.
            assert active_specs(controller, "too-low")["openadr:too-low:0"]["limit_kw"] == (
                pytest.approx(floor_kw - 5.0)
            )
            assert "below" in ven.answers["too-low"].reason
            assert active_specs(controller, "unmapped") == {}
            assert "level 4 has no cap" in ven.answers["unmapped"].reason
            assert active_specs(controller, "price") == {}


async def test_a_pending_event_survives_a_restart_and_is_not_rewritten(tmp_path):
    async with vtn_running() as vtn:
        config = controller_config(tmp_path, vtn.url)
        base = quarter_after(120)
        async with controller_with_ven(config) as (controller, _ven):
            vtn.add("future", "LOAD_CONTROL", "x-loadControlCapacity", [0.3], base)
            await until(lambda: vtn.opt_of("future") == ["optIn"], "the answer")
            before = controller.limits.entries["openadr:future:0"]

        # The controller restarts: the book restores the event before the VEN reconnects.
        async with running(config) as controller:
            restored = controller.limits.entries["openadr:future:0"]
            assert restored.spec == before.spec and restored.cancelled_utc is None
            (window,) = controller.limits.windows(base, base + timedelta(hours=1))
            assert (window.start_utc, window.end_utc, window.limit_kw) == (
                base,
                base + timedelta(minutes=15),
                pytest.approx(0.3 * GRID_KW),
            )
            # The VEN re-registers and the VTN re-delivers the same modification: no rewrite.
            sources = await start_dr_sources(controller)
            try:
                (ven,) = sources
                await ven.wait_registered(10.0)
                await until(lambda: "future" in ven.answers, "the re-delivered event")
            finally:
                await stop_dr_sources(sources)
            again = controller.limits.entries["openadr:future:0"]
            assert again.updated_utc == before.updated_utc
            assert ven.answers["future"].opt == "optIn"


async def test_registration_is_retried_until_the_vtn_answers(tmp_path):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}/OpenADR2/Simple/2.0b"
    async with running(controller_config(tmp_path, url), control=False) as controller:
        (ven,) = sources = await start_dr_sources(controller)
        try:
            await asyncio.sleep(1.2)  # at least two failed attempts (retry_s = 0.5)
            assert not ven.registered and ven.status()["last_error"]
            async with vtn_running(port) as vtn:
                await ven.wait_registered(10.0)
                vtn.add("late", "SIMPLE", "level", [2], quarter_after(60))
                await until(lambda: vtn.opt_of("late") == ["optIn"], "an event after the retry")
                assert active_specs(controller, "late")["openadr:late:0"]["limit_kw"] == 45.0
        finally:
            await stop_dr_sources(sources)
