"""Charging sessions: generated for common site types, or loaded from open-data CSV logs.

A :class:`Scenario` is a list of :class:`Session` (who plugs in where, when, leaves when, and
wants how much energy with which car) on a fixed set of chargers. Generation is seeded and
deterministic (``numpy.random.default_rng(seed)``); arrival hours are local wall-clock hours in
an IANA zone, converted to UTC per day (DST days are handled by ``zoneinfo``).

Site kinds (:data:`KINDS`; hours local, durations in hours, energies in kWh):

============ =================== ========================== ============= ====================
kind         arrival             stay                       energy wanted sessions per charger
============ =================== ========================== ============= ====================
workplace    uniform 7–10 h      uniform 6–9 h              uniform 5–30  1 per day
retail       uniform 8–20 h      uniform 0.5–2 h            uniform 3–15  back to back, gaps
depot        uniform 17–20 h     departs uniform 5–7 h next uniform 30–80 1 per day (vans)
residential  uniform 17–22 h     departs uniform 6–9 h next uniform 5–25  1 per day
============ =================== ========================== ============= ====================

Energy wanted is capped by what the car can take (capacity × (target − initial SoC)).
"""

from __future__ import annotations

import csv
import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from email.utils import parsedate_to_datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np

from simulator.errors import ScenarioError
from simulator.ev import CAR_MODELS, EVSpec, EVState


@dataclass(frozen=True)
class Session:
    """One car's visit: ``session_key`` is unique within the scenario."""

    session_key: str
    charger_id: str
    connector_id: int
    arrival_utc: datetime
    departure_utc: datetime
    energy_wanted_kwh: float
    ev: EVSpec
    initial_soc: float
    target_soc: float
    id_tag: str

    @property
    def stay_h(self) -> float:
        return (self.departure_utc - self.arrival_utc).total_seconds() / 3600.0

    def new_ev_state(self) -> EVState:
        """A fresh car for this session (physics state starts here)."""
        return EVState(self.ev, soc=self.initial_soc, target_soc=self.target_soc)


@dataclass(frozen=True)
class Scenario:
    kind: str
    seed: int | None
    charger_ids: tuple[str, ...]
    sessions: tuple[Session, ...]
    start_utc: datetime
    end_utc: datetime
    connectors_per_charger: int = 1

    def shifted(self, delta: timedelta) -> Scenario:
        """The same scenario moved in time by ``delta`` (used to line it up with a clock)."""
        return replace(
            self,
            start_utc=self.start_utc + delta,
            end_utc=self.end_utc + delta,
            sessions=tuple(
                replace(s, arrival_utc=s.arrival_utc + delta, departure_utc=s.departure_utc + delta)
                for s in self.sessions
            ),
        )

    def window(self, start_utc: datetime, end_utc: datetime) -> Scenario:
        """Only the sessions that overlap [start, end); times kept as they are."""
        kept = tuple(
            s for s in self.sessions if s.departure_utc > start_utc and s.arrival_utc < end_utc
        )
        return replace(self, sessions=kept, start_utc=start_utc, end_utc=end_utc)


@dataclass(frozen=True)
class SiteKind:
    """The distributions of one site type (hours local; see the module table)."""

    arrival_h: tuple[float, float]
    stay_h: tuple[float, float] | None
    departure_next_day_h: tuple[float, float] | None
    energy_kwh: tuple[float, float]
    back_to_back: bool
    cars: tuple[str, ...]
    gap_h: tuple[float, float] = (0.25, 1.5)


PASSENGER_CARS = (
    "compact-1ph-7kw",
    "hatch-1ph-3.7kw",
    "sedan-3ph-11kw",
    "suv-3ph-11kw",
    "sport-3ph-22kw",
)

KINDS: dict[str, SiteKind] = {
    "workplace": SiteKind((7.0, 10.0), (6.0, 9.0), None, (5.0, 30.0), False, PASSENGER_CARS),
    "retail": SiteKind((8.0, 20.0), (0.5, 2.0), None, (3.0, 15.0), True, PASSENGER_CARS),
    "depot": SiteKind(
        (17.0, 20.0), None, (5.0, 7.0), (30.0, 80.0), False, ("van-3ph-11kw", "van-3ph-22kw")
    ),
    "residential": SiteKind((17.0, 22.0), None, (6.0, 9.0), (5.0, 25.0), False, PASSENGER_CARS),
}


def charger_ids(n_chargers: int, prefix: str = "CP") -> tuple[str, ...]:
    return tuple(f"{prefix}{i:03d}" for i in range(1, n_chargers + 1))


def _local(day: date, hour: float, zone: ZoneInfo) -> datetime:
    base = datetime.combine(day, time(0), tzinfo=zone)
    # wall-clock hours: build the local time, then convert (DST-safe)
    local = (base.replace(tzinfo=None) + timedelta(hours=hour)).replace(tzinfo=zone)
    return local.astimezone(UTC)


