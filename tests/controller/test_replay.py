"""`sitecharge replay`: the real controller over real websockets on the event-stepped clock.

Each replay runs its own (stepped) event loop, so these are plain, synchronous tests.
"""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from controller.config import load_config
from controller.limits import LimitWindow
from controller.replay import (
    LimitEntry,
    ReplayInputError,
    ReplaySettings,
    load_sessions,
    run_replay,
)
from controller.replay.result import limit_steps, seconds_over

SITE = """
[site]
id = "replay-test"
timezone = "Europe/Berlin"
grid_limit_kw = 60.0

[ocpp]
port = 9999                  # replay ignores it: an ephemeral port
meter_value_sample_interval_s = 60

[store]
url = "sqlite:///must-not-be-created.db"

[api]
port = 8999

[control]
interval_s = 300
horizon_h = 8

[tariff]
type = "flat"
price_per_kwh = 0.25

[[chargers]]
id = "A1"
max_current_a = 32.0

[[chargers]]
id = "A2"
max_current_a = 32.0

[[chargers]]
id = "A3"
max_current_a = 16.0

[[chargers]]
id = "A4"
max_current_a = 32.0
"""

SESSIONS = """arrival,departure,energy_kwh,max_power_kw,charger_id,id_tag
2026-06-15T08:00:00+02:00,2026-06-15T12:00:00+02:00,30,22,A1,T1
2026-06-15T08:05:00+02:00,2026-06-15T11:00:00+02:00,20,,,T2
2026-06-15T08:20:00+02:00,2026-06-15T12:30:00+02:00,25,11,,T3
2026-06-15T08:30:00+02:00,2026-06-15T10:30:00+02:00,12,,A4,
"""

#: an operator cap 08:40–09:25 local (06:40–07:25 UTC) while every car charges, put in as the
#: operator API would
CAP = LimitEntry(
    "test-cap",
    "operator",
    "cap",
    {
        "start_utc": "2026-06-15T06:40:00+00:00",
        "end_utc": "2026-06-15T07:25:00+00:00",
        "limit_kw": 25,
    },
)


@pytest.fixture
def site(tmp_path: Path) -> tuple[Path, Path]:
    config = tmp_path / "site.toml"
    config.write_text(SITE, encoding="utf-8")
    sessions = tmp_path / "sessions.csv"
    sessions.write_text(SESSIONS, encoding="utf-8")
    return config, sessions


def _replay(site: tuple[Path, Path], **settings) -> dict:
    config = load_config(site[0])
    result = run_replay(config, load_sessions(site[1], config), ReplaySettings(**settings))
    return result.as_json()


def test_replay_serves_the_sessions_under_a_cap_and_repeats_exactly(site) -> None:
    first = _replay(site, needs="known", limits=(CAP,))
    assert set(first) == {
        "strategy",
        "needs",
        "start",
        "end",
        "sessions",
        "site_power_kw",
        "limit_kw",
        "summary",
    }
    assert (first["strategy"], first["needs"]) == ("sitecharge", "known")
    assert first["start"] == "2026-06-15T06:00:00+00:00"
    assert first["end"] == "2026-06-15T10:30:00+00:00"
    assert [s["charger_id"] for s in first["sessions"]] == ["A1", "A2", "A3", "A4"]
    for session in first["sessions"]:
        assert set(session) == {
            "charger_id",
            "arrival",
            "departure",
            "energy_wanted_kwh",
            "energy_delivered_kwh",
        }
        assert datetime.fromisoformat(session["arrival"]).utcoffset() is not None
        assert 0 < session["energy_delivered_kwh"] <= session["energy_wanted_kwh"] + 1e-6
    # the limit in force: the grid connection, the cap from its start to its end
    assert first["limit_kw"] == [
        ["2026-06-15T06:00:00+00:00", 60.0],
        ["2026-06-15T06:40:00+00:00", 25.0],
        ["2026-06-15T07:25:00+00:00", 60.0],
    ]
    power = first["site_power_kw"]
    assert all(a[0] < b[0] for a, b in itertools.pairwise(power))
    assert all(a[1] != b[1] for a, b in itertools.pairwise(power))
    in_cap = [
        kw for (t, kw) in power if "2026-06-15T06:40:00+00:00" <= t < "2026-06-15T07:25:00+00:00"
    ]
    assert in_cap and max(in_cap) <= 25.0 + 0.01
    summary = first["summary"]
    assert summary["seconds_over_limit"] == 0
    assert summary["peak_kw"] <= 60.0 + 0.01
    delivered = sum(s["energy_delivered_kwh"] for s in first["sessions"])
    assert summary["delivered_kwh"] == pytest.approx(delivered, abs=1e-3)
    assert summary["energy_cost"] == pytest.approx(0.25 * delivered, rel=1e-3)
    # the same input gives the same RESULT.json
    assert _replay(site, needs="known", limits=(CAP,)) == first


