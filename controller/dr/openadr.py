"""OpenADR 2.0b VEN: registers with the VTN, turns its events into limit events, reports power.

openleadr does the protocol (registration, polls, XML, opt responses, report scheduling); its
README says it is not for mission-critical use, so it stays behind this module. What is ours:

- every event (new, modified, cancelled) goes through ``handle_event``, which never raises
  (openleadr answers optOut for a handler that raises): each interval of a limiting signal
  becomes a LimitBook entry ``openadr:<event_id>:<interval>``; a modification replaces the
  event's entries, a cancellation cancels them. The book persists and audits them and wakes
  the control loop; after a restart it restores them and a re-delivered event with the same
  modification number changes nothing. Of the status the VTN computes on its own clock only
  ``cancelled`` counts: windows carry their times and the controller's clock judges them;
- the answer: optIn, or optOut when the site cannot comply (a cap below what uncontrollable
  chargers and other loads may draw), when the event cannot be read, or when it carries no
  signal that limits power;
- a TELEMETRY_USAGE report of the site's measured power [kW] wherever the VTN asks for it;
- registration is retried every ``retry_s`` until the VTN answers, and again if it is lost;
- the poll, at the interval the VTN sets, runs on the controller's clock (openleadr's own runs
  on the wall clock), so the event-stepped clock drives it like everything else.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from openleadr import OpenADRClient, enums, objects

from controller.dr.base import DrContext, SignalError
from controller.dr.openadr_config import OpenAdrConfig
from controller.dr.openadr_signals import (
    SOURCE,
    EventLimits,
    SignalSettings,
    event_limits,
)
from controller.dr.site_power import measured_site_power_kw, uncontrollable_kw
from controller.limit_book import Entry

log = logging.getLogger(__name__)
# openleadr sets its own logger to INFO and logs every message in full there; keep the
# controller's log readable (an operator can lower it again in the logging config).
logging.getLogger("openleadr").setLevel(logging.WARNING)

OPT_IN = "optIn"
OPT_OUT = "optOut"
ACTOR = "openadr-ven"
TELEMETRY_R_ID = "site-power"


@dataclasses.dataclass(frozen=True)
class EventAnswer:
    """What was done with one event, for the operator's view and the tests."""

    event_id: str
    modification_number: int
    status: str
    opt: str
    reason: str
    entry_ids: tuple[str, ...]
    received_utc: datetime

    def as_dict(self) -> dict[str, Any]:
        return {
            **dataclasses.asdict(self),
            "entry_ids": list(self.entry_ids),
            "received_utc": self.received_utc.isoformat(),
        }


