"""Reconciliation with what a charger says it holds: its GetCompositeSchedule is the truth.

The ledger records what each charger acknowledged; a charger can lose what it held without a
word (a firmware that clears TxProfiles when its link drops, a restart the controller missed).
The charger is asked when it comes back without booting and when it draws more than the ledger
says it may. Where its composite disagrees with the ledger (other limits, or no TxProfile where
the ledger has one), the ledger takes the composite (reservations and cut-before-raise ordering
then start from the truth) and the TxDefault and the session's TxProfile are sent again. A
charger that rejects the request or does not support it is logged once, and the ledger stays.

A TxProfile rejected for a session the charger no longer runs (it ended during an outage) is a
reconciliation, not a fault: the connector's status is asked for (TriggerMessage) before the
charger is marked uncontrollable, and an Available connector closes the stale session.
"""

from __future__ import annotations

import asyncio
import enum
import itertools
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from controller.clock import Clock
from controller.config import SiteConfig
from controller.loop.ledger import HeldProfile
from controller.loop.records import CycleState
from controller.ocpp.composite import Composite, parse_composite, utc
from controller.ocpp.errors import ChargerCallError, ChargerRequestError
from controller.ocpp.profiles import choose_rate_unit, iso_utc
from controller.ocpp.server import CentralSystem
from controller.site import SessionState, SiteState
from controller.units import a_from_kw

if TYPE_CHECKING:
    from controller.loop.standing import Standing

log = logging.getLogger(__name__)

COMPOSITE_WINDOW_S = 900  # how far ahead the composite is compared [s]
TOLERANCE_A = 0.25  # both sides round limits down to 0.1 A [A per phase]
MIN_STRETCH_S = 10.0  # stretches between changes shorter than this are not compared [s]
STATUS_POLL_S = 0.5  # how often a triggered StatusNotification is looked for [s]
# OCPP 1.6 statuses of a connector that runs no transaction (Finishing: it has just ended)
NO_TRANSACTION = frozenset({"Available", "Preparing", "Finishing"})
Key = tuple[str, str, int]  # (what is checked, charger, connector)


class Verdict(enum.Enum):
    AGREES = "agrees"
    DIFFERS = "differs"
    UNKNOWN = "unknown"  # rejected, not supported, no answer


