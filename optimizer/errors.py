"""Exceptions of the optimizer package."""

from __future__ import annotations


class OptimizerError(Exception):
    """Base class of every error raised by ``optimizer``."""


class InvalidProblem(OptimizerError, ValueError):
    """A Problem (or its JSON) is malformed; the message names the field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


class SolverFailed(OptimizerError):
    """The solver gave no usable plan (error, infeasible, time-out without a solution)."""
