"""The planner the loop is given: a Problem in, a checked Plan out, without blocking the loop.

The one fallback chain is the optimiser's own (``optimizer.plan``: optimal -> edf ->
equal_share -> safe_default). The loop adds only a wall-clock guard, because a solver's time
limit is not always hard; a planner that fails or overruns makes the cycle fail, and a failed
cycle applies the safe plan (every session at the safe share) and says why. Tests and replay
pass a planner of their own (as acnportal passes an algorithm to its interface).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import optimizer
from optimizer.problem import Plan, Problem

Planner = Callable[[Problem], Awaitable[Plan]]


class PlannerFailed(RuntimeError):
    """The planner raised or overran its wall-clock guard."""


def thread_planner(
    method: str, time_limit_s: Callable[[], float], mip_rel_gap: float = 0.01
) -> Planner:
    """``optimizer.plan`` on a worker thread, under a wall-clock guard of twice the time limit."""

    async def plan(problem: Problem) -> Plan:
        limit_s = time_limit_s()
        loop = asyncio.get_running_loop()
        try:
            # asyncio.timeout, not wait_for: 3.11's wait_for can swallow the loop's own
            # cancellation when the solve finishes at that instant (the loop never stops).
            async with asyncio.timeout(limit_s * 2 + 5):
                return await loop.run_in_executor(
                    None,
                    lambda: optimizer.plan(
                        problem, method=method, time_limit_s=limit_s, mip_rel_gap=mip_rel_gap
                    ),
                )
        except Exception as exc:
            raise PlannerFailed(f"{method}: {type(exc).__name__}: {exc}") from exc

    return plan


def inline_planner(method: str, time_limit_s: float = 3600.0, mip_rel_gap: float = 0.01) -> Planner:
    """``optimizer.plan`` on the loop itself: for replay, where a cycle takes no simulated
    time and the result must not depend on how fast the machine is."""

    async def plan(problem: Problem) -> Plan:
        try:
            return optimizer.plan(
                problem, method=method, time_limit_s=time_limit_s, mip_rel_gap=mip_rel_gap
            )
        except Exception as exc:
            raise PlannerFailed(f"{method}: {type(exc).__name__}: {exc}") from exc

    return plan