class Reconciler:
    def __init__(
        self,
        config: SiteConfig,
        clock: Clock,
        site: SiteState,
        central: CentralSystem,
        state: CycleState,
        standing: Standing,
        trigger: Callable[[str], None],
    ) -> None:
        self.config = config
        self.clock = clock
        self.site = site
        self.central = central
        self.state = state
        self.standing = standing
        self.trigger = trigger
        self.unsupported: set[str] = set()  # chargers that would not answer (logged once)
        self.checking: set[Key] = set()
        self.reconciled = 0  # connectors whose ledger took the charger's composite
        self._tasks: set[asyncio.Task[Any]] = set()

    # comparing -----------------------------------------------------------------------------
    async def check(self, charger_id: str, connector_id: int, why: str) -> Verdict:
        """Ask the charger's composite for the connector; where it disagrees with the ledger,
        the ledger takes it (the caller re-sends)."""
        now = self.clock.now()
        composite = await self._composite(charger_id, connector_id, now)
        if composite is None:
            return Verdict.UNKNOWN
        latest = self.state.ledger.current(charger_id, connector_id)
        if latest is not None and latest.accepted_utc > now:
            return Verdict.AGREES  # a profile accepted while we asked: the answer is stale
        differs = self._difference(charger_id, connector_id, composite, now)
        if differs is None:
            return Verdict.AGREES
        log.warning(
            "%s: connector %d holds other limits than the ledger says (%s: %s); the ledger "
            "takes the charger's composite and its profiles are sent again",
            charger_id,
            connector_id,
            why,
            differs,
        )
        charger = self.site.charger_config(charger_id)
        phases = composite.periods[0][2] or (charger.phases if charger else 3)
        self.state.ledger.forget(charger_id, connector_id)
        self.state.ledger.accept(
            HeldProfile(
                charger_id=charger_id,
                connector_id=connector_id,
                transaction_id=None,
                profile=composite.as_profile(),
                phases=phases,
                voltage_v=self.central.voltage_v(charger_id),
                accepted_utc=now,
            )
        )
        self.reconciled += 1
        await self.central.store.run(
            self.central.store.store.audit,
            at_utc=now,
            actor=charger_id,
            action="ledger.reconciled",
            target=f"{charger_id}/{connector_id}",
            new_value={"why": why, "difference": differs},
        )
        return Verdict.DIFFERS

    async def _composite(
        self, charger_id: str, connector_id: int, now: datetime
    ) -> Composite | None:
        charger = self.site.charger(charger_id)
        unit = choose_rate_unit(charger.capabilities)
        try:
            answer = await self.central.requests(charger_id).get_composite_schedule(
                connector_id, COMPOSITE_WINDOW_S, unit
            )
        except ChargerCallError as exc:  # NotSupported, NotImplemented, ...
            self._unusable(charger_id, f"CALLERROR {exc.code}")
            return None
        except ChargerRequestError as exc:  # offline, no answer: maybe next time
            log.info("%s: GetCompositeSchedule: %s", charger_id, exc)
            return None
        composite = parse_composite(answer, now, COMPOSITE_WINDOW_S)
        if composite is None:
            self._unusable(charger_id, f"answered {getattr(answer, 'status', None)}")
        return composite

    def _unusable(self, charger_id: str, why: str) -> None:
        if charger_id not in self.unsupported:
            self.unsupported.add(charger_id)
            log.warning(
                "%s: GetCompositeSchedule not usable (%s): what it holds is not reconciled "
                "with the ledger",
                charger_id,
                why,
            )

    def _difference(
        self, charger_id: str, connector_id: int, composite: Composite, now: datetime
    ) -> str | None:
        """Where the composite and the ledger's expectation part, as text; None: they agree."""
        charger = self.site.charger_config(charger_id)
        if charger is None:
            return None
        voltage_v = self.central.voltage_v(charger_id)
        session = self.site.session_on(charger_id, connector_id)
        held = self.state.ledger.current(charger_id, connector_id)
        if held is not None and held.transaction_id is None:
            held = None  # a composite taken earlier: no profile of ours
        if held is not None and (session is None or held.transaction_id != session.transaction_id):
            held = None  # a TxProfile ends with its transaction
        default_a = self.state.default_a.get(charger_id)
        end = now + timedelta(seconds=COMPOSITE_WINDOW_S)
        times = {now, end, *composite.change_times()}
        if held is not None:
            times.update(_profile_change_times(held))
        marks = sorted(t for t in times if now <= t <= end)
        for a, b in itertools.pairwise(marks):
            if (b - a).total_seconds() < MIN_STRETCH_S:
                continue
            at = a + (b - a) / 2
            expected_a = None
            source = "TxProfile"
            if held is not None:
                kw = held.limit_kw_at(at)
                expected_a = None if kw is None else a_from_kw(kw, held.phases, voltage_v)
            if expected_a is None and default_a is not None:
                expected_a, source = default_a, "TxDefaultProfile"
            if expected_a is None:
                continue
            expected_a = min(expected_a, charger.max_current_a)
            found_a = composite.limit_a_at(at, charger.phases, voltage_v)
            if found_a is None:
                continue
            if abs(found_a - expected_a) > TOLERANCE_A:
                return (
                    f"at {iso_utc(at.replace(microsecond=0))} the ledger's {source} says "
                    f"{expected_a:.1f} A, the charger {found_a:.1f} A"
                )
        return None

    # when to ask ---------------------------------------------------------------------------
    async def after_reconnect(self, charger_id: str) -> None:
        """A charger back without a boot: keep the ledger where the charger confirms it. Where
        it cannot say, its profiles are sent again as after any reconnect."""
        connectors = {c for cid, c in self.state.ledger.connectors() if cid == charger_id}
        connectors |= {
            s.connector_id for s in self.site.sessions.values() if s.charger_id == charger_id
        }
        for connector_id in sorted(connectors):
            verdict = await self.check(charger_id, connector_id, "reconnected without a boot")
            if verdict is Verdict.UNKNOWN:
                self.state.ledger.forget(charger_id, connector_id)
            elif verdict is Verdict.DIFFERS:
                self.trigger(f"reconciled:{charger_id}")

    def on_overdraw(self, session: SessionState) -> None:
        """The session draws more than the ledger says its charger holds: ask the charger."""
        key = ("draw", session.charger_id, session.connector_id)
        if key in self.checking or session.charger_id in self.unsupported:
            return
        if session.charger_id not in self.central.connections:
            return
        self.checking.add(key)
        self._spawn(self._overdraw(session.charger_id, session.connector_id), key)

    async def _overdraw(self, charger_id: str, connector_id: int) -> None:
        verdict = await self.check(charger_id, connector_id, "draws more than the ledger says")
        if verdict is Verdict.DIFFERS:
            state = self.site.charger(charger_id)
            if state.non_compliant:  # judged against limits it never held
                state.non_compliant = False
                self.site.emit("compliant", charger_id)
            now = self.clock.now()
            await self.standing.send(charger_id, self.standing.safe_a(now), now)
            self.trigger(f"reconciled:{charger_id}")

    def on_rejected(
        self, charger_id: str, connector_id: int, transaction_id: int, why: str
    ) -> None:
        """A TxProfile failed for a session still open here: before the charger is marked
        uncontrollable, ask the connector's status; it may have ended the session unseen."""
        key = ("rejected", charger_id, connector_id)
        if key in self.checking:
            return
        self.checking.add(key)
        self._spawn(self._verify_rejection(charger_id, connector_id, transaction_id, why), key)

    async def _verify_rejection(
        self, charger_id: str, connector_id: int, transaction_id: int, why: str
    ) -> None:
        status = await self._fresh_status(charger_id, connector_id, transaction_id)
        if transaction_id not in self.site.sessions or status in NO_TRANSACTION:
            log.info(
                "%s: profile for transaction %d failed (%s): the charger no longer runs it "
                "(connector %s); reconciled, not a fault",
                charger_id,
                transaction_id,
                why,
                status,
            )
            return
        log.warning("%s: profile not applied (%s); marked uncontrollable", charger_id, why)
        self.standing.mark_uncontrollable(charger_id, why)

    async def _fresh_status(self, charger_id: str, connector_id: int, transaction_id: int):
        """The connector's status as the charger reports it now (TriggerMessage); None if it
        cannot be had within the response timeout."""
        asked = self.clock.now()
        try:
            answer = await self.central.requests(charger_id).trigger_message(
                "StatusNotification", connector_id
            )
        except ChargerRequestError as exc:
            log.info("%s: StatusNotification not triggered: %s", charger_id, exc)
            return None
        if answer.status != "Accepted":
            log.info("%s: StatusNotification not triggered: %s", charger_id, answer.status)
            return None
        deadline = asked + timedelta(seconds=self.config.ocpp.response_timeout_s)
        connector = self.site.charger(charger_id).connector(connector_id)
        while self.clock.now() < deadline:
            if transaction_id not in self.site.sessions:
                return connector.status
            updated = connector.updated_utc
            if updated is not None and updated >= asked:
                return connector.status
            await self.clock.sleep(STATUS_POLL_S)
        return None

    # tasks ---------------------------------------------------------------------------------
    def _spawn(self, job: Awaitable[None], key: Key) -> None:
        async def run() -> None:
            try:
                await job
            except Exception:
                log.exception("%s: reconciliation failed", key[1])
            finally:
                self.checking.discard(key)

        task = asyncio.ensure_future(run())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


def _profile_change_times(held: HeldProfile) -> list[datetime]:
    schedule = held.profile["charging_schedule"]
    start = utc(schedule["start_schedule"])
    times = [
        start + timedelta(seconds=int(p["start_period"]))
        for p in schedule["charging_schedule_period"]
    ]
    if schedule.get("duration"):
        times.append(start + timedelta(seconds=int(schedule["duration"])))
    if held.valid_to_utc is not None:
        times.append(held.valid_to_utc)
    return times
