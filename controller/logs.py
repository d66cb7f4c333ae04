"""Logging to stderr, as text or one JSON object per line, with per-logger levels.

Third-party libraries that log routine chatter at INFO (apscheduler's two lines per job run,
websockets' connection lines, alembic's migration banner) are held at WARNING unless the
site file's ``[logging] levels`` says otherwise, so the controller's own lines stand out.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Mapping

from pythonjsonlogger.json import JsonFormatter

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
QUIET = ("apscheduler", "websockets", "alembic", "openleadr", "aiohttp.access", "uvicorn")
FORMATS = ("text", "json")


def setup_logging(level: str = "INFO", log_format: str = "text", *, force: bool = False) -> None:
    """Configure the root logger at the command line's start.

    Like ``logging.basicConfig``: a root logger that already has handlers someone else set
    (a test runner, an embedding program) keeps them unless ``force``; handlers of ours are
    replaced, so the site file can switch the format after the command line set it.
    """
    root = logging.getLogger()
    root.setLevel(_level(level, "--log-level"))
    for name in QUIET:
        logging.getLogger(name).setLevel(logging.WARNING)
    foreign = [h for h in root.handlers if not getattr(h, "_sitecharge", False)]
    if foreign and not force:
        return
    handler = logging.StreamHandler(sys.stderr)
    handler._sitecharge = True  # type: ignore[attr-defined]
    if log_format == "json":
        handler.setFormatter(
            JsonFormatter(
                "%(asctime)s %(levelname)s %(name)s %(message)s",
                rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
                timestamp=False,
            )
        )
    else:
        handler.setFormatter(logging.Formatter(TEXT_FORMAT))
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)


def apply_levels(levels: Mapping[str, str]) -> None:
    """The site file's ``[logging] levels``: logger name -> level (``""`` is the root)."""
    for name, level in levels.items():
        logging.getLogger(name or None).setLevel(_level(level, f"logging.levels.{name}"))


def _level(level: str, where: str) -> int:
    value = logging.getLevelName(str(level).upper())
    if not isinstance(value, int):
        raise ValueError(f"{where}: unknown log level {level!r} (DEBUG, INFO, WARNING, ERROR)")
    return value
