"""`sitecharge --version`, JSON logs, per-logger levels, and third-party chatter held back,
seen from a real `sitecharge serve` process."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from controller.config import ConfigError, parse_config
from controller.logs import QUIET, apply_levels, setup_logging

SITE = """
[site]
id = "log-site"
timezone = "Europe/Berlin"
grid_limit_kw = 50.0

[ocpp]
host = "127.0.0.1"
port = 0

[store]
url = "sqlite:///{db}"

[api]
port = 0
anonymous_read = true

[logging]
levels = {{ "controller.app" = "WARNING" }}
"""


@pytest.fixture
def restore_logging():
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    levels = {name: logging.getLogger(name).level for name in (*QUIET, "controller.x")}
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    for name, old in levels.items():
        logging.getLogger(name).setLevel(old)


def test_version():
    done = subprocess.run(
        [sys.executable, "-m", "controller.cli", "--version"], capture_output=True, text=True
    )
    assert done.returncode == 0 and done.stdout.startswith("sitecharge 0.")


def test_json_lines_and_levels(capsys, restore_logging):
    setup_logging("INFO", "json", force=True)  # pytest's own handlers are on the root
    assert all(logging.getLogger(name).level == logging.WARNING for name in QUIET)
    logging.getLogger("apscheduler.executors.default").info("Running job ...")
    logging.getLogger("controller.x").info("cycle %s: %d sessions", "start", 3)
    apply_levels({"controller.x": "WARNING", "apscheduler": "INFO"})
    logging.getLogger("controller.x").info("hidden now")
    logging.getLogger("apscheduler.scheduler").info("shown now")
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    assert [(r["logger"], r["level"], r["message"]) for r in lines] == [
        ("controller.x", "INFO", "cycle start: 3 sessions"),
        ("apscheduler.scheduler", "INFO", "shown now"),
    ]
    assert all("time" in r for r in lines)
    with pytest.raises(ValueError, match="unknown log level 'LOUD'"):
        apply_levels({"controller": "LOUD"})


def test_a_wrong_level_in_the_site_file_names_the_field(tmp_path):
    data = {"site": {"id": "x", "timezone": "UTC", "grid_limit_kw": 10}}
    data["logging"] = {"levels": {"controller.ocpp": "CHATTY"}}
    with pytest.raises(ConfigError, match=r"logging\.levels.*controller\.ocpp.*CHATTY"):
        parse_config(data, source="site.toml", base_dir=tmp_path)


def test_serve_logs_json_and_serves_the_page_and_docs(tmp_path: Path):
    config = tmp_path / "site.toml"
    config.write_text(SITE.format(db=tmp_path / "s.db"), encoding="utf-8")
    command = [sys.executable, "-m", "controller.cli", "--log-format", "json", "serve"]
    process = subprocess.Popen(
        [*command, "--config", str(config)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    records = []
    try:
        deadline = time.monotonic() + 60
        url = None
        while url is None and time.monotonic() < deadline:
            line = process.stderr.readline()
            if not line:
                break
            records.append(json.loads(line))  # every line is one JSON object
            message = records[-1]["message"]
            if message.startswith("operator API on http://"):
                url = message.split(" ")[3]
        assert url, records
        with httpx.Client(base_url=url, timeout=10) as client:
            assert "static/page.js" in client.get("/").text
            assert "swagger-ui-bundle.js" in client.get("/docs").text
            assert client.get("/site").json()["site_id"] == "log-site"  # anonymous read
    finally:
        process.send_signal(signal.SIGTERM)
        _, rest = process.communicate(timeout=30)
    records += [json.loads(line) for line in rest.splitlines() if line.strip()]
    assert process.returncode == 0
    loggers = {r["logger"] for r in records}
    assert not any(name.split(".")[0] in ("alembic", "apscheduler") for name in loggers), loggers
    assert "controller.app" not in loggers  # its level is WARNING in the site file
    assert "controller.api.server" in loggers
