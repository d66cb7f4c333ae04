"""A session log (CSV) read for replay, checked against the site file, turned into simulated cars.

Columns (header names case-insensitive): ``arrival``, ``departure`` (ISO 8601 with an offset),
``energy_kwh``; optional ``max_power_kw``, ``charger_id`` (the site file's literal charger id),
``id_tag``. The open-data names the simulator reads keep working: ``connectionTime`` /
``disconnectTime`` / ``kWhDelivered`` / ``userID`` (ACN-Data, RFC 1123 times with ``GMT``) and
``UTCTransactionStart`` / ``UTCTransactionStop`` / ``TotalEnergy`` / ``StartCard`` (Elaad, times
in UTC). Their station columns name the log's own stations, not this site's chargers, so such
sessions go to the first free charger. A row that cannot be replayed is an error naming it.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path

from controller.config import ChargerConfig, SiteConfig
from simulator.ev import EVSpec, ideal_ev
from simulator.scenario import Session

COLUMNS: dict[str, tuple[str, ...]] = {
    "arrival": ("arrival", "connectiontime", "connection_time", "utctransactionstart"),
    "departure": ("departure", "disconnecttime", "disconnect_time", "utctransactionstop"),
    "energy_kwh": ("energy_kwh", "kwhdelivered", "totalenergy"),
    "max_power_kw": ("max_power_kw",),
    "charger_id": ("charger_id",),
    "id_tag": ("id_tag", "userid", "user_id", "startcard"),
}
EV_MODELS = ("ideal", "taper")


class ReplayInputError(ValueError):
    """The sessions file cannot be replayed on this site; the message names the row."""


@dataclass(frozen=True)
class ReplaySession:
    """One row of the log, checked (times UTC, energy [kWh], power [kW])."""

    row: str  # "FILE:LINE", for messages
    arrival_utc: datetime
    departure_utc: datetime
    energy_kwh: float
    max_power_kw: float | None = None
    charger_id: str | None = None
    id_tag: str | None = None


def _when(text: str, column: str, where: str) -> datetime:
    text = (text or "").strip()
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        try:
            value = parsedate_to_datetime(text)
        except (TypeError, ValueError):
            raise ReplayInputError(f"{where}: {column}: cannot read date-time {text!r}") from None
    if value.tzinfo is None or value.utcoffset() is None:
        if not column.lower().startswith("utc"):
            raise ReplayInputError(f"{where}: {column}: {text!r} has no UTC offset")
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def _number(text: str | None, column: str, where: str) -> float | None:
    if text is None or not text.strip():
        return None
    try:
        value = float(text)
    except ValueError:
        raise ReplayInputError(f"{where}: {column}: {text!r} is not a number") from None
    if not math.isfinite(value) or value < 0:
        raise ReplayInputError(f"{where}: {column}: {value} must be a finite number >= 0")
    return value


def load_sessions(path: str | Path, config: SiteConfig) -> list[ReplaySession]:
    """Read and check every row against ``config`` (sorted by arrival, then row)."""
    path = Path(path)
    try:
        handle = path.open(newline="", encoding="utf-8-sig")
    except OSError as exc:
        raise ReplayInputError(f"{path}: cannot open ({exc.strerror})") from None
    sessions: list[ReplaySession] = []
    with handle:
        reader = csv.DictReader(handle)
        header = {name.strip().lower(): name for name in reader.fieldnames or []}
        cols = {
            role: next((header[n] for n in names if n in header), None)
            for role, names in COLUMNS.items()
        }
        for role in ("arrival", "departure", "energy_kwh"):
            if cols[role] is None:
                raise ReplayInputError(
                    f"{path}: no {role} column (one of {', '.join(COLUMNS[role])})"
                )
        for line_no, row in enumerate(reader, start=2):
            sessions.append(_session(row, cols, f"{path}:{line_no}", config))
    if not sessions:
        raise ReplayInputError(f"{path}: no sessions")
    return sorted(sessions, key=lambda s: s.arrival_utc)


def _session(
    row: dict[str, str], cols: dict[str, str | None], where: str, config: SiteConfig
) -> ReplaySession:
    def cell(role: str) -> str | None:
        column = cols[role]
        return None if column is None else (row.get(column) or "").strip() or None

    arrival = _when(cell("arrival") or "", str(cols["arrival"]), where)
    departure = _when(cell("departure") or "", str(cols["departure"]), where)
    if departure <= arrival:
        raise ReplayInputError(
            f"{where}: departure {departure.isoformat()} is not after arrival {arrival.isoformat()}"
        )
    energy = _number(cell("energy_kwh"), str(cols["energy_kwh"]), where)
    if energy is None:
        raise ReplayInputError(f"{where}: {cols['energy_kwh']}: missing")
    max_power = _number(cell("max_power_kw"), "max_power_kw", where)
    if max_power is not None and max_power <= 0:
        raise ReplayInputError(f"{where}: max_power_kw must be > 0")
    charger_id = cell("charger_id")
    if charger_id is not None and config.charger(charger_id) is None:
        known = ", ".join(c.id for c in config.chargers)
        raise ReplayInputError(f"{where}: charger_id {charger_id!r} is not in the site ({known})")
    return ReplaySession(where, arrival, departure, energy, max_power, charger_id, cell("id_tag"))


def assign(sessions: list[ReplaySession], config: SiteConfig) -> list[tuple[str, int]]:
    """(charger id, connector) per session: its own charger's first free connector, or the
    first free connector of the site file's chargers in file order."""
    if not config.chargers:
        raise ReplayInputError("the site file lists no chargers: replay needs them")
    free_at: dict[tuple[str, int], datetime] = {}
    order = [(c.id, k) for c in config.chargers for k in range(1, c.connectors + 1)]
    out = []
    for session in sessions:
        candidates = [o for o in order if session.charger_id in (None, o[0])]
        slot = next(
            (o for o in candidates if free_at.get(o, session.arrival_utc) <= session.arrival_utc),
            None,
        )
        if slot is None:
            where = f"charger {session.charger_id}" if session.charger_id else "the site"
            raise ReplayInputError(
                f"{session.row}: no free connector on {where} at {session.arrival_utc.isoformat()}"
            )
        free_at[slot] = session.departure_utc
        out.append(slot)
    return out


