"""``sitecharge plan``: the documented example in, a checked plan (and a plot) out."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import optimizer
from controller.cli import main
from optimizer.problem import plan_from_json, problem_from_json

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "problem.json"


@pytest.mark.parametrize("method", ["optimal", "edf", "equal_share"])
def test_plan_command_writes_a_checked_plan(tmp_path, method) -> None:
    out = tmp_path / "plan.json"
    assert main(["plan", str(EXAMPLE), "--method", method, "--out", str(out)]) == 0
    plan = plan_from_json(out.read_text())
    problem = problem_from_json(EXAMPLE.read_text())
    assert plan.method == method
    assert optimizer.check(problem, plan) == []


def test_plan_command_plots(tmp_path) -> None:
    png = tmp_path / "plan.png"
    assert main(["plan", str(EXAMPLE), "--out", str(tmp_path / "p.json"), "--plot", str(png)]) == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_uncontrolled_exits_zero_and_lists_violations(tmp_path, capsys) -> None:
    out = tmp_path / "plan.json"
    assert main(["plan", str(EXAMPLE), "--method", "uncontrolled", "--out", str(out)]) == 0
    saved = json.loads(out.read_text())
    assert saved["violations"] and saved["status"] == "unsafe"
    assert "violation: site limit" in capsys.readouterr().err


def test_plan_to_stdout(capsys) -> None:
    assert main(["plan", str(EXAMPLE), "--method", "edf"]) == 0
    assert json.loads(capsys.readouterr().out)["method"] == "edf"


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ('{"start_utc": "2026-01-01T00:00:00Z"', "json: line 1"),
        ('{"start_utc": "2026-01-01T00:00:00Z", "slot_s": 900}', "n_slots: missing"),
    ],
)
def test_invalid_problem_file_exits_2_naming_the_field(tmp_path, capsys, text, field) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(text)
    assert main(["plan", str(bad)]) == 2
    assert field in capsys.readouterr().err


def test_plan_to_stdout_in_a_fresh_process_is_only_json() -> None:
    """HiGHS prints a banner to descriptor 1 when its first solver is created: not ours."""
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-m", "controller.cli", "plan", str(EXAMPLE)],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert json.loads(done.stdout)["method"] == "optimal"
