"""The demo site: its config, its scenario, and the limit events of its day."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import tariffs
from controller.config import SiteConfig, load_config
from simulator.scenario import Scenario, generate


@dataclass(frozen=True)
class DemoSettings:
    chargers: int = 20
    scenario: str = "workplace"
    seed: int = 1
    speed: float = 1200.0
    day: date = date(2026, 6, 15)  # a Monday in summer
    timezone: str = "Europe/Berlin"
    start_hour: float = 6.0  # local time the run starts (the night before is idle)
    hours: float = 18.0
    grid_limit_kw: float | None = None  # default: 40 % of all chargers at full power
    evening_cap_kw: float | None = None  # default: 60 % of the grid limit, 17:00–20:00
    dr_limit_kw: float | None = None  # default: 45 % of the grid limit, 14:00–15:00
    charger_current_a: float = 32.0

    def grid_kw(self) -> float:
        if self.grid_limit_kw is not None:
            return self.grid_limit_kw
        return round(0.4 * self.chargers * self.charger_current_a * 3 * 230 / 1000.0)

    def local(self, hour: float) -> datetime:
        zone = ZoneInfo(self.timezone)
        base = datetime.combine(self.day, time(0), zone)
        return (base.replace(tzinfo=None) + timedelta(hours=hour)).replace(tzinfo=zone)

    def start_utc(self) -> datetime:
        return self.local(self.start_hour).astimezone(UTC)

    def end_utc(self) -> datetime:
        return self.start_utc() + timedelta(hours=self.hours)


def demo_scenario(settings: DemoSettings) -> Scenario:
    return generate(
        settings.scenario,
        settings.chargers,
        settings.seed,
        start_local_day=settings.day,
        tz=settings.timezone,
    )


def site_toml(settings: DemoSettings) -> str:
    """The demo site's TOML (written next to the report so a user can start from it)."""
    grid_kw = settings.grid_kw()
    prices = (Path(tariffs.SAMPLES_DIR) / "dayahead_demo.csv").resolve()
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
        "meter_value_sample_interval_s = 60",
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
        "price_per_kw = 12.0",
        "window_minutes = 15",
        "",
        "[[circuits]]",
        'id = "feeder"',
        f"limit_a = {round(grid_kw * 1000 / (3 * 230) * 1.1)}",
        "",
    ]
    for i in range(1, settings.chargers + 1):
        lines += [
            "[[chargers]]",
            f'id = "CP{i:03d}"',
            f"max_current_a = {settings.charger_current_a}",
            'circuit = "feeder"',
            "",
        ]
    return "\n".join(lines)


def write_config(settings: DemoSettings, out_dir: Path) -> SiteConfig:
    path = out_dir / "demo-site.toml"
    path.write_text(site_toml(settings), encoding="utf-8")
    db = out_dir / "demo.db"
    for suffix in ("", "-wal", "-shm"):
        Path(str(db) + suffix).unlink(missing_ok=True)
    return load_config(path)


@dataclass(frozen=True)
class DemoEvent:
    entry_id: str
    source: str
    kind: str
    spec: dict
    label: str


def demo_events(settings: DemoSettings) -> list[DemoEvent]:
    """An operator cap in the evening and a utility's demand-response event in the afternoon."""
    grid_kw = settings.grid_kw()
    cap_kw = settings.evening_cap_kw or round(0.6 * grid_kw)
    dr_kw = settings.dr_limit_kw or round(0.45 * grid_kw)
    dr_start = settings.local(14.0).astimezone(UTC)
    return [
        DemoEvent(
            "evening-cap",
            "operator",
            "recurring",
            {
                "limit_kw": cap_kw,
                "start_local": "17:00",
                "end_local": "20:00",
                "weekdays": [0, 1, 2, 3, 4],
            },
            f"operator cap {cap_kw:.0f} kW 17–20 h",
        ),
        DemoEvent(
            "dr-afternoon",
            "rest",
            "dr",
            {
                "start_utc": dr_start.isoformat(),
                "end_utc": (dr_start + timedelta(hours=1)).isoformat(),
                "limit_kw": dr_kw,
                "ramp_s": 600,
            },
            f"demand response {dr_kw:.0f} kW 14–15 h",
        ),
    ]
