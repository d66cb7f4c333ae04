"""Car physics: what an EV draws for an offered current, and the energy it takes in.

Pure (no asyncio, no clock): the caller offers a limit with :meth:`EVState.draw` and integrates
with :meth:`EVState.step`. Power is held constant within one step, so the energy a car takes in
is exactly the sum of power × step: the meter values built from it are consistent.

Rules (IEC 61851 / field behaviour): an offered current below the car's minimum (6 A) pauses
charging; a car with ``resumes_after_pause=False`` that has drawn current and is then paused
stays asleep for the rest of the session. Above ``taper_start_soc`` the car's own power limit
falls linearly to ``taper_end_fraction`` of its maximum at 100 % state of charge.
"""

from __future__ import annotations

from dataclasses import dataclass, field

DEFAULT_VOLTAGE_V = 230.0


@dataclass(frozen=True)
class EVSpec:
    """One car model. Currents are per phase [A]; voltage phase-to-neutral [V]."""

    name: str = "generic-11kw"
    capacity_kwh: float = 60.0
    max_current_a: float = 16.0
    phases: int = 3
    min_current_a: float = 6.0
    taper_start_soc: float = 0.8
    taper_end_fraction: float = 0.1
    resumes_after_pause: bool = True
    voltage_v: float = DEFAULT_VOLTAGE_V

    def __post_init__(self) -> None:
        if self.phases not in (1, 3):
            raise ValueError(f"EVSpec {self.name}: phases must be 1 or 3, got {self.phases}")
        if not self.capacity_kwh > 0:
            raise ValueError(f"EVSpec {self.name}: capacity_kwh must be > 0")
        if not 0 < self.min_current_a <= self.max_current_a:
            raise ValueError(f"EVSpec {self.name}: need 0 < min_current_a <= max_current_a")
        if not 0 < self.taper_start_soc <= 1 or not 0 <= self.taper_end_fraction <= 1:
            raise ValueError(f"EVSpec {self.name}: taper_start_soc/taper_end_fraction out of range")

    @property
    def max_power_kw(self) -> float:
        """On-board charger limit [kW]."""
        return self.max_current_a * self.phases * self.voltage_v / 1000.0

    def power_limit_kw(self, soc: float) -> float:
        """The car's own limit at a state of charge (0–1), taper included [kW]."""
        if soc <= self.taper_start_soc:
            return self.max_power_kw
        span = max(1e-9, 1.0 - self.taper_start_soc)
        frac = 1.0 - (1.0 - self.taper_end_fraction) * min(1.0, (soc - self.taper_start_soc) / span)
        return self.max_power_kw * frac


@dataclass(frozen=True)
class Draw:
    """What the car draws right now: current per phase [A] on ``phases`` phases."""

    current_a: float
    phases: int
    voltage_v: float

    @property
    def power_w(self) -> float:
        return self.current_a * self.phases * self.voltage_v


