"""One simulated charge point: a real OCPP 1.6J client over websockets.

:class:`SimChargePoint` owns the physics of its connectors (one :class:`EVState` per plugged-in
car) and one task that wakes at the meter interval, at every instant a charging profile may
change the limit, when a profile arrives and when a car plugs in or leaves. Between wake-ups
power is constant, so the energy register is exactly the integral of the power it reports.
Every change is recorded at the instant it happens: a profile when it arrives, a schedule's
period or a profile's validity where the schedule says, a full car when it fills up, however
late the task wakes (on a wall clock, a busy machine wakes it late).

The wire is spoken by a fresh ``ocpp.v16.ChargePoint`` (:class:`_Link`) per connection; the
charger survives disconnects (its profiles, cars and energy registers stay). Time comes from the
clock it is given (see :mod:`simulator.clock`): meter intervals, delays and faults are in that
clock's seconds.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

import websockets
from ocpp.exceptions import OCPPError
from ocpp.routing import after, on
from ocpp.v16 import ChargePoint as OcppChargePoint
from ocpp.v16 import call, call_result
from ocpp.v16.enums import Action
from websockets.asyncio.client import connect

from simulator import profiles as prof
from simulator.ev import EVState
from simulator.profiles import format_time
from simulator.record import Sample

LOG = logging.getLogger("simulator.charger")
OCPP_LOG = logging.getLogger("simulator.ocpp")

DEFAULT_SAMPLED_DATA = (
    "Power.Active.Import,Energy.Active.Import.Register,Current.Import,Current.Offered,SoC"
)


class ClockLike(Protocol):
    speed: float

    def now(self) -> datetime: ...

    async def sleep(self, seconds: float) -> None: ...


@dataclass(frozen=True)
class Faults:
    """Misbehaviour seen in the field, per charger (all off by default).

    * ``ignores_profiles``: accepts profiles (and reports them in GetCompositeSchedule) but keeps
      drawing its hardware maximum;
    * ``rejects_profiles``: answers SetChargingProfile with Rejected;
    * ``whole_amps_only``: applies limits rounded to the *nearest* whole ampere, as some
      firmware does (a controller that does not floor for itself sees overshoot);
    * ``response_delay_s``: answers every request from the central system this late
      (simulated seconds; other traffic keeps flowing);
    * ``no_response``: never answers requests from the central system;
    * ``disconnects_every_s``: drops the websocket every so many simulated seconds, reconnects;
    * ``double_stop_transaction``: sends StopTransaction twice (without, then with a reason);
    * ``reconnects_without_boot``: after its first boot, comes back from a lost connection with
      StatusNotifications only, no BootNotification (as most chargers do).
    """

    ignores_profiles: bool = False
    rejects_profiles: bool = False
    whole_amps_only: bool = False
    response_delay_s: float = 0.0
    no_response: bool = False
    disconnects_every_s: float | None = None
    double_stop_transaction: bool = False
    reconnects_without_boot: bool = False


@dataclass(frozen=True)
class ChargerSpec:
    """A charger's hardware and configuration. Currents per phase [A]; intervals [s]."""

    charger_id: str
    n_connectors: int = 1
    max_current_a: float = 32.0
    phases: int = 3
    voltage_v: float = 230.0
    vendor: str = "sitecharge-sim"
    model: str = "SimAC22"
    max_stack_level: int = 8
    allowed_units: str = "Current,Power"
    max_periods: int = 24
    max_profiles: int = 10
    meter_interval_s: int = 60
    heartbeat_interval_s: int = 300
    sampled_data: str = DEFAULT_SAMPLED_DATA
    password: str | None = None
    faults: Faults = field(default_factory=Faults)
    max_step_s: float = 60.0
    reconnect_delay_s: float = 10.0
    ocpp_version: str = "1.6"  # or "2.0.1" (see simulator.charger201)
    sends_charging_needs: bool = True  # 2.0.1: the car says when it leaves and what it needs

    def rules(self) -> prof.ChargerRules:
        words = {w.strip() for w in self.allowed_units.split(",")}
        units = tuple(u for u, w in prof.UNIT_WORDS.items() if w in words)
        return prof.ChargerRules(
            n_connectors=self.n_connectors,
            max_stack_level=self.max_stack_level,
            allowed_units=units,
            max_periods=self.max_periods,
            max_profiles=self.max_profiles,
        )


@dataclass
class Connector:
    """One connector's live state (mutable)."""

    connector_id: int
    status: str = "Available"
    ev: EVState | None = None
    session_key: str | None = None
    id_tag: str | None = None
    transaction_id: int | None = None
    tx_start_utc: datetime | None = None
    meter_start_wh: int = 0
    register_wh: float = 0.0
    offered_a: float | None = None
    soc_start: float | None = None
    transaction_data: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class SessionEnd:
    """What a session measured when its car left."""

    session_key: str | None
    transaction_id: int | None
    energy_kwh: float
    soc_start: float
    soc_end: float


