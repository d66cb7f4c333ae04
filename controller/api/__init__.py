"""Operator HTTP API and metrics: ``create_app(controller)``, ``start_api`` / ``stop_api``."""

from controller.api.app import create_app
from controller.api.errors import ApiError, Conflict, InvalidRequest, NotFound
from controller.api.server import ApiStartError, start_api, stop_api

__all__ = [
    "ApiError",
    "ApiStartError",
    "Conflict",
    "InvalidRequest",
    "NotFound",
    "create_app",
    "start_api",
    "stop_api",
]
