"""`sitecharge serve`: run the controller for one site until stopped.

``--speed X`` is for test sites only: the controller's clock starts at the real current time
and runs X times faster, so that `sitecharge simulate --speed X` chargers and the controller
agree on when each charging profile starts and lapses (simulate measures the server's clock
and refuses a different speed). The control cycle then follows that clock; the tariff is not
refreshed on a schedule.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
import time
from datetime import UTC, datetime, timedelta

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
    parser.add_argument(
        "--speed",
        type=float,
        default=1.0,
        help="test sites only: the controller's clock starts now and runs X times faster (1)",
    )
    parser.set_defaults(func=run)


log = logging.getLogger("sitecharge.serve")


class SpedUpClock:
    """``now = start + wall seconds since the start x speed``; ``sleep`` scaled to match.

    The controller's clock protocol (``now``, ``sleep``, ``speed``) for ``serve --speed``; the
    controller scales its network timeouts by ``speed``.
    """

    def __init__(self, speed: float) -> None:
        self.speed = float(speed)
        self.start_utc = datetime.now(UTC)
        self._wall_start_s = time.monotonic()

    def now(self) -> datetime:
        elapsed_s = (time.monotonic() - self._wall_start_s) * self.speed
        return self.start_utc + timedelta(seconds=elapsed_s)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds) / self.speed)


def run(args: argparse.Namespace) -> int:
    speed = getattr(args, "speed", 1.0)
    if not speed > 0:
        print("sitecharge: --speed must be > 0", file=sys.stderr)
        return 2
    try:
        config = load_config(args.config)
        use_site_logging(config, args)
        if args.api_port is not None:
            config = config.model_copy(
                update={"api": config.api.model_copy(update={"port": args.api_port})}
            )
        return asyncio.run(_serve(config, args.host, args.port, speed))
    except (ConfigError, StoreError) as exc:
        print(f"sitecharge: {exc}", file=sys.stderr)
        return 2


def use_site_logging(config: SiteConfig, args: argparse.Namespace) -> None:
    """The site file's ``[logging]``: its format unless --log-format was given, its levels."""
    if config.logging.format is not None and getattr(args, "log_format", None) is None:
        setup_logging(args.log_level, config.logging.format)
    apply_levels(config.logging.levels)


async def _serve(config, host: str | None, port: int | None, speed: float = 1.0) -> int:
    clock = None
    if speed != 1:
        clock = SpedUpClock(speed)
        log.warning(
            "test site: the controller's clock runs at %gx from %s (--speed); chargers that "
            "keep real time will see every profile start and lapse at the wrong time",
            speed,
            clock.start_utc.isoformat(timespec="seconds"),
        )
    controller = SiteController(config, clock=clock)
    await controller.start(host=host, port=port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await controller.stop()
    return 0