def _config_table(spec: ChargerSpec) -> dict[str, tuple[str, bool]]:
    """Key → (value, read-only)."""
    return {
        "HeartbeatInterval": (str(spec.heartbeat_interval_s), False),
        "MeterValueSampleInterval": (str(spec.meter_interval_s), False),
        "MeterValuesSampledData": (spec.sampled_data, False),
        "StopTxnSampledData": ("Energy.Active.Import.Register", False),
        "MeterValuesAlignedData": ("", False),
        "ClockAlignedDataInterval": ("0", False),
        "ConnectionTimeOut": ("60", False),
        "LocalAuthorizeOffline": ("true", False),
        "AuthorizeRemoteTxRequests": ("false", False),
        "WebSocketPingInterval": ("0", False),
        "NumberOfConnectors": (str(spec.n_connectors), True),
        "SupportedFeatureProfiles": ("Core,SmartCharging,RemoteTrigger", True),
        "ChargeProfileMaxStackLevel": (str(spec.max_stack_level), True),
        "ChargingScheduleAllowedChargingRateUnit": (spec.allowed_units, True),
        "ChargingScheduleMaxPeriods": (str(spec.max_periods), True),
        "MaxChargingProfilesInstalled": (str(spec.max_profiles), True),
    }


INT_KEYS = {"HeartbeatInterval", "MeterValueSampleInterval", "ClockAlignedDataInterval"}


class _Link(OcppChargePoint):
    """The OCPP side of one connection; handlers are thin and delegate to the charger."""

    def __init__(self, owner: SimChargePoint, connection: Any, timeout_s: float) -> None:
        super().__init__(owner.spec.charger_id, connection, timeout_s, logger=OCPP_LOG)
        self.owner = owner

    async def route_message(self, raw_msg: str) -> None:
        faults = self.owner.spec.faults
        incoming_call = raw_msg.lstrip("[ ").startswith("2")
        if incoming_call and faults.no_response:
            return
        if incoming_call and faults.response_delay_s > 0:
            task = asyncio.ensure_future(self._late(raw_msg, faults.response_delay_s))
            self.owner._tasks.add(task)
            task.add_done_callback(self.owner._tasks.discard)
            return
        await super().route_message(raw_msg)

    async def _late(self, raw_msg: str, delay_s: float) -> None:
        await self.owner.clock.sleep(delay_s)
        with contextlib.suppress(websockets.ConnectionClosed):
            await super().route_message(raw_msg)

    @on(Action.get_configuration)
    def on_get_configuration(self, key: list[str] | None = None, **_: Any) -> Any:
        return self.owner.get_configuration(key)

    @on(Action.change_configuration)
    def on_change_configuration(self, key: str, value: str, **_: Any) -> Any:
        return call_result.ChangeConfiguration(status=self.owner.change_configuration(key, value))

    @on(Action.set_charging_profile)
    def on_set_charging_profile(self, connector_id: int, cs_charging_profiles: dict) -> Any:
        status = self.owner.set_charging_profile(connector_id, cs_charging_profiles)
        return call_result.SetChargingProfile(status=status)

    @on(Action.clear_charging_profile)
    def on_clear_charging_profile(
        self,
        id: int | None = None,
        connector_id: int | None = None,
        charging_profile_purpose: str | None = None,
        stack_level: int | None = None,
    ) -> Any:
        removed = self.owner.clear_charging_profile(
            id, connector_id, charging_profile_purpose, stack_level
        )
        return call_result.ClearChargingProfile(status="Accepted" if removed else "Unknown")

    @on(Action.get_composite_schedule)
    def on_get_composite_schedule(
        self, connector_id: int, duration: int, charging_rate_unit: str | None = None
    ) -> Any:
        return self.owner.get_composite_schedule(connector_id, duration, charging_rate_unit)

    @on(Action.remote_start_transaction)
    def on_remote_start(self, id_tag: str, connector_id: int | None = None, **_: Any) -> Any:
        ok = self.owner.find_remote_start_connector(connector_id) is not None
        return call_result.RemoteStartTransaction(status="Accepted" if ok else "Rejected")

    @after(Action.remote_start_transaction)
    async def after_remote_start(
        self,
        id_tag: str,
        connector_id: int | None = None,
        charging_profile: dict | None = None,
    ) -> None:
        await self.owner.remote_start(id_tag, connector_id, charging_profile)

    @on(Action.remote_stop_transaction)
    def on_remote_stop(self, transaction_id: int) -> Any:
        found = self.owner.connector_of_transaction(transaction_id) is not None
        return call_result.RemoteStopTransaction(status="Accepted" if found else "Rejected")

    @after(Action.remote_stop_transaction)
    async def after_remote_stop(self, transaction_id: int) -> None:
        connector = self.owner.connector_of_transaction(transaction_id)
        if connector is not None:
            await self.owner.stop_transaction(connector, "Remote")

    @on(Action.trigger_message)
    def on_trigger_message(self, requested_message: str, connector_id: int | None = None) -> Any:
        supported = {"BootNotification", "Heartbeat", "MeterValues", "StatusNotification"}
        status = "Accepted" if requested_message in supported else "NotImplemented"
        return call_result.TriggerMessage(status=status)

    @after(Action.trigger_message)
    async def after_trigger_message(
        self, requested_message: str, connector_id: int | None = None
    ) -> None:
        await self.owner.triggered(requested_message, connector_id)

    @on(Action.change_availability)
    def on_change_availability(self, connector_id: int, type: str) -> Any:
        return call_result.ChangeAvailability(
            status=self.owner.change_availability(connector_id, type)
        )

    @on(Action.reset)
    def on_reset(self, type: str) -> Any:
        return call_result.Reset(status="Accepted")

    @after(Action.reset)
    async def after_reset(self, type: str) -> None:
        await self.owner.reset(type)

    @on(Action.unlock_connector)
    def on_unlock_connector(self, connector_id: int) -> Any:
        if not 1 <= connector_id <= self.owner.spec.n_connectors:
            return call_result.UnlockConnector(status="NotSupported")
        return call_result.UnlockConnector(status="Unlocked")

    @after(Action.unlock_connector)
    async def after_unlock_connector(self, connector_id: int) -> None:
        connector = self.owner.connectors.get(connector_id)
        if connector is not None and connector.transaction_id is not None:
            await self.owner.stop_transaction(connector, "UnlockCommand")

    @on(Action.data_transfer)
    def on_data_transfer(self, vendor_id: str, **_: Any) -> Any:
        return call_result.DataTransfer(status="UnknownVendorId")


