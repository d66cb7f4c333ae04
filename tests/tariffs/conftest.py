"""Shared helpers for the tariff tests."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

SAMPLES = Path(__file__).resolve().parents[2] / "tariffs" / "samples"


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.fixture
def samples() -> Path:
    return SAMPLES
