"""The operator HTTP API of one site: a FastAPI app bound to a running SiteController.

Handlers are ``async``: they run on the controller's event loop, between two updates of the
site state, and write only through the LimitBook, the store and the loop's trigger.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Response
from fastapi.exceptions import RequestValidationError
from fastapi_offline import FastAPIOffline
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.exceptions import HTTPException

from controller.api import (
    routes_caps,
    routes_control,
    routes_dr,
    routes_history,
    routes_read,
)
from controller.api.auth import Reader, TokenBook
from controller.api.deps import Ctl
from controller.api.errors import (
    ApiError,
    InvalidRequest,
    api_error_handler,
    http_error_handler,
    invalid_request_handler,
    validation_error_handler,
)
from controller.api.guard import ApiGuard
from controller.api.metrics import build_registry
from controller.api.page import mount_page

log = logging.getLogger(__name__)

DESCRIPTION = """\
Operator API of a sitecharge controller.

The live operator page is at `/`. Every request except `/`, its `/static` files,
`/page/config`, `/openapi.json` and `/docs` needs `Authorization: Bearer <token>`;
the config's `[api] tokens` hold the tokens' hashes and roles:
**viewer** reads everything, **operator** also sets caps, session overrides and re-plans,
**utility** sends demand-response events and reads those and `/site`.
With `[api] anonymous_read = true` reads need no token (writes still do).
Times are ISO 8601 with an offset, in and out (naive times are refused). Every change is
recorded in the audit log with the token's name and the previous value, and takes effect
through the control loop.
"""


def create_app(controller: Any) -> FastAPI:
    # Swagger UI's files come with fastapi-offline: /docs works without internet.
    app: FastAPI = FastAPIOffline(
        title=f"sitecharge: {controller.config.site.name or controller.config.site.id}",
        description=DESCRIPTION,
        version="1",
        redoc_url=None,
    )
    app.state.controller = controller
    app.state.tokens = TokenBook(controller.config.api.tokens)
    app.state.registry = build_registry(controller)
    if not controller.config.api.tokens:
        log.warning("API: no [api] tokens configured; every request needing a token is refused")
    app.add_exception_handler(InvalidRequest, invalid_request_handler)
    app.add_exception_handler(ApiError, api_error_handler)
    app.add_exception_handler(RequestValidationError, validation_error_handler)
    app.add_exception_handler(HTTPException, http_error_handler)
    for module in (routes_read, routes_caps, routes_dr, routes_control, routes_history):
        app.include_router(module.router)
    api_cfg = controller.config.api
    app.add_middleware(
        ApiGuard,
        max_body_bytes=api_cfg.max_body_bytes,
        rate_per_s=api_cfg.requests_per_s,
        burst=api_cfg.request_burst,
    )
    mount_page(app, controller)

    @app.get(
        "/metrics",
        tags=["read"],
        summary="Prometheus metrics (needs a viewer or operator token)",
        response_class=Response,
        responses={200: {"content": {"text/plain": {}}}},
    )
    async def metrics(_who: Reader, _ctl: Ctl) -> Response:
        return Response(generate_latest(app.state.registry), media_type=CONTENT_TYPE_LATEST)

    return app
