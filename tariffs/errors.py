"""Tariff errors: one ValueError subclass, with the place (file, line, field) in the message.

A person fixing a tariff needs to know where to look, so every error carries its location.
"""

from __future__ import annotations


class TariffError(ValueError):
    """A tariff configuration or price file cannot be used."""

    def __init__(self, message: str, source: str | None = None, *, line: int | None = None):
        self.source = source
        self.line = line
        self.detail = message
        where = source or ""
        if line is not None:
            where = f"{where}:{line}" if where else f"line {line}"
        super().__init__(f"{where}: {message}" if where else message)


class TariffConfigError(TariffError):
    """A `[tariff]` table (or a field of it) is invalid; `source` names the field."""


class PriceDataError(TariffError):
    """A price file or document is malformed, has a gap, or does not cover a requested time."""
