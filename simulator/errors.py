"""The simulator's exceptions: one base, one per kind of bad input."""

from __future__ import annotations


class SimulatorError(Exception):
    """Base class of every error the simulator raises on purpose."""


class ProfileError(SimulatorError):
    """A charging profile breaks the OCPP 1.6 rules; the message names the field."""


class ScenarioError(SimulatorError):
    """A scenario cannot be generated or loaded; the message names the file, line or field."""
