"""The small interface every demand-response source meets, and the package's errors.

A source turns someone else's protocol into limit events in the LimitBook; the book persists
them, audits them and wakes the control loop. Third-party protocol libraries stay behind this
interface so one can be swapped or dropped without touching the rest of the controller.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from controller.clock import Clock
    from controller.config import SiteConfig
    from controller.limit_book import LimitBook
    from controller.site import SiteState


class DrError(Exception):
    """Base of this package's errors."""


class DrConfigError(DrError, ValueError):
    """A ``[dr.*]`` table cannot be used; the message names the field (``dr.openadr.vtn_url``)."""


class SignalError(DrError, ValueError):
    """An event the site cannot interpret; the message names the event, signal and interval."""


class DrContext(Protocol):
    """What a source needs from the controller (SiteController satisfies it)."""

    config: SiteConfig
    clock: Clock
    site: SiteState
    limits: LimitBook


@runtime_checkable
class DrSource(Protocol):
    """A running demand-response source: started once, stopped once, asked for its status."""

    name: str

    async def start(self) -> None:
        """Begin receiving events; must return promptly (connect in the background)."""
        ...

    async def stop(self) -> None:
        """Stop receiving; limit events already in the book stay there."""
        ...

    def status(self) -> dict[str, Any]:
        """A JSON-ready view for the operator API."""
        ...
