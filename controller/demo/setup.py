"""The demo site and its day: the site file, the cars, and the limit events.

The day is built so the controller has work to do: the grid connection is sized below what
uncontrolled charging of these cars would draw, a utility's demand-response event and an
operator's cap fall while cars are charging, and the price curve has a cheap window.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import NamedTuple
from zoneinfo import ZoneInfo

import tariffs
from controller.config import SiteConfig, load_config
from controller.replay import LimitEntry
from simulator.replay import replay, uncontrolled
from simulator.scenario import Scenario, generate

#: the grid connection as a share of uncontrolled charging's peak (the default limit)
GRID_SHARE_OF_UNCONTROLLED_PEAK = 0.7
#: the demand-response event's limit and the operator cap's, as shares of the grid limit
DR_SHARE = 0.6
CAP_SHARE = 0.75
#: the demo's monthly demand charge [€/kW of the month's highest 15-minute average]
DEMAND_PRICE_PER_KW_MONTH = 12.0


@dataclass(frozen=True)
class DemoSettings:
    chargers: int = 20
    scenario: str = "workplace"
    seed: int = 1
    day: date = date(2026, 6, 15)  # a Monday in summer
    timezone: str = "Europe/Berlin"
    grid_limit_kw: float | None = None  # default: 70 % of uncontrolled charging's peak
    charger_current_a: float = 32.0
    needs: str = "known"  # what sitecharge learns of each car: "known" or "unknown"

    def local(self, hour: float) -> datetime:
        zone = ZoneInfo(self.timezone)
        base = datetime.combine(self.day, time(0), zone)
        return (base.replace(tzinfo=None) + timedelta(hours=hour)).replace(tzinfo=zone)


class EventWindow(NamedTuple):
    """When a limit event lowers the limit (its ramp included), and its line for people."""

    start_utc: datetime
    end_utc: datetime
    label: str


@dataclass(frozen=True)
class DemoDay:
    """Everything a run of the demo needs, derived once from the settings."""

    settings: DemoSettings
    scenario: Scenario  # only the day's sessions
    start_utc: datetime  # the hour before the first arrival
    end_utc: datetime  # the last departure, rounded up to the hour
    grid_kw: float
    uncontrolled_peak_kw: float
    events: tuple[LimitEntry, ...]
    windows: tuple[EventWindow, ...]  # the same events, for people and plots

    @property
    def labels(self) -> tuple[str, ...]:
        return tuple(w.label for w in self.windows)

    @property
    def hours(self) -> float:
        return (self.end_utc - self.start_utc).total_seconds() / 3600.0


def _hour_floor(at: datetime) -> datetime:
    return at.replace(minute=0, second=0, microsecond=0)


def _hour_ceil(at: datetime) -> datetime:
    floor = _hour_floor(at)
    return floor if floor == at else floor + timedelta(hours=1)


def demo_day(settings: DemoSettings) -> DemoDay:
    """The cars of the day, the run's window (every session whole: a depot night ends in the
    morning), the grid limit, and a DR event and a cap placed while cars charge."""
    full = generate(
        settings.scenario,
        settings.chargers,
        settings.seed,
        start_local_day=settings.day,
        tz=settings.timezone,
    )
    if not full.sessions:
        raise ValueError(f"scenario {settings.scenario!r} has no sessions on {settings.day}")
    start = _hour_floor(min(s.arrival_utc for s in full.sessions)) - timedelta(hours=1)
    end = _hour_ceil(max(s.departure_utc for s in full.sessions))
    scenario = full.window(start, end)
    peak_kw = uncontrolled_peak_kw(scenario, settings.charger_current_a, start, end)
    grid_kw = settings.grid_limit_kw or 5.0 * max(
        1, round(GRID_SHARE_OF_UNCONTROLLED_PEAK * peak_kw / 5.0)
    )
    events, windows = _events(settings, start, grid_kw)
    return DemoDay(settings, scenario, start, end, grid_kw, peak_kw, events, windows)


def uncontrolled_peak_kw(
    scenario: Scenario, charger_current_a: float, start_utc: datetime, end_utc: datetime
) -> float:
    """What these cars would draw at once without control: sizes the demo's grid connection
    (the figures the demo reports all come from the controller's replays, not from this)."""
    record = replay(
        scenario,
        uncontrolled,
        step_s=60,
        start_utc=start_utc,
        end_utc=end_utc,
        charger_max_current_a=charger_current_a,
    )
    return record.max_site_power_kw()


def _events(
    settings: DemoSettings, start_utc: datetime, grid_kw: float
) -> tuple[tuple[LimitEntry, ...], tuple[EventWindow, ...]]:
    """A one-hour DR event two hours into the day and a two-hour operator cap after it."""
    zone = ZoneInfo(settings.timezone)
    dr_start = start_utc + timedelta(hours=2)
    dr_ramp = timedelta(seconds=600)
    dr_kw = round(DR_SHARE * grid_kw)
    cap_start = (start_utc + timedelta(hours=4)).astimezone(zone)
    cap_end = cap_start + timedelta(hours=2)
    cap_kw = round(CAP_SHARE * grid_kw)
    dr = LimitEntry(
        "dr-event",
        "rest",
        "dr",
        {
            "start_utc": dr_start.isoformat(),
            "end_utc": (dr_start + timedelta(hours=1)).isoformat(),
            "limit_kw": dr_kw,
            "ramp_s": int(dr_ramp.total_seconds()),
        },
    )
    cap = LimitEntry(
        "operator-cap",
        "operator",
        "recurring",
        {
            "limit_kw": cap_kw,
            "start_local": f"{cap_start:%H:%M}",
            "end_local": f"{cap_end:%H:%M}",
            "weekdays": [0, 1, 2, 3, 4, 5, 6],
        },
    )
    dr_local = dr_start.astimezone(zone)
    windows = (
        EventWindow(
            dr_start - dr_ramp,
            dr_start + timedelta(hours=1),
            f"demand response {dr_kw:.0f} kW {dr_local:%H:%M}–"
            f"{dr_local + timedelta(hours=1):%H:%M} (10-minute ramp)",
        ),
        EventWindow(
            cap_start.astimezone(UTC),
            cap_end.astimezone(UTC),
            f"operator cap {cap_kw:.0f} kW {cap_start:%H:%M}–{cap_end:%H:%M}",
        ),
    )
    return (dr, cap), windows


def site_toml(settings: DemoSettings, grid_kw: float) -> str:
    """The demo site's TOML (written next to the report so a user can start from it)."""
    prices = (Path(tariffs.SAMPLES_DIR) / "dayahead_demo.csv").resolve()
    feeder_a = math.ceil(grid_kw * 1000 / (3 * 230) * 1.1)
    lines = [
        "# Written by `sitecharge demo`: a simulated site on embedded defaults.",
        "[site]",
        'id = "demo"',
        f'name = "Demo {settings.scenario} site"',
        f'timezone = "{settings.timezone}"',
        f"grid_limit_kw = {grid_kw}",
        "",
        "[ocpp]",
        'host = "127.0.0.1"',
        "port = 0",
        "heartbeat_interval_s = 300",
        "# a reading every 5 minutes per charger (what many sites configure; keeps the demo fast)",
        "meter_value_sample_interval_s = 300",
        "response_timeout_s = 10",
        "",
        "[store]",
        'url = "sqlite:///demo.db"',
        "",
        "[api]",
        "enabled = false",
        "",
        "[control]",
        "interval_s = 300",
        "slot_s = 900",
        "horizon_h = 24",
        "raise_delay_s = 60",
        "compliance_grace_s = 300",
        "# some of this fleet's cars do not resume after a pause: keep started cars awake",
        "keep_awake = true",
        "# cars slow down near full: plan to finish half an hour before a given departure",
        "known_departure_margin_min = 30",
        "",
        "[control.session_defaults]",
        "dwell_h = 8",
        "energy_kwh = 20",
        "",
        "[tariff]",
        'type = "csv"',
        f'file = "{prices}"',
        "repeat_daily = true",
        "",
        "[tariff.demand_charge]",
        f"price_per_kw = {DEMAND_PRICE_PER_KW_MONTH}",
        "window_minutes = 15",
        "",
        "[[circuits]]",
        'id = "feeder"',
        f"limit_a = {feeder_a}",
        "",
    ]
    # as an installer wires them: each charger's L1 on the next grid phase, so single-phase
    # cars spread over the three
    rotations = ("RST", "STR", "TRS")
    for i in range(1, settings.chargers + 1):
        lines += [
            "[[chargers]]",
            f'id = "CP{i:03d}"',
            f"max_current_a = {settings.charger_current_a}",
            'circuit = "feeder"',
            f'phase_rotation = "{rotations[(i - 1) % 3]}"',
            "",
        ]
    return "\n".join(lines)


def write_config(settings: DemoSettings, grid_kw: float, out_dir: Path) -> SiteConfig:
    path = out_dir / "demo-site.toml"
    path.write_text(site_toml(settings, grid_kw), encoding="utf-8")
    return load_config(path)


def start_local(day: DemoDay) -> datetime:
    return day.start_utc.astimezone(ZoneInfo(day.settings.timezone))


__all__ = [
    "DemoDay",
    "DemoSettings",
    "EventWindow",
    "demo_day",
    "site_toml",
    "start_local",
    "write_config",
]
