"""`sitecharge serve`: run the controller for one site until stopped."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys

from controller.app import SiteController
from controller.config import ConfigError, SiteConfig, load_config
from controller.logs import apply_levels, setup_logging
from controller.store import StoreError


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("serve", help="run the controller for a site")
    parser.add_argument("--config", required=True, help="the site's TOML file")
    parser.add_argument("--host", help="OCPP listen address (overrides [ocpp] host)")
    parser.add_argument("--port", type=int, help="OCPP listen port (overrides [ocpp] port)")
    parser.add_argument("--api-port", type=int, help="HTTP API port (overrides [api] port)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        config = load_config(args.config)
        use_site_logging(config, args)
        if args.api_port is not None:
            config = config.model_copy(
                update={"api": config.api.model_copy(update={"port": args.api_port})}
            )
        return asyncio.run(_serve(config, args.host, args.port))
    except (ConfigError, StoreError) as exc:
        print(f"sitecharge: {exc}", file=sys.stderr)
        return 2


def use_site_logging(config: SiteConfig, args: argparse.Namespace) -> None:
    """The site file's ``[logging]``: its format unless --log-format was given, its levels."""
    if config.logging.format is not None and getattr(args, "log_format", None) is None:
        setup_logging(args.log_level, config.logging.format)
    apply_levels(config.logging.levels)


async def _serve(config, host: str | None, port: int | None) -> int:
    controller = SiteController(config)
    await controller.start(host=host, port=port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await controller.stop()
    return 0