def generate(
    kind: str,
    n_chargers: int,
    seed: int,
    *,
    start_local_day: date | None = None,
    tz: str = "UTC",
    days: int = 1,
    connectors_per_charger: int = 1,
    prefix: str = "CP",
) -> Scenario:
    """A seeded scenario of ``days`` days from local midnight of ``start_local_day``.

    Each connector gets its own sessions (one per day, or back to back for ``retail``).
    The scenario ends at local midnight after the last day, or later if an overnight stay
    runs past it (``end_utc`` is the last departure then).
    """
    if kind not in KINDS:
        raise ScenarioError(f"kind: {kind!r} unknown, choose one of {sorted(KINDS)}")
    if n_chargers < 1 or days < 1 or connectors_per_charger < 1:
        raise ScenarioError("n_chargers, days and connectors_per_charger must be >= 1")
    site = KINDS[kind]
    zone = ZoneInfo(tz)
    day0 = start_local_day or date(2026, 1, 5)
    rng = np.random.default_rng(seed)
    ids = charger_ids(n_chargers, prefix)
    sessions: list[Session] = []
    for day_index in range(days):
        day = day0 + timedelta(days=day_index)
        for cid in ids:
            for connector_id in range(1, connectors_per_charger + 1):
                for arrival_h, leave_h, next_day in _visits(site, rng):
                    arrival = _local(day, arrival_h, zone)
                    leave_day = day + timedelta(days=1) if next_day else day
                    departure = _local(leave_day, leave_h, zone)
                    key = f"S{len(sessions) + 1:05d}"
                    sessions.append(_session(key, cid, connector_id, arrival, departure, site, rng))
    start = _local(day0, 0.0, zone)
    end = _local(day0 + timedelta(days=days), 0.0, zone)
    end = max([end, *(s.departure_utc for s in sessions)])
    return Scenario(kind, seed, ids, tuple(sessions), start, end, connectors_per_charger)


def _visits(site: SiteKind, rng: np.random.Generator) -> list[tuple[float, float, bool]]:
    """(arrival hour, departure hour, departs next day) for one connector on one day."""
    if not site.back_to_back:
        arrival_h = float(rng.uniform(*site.arrival_h))
        if site.stay_h is not None:
            return [(arrival_h, arrival_h + float(rng.uniform(*site.stay_h)), False)]
        assert site.departure_next_day_h is not None
        return [(arrival_h, float(rng.uniform(*site.departure_next_day_h)), True)]
    assert site.stay_h is not None
    visits = []
    t = site.arrival_h[0] + float(rng.uniform(0.0, site.gap_h[1]))
    while t < site.arrival_h[1]:
        stay = float(rng.uniform(*site.stay_h))
        visits.append((t, t + stay, False))
        t += stay + float(rng.uniform(*site.gap_h))
    return visits


def _session(
    key: str,
    charger_id: str,
    connector_id: int,
    arrival: datetime,
    departure: datetime,
    site: SiteKind,
    rng: np.random.Generator,
) -> Session:
    car = CAR_MODELS[site.cars[int(rng.integers(len(site.cars)))]]
    wanted = float(rng.uniform(*site.energy_kwh))
    target = float(rng.choice([0.8, 0.9, 1.0]))
    initial = max(0.05, target - wanted / car.capacity_kwh)
    wanted = (target - initial) * car.capacity_kwh
    tag = f"TAG{int(rng.integers(1, 10_000)):04d}"
    return Session(
        key,
        charger_id,
        connector_id,
        arrival,
        departure,
        wanted,
        car,
        initial,
        target,
        tag,
    )


# ------------------------------------------------------------------------ CSV logs

TIME_COLUMNS = {
    "arrival": ("connectiontime", "connection_time", "utctransactionstart", "start", "started"),
    "departure": ("disconnecttime", "disconnect_time", "utctransactionstop", "end", "ended"),
    "energy": ("kwhdelivered", "energy_kwh", "totalenergy", "energy"),
    "user": ("userid", "user_id", "startcard", "id_tag"),
    "station": ("stationid", "station_id", "chargepoint", "charger_id"),
}


def _parse_when(text: str, zone: ZoneInfo, where: str) -> datetime:
    text = text.strip()
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        try:
            when = parsedate_to_datetime(text)
        except (TypeError, ValueError) as exc:
            raise ScenarioError(f"{where}: cannot read date-time {text!r}") from exc
    if when.tzinfo is None:
        when = when.replace(tzinfo=zone)
    return when.astimezone(UTC)


