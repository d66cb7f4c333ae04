"""Serve the API with uvicorn inside the controller's own event loop.

The socket is bound here, before uvicorn starts, so a busy port is an ``ApiStartError`` for
the caller (uvicorn itself would ``sys.exit``, which inside a task would end the whole
controller). Signals stay with the controller: its serve command stops the API.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Iterator
from typing import Any

import uvicorn

from controller.api.app import create_app

log = logging.getLogger(__name__)


class ApiStartError(RuntimeError):
    """The API could not listen (address in use, permission); the message names the address."""


class EmbeddedServer(uvicorn.Server):
    """A uvicorn server that leaves SIGINT/SIGTERM to the process it is embedded in."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto given explicitly: asyncio turns Nagle off only on sockets whose proto is TCP, and
    # with Nagle on every response waits ~40 ms for the client's delayed ACK.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise ApiStartError(f"API on {host}:{port}: cannot listen: {exc.strerror}") from None
    sock.setblocking(False)
    return sock


async def _serve(server: uvicorn.Server, sock: socket.socket) -> None:
    try:
        await server.serve(sockets=[sock])
    except SystemExit as exc:  # uvicorn's way of failing; must not end the controller
        log.error("API server stopped (exit %s)", exc.code)
    finally:
        sock.close()


async def start_api(
    controller: Any, host: str | None = None, port: int | None = None
) -> tuple[uvicorn.Server, asyncio.Task[None], int]:
    """Start serving; returns the server, its task and the port bound (``port`` 0: any free).

    ``host`` and ``port`` default to the config's ``[api]`` section.
    """
    api = controller.config.api
    host = host if host is not None else api.host
    port = port if port is not None else api.port
    sock = _bind(host, port)
    bound_port = sock.getsockname()[1]
    config = uvicorn.Config(
        create_app(controller),
        log_level="warning",
        access_log=False,
        lifespan="off",
        proxy_headers=False,
        server_header=False,
    )
    server = EmbeddedServer(config)
    task = asyncio.create_task(_serve(server, sock), name="api-server")
    while not server.started:
        if task.done():
            raise ApiStartError(f"API on {host}:{bound_port}: the server did not start")
        await asyncio.sleep(0.01)
    log.info("operator API on http://%s:%s (docs at /docs)", host, bound_port)
    return server, task, bound_port


async def stop_api(server: uvicorn.Server, task: asyncio.Task[None]) -> None:
    """Stop accepting, let requests in flight finish (up to 10 s), then end the task."""
    changes = getattr(getattr(server.config.app, "state", None), "changes", None)
    if changes is not None:
        changes.close()  # end the page's event streams, which would hold the shutdown
    server.should_exit = True
    try:
        await asyncio.wait_for(asyncio.shield(task), 10)
    except TimeoutError:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
