"""`sitecharge replay`: the real controller against simulated chargers on the event-stepped clock.

One pipeline for ``replay``, the demo and ``bench/quality.py``: :func:`run_replay` runs the
same snapshot → plan → dispatch code that ``serve`` runs, over real OCPP websockets, on a loop
whose time jumps from event to event (:mod:`controller.stepped`).
"""

from controller.replay.result import ReplayResult
from controller.replay.run import LimitEntry, ReplaySettings, run_replay, run_scenario
from controller.replay.sessions import ReplayInputError, ReplaySession, load_sessions

__all__ = [
    "LimitEntry",
    "ReplayInputError",
    "ReplayResult",
    "ReplaySession",
    "ReplaySettings",
    "load_sessions",
    "run_replay",
    "run_scenario",
]