class OpenAdrSource:
    """The ``openadr`` demand-response source (one VEN, one VTN)."""

    name = "openadr"

    def __init__(self, ctx: DrContext, config: OpenAdrConfig) -> None:
        self.ctx = ctx
        self.config = config
        self.answers: dict[str, EventAnswer] = {}
        self.last_error: str | None = None
        self._ven_id = config.ven_id
        self._client: OpenADRClient | None = None
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()
        self._registered = asyncio.Event()
        self._lock = asyncio.Lock()

    # lifecycle ---------------------------------------------------------------------------
    async def start(self) -> None:
        if self._task is None:
            self._stopping.clear()
            self._task = asyncio.create_task(self._supervise(), name="openadr-ven")

    async def stop(self) -> None:
        self._stopping.set()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._client is not None:
            await _close(self._client)
            self._client = None
        self._registered.clear()

    async def wait_registered(self, timeout_s: float) -> None:
        await asyncio.wait_for(self._registered.wait(), timeout_s)

    @property
    def registered(self) -> bool:
        return self._registered.is_set()

    def status(self) -> dict[str, Any]:
        client = self._client
        return {
            "type": self.name,
            "vtn_url": self.config.vtn_url,
            "ven_name": self.config.ven_name,
            "ven_id": self._ven_id,
            "registered": self.registered,
            "registration_id": client.registration_id if client else None,
            "poll_interval_s": (
                client.poll_frequency.total_seconds() if client and client.poll_frequency else None
            ),
            "last_error": self.last_error,
            "events": {k: v.as_dict() for k, v in self.answers.items()},
        }

    async def _supervise(self) -> None:
        while not self._stopping.is_set():
            client = self._new_client()
            self._client = client
            try:
                await client.run()
            except Exception as exc:
                self.last_error = f"registration failed: {exc.__class__.__name__}: {exc}"
                log.exception("OpenADR: registration with %s failed", self.config.vtn_url)
            if client.registration_id:
                self._ven_id = client.ven_id or self._ven_id
                self.last_error = None
                self._registered.set()
                log.info(
                    "OpenADR: registered with %s as %s (poll every %s)",
                    self.config.vtn_url,
                    self._ven_id,
                    client.poll_frequency,
                )
                await self._poll_while_registered(client)
                self._registered.clear()
            else:
                self.last_error = self.last_error or f"no registration from {self.config.vtn_url}"
            await _close(client)
            self._client = None
            if not self._stopping.is_set():
                log.warning(
                    "OpenADR: not registered with %s; retrying in %.0f s",
                    self.config.vtn_url,
                    self.config.retry_s,
                )
                await self._pause(self.config.retry_s)

    async def _poll_while_registered(self, client: OpenADRClient) -> None:
        """Poll the VTN at the interval it set, on the controller's clock.

        openleadr polls from an apscheduler job on the wall clock; under the event-stepped clock
        (a replay, the tests) that would fetch events at moments that depend on the machine's
        speed. Its job is dropped and the same poll runs here, on the clock the controller reads.
        """
        for job in client.scheduler.get_jobs():
            if job.func == client._poll:
                job.remove()
        interval_s = client.poll_frequency.total_seconds() if client.poll_frequency else 10.0
        while client.registration_id and not self._stopping.is_set():
            await self._pause(interval_s)
            if self._stopping.is_set():
                break
            try:
                await client._poll()
            except Exception:  # as apscheduler would: log it, poll again at the next interval
                log.exception("OpenADR: polling %s failed", self.config.vtn_url)

    async def _pause(self, seconds: float) -> None:
        """``seconds`` of the controller's clock, or less if the source is stopped."""
        stopping = asyncio.ensure_future(self._stopping.wait())
        sleeping = asyncio.ensure_future(self.ctx.clock.sleep(seconds))
        try:
            await asyncio.wait({stopping, sleeping}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopping.cancel()
            sleeping.cancel()

    def _new_client(self) -> OpenADRClient:
        config = self.config
        client = OpenADRClient(
            ven_name=config.ven_name,
            vtn_url=config.vtn_url,
            ven_id=self._ven_id,
            cert=str(config.cert_file) if config.cert_file else None,
            key=str(config.key_file) if config.key_file else None,
            ca_file=str(config.ca_file) if config.ca_file else None,
            vtn_fingerprint=config.vtn_fingerprint,
            show_fingerprint=False,
            check_hostname=config.check_hostname,
            disable_signature=config.cert_file is None,
        )
        source = self

        # Plain coroutine functions: openleadr awaits what they return.
        async def on_event(event: dict[str, Any]) -> str:
            return await source.handle_event(event)

        client.add_handler("on_event", on_event)
        client.add_handler("on_update_event", on_event)
        if config.telemetry:
            self._add_telemetry(client)
        return client

    def _add_telemetry(self, client: OpenADRClient) -> None:
        voltage_v = round(self.ctx.config.site.voltage_v)
        # A copy: openleadr would otherwise set the scale on its shared enum instance.
        measurement = dataclasses.replace(
            enums.MEASUREMENTS.REAL_POWER,
            scale="k",
            power_attributes=objects.PowerAttributes(hertz=50, voltage=voltage_v, ac=True),
        )
        client.add_report(
            callback=self.report_site_power_kw,
            resource_id=self.config.ven_name,
            measurement=measurement,
            report_specifier_id=f"{self.config.ven_name}-telemetry",
            r_id=TELEMETRY_R_ID,
            report_name=enums.REPORT_NAME.TELEMETRY_USAGE,
            sampling_rate=objects.SamplingRate(
                min_period=timedelta(seconds=self.config.telemetry_min_sampling_s),
                max_period=timedelta(hours=1),
                on_change=False,
            ),
            report_duration=timedelta(hours=1),
            unit="W",
            scale="k",
        )

    def report_site_power_kw(self) -> float:
        """The report callback: the site's measured power now [kW]."""
        return round(measured_site_power_kw(self.ctx.site, self.ctx.clock.now()), 3)

    # events ------------------------------------------------------------------------------
    def settings(self) -> SignalSettings:
        return SignalSettings(
            grid_limit_kw=self.ctx.config.site.grid_limit_kw,
            simple_levels_kw=self.config.simple_levels_kw,
            level_offsets_kw=self.config.level_offsets_kw,
            default_power_unit=self.config.default_power_unit,
            percent_offset_reduces=self.config.percent_offset_reduces,
        )

    async def handle_event(self, event: Mapping[str, Any]) -> str:
        """Apply one event to the LimitBook and answer optIn or optOut; never raises."""
        async with self._lock:
            opt = await self._handle(event)
            await self._audit_answer(event, opt)
            return opt

    async def _audit_answer(self, event: Mapping[str, Any], opt: str) -> None:
        """Record the answer in the audit log (``openadr.optIn`` / ``openadr.optOut``)."""
        store = getattr(self.ctx, "store", None)
        try:
            event_id = str((event.get("event_descriptor") or {}).get("event_id"))
            answer = self.answers.get(event_id)
            if store is None or answer is None:
                return
            await store.run(
                store.store.audit,
                at_utc=self.ctx.clock.now(),
                actor=ACTOR,
                action=f"openadr.{opt}",
                target=f"openadr:{event_id}",
                new_value=answer.as_dict(),
            )
        except Exception:
            log.exception("OpenADR: could not audit the answer to an event")

    async def _handle(self, event: Mapping[str, Any]) -> str:
        try:
            return await self._apply(event)
        except SignalError as exc:
            # A modification we cannot read replaces the windows we could: withdraw them.
            log.error("OpenADR: cannot read the event, answering optOut: %s", exc)
            return await self._refuse(event, f"not understood: {exc}", withdraw=True)
        except Exception as exc:
            # Keep whatever reached the book: a lower limit left standing is the safe side.
            log.exception("OpenADR: failed to apply an event; answering optOut")
            reason = f"failed: {exc.__class__.__name__}: {exc}"
            return await self._refuse(event, reason, withdraw=False)

    async def _apply(self, event: Mapping[str, Any]) -> str:
        parsed = event_limits(event, self.settings())
        existing = self._entries(parsed.event_id)
        known = max(
            (int(e.spec.get("modification_number", -1)) for e in existing.values()), default=-1
        )
        if parsed.modification_number < known:
            previous = self.answers.get(parsed.event_id)
            log.warning(
                "OpenADR: event %s modification %d is older than the applied %d; ignored",
                parsed.event_id,
                parsed.modification_number,
                known,
            )
            return previous.opt if previous else OPT_IN
        if parsed.cancelled:
            await self._cancel(existing)
            return self._answer(parsed, OPT_IN, "cancelled: its limits are withdrawn", ())
        if parsed.test_event and not self.config.act_on_test_events:
            return self._answer(parsed, OPT_IN, "test event: acknowledged, not applied", ())
        if not parsed.limiting:
            await self._cancel(existing)
            ignored = ", ".join(parsed.ignored_signals)
            return self._answer(parsed, OPT_OUT, f"no signal limits power ({ignored})", ())
        wanted = {
            limit.entry_id: limit.spec(parsed.event_id, parsed.modification_number)
            for limit in parsed.limits
        }
        await self._cancel({k: v for k, v in existing.items() if k not in wanted})
        for entry_id, spec in wanted.items():
            current = existing.get(entry_id)
            if current is not None and current.spec == spec:
                continue  # re-delivered after a restart: already in the book
            await self.ctx.limits.put(entry_id, source=SOURCE, kind="dr", spec=spec, actor=ACTOR)
        opt, reason = self._decide(parsed)
        if opt == OPT_OUT:
            log.warning("OpenADR: event %s: optOut: %s", parsed.event_id, reason)
        return self._answer(parsed, opt, reason, tuple(wanted))

    def _decide(self, parsed: EventLimits) -> tuple[str, str]:
        """optOut when a window asks for less than the site cannot help drawing."""
        now = self.ctx.clock.now()
        grid_kw = self.ctx.config.site.grid_limit_kw
        floor_kw = uncontrollable_kw(self.ctx.site, now)
        ahead = [x for x in parsed.limits if x.end_utc is None or x.end_utc > now]
        if not ahead:
            return OPT_IN, "no limit ahead"
        lowest = min(ahead, key=lambda x: x.level_kw(grid_kw))
        level_kw = lowest.level_kw(grid_kw)
        if level_kw < floor_kw - 1e-6:
            return OPT_OUT, (
                f"{lowest.entry_id}: limit {level_kw:.1f} kW is below the {floor_kw:.1f} kW "
                "that uncontrollable chargers and other loads may draw (applied anyway)"
            )
        return OPT_IN, f"lowest limit {level_kw:.1f} kW (uncontrollable {floor_kw:.1f} kW)"

    async def _refuse(self, event: Mapping[str, Any], reason: str, *, withdraw: bool) -> str:
        """Record an optOut for an event that could not be applied; never raises."""
        try:
            descriptor = event.get("event_descriptor") or {}
            event_id = str(descriptor["event_id"])
            if withdraw:
                await self._cancel(self._entries(event_id))
            self.answers[event_id] = EventAnswer(
                event_id,
                int(descriptor.get("modification_number") or 0),
                str(descriptor.get("event_status")),
                OPT_OUT,
                reason,
                (),
                self.ctx.clock.now(),
            )
        except Exception:
            log.exception("OpenADR: could not record the refusal of an event")
        return OPT_OUT

    def _answer(self, parsed: EventLimits, opt: str, reason: str, ids: tuple[str, ...]) -> str:
        self.answers[parsed.event_id] = EventAnswer(
            parsed.event_id,
            parsed.modification_number,
            parsed.status,
            opt,
            reason,
            ids,
            self.ctx.clock.now(),
        )
        log.info("OpenADR: event %s (%s): %s: %s", parsed.event_id, parsed.status, opt, reason)
        return opt

    def _entries(self, event_id: str) -> dict[str, Entry]:
        # Matched on the spec, not the id prefix: event ids may themselves contain ':'.
        return {
            e.entry_id: e
            for e in self.ctx.limits.active()
            if e.source == SOURCE and e.spec.get("event_id") == event_id
        }

    async def _cancel(self, entries: Mapping[str, Entry]) -> None:
        for entry_id in entries:
            await self.ctx.limits.cancel(entry_id, actor=ACTOR)


async def _close(client: OpenADRClient) -> None:
    """Stop a client whatever state it is in (openleadr's own stop() assumes a session)."""
    with contextlib.suppress(Exception):
        if client.scheduler.running:
            client.scheduler.shutdown(wait=False)
    if client.report_queue_task is not None:
        client.report_queue_task.cancel()
    session = client.client_session
    if session is not None and not session.closed:
        with contextlib.suppress(Exception):
            await session.close()
