"""`sitecharge serve`: run the controller for one site until stopped."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys

from controller.app import SiteController
from controller.config import ConfigError, load_config
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
        if args.api_port is not None:
            config = config.model_copy(
                update={"api": config.api.model_copy(update={"port": args.api_port})}
            )
        return asyncio.run(_serve(config, args.host, args.port))
    except (ConfigError, StoreError) as exc:
        print(f"sitecharge: {exc}", file=sys.stderr)
        return 2


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
