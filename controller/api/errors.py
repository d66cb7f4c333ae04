"""The API's errors and how they reach the client: a status, a message naming the field.

Every 422 has the same shape as FastAPI's own validation errors (``detail`` is a list of
``{loc, msg, type}``) plus a one-line ``message``, so a script can show it to a person as is.
"""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException


class ApiError(Exception):
    """A request the API refuses; ``status`` is the HTTP status."""

    status = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidRequest(ApiError):
    """A well-formed request that cannot be applied (nothing was changed)."""

    status = 422

    def __init__(self, field: str, message: str, *, where: str = "body") -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.reason = message
        self.where = where


class NotFound(ApiError):
    status = 404


class Conflict(ApiError):
    status = 409


def _location(loc: tuple[Any, ...] | list[Any]) -> str:
    return ".".join(str(p) for p in loc if p != "body")


async def invalid_request_handler(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, InvalidRequest)
    detail = [{"loc": [exc.where, exc.field], "msg": exc.reason, "type": "value_error"}]
    return JSONResponse({"detail": detail, "message": exc.message}, status_code=422)


async def api_error_handler(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return JSONResponse({"detail": exc.message, "message": exc.message}, status_code=exc.status)


async def validation_error_handler(_request: Request, exc: Exception) -> JSONResponse:
    """FastAPI's 422 with a readable ``message`` ("start: Input should have timezone info")."""
    assert isinstance(exc, RequestValidationError)
    detail = []
    lines = []
    for error in exc.errors():
        msg = str(error.get("msg", "")).removeprefix("Value error, ")
        loc = list(error.get("loc", ()))
        detail.append({"loc": loc, "msg": msg, "type": error.get("type", "value_error")})
        where = _location(loc)
        lines.append(f"{where}: {msg}" if where else msg)
    return JSONResponse({"detail": detail, "message": "; ".join(lines)}, status_code=422)


async def http_error_handler(_request: Request, exc: Exception) -> JSONResponse:
    """401/403/404/405 from FastAPI itself, in the same shape as ours."""
    assert isinstance(exc, HTTPException)
    message = str(exc.detail)
    return JSONResponse(
        {"detail": exc.detail, "message": message},
        status_code=exc.status_code,
        headers=exc.headers,
    )