def load_sessions_csv(
    path: str | Path,
    *,
    tz: str = "UTC",
    n_chargers: int | None = None,
    ev: EVSpec | None = None,
    target_soc: float = 1.0,
    kind: str = "csv",
) -> Scenario:
    """Sessions from a CSV log in the common open-data shape (see ``samples/sessions.csv``).

    Columns (header names case-insensitive; the first one found is used):
    connection time (``connectionTime``, ``UTCTransactionStart``, ``start``), disconnect time
    (``disconnectTime``, ``UTCTransactionStop``, ``end``), energy delivered in kWh
    (``kWhDelivered``, ``TotalEnergy``, ``energy_kwh``); optional user id (``userID``,
    ``StartCard``) and station (``stationID``, ``ChargePoint``). Times are ISO 8601 or RFC 1123
    (``Wed, 25 Apr 2018 11:08:04 GMT``, as ACN-Data exports them); times without an offset are
    read in ``tz``. Sessions go to the log's stations in order of first appearance, or, without
    a station column, to the first free charger (``n_chargers`` caps how many; a session that
    finds none free is an error). The energy delivered becomes the energy wanted.
    """
    path = Path(path)
    zone = ZoneInfo(tz)
    car = ev or CAR_MODELS["sedan-3ph-11kw"]
    try:
        handle = path.open(newline="", encoding="utf-8-sig")
    except OSError as exc:
        raise ScenarioError(f"{path}: cannot open ({exc})") from exc
    with handle:
        reader = csv.DictReader(handle)
        header = {name.strip().lower(): name for name in reader.fieldnames or []}
        cols = {
            role: next((header[n] for n in names if n in header), None)
            for role, names in TIME_COLUMNS.items()
        }
        for role in ("arrival", "departure", "energy"):
            if cols[role] is None:
                raise ScenarioError(
                    f"{path}: no {role} column (one of {', '.join(TIME_COLUMNS[role])})"
                )
        rows = []
        for line_no, row in enumerate(reader, start=2):
            where = f"{path}:{line_no}"
            arrival = _parse_when(row[cols["arrival"]], zone, where)
            departure = _parse_when(row[cols["departure"]], zone, where)
            if departure <= arrival:
                raise ScenarioError(f"{where}: disconnect time is not after connection time")
            try:
                energy = float(row[cols["energy"]])
            except (TypeError, ValueError) as exc:
                raise ScenarioError(
                    f"{where}: energy {row[cols['energy']]!r} not a number"
                ) from exc
            if energy < 0 or not math.isfinite(energy):
                raise ScenarioError(f"{where}: energy {energy} must be >= 0")
            user = (row.get(cols["user"]) or "").strip() if cols["user"] else ""
            station = (row.get(cols["station"]) or "").strip() if cols["station"] else ""
            rows.append((arrival, departure, energy, user, station, where))
    if not rows:
        raise ScenarioError(f"{path}: no sessions")
    rows.sort(key=lambda r: r[0])
    assigned = _assign(rows, n_chargers, path)
    sessions = []
    for index, ((arrival, departure, energy, user, _, _), (cid, connector_id)) in enumerate(
        zip(rows, assigned, strict=True)
    ):
        energy = min(energy, car.capacity_kwh * (target_soc - 0.05))
        initial = target_soc - energy / car.capacity_kwh
        sessions.append(
            Session(
                f"S{index + 1:05d}",
                cid,
                connector_id,
                arrival,
                departure,
                energy,
                car,
                initial,
                target_soc,
                user or f"TAG{index + 1:04d}",
            )
        )
    ids = tuple(sorted({cid for cid, _ in assigned}))
    start = min(s.arrival_utc for s in sessions)
    end = max(s.departure_utc for s in sessions)
    n_connectors = max(connector for _, connector in assigned)
    return Scenario(kind, None, ids, tuple(sessions), start, end, n_connectors)


def _assign(rows: Sequence[tuple], n_chargers: int | None, path: Path) -> list[tuple[str, int]]:
    """(charger id, connector id) per row: a log's own stations (overlapping sessions at one
    station go to its next free connector), or the first free charger."""
    stations = [r[4] for r in rows]
    if all(stations):
        order: dict[str, str] = {}
        busy: dict[str, list[datetime]] = {}
        out = []
        for (arrival, departure, *_rest), station in zip(rows, stations, strict=True):
            cid = order.setdefault(station, f"CP{len(order) + 1:03d}")
            free_at = busy.setdefault(cid, [])
            slot = next((i for i, t in enumerate(free_at) if t <= arrival), None)
            if slot is None:
                free_at.append(departure)
                slot = len(free_at) - 1
            free_at[slot] = departure
            out.append((cid, slot + 1))
        return out
    free_at = []
    out = []
    for arrival, departure, *_rest, where in rows:
        slot = next((i for i, t in enumerate(free_at) if t <= arrival), None)
        if slot is None:
            if n_chargers is not None and len(free_at) >= n_chargers:
                raise ScenarioError(f"{where}: no free charger among {n_chargers} ({path})")
            free_at.append(departure)
            slot = len(free_at) - 1
        free_at[slot] = departure
        out.append((f"CP{slot + 1:03d}", 1))
    return out
