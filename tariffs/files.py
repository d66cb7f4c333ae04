"""The edge: reading tariff files from disk, and recognising a price file's format."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

from tariffs.errors import PriceDataError, TariffConfigError

FORMATS = ("csv", "entsoe", "awattar", "octopus", "toml")


def read_text(path: Path) -> str:
    """A file's text, or an error naming it."""
    try:
        return Path(path).read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise PriceDataError(f"cannot read: {exc}", source=str(path)) from None


def parse_toml(text: str, *, source: str) -> dict[str, object]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise TariffConfigError(f"invalid TOML: {exc}", source=source) from None


def detect_format(name: str, text: str) -> str:
    """Format of a price file from its content, then its extension (pure)."""
    head = text.lstrip("\ufeff \t\r\n")
    suffix = Path(name).suffix.lower()
    if suffix == ".toml":
        return "toml"
    if head.startswith("<"):
        return "entsoe"
    if head.startswith("{"):
        try:
            document = json.loads(text)
        except json.JSONDecodeError as exc:
            raise PriceDataError(f"not JSON: {exc}", source=name, line=exc.lineno) from None
        if isinstance(document, dict) and "data" in document:
            return "awattar"
        if isinstance(document, dict) and "results" in document:
            return "octopus"
        raise PriceDataError("JSON with neither 'data' (aWATTar) nor 'results' (Octopus)", name)
    if suffix == ".xml":
        return "entsoe"
    return "csv"
