"""Shared request dependencies.

Typed ``Any`` on purpose: ``controller.app`` will import this package to start the API, so
importing it back here would be a cycle.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Request


def get_controller(request: Request) -> Any:
    """The SiteController the app was created for."""
    return request.app.state.controller


Ctl = Annotated[Any, Depends(get_controller)]