def test_uncontrolled_goes_over_where_the_controller_does_not(site) -> None:
    result = _replay(site, strategy="uncontrolled", hours=2.5, limits=(CAP,))
    assert result["end"] == "2026-06-15T08:30:00+00:00"
    assert result["summary"]["seconds_over_limit"] > 0
    assert result["summary"]["peak_kw"] > 25.0


def test_replay_never_touches_the_site_files_store(site) -> None:
    _replay(site, strategy="edf", hours=1)
    assert not (site[0].parent / "must-not-be-created.db").exists()


def test_the_command_writes_json_and_names_a_bad_row(site, tmp_path) -> None:
    config, sessions = site
    out = tmp_path / "result.json"
    cmd = [sys.executable, "-m", "controller.cli", "--log-level", "WARNING", "replay"]
    args = ["--config", str(config), "--sessions", str(sessions), "--no-progress"]
    done = subprocess.run(
        [*cmd, *args, "--hours", "0.5", "--strategy", "equal_share", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""
    assert json.loads(out.read_text())["strategy"] == "equal_share"
    to_stdout = subprocess.run(
        [*cmd, *args, "--hours", "0.25"], capture_output=True, text=True, timeout=120
    )
    assert to_stdout.returncode == 0, to_stdout.stderr
    assert json.loads(to_stdout.stdout)["end"] == "2026-06-15T06:15:00+00:00"

    bad = tmp_path / "bad.csv"
    bad.write_text(
        SESSIONS + "2026-06-15T14:00:00+02:00,2026-06-15T13:00:00+02:00,5,,,\n", encoding="utf-8"
    )
    failed = subprocess.run(
        [*cmd, "--config", str(config), "--sessions", str(bad)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert failed.returncode == 2
    assert f"{bad}:6" in failed.stderr and "not after arrival" in failed.stderr
    assert failed.stdout == ""


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ("2026-06-15T14:00:00+02:00,2026-06-15T13:00:00+02:00,5,,,", "not after arrival"),
        ("2026-06-15T14:00:00+02:00,2026-06-15T15:00:00+02:00,5,,B9,", "'B9' is not in the site"),
        ("2026-06-15T14:00:00,2026-06-15T15:00:00+02:00,5,,,", "no UTC offset"),
        ("2026-06-15T14:00:00+02:00,2026-06-15T15:00:00+02:00,lots,,,", "not a number"),
    ],
)
def test_malformed_rows_are_errors_naming_the_row(site, tmp_path, row, message) -> None:
    path = tmp_path / "rows.csv"
    path.write_text(SESSIONS + row + "\n", encoding="utf-8")
    config = load_config(site[0])
    with pytest.raises(ReplayInputError, match=message) as info:
        load_sessions(path, config)
    assert f"{path}:6" in str(info.value)


def test_open_data_columns_still_work(site, tmp_path) -> None:
    path = tmp_path / "acn.csv"
    path.write_text(
        "connectionTime,disconnectTime,kWhDelivered,userID\n"
        '"Mon, 15 Jun 2026 06:00:00 GMT","Mon, 15 Jun 2026 09:00:00 GMT",12.5,u1\n',
        encoding="utf-8",
    )
    sessions = load_sessions(path, load_config(site[0]))
    assert sessions[0].arrival_utc == datetime(2026, 6, 15, 6, tzinfo=UTC)
    assert sessions[0].energy_kwh == 12.5 and sessions[0].id_tag == "u1"


def test_seconds_over_counts_only_time_above_the_limit() -> None:
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    window = LimitWindow(
        "w",
        "operator",
        start_utc=t0 + timedelta(hours=1),
        end_utc=t0 + timedelta(hours=2),
        limit_kw=10.0,
    )
    limit = limit_steps(50.0, [window], t0, t0 + timedelta(hours=3))
    power = [(t0, 20.0), (t0 + timedelta(minutes=61), 9.0)]
    assert seconds_over(power, limit, t0, t0 + timedelta(hours=3)) == 60.0


def test_a_ramped_event_is_written_in_steps_down_to_its_level() -> None:
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    event = LimitWindow(
        "dr",
        "rest",
        start_utc=t0 + timedelta(minutes=10),
        end_utc=t0 + timedelta(minutes=20),
        limit_kw=20.0,
        ramp_s=60.0,
        kind="dr",
    )
    steps = limit_steps(80.0, [event], t0, t0 + timedelta(minutes=30))
    assert steps[0] == (t0, 80.0)
    ramp = [(t, v) for t, v in steps if t0 + timedelta(minutes=9) <= t < t0 + timedelta(minutes=10)]
    assert len(ramp) == 6 and ramp[0] == (t0 + timedelta(minutes=9), 70.0)
    assert [v for _, v in ramp] == sorted((v for _, v in ramp), reverse=True)
    assert ramp[-1][1] == 20.0  # the last step already holds the event's level
    assert steps[-1] == (t0 + timedelta(minutes=20), 80.0)