def refusal_text(exc: websockets.InvalidStatus) -> str:
    """``HTTP 404: unknown charge point CP011``: the status and the first line of the body."""
    response = exc.response
    body = bytes(response.body or b"").decode("utf-8", "replace").strip().splitlines()
    reason = body[0][:200] if body else response.reason_phrase
    return f"HTTP {response.status_code}: {reason}"


class SimChargePoint:
    """A simulated charger: connect with :meth:`run` (a task), drive with plug_in / unplug.

    ``on_sample`` receives a :class:`Sample` per connector with a car at every physics step.
    """

    SUBPROTOCOL = "ocpp1.6"  # a subclass speaks another version (simulator.charger201)

    def __init__(
        self,
        spec: ChargerSpec,
        url: str,
        clock: ClockLike,
        *,
        on_sample: Callable[[Sample], None] | None = None,
    ) -> None:
        self.spec = spec
        self.url = url.rstrip("/") + "/" + spec.charger_id
        self.clock = clock
        self.on_sample = on_sample
        self.connectors = {i: Connector(i) for i in range(1, spec.n_connectors + 1)}
        self.profiles: list[prof.InstalledProfile] = []
        self.config = dict(_config_table(spec))
        self.connected = asyncio.Event()
        self.booted_count = 0
        self.disconnect_count = 0
        self.messages_sent = 0
        # why the last connection attempt was refused ("HTTP 404: ..."), None once connected;
        # refused_streak counts refusals in a row and stretches the wait before the next try
        self.refusal: str | None = None
        self.refused_streak = 0
        self.rejected_profiles: list[str] = []
        self._link: _Link | None = None
        self._ws: Any = None
        self._session: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._stopping = False
        self._meter_busy = False
        self._resume_after_boot = False
        self._local_tx_id = -1
        self._last_step_utc: datetime | None = None

    # ----------------------------------------------------------------- configuration
    def config_int(self, key: str) -> int:
        return int(self.config[key][0])

    def get_configuration(self, keys: list[str] | None) -> call_result.GetConfiguration:
        wanted = list(self.config) if not keys else keys
        known = [
            {"key": k, "readonly": self.config[k][1], "value": self.config[k][0]}
            for k in wanted
            if k in self.config
        ]
        unknown = [k for k in wanted if k not in self.config]
        return call_result.GetConfiguration(configuration_key=known, unknown_key=unknown or None)

    def change_configuration(self, key: str, value: str) -> str:
        if key not in self.config:
            return "NotSupported"
        if self.config[key][1]:
            return "Rejected"
        if key in INT_KEYS:
            try:
                if int(value) < 0:
                    return "Rejected"
            except ValueError:
                return "Rejected"
        if key == "MeterValueSampleInterval" and int(value) == 0:
            return "Rejected"
        self.config[key] = (value, False)
        self._wake.set()
        return "Accepted"

    # ----------------------------------------------------------------- smart charging
    def transaction_ids(self) -> dict[int, int]:
        return {
            c.connector_id: c.transaction_id
            for c in self.connectors.values()
            if c.transaction_id is not None
        }

    def set_charging_profile(self, connector_id: int, data: dict) -> str:
        if self.spec.faults.rejects_profiles:
            self.rejected_profiles.append("fault: rejects profiles")
            return "Rejected"
        try:
            profile = prof.ChargingProfile.from_dict(data)
        except prof.ProfileError as exc:
            self.rejected_profiles.append(str(exc))
            LOG.info("%s: rejected profile: %s", self.spec.charger_id, exc)
            return "Rejected"
        reason = prof.check_new_profile(
            self.profiles, connector_id, profile, self.spec.rules(), self.transaction_ids()
        )
        if reason is not None:
            self.rejected_profiles.append(reason)
            LOG.info("%s: rejected profile: %s", self.spec.charger_id, reason)
            return "Rejected"
        self._integrate(self.clock.now())  # up to its arrival, under the profiles before it
        self.profiles = prof.install(self.profiles, connector_id, profile)
        self._apply_now()
        return "Accepted"

    def clear_charging_profile(
        self,
        profile_id: int | None,
        connector_id: int | None,
        purpose: str | None,
        stack_level: int | None,
    ) -> int:
        self._integrate(self.clock.now())  # up to now, under the profiles before the change
        self.profiles, removed = prof.clear(
            self.profiles,
            profile_id=profile_id,
            connector_id=connector_id,
            purpose=purpose,
            stack_level=stack_level,
        )
        self._apply_now()
        return removed

    def get_composite_schedule(
        self, connector_id: int, duration_s: int, unit: str | None
    ) -> call_result.GetCompositeSchedule:
        if not 0 <= connector_id <= self.spec.n_connectors:
            return call_result.GetCompositeSchedule(status="Rejected")
        unit = unit or "A"
        now = self.clock.now().replace(microsecond=0)
        connector = self.connectors.get(connector_id)
        schedule = prof.composite_schedule(
            self.profiles,
            connector_id,
            now,
            duration_s,
            transaction_start_utc=connector.tx_start_utc if connector else None,
            transaction_id=connector.transaction_id if connector else None,
            rate_unit=unit,
            voltage_v=self.spec.voltage_v,
            hardware_limit_a=self.spec.max_current_a,
            hardware_phases=self.spec.phases,
        )
        return call_result.GetCompositeSchedule(
            status="Accepted",
            connector_id=connector_id,
            schedule_start=format_time(now),
            charging_schedule=schedule,
        )

    def applied_limit(self, connector: Connector, now: datetime) -> tuple[float, int]:
        """The current per phase [A] and phases this connector offers at ``now``."""
        spec = self.spec
        if spec.faults.ignores_profiles:
            return spec.max_current_a, spec.phases
        limit = prof.composite_limit(
            self.profiles,
            connector.connector_id,
            now,
            connector.tx_start_utc if connector.transaction_id is not None else None,
            connector.transaction_id,
            voltage_v=spec.voltage_v,
        )
        limit_a = spec.max_current_a if limit.limit_a is None else limit.limit_a
        limit_a = min(limit_a, spec.max_current_a)
        if spec.faults.whole_amps_only:
            limit_a = float(math.floor(limit_a + 0.5))
        return limit_a, min(limit.number_phases, spec.phases)

    # ----------------------------------------------------------------- connection
    async def run(self) -> None:
        """Connect, boot and serve until :meth:`stop`; reconnect after every loss."""
        physics = asyncio.create_task(self._physics_loop())
        try:
            while not self._stopping:
                await self._connect_once()
                if self._stopping:
                    break
                self.disconnect_count += 1
                # a refused handshake will most likely be refused again: back off (x2 per
                # refusal, at most an hour) instead of knocking every reconnect_delay_s
                backoff = 2 ** min(self.refused_streak, 12) if self.refused_streak else 1
                await self.clock.sleep(min(self.spec.reconnect_delay_s * backoff, 3600.0))
        finally:
            physics.cancel()
            for task in list(self._tasks):
                task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await physics

    async def stop(self) -> None:
        self._stopping = True
        if self._session is not None:
            self._session.cancel()
        if self._ws is not None:
            await self._ws.close()

    def _headers(self) -> dict[str, str] | None:
        if self.spec.password is None:
            return None
        token = f"{self.spec.charger_id}:{self.spec.password}".encode()
        return {"Authorization": "Basic " + base64.b64encode(token).decode()}

    def _timeout_s(self) -> float:
        # 30 s of the charger's own time, but never under 10 s of wall time: the central
        # system's latency does not shrink when the simulated clock runs faster.
        return max(10.0, 30.0 / self.clock.speed)

    async def _connect_once(self) -> None:
        helpers: list[asyncio.Task[Any]] = []
        try:
            async with connect(
                self.url,
                subprotocols=[self.SUBPROTOCOL],  # type: ignore[list-item]
                additional_headers=self._headers(),
                open_timeout=10,
                ping_interval=None,
            ) as ws:
                self._ws = ws
                self.refusal, self.refused_streak = None, 0
                link = self._new_link(ws)
                receiver = asyncio.create_task(link.start())
                helpers.append(receiver)
                # Boot and announce beside the receiver, as a task stop() can cancel: a call
                # still waiting for its answer would otherwise hold a stopped charger for its
                # whole response timeout.
                session = asyncio.create_task(self._open_session(link, ws, helpers))
                self._session = session
                helpers.append(session)
                with contextlib.suppress(websockets.ConnectionClosed):
                    await receiver
                # Connection lost: what the session still sends fails or times out, as a
                # charger's own calls would, before it reconnects.
                await asyncio.wait({session})
        except websockets.InvalidStatus as exc:
            self.refusal = refusal_text(exc)
            self.refused_streak += 1
            # once, as a warning when it was refused after a boot (at the start the site says it)
            first_after_boot = self.refused_streak == 1 and self.booted_count > 0
            log = LOG.warning if first_after_boot else LOG.debug
            log("%s: refused by the server (%s)", self.spec.charger_id, self.refusal)
        except (OSError, TimeoutError, websockets.WebSocketException) as exc:
            LOG.info("%s: connection lost or refused: %s", self.spec.charger_id, exc)
        finally:
            self.connected.clear()
            self._link = None
            self._ws = None
            for task in helpers:
                task.cancel()

    async def _open_session(self, link: Any, ws: Any, helpers: list[asyncio.Task[Any]]) -> None:
        """Boot (unless the charger reconnects quietly), then heartbeats and the announcement."""
        try:
            quiet = self.spec.faults.reconnects_without_boot and self.booted_count > 0
            if quiet or await self._boot(link):
                self._link = link
                self.connected.set()
                helpers.append(asyncio.create_task(self._heartbeat_loop(link)))
                if self.spec.faults.disconnects_every_s:
                    helpers.append(asyncio.create_task(self._disconnect_later(ws)))
                await self._announce()
        except (OCPPError, TimeoutError, websockets.ConnectionClosed) as exc:
            LOG.info("%s: session set-up cut short: %s", self.spec.charger_id, exc)

    def _new_link(self, ws: Any) -> Any:
        return _Link(self, ws, self._timeout_s())

    async def _boot(self, link: _Link) -> bool:
        while not self._stopping:
            request = call.BootNotification(
                charge_point_model=self.spec.model, charge_point_vendor=self.spec.vendor
            )
            try:
                result = await link.call(request, suppress=False)
            except (OCPPError, TimeoutError) as exc:
                LOG.warning("%s: BootNotification failed: %s", self.spec.charger_id, exc)
                await self.clock.sleep(self.spec.reconnect_delay_s)
                continue
            if result.status == "Accepted":
                if result.interval:
                    self.config["HeartbeatInterval"] = (str(result.interval), False)
                self.booted_count += 1
                return True
            await self.clock.sleep(max(1, result.interval or 10))
        return False

    async def _announce(self) -> None:
        """After a (re)boot: status of every connector; restart transactions after a reset."""
        await self._send(call.StatusNotification(0, "NoError", "Available"))
        for connector in self.connectors.values():
            await self._send_status(connector)
        if self._resume_after_boot:
            self._resume_after_boot = False
            for connector in self.connectors.values():
                if connector.ev is not None and connector.transaction_id is None:
                    await self._start_transaction(connector, connector.id_tag or "SIM")

    async def _heartbeat_loop(self, link: _Link) -> None:
        while True:
            await self.clock.sleep(max(1, self.config_int("HeartbeatInterval")))
            await self._send(call.Heartbeat())

    async def _disconnect_later(self, ws: Any) -> None:
        await self.clock.sleep(float(self.spec.faults.disconnects_every_s or 0))
        LOG.info("%s: dropping the connection (fault)", self.spec.charger_id)
        await ws.close()

    async def _send(self, request: Any, *, wait_connected_s: float = 0.0) -> Any:
        """Send a call; None if offline, timed out or answered with an error."""
        if wait_connected_s > 0 and not self.connected.is_set():
            waiter = asyncio.ensure_future(self.connected.wait())
            sleeper = asyncio.ensure_future(self.clock.sleep(wait_connected_s))
            await asyncio.wait({waiter, sleeper}, return_when=asyncio.FIRST_COMPLETED)
            waiter.cancel()
            sleeper.cancel()
        link = self._link
        if link is None:
            return None
        try:
            result = await link.call(request, suppress=False)
        except (OCPPError, TimeoutError, websockets.ConnectionClosed) as exc:
            LOG.info("%s: %s failed: %s", self.spec.charger_id, type(request).__name__, exc)
            return None
        self.messages_sent += 1
        return result

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # ----------------------------------------------------------------- sessions
    async def plug_in(
        self,
        connector_id: int,
        ev: EVState,
        id_tag: str,
        session_key: str | None = None,
        *,
        authorize: bool = True,
    ) -> int | None:
        """A car arrives: Preparing, Authorize, StartTransaction, Charging.

        Returns the transaction id (None if the central system could not be reached).
        """
        connector = self.connectors[connector_id]
        if connector.ev is not None:
            raise ValueError(f"{self.spec.charger_id}: connector {connector_id} is occupied")
        self._integrate(self.clock.now())
        connector.ev = ev
        connector.session_key = session_key
        connector.id_tag = id_tag
        connector.soc_start = ev.soc
        connector.status = "Preparing"
        await self._send_status(connector)
        if authorize:
            await self._send(call.Authorize(id_tag=id_tag), wait_connected_s=60)
        return await self._start_transaction(connector, id_tag)

    async def _start_transaction(self, connector: Connector, id_tag: str) -> int | None:
        now = self.clock.now()
        self._integrate(now)
        connector.meter_start_wh = int(connector.register_wh)
        connector.tx_start_utc = now
        request = call.StartTransaction(
            connector_id=connector.connector_id,
            id_tag=id_tag,
            meter_start=connector.meter_start_wh,
            timestamp=format_time(now),
        )
        result = await self._send(request, wait_connected_s=60)
        if result is not None:
            connector.transaction_id = int(result.transaction_id)
        else:
            connector.transaction_id = self._local_tx_id
            self._local_tx_id -= 1
        connector.transaction_data = [self._meter_value(connector, now, "Transaction.Begin")]
        self._integrate(self.clock.now())
        self._evaluate(connector, self.clock.now())
        self._wake.set()
        return connector.transaction_id

    async def stop_transaction(self, connector: Connector, reason: str | None) -> None:
        """End the running transaction (the car may stay plugged in)."""
        if connector.transaction_id is None:
            return
        now = self.clock.now()
        self._integrate(now)
        tx_id = connector.transaction_id
        end_value = self._meter_value(connector, now, "Transaction.End")
        data = [*connector.transaction_data, end_value]
        connector.transaction_id = None
        self.profiles = prof.end_transaction(self.profiles, connector.connector_id)
        # The car stops drawing when the transaction ends, not once the central system has
        # answered (or, offline, up to a minute later).
        self._evaluate(connector, now)
        stop = call.StopTransaction(
            meter_stop=int(connector.register_wh),
            timestamp=format_time(now),
            transaction_id=tx_id,
            reason=reason,
            id_tag=connector.id_tag,
            transaction_data=data,
        )
        if self.spec.faults.double_stop_transaction:
            first = call.StopTransaction(
                meter_stop=stop.meter_stop, timestamp=stop.timestamp, transaction_id=tx_id
            )
            await self._send(first, wait_connected_s=60)
        await self._send(stop, wait_connected_s=60)
        connector.status = "Finishing"
        await self._send_status(connector)

    async def unplug(self, connector_id: int) -> SessionEnd:
        """The car leaves: StopTransaction (EVDisconnected) if one runs, then Available."""
        connector = self.connectors[connector_id]
        if connector.ev is None:
            raise ValueError(f"{self.spec.charger_id}: connector {connector_id} has no car")
        await self.stop_transaction(connector, "EVDisconnected")
        now = self.clock.now()
        self._integrate(now)
        ev = connector.ev
        end = SessionEnd(
            connector.session_key,
            None,
            ev.energy_wh / 1000.0,
            connector.soc_start if connector.soc_start is not None else ev.soc,
            ev.soc,
        )
        if self.on_sample is not None:
            self.on_sample(
                Sample(
                    now,
                    self.spec.charger_id,
                    connector_id,
                    None,
                    0.0,
                    0.0,
                    0,
                    connector.offered_a,
                    0.0,
                    None,
                )
            )
        connector.ev = None
        connector.session_key = None
        connector.id_tag = None
        connector.tx_start_utc = None
        connector.status = "Available"
        await self._send_status(connector)
        return end

    def find_remote_start_connector(self, connector_id: int | None) -> Connector | None:
        candidates = (
            [self.connectors.get(connector_id)] if connector_id else list(self.connectors.values())
        )
        for connector in candidates:
            if connector is not None and connector.ev is not None:
                if connector.transaction_id is None:
                    return connector
        return None

    async def remote_start(
        self, id_tag: str, connector_id: int | None, charging_profile: dict | None
    ) -> None:
        connector = self.find_remote_start_connector(connector_id)
        if connector is None:
            return
        connector.id_tag = id_tag
        tx_id = await self._start_transaction(connector, id_tag)
        if charging_profile is not None and tx_id is not None:
            data = {**charging_profile, "transaction_id": tx_id}
            self.set_charging_profile(connector.connector_id, data)

    def connector_of_transaction(self, transaction_id: int) -> Connector | None:
        for connector in self.connectors.values():
            if connector.transaction_id == transaction_id:
                return connector
        return None

    async def triggered(self, message: str, connector_id: int | None) -> None:
        targets = [
            c
            for c in self.connectors.values()
            if connector_id in (None, 0) or c.connector_id == connector_id
        ]
        if message == "BootNotification" and self._link is not None:
            await self._boot(self._link)
        elif message == "Heartbeat":
            await self._send(call.Heartbeat())
        elif message == "StatusNotification":
            for connector in targets:
                await self._send_status(connector)
        elif message == "MeterValues":
            now = self.clock.now()
            self._integrate(now)
            for connector in targets:
                await self._send_meter_values(connector, now, "Trigger")

    def change_availability(self, connector_id: int, kind: str) -> str:
        targets = [c for c in self.connectors.values() if connector_id in (0, c.connector_id)]
        if not targets:
            return "Rejected"
        if any(c.transaction_id is not None for c in targets):
            return "Scheduled"
        for connector in targets:
            if kind == "Inoperative":
                connector.status = "Unavailable"
            elif connector.status == "Unavailable":
                connector.status = "Preparing" if connector.ev is not None else "Available"
            self._spawn(self._send_status(connector))
        return "Accepted"

    async def reset(self, kind: str) -> None:
        reason = "HardReset" if kind == "Hard" else "SoftReset"
        for connector in self.connectors.values():
            if connector.transaction_id is not None:
                await self.stop_transaction(connector, reason)
        self._resume_after_boot = True
        if self._ws is not None:
            await self._ws.close()

    # ----------------------------------------------------------------- physics and meters
    def _integrate(self, now: datetime) -> None:
        """Bring the physics up to ``now``, every scheduled change on the way at its own instant.

        A task wakes late on a busy machine (or after another event got there first); what the
        charging schedule changes in between (a period start, a profile's validity start or
        end) and a car reaching its target happened at their instants, not when the loop woke:
        each is stepped to, applied and recorded there, in order. Otherwise a cut recorded late
        shows the site over its limit, and a neighbour's raise that really came after it is
        recorded before it.
        """
        last = self._last_step_utc
        while last is not None and last < now:
            due = self._next_scheduled_utc(last, now)
            if due is None or due >= now:
                break  # a change at ``now`` itself: the caller evaluates at ``now``
            self._step_to(due)
            for connector in self.connectors.values():
                self._evaluate(connector, due)
            last = due
        self._step_to(now)

    def _step_to(self, now: datetime) -> None:
        """Advance every car from its last step to ``now`` at its current draw (never back)."""
        last = self._last_step_utc
        if last is not None and now <= last:
            return
        self._last_step_utc = now
        if last is None:
            return
        dt_s = (now - last).total_seconds()
        for connector in self.connectors.values():
            if connector.ev is not None:
                connector.register_wh += connector.ev.step(dt_s)

    def _next_scheduled_utc(self, after: datetime, until: datetime) -> datetime | None:
        """The first instant in (after, until] at which a draw changes by itself: a charging
        schedule's period starts or ends, a profile's validity starts or ends, or a car reaches
        its target at its present draw. None if nothing is due by ``until``."""
        horizon_s = (until - after).total_seconds()
        if horizon_s <= 0:
            return None
        due: list[datetime] = []
        to_full_s = min(
            (c.ev.seconds_to_target() for c in self.connectors.values() if c.ev is not None),
            default=math.inf,
        )
        if to_full_s <= horizon_s:
            # Rounded up to the microsecond: the step then reaches the target, never stops short.
            due.append(after + timedelta(microseconds=max(1, math.ceil(to_full_s * 1e6))))
        if self.profiles and not self.spec.faults.ignores_profiles:
            tx_starts = {c.tx_start_utc for c in self.connectors.values()} - {None}
            for tx_start in tx_starts or {None}:
                change = prof.next_change_utc(
                    self.profiles, after, horizon_s + 1e-6, relative_start_utc=tx_start
                )
                if change is not None:
                    due.append(change)
        return min((t for t in due if t <= until), default=None)

    def _apply_now(self) -> None:
        """Profiles changed: the charger applies them on arrival, not at its next wake-up."""
        now = self.clock.now()
        self._integrate(now)
        for connector in self.connectors.values():
            self._evaluate(connector, now)
        self._wake.set()

    def _evaluate(self, connector: Connector, now: datetime) -> None:
        """Apply the composite limit to the car and record what it now draws."""
        ev = connector.ev
        if ev is None:
            return
        if connector.transaction_id is None or connector.status == "Unavailable":
            limit_a, phases = 0.0, self.spec.phases
            ev.draw(0.0, phases)
        else:
            limit_a, phases = self.applied_limit(connector, now)
            ev.draw(limit_a, phases)
        connector.offered_a = limit_a
        if connector.transaction_id is not None:
            status = "Charging"
            if ev.current_a <= 0:
                status = "SuspendedEV" if ev.full or ev.asleep else "SuspendedEVSE"
            if status != connector.status and connector.status != "Unavailable":
                connector.status = status
                self._spawn(self._send_status(connector))
        if self.on_sample is not None:
            self.on_sample(
                Sample(
                    now,
                    self.spec.charger_id,
                    connector.connector_id,
                    connector.session_key,
                    ev.power_w,
                    ev.current_a,
                    ev.phases,
                    limit_a,
                    ev.energy_wh,
                    ev.soc,
                )
            )

    async def _physics_loop(self) -> None:
        now = self.clock.now()
        self._integrate(now)
        interval_s = max(1, self.config_int("MeterValueSampleInterval"))
        next_sample = _next_aligned(now, interval_s)
        while True:
            now = self.clock.now()
            self._integrate(now)
            for connector in self.connectors.values():
                self._evaluate(connector, now)
            interval_s = max(1, self.config_int("MeterValueSampleInterval"))
            if now >= next_sample - timedelta(milliseconds=1):
                self._spawn(self._send_all_meter_values(now))
            next_sample = _next_aligned(now + timedelta(milliseconds=1), interval_s)
            wake = min(next_sample, now + timedelta(seconds=self.spec.max_step_s))
            wake = self._next_scheduled_utc(now, wake) or wake
            await self._wait_until(wake)

    async def _wait_until(self, wake: datetime) -> None:
        self._wake.clear()
        delay_s = (wake - self.clock.now()).total_seconds()
        if delay_s <= 0:
            await asyncio.sleep(0)
            return
        waiter = asyncio.ensure_future(self._wake.wait())
        sleeper = asyncio.ensure_future(self.clock.sleep(delay_s))
        try:
            await asyncio.wait({waiter, sleeper}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            waiter.cancel()
            sleeper.cancel()

    async def _send_all_meter_values(self, now: datetime) -> None:
        if self._meter_busy or self._link is None:
            return
        self._meter_busy = True
        try:
            for connector in self.connectors.values():
                if connector.transaction_id is not None:
                    await self._send_meter_values(connector, now, "Sample.Periodic")
        finally:
            self._meter_busy = False

    async def _send_meter_values(self, connector: Connector, now: datetime, context: str) -> None:
        if connector.ev is None:
            return
        value = self._meter_value(connector, now, context)
        tx_id = connector.transaction_id
        await self._send(
            call.MeterValues(
                connector_id=connector.connector_id,
                meter_value=[value],
                transaction_id=tx_id if tx_id is not None and tx_id >= 0 else None,
            )
        )

    def _meter_value(self, connector: Connector, now: datetime, context: str) -> dict[str, Any]:
        ev = connector.ev
        power_w = ev.power_w if ev else 0.0
        current_a = ev.current_a if ev else 0.0
        phases = ev.phases if ev else 0
        measurands = {m.strip() for m in self.config["MeterValuesSampledData"][0].split(",")}
        sampled: list[dict[str, Any]] = []

        def add(measurand: str, value: float, unit: str, **extra: str) -> None:
            sampled.append(
                {
                    "value": f"{value:.1f}",
                    "context": context,
                    "measurand": measurand,
                    "unit": unit,
                    **extra,
                }
            )

        if "Energy.Active.Import.Register" in measurands:
            add("Energy.Active.Import.Register", connector.register_wh, "Wh")
        if "Power.Active.Import" in measurands:
            add("Power.Active.Import", power_w, "W")
        if "Current.Import" in measurands:
            for phase in range(1, 4):
                add("Current.Import", current_a if phase <= phases else 0.0, "A", phase=f"L{phase}")
        if "Current.Offered" in measurands:
            offered = connector.offered_a if connector.offered_a is not None else 0.0
            add("Current.Offered", offered, "A")
        if "Voltage" in measurands:
            add("Voltage", self.spec.voltage_v, "V", phase="L1-N")
        if "SoC" in measurands and ev is not None:
            add("SoC", ev.soc * 100.0, "Percent", location="EV")
        return {"timestamp": format_time(now), "sampled_value": sampled}

    async def _send_status(self, connector: Connector) -> None:
        await self._send(
            call.StatusNotification(
                connector_id=connector.connector_id,
                error_code="NoError",
                status=connector.status,
                timestamp=format_time(self.clock.now()),
            )
        )


def _next_aligned(now: datetime, interval_s: int) -> datetime:
    """The first multiple of ``interval_s`` since the epoch strictly after ``now``."""
    stamp = now.timestamp()
    nxt = (math.floor(stamp / interval_s) + 1) * interval_s
    return now + timedelta(seconds=nxt - stamp)