@dataclass
class EVState:
    """One car during one session (mutable: it charges)."""

    spec: EVSpec
    soc: float
    target_soc: float = 1.0
    energy_wh: float = 0.0
    asleep: bool = False
    has_drawn: bool = False
    _draw: Draw = field(default=None, repr=False)  # type: ignore[assignment]

    def __post_init__(self) -> None:
        if not 0 <= self.soc <= 1 or not 0 <= self.target_soc <= 1:
            raise ValueError(f"EVState {self.spec.name}: soc and target_soc must be in [0, 1]")
        if self._draw is None:
            self._draw = Draw(0.0, self.spec.phases, self.spec.voltage_v)

    @property
    def full(self) -> bool:
        return self.soc >= self.target_soc - 1e-9

    @property
    def current_a(self) -> float:
        return self._draw.current_a

    @property
    def phases(self) -> int:
        return self._draw.phases

    @property
    def power_w(self) -> float:
        return self._draw.power_w

    def remaining_kwh(self) -> float:
        """Energy still wanted to reach the target [kWh]."""
        return max(0.0, (self.target_soc - self.soc) * self.spec.capacity_kwh)

    def seconds_to_target(self) -> float:
        """When the current draw would reach the target state of charge [s] (inf if never).

        Callers break their steps there, so power stays constant within every step.
        """
        power_w = self._draw.power_w
        if power_w <= 0:
            return float("inf")
        return self.remaining_kwh() * 3.6e6 / power_w

    def max_power_kw(self, phases_allowed: int = 3) -> float:
        """Most the car would take right now with no outside limit [kW]."""
        if self.full or self.asleep:
            return 0.0
        phases = min(self.spec.phases, max(1, phases_allowed))
        own_kw = self.spec.power_limit_kw(self.soc)
        return min(own_kw, self.spec.max_current_a * phases * self.spec.voltage_v / 1000.0)

    def draw(self, limit_a_per_phase: float | None, phases_allowed: int = 3) -> Draw:
        """Offer ``limit_a_per_phase`` (None = no limit) on up to ``phases_allowed`` phases.

        Sets and returns what the car draws until the next call. An offer below the car's
        minimum current pauses it (and puts a car that does not resume to sleep).
        """
        phases = min(self.spec.phases, max(1, int(phases_allowed)))
        spec = self.spec
        offered_a = spec.max_current_a if limit_a_per_phase is None else limit_a_per_phase
        current_a = 0.0
        if not self.full and not self.asleep:
            if offered_a < spec.min_current_a - 1e-9:
                if self.has_drawn and not spec.resumes_after_pause:
                    self.asleep = True
            else:
                own_a = spec.power_limit_kw(self.soc) * 1000.0 / (phases * spec.voltage_v)
                current_a = max(0.0, min(offered_a, spec.max_current_a, own_a))
        if current_a > 0:
            self.has_drawn = True
        self._draw = Draw(current_a, phases, spec.voltage_v)
        return self._draw

    def step(self, dt_s: float) -> float:
        """Integrate ``dt_s`` seconds at the current draw; returns the energy taken in [Wh].

        Stops exactly at the target state of charge: the draw then drops to 0.
        """
        if dt_s <= 0 or self._draw.current_a <= 0:
            return 0.0
        want_wh = self.remaining_kwh() * 1000.0
        energy_wh = min(self._draw.power_w * dt_s / 3600.0, want_wh)
        self.energy_wh += energy_wh
        self.soc = min(1.0, self.soc + energy_wh / (self.spec.capacity_kwh * 1000.0))
        if energy_wh >= want_wh - 1e-9:
            self.soc = max(self.soc, self.target_soc)
            self._draw = Draw(0.0, self._draw.phases, self._draw.voltage_v)
        return energy_wh


def ideal_ev(
    *,
    max_current_a: float,
    phases: int = 3,
    capacity_kwh: float = 60.0,
    voltage_v: float = DEFAULT_VOLTAGE_V,
) -> EVSpec:
    """A car that draws exactly min(offered current, its maximum) until its energy is in:
    no taper, any current above 0.1 A accepted, resumes after every pause. For replays that
    measure a controller rather than a car."""
    return EVSpec(
        "ideal",
        capacity_kwh,
        max_current_a,
        phases,
        min_current_a=min(0.1, max_current_a),
        taper_start_soc=1.0,
        taper_end_fraction=1.0,
        resumes_after_pause=True,
        voltage_v=voltage_v,
    )


CAR_MODELS: dict[str, EVSpec] = {
    spec.name: spec
    for spec in (
        EVSpec("compact-1ph-7kw", 40.0, 32.0, 1),
        EVSpec("hatch-1ph-3.7kw", 24.0, 16.0, 1, resumes_after_pause=False),
        EVSpec("sedan-3ph-11kw", 60.0, 16.0, 3),
        EVSpec("suv-3ph-11kw", 77.0, 16.0, 3, taper_start_soc=0.75),
        EVSpec("sport-3ph-22kw", 90.0, 32.0, 3),
        EVSpec("van-3ph-11kw", 70.0, 16.0, 3, taper_start_soc=0.85),
        EVSpec("van-3ph-22kw", 110.0, 32.0, 3, taper_start_soc=0.85),
    )
}
"""A small catalogue of generic car models (no brands) used by the scenario generator."""
