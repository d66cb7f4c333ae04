"""A site of simulated chargers playing a scenario against a central system, by URL.

:class:`SimSite` starts one :class:`~simulator.charger.SimChargePoint` per charger of the
scenario (each connects to ``URL/<its id>``), plays every session on the shared clock (plug in:
Preparing, Authorize, StartTransaction, Charging; leave: StopTransaction with transaction data,
Finishing, Available) and records what the cars drew in a :class:`~simulator.record.SiteRecord`,
so a test can assert e.g. ``site.record.max_site_power_kw() <= 44``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime, timedelta

from simulator.charger import ChargerSpec, ClockLike, SimChargePoint
from simulator.charger201 import SimChargePoint201
from simulator.errors import SimulatorError
from simulator.record import SessionResult, SiteRecord
from simulator.scenario import Scenario, Session

LOG = logging.getLogger("simulator.site")

__all__ = ["ChargersRefused", "SimSite"]


class ChargersRefused(SimulatorError):
    """The server refused every charger's websocket upgrade (e.g. HTTP 404: unknown ids)."""

    def __init__(self, refusals: Mapping[str, str]) -> None:
        self.refusals = dict(refusals)
        shown = "; ".join(f"{cid}: {why}" for cid, why in list(self.refusals.items())[:5])
        more = len(self.refusals) - 5
        super().__init__(
            f"the server refused all {len(self.refusals)} chargers ({shown}"
            + (f"; and {more} more" if more > 0 else "")
            + ")"
        )


