"""Send profiles to chargers: concurrently, but cuts before raises.

Profiles that lower a limit go out first, all at once; those that raise one go only after
every cut has been acknowledged (or failed), so the site never sits above its limit between
the two. A charger that rejects, errs or stays silent is reported as uncontrollable.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from controller.ocpp.errors import ChargerCallError, ChargerRequestError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ProfileOrder:
    charger_id: str
    connector_id: int
    profile: dict[str, Any]
    new_kw: float  # the limit the profile sets now [kW]
    old_kw: float  # the limit it replaces [kW]
    key: Any = None  # what the caller tracks it by (e.g. the transaction id)

    @property
    def is_cut(self) -> bool:
        return self.new_kw < self.old_kw - 1e-9


@dataclass
class DispatchResult:
    accepted: list[ProfileOrder] = field(default_factory=list)
    failed: list[tuple[ProfileOrder, str]] = field(default_factory=list)
    cuts: int = 0
    raises: int = 0
    elapsed_s: float = 0.0


Sender = Callable[[str, int, dict[str, Any]], Awaitable[Any]]
Listener = Callable[[ProfileOrder], None]


async def dispatch(
    orders: list[ProfileOrder],
    send: Sender,
    *,
    timeout_s: float,
    on_accepted: Listener | None = None,
) -> DispatchResult:
    """Cuts, then raises; ``on_accepted`` hears of each acknowledgement as it arrives (the
    ledger must know what a charger holds before the rest of the fan-out is done)."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    result = DispatchResult()
    cuts = [o for o in orders if o.is_cut]
    raises = [o for o in orders if not o.is_cut]
    result.cuts, result.raises = len(cuts), len(raises)
    for batch in (cuts, raises):
        if batch:
            outcomes = await asyncio.gather(
                *(_send_one(o, send, timeout_s, on_accepted) for o in batch)
            )
            for order, error in zip(batch, outcomes, strict=True):
                if error is None:
                    result.accepted.append(order)
                else:
                    result.failed.append((order, error))
    result.elapsed_s = loop.time() - started
    return result


async def _send_one(
    order: ProfileOrder, send: Sender, timeout_s: float, on_accepted: Listener | None
) -> str | None:
    try:
        # asyncio.timeout, not wait_for: no extra task per charger (3.11's wait_for makes one).
        async with asyncio.timeout(timeout_s):
            answer = await send(order.charger_id, order.connector_id, order.profile)
    except TimeoutError:
        return "no answer within the timeout"
    except ChargerCallError as exc:
        return f"CALLERROR {exc.code}"
    except ChargerRequestError as exc:
        return str(exc)
    status = getattr(answer, "status", None)
    if status != "Accepted":
        return f"answered {status}"
    if on_accepted is not None:
        on_accepted(order)
    return None
