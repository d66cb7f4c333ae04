"""`sitecharge prices` on every sample: JSON contract, text table, plot, and errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from controller.cli import main

from .conftest import SAMPLES

SITES = sorted(p.name for p in SAMPLES.glob("site_*.toml"))
PRICE_FILES = sorted(p.name for p in SAMPLES.iterdir() if p.suffix in (".csv", ".xml", ".json"))


@pytest.mark.parametrize(
    "args",
    [["--config", str(SAMPLES / n)] for n in SITES]
    + [["--tariff", str(SAMPLES / n)] for n in PRICE_FILES],
)
def test_json_output_on_every_sample(args, capsys):
    code = main(["prices", *args, "--start", "2026-06-15T00:00:00Z", "--hours", "48", "--json"])
    assert code == 0
    document = json.loads(capsys.readouterr().out)
    assert len(document["slot_start_utc"]) == 192
    assert len(document["prices_per_kwh"]) == 192 and len(document["forecast"]) == 192
    assert document["slot_start_utc"][1] == "2026-06-15T00:15:00Z"


def test_fall_back_day_hourly_has_25_slots_and_forecast_after(capsys):
    path = SAMPLES / "entsoe_dayahead_60min.xml"
    args = ["prices", "--tariff", str(path), "--timezone", "Europe/Berlin", "--json"]
    code = main([*args, "--start", "2026-10-25T00:00", "--hours", "26", "--slot-minutes", "60"])
    assert code == 0
    document = json.loads(capsys.readouterr().out)
    assert document["slot_start_utc"][0] == "2026-10-24T22:00:00Z"  # local midnight, CEST
    assert document["forecast"] == [False] * 25 + [True]
    assert document["prices_per_kwh"][0] == pytest.approx(0.0781)


def test_text_table_and_plot(tmp_path: Path, capsys):
    plot = tmp_path / "prices.png"
    code = main(
        [
            "prices",
            "--config",
            str(SAMPLES / "site_tou_us.toml"),
            "--start",
            "2026-07-01T12:00",
            "--hours",
            "12",
            "--plot",
            str(plot),
            "--peak-kw",
            "30",
        ]
    )
    out = capsys.readouterr().out
    assert code == 0
    assert "2026-07-01T16:00-04:00" in out and "0.4200" in out
    assert "demand charge: 18.5 per kW" in out
    assert plot.stat().st_size > 1000 and plot.read_bytes()[:4] == b"\x89PNG"


@pytest.mark.parametrize(
    ("args", "match"),
    [
        (["--tariff", "missing.csv"], "missing.csv: cannot read"),
        (["--config", str(SAMPLES / "site_flat.toml"), "--start", "soon"], "--start"),
        (["--config", str(SAMPLES / "site_flat.toml"), "--timezone", "Moon/Base"], "Moon/Base"),
        (["--config", str(SAMPLES / "site_flat.toml"), "--hours", "0"], "--hours"),
    ],
)
def test_errors_exit_2_with_message(args, match, capsys):
    assert main(["prices", *args]) == 2
    assert match in capsys.readouterr().err