def car_for(session: ReplaySession, charger: ChargerConfig, voltage_v: float, model: str) -> EVSpec:
    """The simulated car: at most ``max_power_kw`` (or the charger's rating), room for its
    energy; ``ideal`` draws exactly its limit, ``taper`` slows down near full like real cars."""
    phases = charger.phases
    max_a = charger.max_current_a
    if session.max_power_kw is not None:
        max_a = min(max_a, session.max_power_kw * 1000.0 / (phases * voltage_v))
        if max_a < 6.0 and phases == 3:
            phases, max_a = 1, min(charger.max_current_a, session.max_power_kw * 1000.0 / voltage_v)
    if model == "ideal":
        capacity = max(1.0, session.energy_kwh / 0.8)
        return ideal_ev(
            max_current_a=max_a, phases=phases, capacity_kwh=capacity, voltage_v=voltage_v
        )
    if max_a < 6.0:
        raise ReplayInputError(f"{session.row}: max_power_kw below what a car can draw (6 A)")
    capacity = max(40.0, session.energy_kwh / 0.9)
    return EVSpec("replay-taper", capacity, max_a, phases, taper_start_soc=0.8, voltage_v=voltage_v)


def to_sim_sessions(
    sessions: list[ReplaySession], config: SiteConfig, ev_model: str
) -> tuple[Session, ...]:
    if ev_model not in EV_MODELS:
        raise ReplayInputError(f"--ev-model: {ev_model!r} unknown, choose one of {EV_MODELS}")
    out = []
    for index, (session, (cid, connector)) in enumerate(
        zip(sessions, assign(sessions, config), strict=True)
    ):
        charger = config.charger(cid)
        assert charger is not None
        car = car_for(session, charger, config.charger_voltage_v(charger), ev_model)
        if ev_model == "ideal":
            initial = 0.1
            target = min(1.0, initial + session.energy_kwh / car.capacity_kwh)
        else:
            target = 1.0
            initial = target - session.energy_kwh / car.capacity_kwh
        out.append(
            Session(
                f"R{index + 1:05d}",
                cid,
                connector,
                session.arrival_utc,
                session.departure_utc,
                session.energy_kwh,
                car,
                initial,
                target,
                session.id_tag or f"TAG{index + 1:04d}",
            )
        )
    return tuple(out)