class SimSite:
    """Chargers and sessions on one clock.

    ``charger_spec`` is the template for every charger (its ``charger_id`` and connector count
    are filled in); ``specs`` overrides it per charger id (e.g. to give one charger faults).
    """

    def __init__(
        self,
        url: str,
        scenario: Scenario,
        clock: ClockLike,
        *,
        charger_spec: ChargerSpec | None = None,
        specs: Mapping[str, ChargerSpec] | None = None,
        password: str | None = None,
        connect_timeout_s: float = 10.0,
    ) -> None:
        self.url = url
        self.scenario = scenario
        self.clock = clock
        self.connect_timeout_s = connect_timeout_s
        template = charger_spec or ChargerSpec("template")
        self.record = SiteRecord(scenario.start_utc, scenario.end_utc)
        self.chargers: dict[str, SimChargePoint] = {}
        for cid in scenario.charger_ids:
            spec = (specs or {}).get(cid) or replace(
                template,
                charger_id=cid,
                n_connectors=max(template.n_connectors, scenario.connectors_per_charger),
                password=password if password is not None else template.password,
            )
            kind = SimChargePoint201 if spec.ocpp_version == "2.0.1" else SimChargePoint
            self.chargers[cid] = kind(spec, url, clock, on_sample=self.record.add)
        self.active: dict[str, Session] = {}
        self.finished: dict[str, SessionResult] = {}
        self._locks = {
            (cid, c): asyncio.Lock()
            for cid, cp in self.chargers.items()
            for c in range(1, cp.spec.n_connectors + 1)
        }
        self._tx_ids: dict[str, int | None] = {}
        self._soc_start: dict[str, float] = {}

    async def run(
        self, duration_s: float | None = None, *, until_utc: datetime | None = None
    ) -> SiteRecord:
        """Connect every charger, play the sessions until the end, stop; returns the record.

        The end is ``until_utc``, else now + ``duration_s``, else the scenario's end. Sessions
        already under way at the start plug in at once; cars still plugged in at the end are
        stopped (StopTransaction, reason EVDisconnected) so the central system sees them close.
        """
        now = self.clock.now()
        end = until_utc or (
            now + timedelta(seconds=duration_s) if duration_s else self.scenario.end_utc
        )
        self.record.start_utc, self.record.end_utc = now, end
        runners = [asyncio.create_task(cp.run()) for cp in self.chargers.values()]
        try:
            await self._wait_connected()
            refused = self.refused()  # their cars would wait for a connection that never comes
            plays = [
                asyncio.create_task(self._play(s, end))
                for s in self.scenario.sessions
                if s.departure_utc > now and s.arrival_utc < end and s.charger_id not in refused
            ]
            await self.clock.sleep_until(end)
            await asyncio.gather(*plays)
        finally:
            for cp in self.chargers.values():
                await cp.stop()
            for cid, task in zip(self.chargers, runners, strict=True):
                if not self.chargers[cid].connected.is_set():
                    task.cancel()  # e.g. backing off after a refusal: nothing to close
            # a charger backing off after a refusal sleeps on: give all 5 s together, then cancel
            done, pending = await asyncio.wait(runners, timeout=5) if runners else ((), ())
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
            for task in done:
                if not task.cancelled():
                    task.result()  # a charger that crashed says so
        return self.record

    async def _wait_connected(self) -> None:
        """Until every charger is connected or refused (or ``connect_timeout_s`` of wall time).

        A refused charger is named with the server's answer; when every charger is refused
        nothing could ever charge, so :class:`ChargersRefused` stops the run.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.connect_timeout_s
        # a poll: a refusal is an attribute of the charger, not an event to wait on
        while loop.time() < deadline and self.unsettled():  # noqa: ASYNC110
            await asyncio.sleep(0.05)
        refused = self.refused()
        if refused and len(refused) == len(self.chargers):
            raise ChargersRefused(refused)
        for cid, why in refused.items():
            LOG.error("charger %s: refused by the server (%s)", cid, why)
        missing = [c for c in self.unsettled() if c not in refused]
        if missing:
            LOG.warning("not connected after %.0f s: %s", self.connect_timeout_s, missing)

    def unsettled(self) -> list[str]:
        """Charger ids neither connected nor refused yet."""
        return [
            cid
            for cid, cp in self.chargers.items()
            if not cp.connected.is_set() and cp.refusal is None
        ]

    def refused(self) -> dict[str, str]:
        """Charger id -> why the server refused it, for chargers not connected now."""
        return {
            cid: cp.refusal
            for cid, cp in self.chargers.items()
            if cp.refusal is not None and not cp.connected.is_set()
        }

    async def _play(self, session: Session, end_utc: datetime) -> None:
        """One car: arrive, charge, leave (or be stopped at the end of the run)."""
        await self.clock.sleep_until(session.arrival_utc)
        if self.clock.now() >= end_utc:
            return
        cp = self.chargers[session.charger_id]
        async with self._locks[(session.charger_id, session.connector_id)]:
            ev = session.new_ev_state()
            self.active[session.session_key] = session
            if isinstance(cp, SimChargePoint201):  # an ISO 15118 car tells what it needs
                cp.expect_needs(
                    session.connector_id, session.departure_utc, session.energy_wanted_kwh
                )
            tx_id = await cp.plug_in(session.connector_id, ev, session.id_tag, session.session_key)
            await self.clock.sleep_until(min(session.departure_utc, end_utc))
            result = await cp.unplug(session.connector_id)
            del self.active[session.session_key]
            self.finished[session.session_key] = SessionResult(
                session.session_key,
                session.charger_id,
                session.connector_id,
                session.arrival_utc,
                session.departure_utc,
                session.energy_wanted_kwh,
                result.energy_kwh,
                result.soc_start,
                result.soc_end,
                tx_id,
            )
            self.record.sessions[session.session_key] = self.finished[session.session_key]

    def power_now_kw(self) -> float:
        """What the site's cars draw right now [kW]."""
        return (
            sum(
                c.ev.power_w
                for cp in self.chargers.values()
                for c in cp.connectors.values()
                if c.ev is not None
            )
            / 1000.0
        )

    def connected_count(self) -> int:
        return sum(cp.connected.is_set() for cp in self.chargers.values())
