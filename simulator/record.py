"""What a run measured: one row per connector per physics step, and views over them.

Power is piecewise constant between rows of the same connector (the physics holds it constant
within a step), so sums and peaks computed here are exact, not sampled. The site run and the
in-process replay produce the same :class:`SiteRecord`.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np


@dataclass(frozen=True)
class Sample:
    """From ``at_utc`` on, the connector draws ``power_w`` until its next sample.

    ``energy_wh`` and ``soc`` are the session's totals at ``at_utc``; ``offered_a`` is the
    limit the charger applied (None = its hardware maximum).
    """

    at_utc: datetime
    charger_id: str
    connector_id: int
    session_key: str | None
    power_w: float
    current_a: float
    phases: int
    offered_a: float | None
    energy_wh: float
    soc: float | None


@dataclass(frozen=True)
class SessionResult:
    session_key: str
    charger_id: str
    connector_id: int
    arrival_utc: datetime
    departure_utc: datetime
    energy_wanted_kwh: float
    energy_kwh: float
    soc_start: float
    soc_end: float
    transaction_id: int | None = None

    @property
    def satisfied(self) -> bool:
        """Got at least 99 % of the energy it wanted."""
        return self.energy_kwh >= 0.99 * self.energy_wanted_kwh - 1e-6


@dataclass
class SiteRecord:
    """Everything measured in one run (site or replay)."""

    start_utc: datetime
    end_utc: datetime
    samples: list[Sample] = field(default_factory=list)
    sessions: dict[str, SessionResult] = field(default_factory=dict)

    def add(self, sample: Sample) -> None:
        self.samples.append(sample)

    def _by_connector(self) -> dict[tuple[str, int], list[Sample]]:
        out: dict[tuple[str, int], list[Sample]] = defaultdict(list)
        for s in sorted(self.samples, key=lambda s: s.at_utc):
            out[(s.charger_id, s.connector_id)].append(s)
        return out

    def site_power_w(self) -> tuple[list[datetime], np.ndarray]:
        """The site's total power as a step function: change instants and the power from each."""
        changes: list[tuple[datetime, int, float]] = []
        for rows in self._by_connector().values():
            previous = 0.0
            for s in rows:
                changes.append((s.at_utc, 0, s.power_w - previous))
                previous = s.power_w
        changes.sort(key=lambda c: c[0])
        times: list[datetime] = []
        values: list[float] = []
        total = 0.0
        for at, _, delta in changes:
            total += delta
            if times and times[-1] == at:
                values[-1] = total
            else:
                times.append(at)
                values.append(total)
        return times, np.asarray(values, dtype=float)

    def max_site_power_kw(self) -> float:
        """Peak of the total power over the run [kW] (exact for a step function)."""
        _, values = self.site_power_w()
        return float(values.max()) / 1000.0 if values.size else 0.0

    def power_kw_on_grid(self, grid_utc: list[datetime]) -> dict[str, np.ndarray]:
        """Per-charger power [kW] at each grid instant (value of the step function there)."""
        out: dict[str, np.ndarray] = {}
        for (charger_id, _), rows in self._by_connector().items():
            stamps = np.array([r.at_utc.timestamp() for r in rows])
            power = np.array([r.power_w for r in rows]) / 1000.0
            grid = np.array([t.timestamp() for t in grid_utc])
            idx = np.searchsorted(stamps, grid, side="right") - 1
            values = np.where(idx >= 0, power[np.clip(idx, 0, None)], 0.0)
            out[charger_id] = out.get(charger_id, np.zeros(len(grid_utc))) + values
        return out

    def session_series(self, session_key: str) -> dict[str, np.ndarray]:
        """One session's rows for plots: ``t_s`` since the run start, ``power_kw``,
        ``energy_kwh`` and ``soc`` (0–1)."""
        rows = sorted(
            (s for s in self.samples if s.session_key == session_key), key=lambda s: s.at_utc
        )
        return {
            "t_s": np.array([(r.at_utc - self.start_utc).total_seconds() for r in rows]),
            "power_kw": np.array([r.power_w / 1000.0 for r in rows]),
            "energy_kwh": np.array([r.energy_wh / 1000.0 for r in rows]),
            "soc": np.array([r.soc if r.soc is not None else np.nan for r in rows]),
        }

    def energy_kwh(self) -> float:
        """Total energy delivered to all sessions [kWh]."""
        return sum(r.energy_kwh for r in self.sessions.values())

    def summary(self) -> dict[str, float]:
        """Figures for a table: sessions, energy delivered vs wanted, peak power."""
        results = list(self.sessions.values())
        wanted = sum(r.energy_wanted_kwh for r in results)
        return {
            "sessions": float(len(results)),
            "energy_wanted_kwh": round(wanted, 3),
            "energy_delivered_kwh": round(self.energy_kwh(), 3),
            "sessions_satisfied": float(sum(r.satisfied for r in results)),
            "peak_site_power_kw": round(self.max_site_power_kw(), 3),
        }
