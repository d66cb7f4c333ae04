"""The site's live state: chargers, connectors, sessions and their last meter values.

Handlers write here; the control cycle reads a consistent snapshot. Listeners hear about the
events that warrant a re-plan (a session starts or stops, a charger comes or goes).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from controller.config import ChargerConfig, SiteConfig
from controller.meter import Reading
from controller.units import kw_from_a

log = logging.getLogger(__name__)

EventListener = Callable[[str, str, dict[str, Any]], None]  # (kind, charger_id, detail)

METER_MAX_AGE_S = 300.0  # an older site-meter reading is not trusted


@dataclass
class Capabilities:
    """The smart-charging keys a charger reported (None: it did not say)."""

    max_stack_level: int | None = None
    allowed_rate_units: tuple[str, ...] = ("Current",)
    max_periods: int | None = None
    max_profiles_installed: int | None = None
    meter_value_sample_interval_s: int | None = None
    meter_values_sampled_data: str | None = None
    raw: dict[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "max_stack_level": self.max_stack_level,
            "allowed_rate_units": list(self.allowed_rate_units),
            "max_periods": self.max_periods,
            "max_profiles_installed": self.max_profiles_installed,
            "meter_value_sample_interval_s": self.meter_value_sample_interval_s,
            "meter_values_sampled_data": self.meter_values_sampled_data,
        }


@dataclass
class ConnectorState:
    connector_id: int
    status: str = "Unavailable"
    error_code: str = "NoError"
    info: str | None = None
    updated_utc: datetime | None = None
    last_reading: Reading | None = None


@dataclass
class SessionState:
    transaction_id: int
    charger_id: str
    connector_id: int
    id_tag: str
    start_utc: datetime
    meter_start_wh: float
    energy_kwh: float = 0.0
    power_kw: float | None = None
    current_a: tuple[float, ...] | None = None
    current_offered_a: float | None = None
    soc_percent: float | None = None
    last_meter_utc: datetime | None = None
    stop_utc: datetime | None = None
    stop_reason: str | None = None
    overrides: dict[str, Any] = field(default_factory=dict)
    id_tag_group: str | None = None
    phases_used: int | None = None  # seen in per-phase currents while the car drew power
    car_max_kw: float | None = None  # the most the car took when offered more [kW]
    register_base_kwh: float | None = None  # the register's zero for this session [kWh]
    register_utc: datetime | None = None  # when the register was last taken
    offered_while_drawing_a: float = 0.0  # the most it was offered while drawing [A]
    probed: bool = False  # offered what the limits left, once, to learn what it draws
    idle_while_offered: int = 0  # consecutive readings drawing nothing while offered >= 6 A
    paused_after_drawing: bool = False  # offered less than 6 A after the car had drawn power
    no_resume: bool = False  # did not draw again after a pause: never paused again
    ocpp_transaction_id: str | None = None  # OCPP 2.0.1: the station's own id, as it sent it
    last_seq_no: int | None = None  # OCPP 2.0.1: the last TransactionEvent seqNo seen
    external_limit_kw: float | None = None  # OCPP 2.0.1: a limit the station reports [kW]

    @property
    def active(self) -> bool:
        return self.stop_utc is None


@dataclass
class ChargerState:
    charger_id: str
    config: ChargerConfig | None
    vendor: str | None = None
    model: str | None = None
    serial_number: str | None = None
    firmware_version: str | None = None
    online: bool = False
    booted: bool = False
    last_seen_utc: datetime | None = None
    last_boot_utc: datetime | None = None
    capabilities: Capabilities = field(default_factory=Capabilities)
    connectors: dict[int, ConnectorState] = field(default_factory=dict)
    firmware_status: str | None = None
    diagnostics_status: str | None = None
    controllable: bool = True
    uncontrollable_reason: str | None = None
    uncontrollable_since_utc: datetime | None = None
    non_compliant: bool = False
    ocpp_version: str | None = None  # the subprotocol of its current or last connection
    # OCPP 2.0.1 NotifyChargingLimit per EVSE (0: the station): the limit the station reports
    charging_limits: dict[int, dict[str, Any]] = field(default_factory=dict)

    def connector(self, connector_id: int) -> ConnectorState:
        state = self.connectors.get(connector_id)
        if state is None:
            state = self.connectors[connector_id] = ConnectorState(connector_id)
        return state


class SiteState:
    """Everything the controller knows right now; one instance per site, one event loop."""

    def __init__(self, config: SiteConfig) -> None:
        self.config = config
        self.chargers: dict[str, ChargerState] = {}
        self.sessions: dict[int, SessionState] = {}  # open sessions by transaction id
        self.closed_sessions: dict[int, SessionState] = {}  # recent ones, for repeated stops
        self.site_meter_kw: float | None = None
        self.site_meter_utc: datetime | None = None
        self.no_resume_count = 0  # cars that did not draw again after a pause
        self._listeners: list[EventListener] = []
        for charger in config.chargers:
            self.chargers[charger.id] = ChargerState(charger.id, charger)

    # what the site draws now: the one definition ------------------------------------------
    def ev_power_kw(self) -> float:
        """Measured power of the open sessions [kW] (a session without a reading counts 0)."""
        return sum(max(0.0, s.power_kw or 0.0) for s in self.sessions.values())

    def fresh_meter_kw(self, now_utc: datetime) -> float | None:
        """The site meter [kW] if it has read within METER_MAX_AGE_S, else None."""
        if self.site_meter_kw is None:
            return None
        if self.site_meter_utc is not None:
            if (now_utc - self.site_meter_utc).total_seconds() > METER_MAX_AGE_S:
                return None
        return max(0.0, self.site_meter_kw)

    def measured_kw(self, now_utc: datetime) -> tuple[float, str]:
        """The site's draw now [kW] and where it comes from: the site meter when fresh (never
        below the sessions' sum), else the chargers (other loads are then unseen)."""
        ev_kw = self.ev_power_kw()
        meter_kw = self.fresh_meter_kw(now_utc)
        if meter_kw is None:
            return ev_kw, "chargers"
        return max(meter_kw, ev_kw), "site_meter"

    def other_load_kw(self, now_utc: datetime) -> float:
        """What the fresh site meter reads beyond the chargers [kW]: not ours to control."""
        meter_kw = self.fresh_meter_kw(now_utc)
        return 0.0 if meter_kw is None else max(0.0, meter_kw - self.ev_power_kw())

    # events ------------------------------------------------------------------------------
    def subscribe(self, listener: EventListener) -> None:
        self._listeners.append(listener)

    def emit(self, kind: str, charger_id: str, **detail: Any) -> None:
        for listener in self._listeners:
            try:
                listener(kind, charger_id, detail)
            except Exception:
                log.exception("listener failed on %s from %s", kind, charger_id)

    # chargers ----------------------------------------------------------------------------
    def charger(self, charger_id: str) -> ChargerState:
        state = self.chargers.get(charger_id)
        if state is None:
            state = self.chargers[charger_id] = ChargerState(charger_id, None)
        return state

    def roster(self) -> tuple[ChargerConfig, ...]:
        """Every charger that is part of the site: the listed ones, then those admitted
        (``allow_unknown_chargers``) since they connected. Planning, the safe share and the
        reservations all walk this: nothing at the site draws power the controller ignores."""
        admitted = tuple(
            state.config
            for state in self.chargers.values()
            if state.config is not None and self.config.charger(state.charger_id) is None
        )
        return self.config.chargers + admitted

    def charger_config(self, charger_id: str) -> ChargerConfig | None:
        state = self.chargers.get(charger_id)
        return state.config if state is not None else None

    def _admit(self, state: ChargerState) -> None:
        """An unknown charger that connected: rated at the site's default until it tells more."""
        rating = self.config.control.unknown_charger_max_current_a
        connectors = max([1, *state.connectors])
        state.config = ChargerConfig(
            id=state.charger_id, max_current_a=rating, connectors=min(8, connectors)
        )
        log.info(
            "%s: admitted unknown charger, planned as %d connector(s) of %.0f A",
            state.charger_id,
            connectors,
            rating,
        )

    def learn_connector(self, charger_id: str, connector_id: int) -> None:
        """An admitted charger reporting a connector beyond those assumed: count it."""
        state = self.chargers.get(charger_id)
        if state is None or state.config is None or self.config.charger(charger_id) is not None:
            return
        if state.config.connectors < connector_id <= 8:
            state.config = state.config.model_copy(update={"connectors": connector_id})

    def mark_seen(self, charger_id: str, now_utc: datetime) -> None:
        state = self.charger(charger_id)
        if state.config is None:
            self._admit(state)
        state.last_seen_utc = now_utc
        if not state.online:
            state.online = True
            self.emit("charger_online", charger_id)

    def mark_offline(self, charger_id: str, reason: str) -> None:
        state = self.chargers.get(charger_id)
        if state is not None and state.online:
            state.online = False
            log.info("%s: offline (%s)", charger_id, reason)
            self.emit("charger_offline", charger_id, reason=reason)

    def expire_silent(self, now_utc: datetime, silence_s: float) -> list[str]:
        """Mark chargers offline that have been silent for longer than ``silence_s``."""
        expired = []
        for state in self.chargers.values():
            if state.online and state.last_seen_utc is not None:
                if now_utc - state.last_seen_utc > timedelta(seconds=silence_s):
                    self.mark_offline(state.charger_id, "missed heartbeats")
                    expired.append(state.charger_id)
        return expired

    # sessions ----------------------------------------------------------------------------
    def open_session(self, session: SessionState) -> None:
        self.sessions[session.transaction_id] = session
        self.emit("session_started", session.charger_id, transaction_id=session.transaction_id)

    def session_on(self, charger_id: str, connector_id: int) -> SessionState | None:
        for session in self.sessions.values():
            if session.charger_id == charger_id and session.connector_id == connector_id:
                return session
        return None

    def close_session(self, transaction_id: int) -> SessionState | None:
        session = self.sessions.pop(transaction_id, None)
        if session is not None:
            self.closed_sessions[transaction_id] = session
            if len(self.closed_sessions) > 10_000:
                self.closed_sessions.pop(next(iter(self.closed_sessions)))
            self.emit("session_stopped", session.charger_id, transaction_id=transaction_id)
        return session

    def _apply_register(self, session: SessionState, reading: Reading) -> None:
        """The session's energy from the register. A register sample implying more power than
        the charger can deliver since the last one (a register that runs on across
        transactions while meterStart says 0) is rejected and logged, and the register is
        re-anchored there, so only what is drawn from now on counts."""
        register = reading.energy_register_kwh
        assert register is not None
        base = session.register_base_kwh
        if base is None:
            base = session.meter_start_wh / 1000.0
        # A charger that restarts its register at 0 for each transaction while having
        # reported a non-zero meterStart: take the register as the session's energy.
        energy = register - base if register >= base else register
        since = session.register_utc or session.start_utc
        hours = max(0.0, (reading.timestamp_utc - since).total_seconds() / 3600.0)
        charger = self.charger_config(session.charger_id)
        if charger is not None:
            rating_kw = kw_from_a(
                charger.max_current_a, charger.phases, self.config.charger_voltage_v(charger)
            )
            possible_kwh = 1.25 * rating_kw * hours + 0.05
            if energy - session.energy_kwh > possible_kwh:
                log.warning(
                    "%s: transaction %d: register %.3f kWh implies %.2f kWh in %.0f s, more "
                    "than the charger can deliver; rejected, register re-anchored",
                    session.charger_id,
                    session.transaction_id,
                    register,
                    energy - session.energy_kwh,
                    hours * 3600,
                )
                session.register_base_kwh = register - session.energy_kwh
                session.register_utc = reading.timestamp_utc
                return
        session.energy_kwh = max(session.energy_kwh, energy)
        session.register_utc = reading.timestamp_utc

    @staticmethod
    def _learn_car_limit(session: SessionState, offered_a: float, voltage_v: float) -> None:
        """Remember what the car itself takes: OCPP 1.6 does not say, and a plan that counts on
        the charger's rating for an 11 kW car falls short at the end. Learned only when the
        charger offered clearly more than the car drew; kept across pauses."""
        power_kw = session.power_kw
        if power_kw is None or offered_a <= 0:
            return
        phases = session.phases_used or (len(session.current_a) if session.current_a else 3)
        offered_kw = kw_from_a(offered_a, phases, voltage_v)
        if 0.3 < power_kw < 0.85 * offered_kw:
            session.car_max_kw = power_kw
        elif session.car_max_kw is not None and power_kw > session.car_max_kw:
            session.car_max_kw = power_kw

    def apply_reading(self, session: SessionState, reading: Reading, voltage_v: float) -> None:
        """Update a session from a meter reading; energy never goes backwards."""
        if reading.energy_register_kwh is not None:
            self._apply_register(session, reading)
        if reading.current_a is not None:
            session.current_a = reading.current_a
            drawn = [a for a in reading.current_a if a > 0.5]
            said = len(reading.current_a) == 3 or reading.power_kw is not None
            if drawn and sum(reading.current_a) > 1.5 and said:
                # Remembered: a paused car reads 0 A on every phase and tells nothing.
                session.phases_used = _phases_drawn(drawn, reading.power_kw, voltage_v)
        if reading.power_kw is not None:
            session.power_kw = max(0.0, reading.power_kw)
        elif reading.current_a is not None:
            session.power_kw = sum(kw_from_a(a, 1, voltage_v) for a in reading.current_a)
        if reading.current_offered_a is not None:
            session.current_offered_a = reading.current_offered_a
            self._learn_car_limit(session, reading.current_offered_a, voltage_v)
            if session.power_kw is not None and session.power_kw > 0.3:
                session.offered_while_drawing_a = max(
                    session.offered_while_drawing_a, reading.current_offered_a
                )
        if reading.soc_percent is not None:
            session.soc_percent = reading.soc_percent
        self._follow_pauses(session)
        session.last_meter_utc = reading.timestamp_utc

    def _follow_pauses(self, session: SessionState) -> None:
        """Count readings where the car draws nothing although offered power: after a pause,
        while it is known to want more, that is a car that did not wake up again (logged,
        counted, never paused again); otherwise a car that has stopped by itself (full)."""
        offered_a = session.current_offered_a
        drawing = session.power_kw is not None and session.power_kw > 0.3
        if drawing:
            session.idle_while_offered = 0
            session.paused_after_drawing = False
        elif offered_a is not None and offered_a < 6.0 and session.energy_kwh >= 0.05:
            session.paused_after_drawing = True
        elif offered_a is not None and session.power_kw is not None:
            session.idle_while_offered += 1
            if (
                session.paused_after_drawing
                and session.idle_while_offered >= 2
                and not session.no_resume
                and _still_wants(session)
            ):
                session.no_resume = True
                self.no_resume_count += 1
                log.warning(
                    "%s: transaction %s did not resume after a pause; held at its minimum",
                    session.charger_id,
                    session.transaction_id,
                )


def _still_wants(session: SessionState) -> bool:
    """A car known to want more energy (a car, fleet or operator said how much). A car whose
    need is unknown and stops drawing may simply be full: it is taken as done instead."""
    wanted = session.overrides.get("energy_kwh")
    return wanted is not None and session.energy_kwh < float(wanted) - 0.5


def _phases_drawn(drawn_a: list[float], power_kw: float | None, voltage_v: float) -> int:
    """Phases a car draws on, from its per-phase currents and its power together: a charger
    that reports current on L1 only says nothing about L2 and L3, but its power does."""
    if power_kw is None or power_kw <= 0.3:
        return len(drawn_a)
    implied = power_kw * 1000.0 / (voltage_v * max(drawn_a))
    return max(len(drawn_a), min(3, round(implied)))
