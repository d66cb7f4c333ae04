"""`sitecharge` command line: one subcommand per feature."""

from __future__ import annotations

import argparse
import importlib
import sys
from importlib.metadata import PackageNotFoundError, version

from controller.commands import COMMANDS
from controller.logs import FORMATS, setup_logging


def _version() -> str:
    try:
        return version("sitecharge")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sitecharge", description="Smart-charging load management for EV charging sites."
    )
    parser.add_argument("--version", action="version", version=f"sitecharge {_version()}")
    parser.add_argument("--log-level", default="INFO", help="logging level (default INFO)")
    parser.add_argument(
        "--log-format",
        choices=FORMATS,
        help="text (default) or json: one object per line; overrides [logging] format",
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMANDS:
        try:
            module = importlib.import_module(f"controller.commands.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"controller.commands.{name}":
                raise
            continue  # command not built yet
        module.register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        setup_logging(args.log_level, args.log_format or "text")
    except ValueError as exc:
        parser.error(str(exc))
    result = args.func(args)
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main())
