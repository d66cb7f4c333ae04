"""The ``[dr.openadr]`` table: where the VTN is, who this VEN is, and how levels map to caps.

Kept apart from the VEN itself so a config can be validated without importing openleadr.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlparse

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from controller.config import SiteConfig
from controller.dr.base import DrConfigError

PREFIX = "dr.openadr"


class OpenAdrConfig(BaseModel):
    """One VEN registered with one VTN.

    ``simple_levels_kw`` maps SIMPLE levels 1–3 to a site cap [kW] (level 0 is no limit);
    ``level_offsets_kw`` maps x-loadControlLevelOffset levels to a cap [kW] (0 is no limit).
    An event that uses a level without a cap is not understood and is answered optOut.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = True
    vtn_url: str
    ven_name: str = Field(min_length=1)
    ven_id: str | None = Field(default=None, min_length=1)
    cert_file: Path | None = None
    key_file: Path | None = None
    ca_file: Path | None = None
    vtn_fingerprint: str | None = None
    check_hostname: bool = True
    simple_levels_kw: dict[int, float] = Field(default_factory=dict)
    level_offsets_kw: dict[int, float] = Field(default_factory=dict)
    default_power_unit: Literal["W", "kW"] = Field(
        default="kW", description="unit of setpoints that carry no measurement"
    )
    percent_offset_reduces: Literal["negative", "positive"] = Field(
        default="negative",
        description="which sign of x-loadControlPercentOffset asks for less load",
    )
    act_on_test_events: bool = False
    telemetry: bool = True
    telemetry_min_sampling_s: float = Field(default=10.0, gt=0, le=3600)
    retry_s: float = Field(default=30.0, gt=0, description="between registration attempts [s]")

    @field_validator("vtn_url")
    @classmethod
    def _url(cls, value: str) -> str:
        parsed = urlparse(value)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise ValueError(f"must be an http(s) URL with a host, got {value!r}")
        return value.rstrip("/")

    @field_validator("simple_levels_kw")
    @classmethod
    def _simple(cls, value: dict[int, float]) -> dict[int, float]:
        for level, cap_kw in value.items():
            if level not in (1, 2, 3):
                raise ValueError(f"level {level}: SIMPLE levels are 1, 2 and 3 (0 is no limit)")
            if not cap_kw >= 0:
                raise ValueError(f"level {level}: cap must be >= 0 kW, got {cap_kw}")
        levels = sorted(value)
        for low, high in itertools.pairwise(levels):
            if value[high] > value[low]:
                raise ValueError(
                    f"level {high} ({value[high]} kW) must not allow more than level {low} "
                    f"({value[low]} kW): a higher level asks for a deeper cut"
                )
        return value

    @field_validator("level_offsets_kw")
    @classmethod
    def _offsets(cls, value: dict[int, float]) -> dict[int, float]:
        for level, cap_kw in value.items():
            if level == 0:
                raise ValueError("level 0 is normal operation (no limit) and takes no cap")
            if not cap_kw >= 0:
                raise ValueError(f"level {level}: cap must be >= 0 kW, got {cap_kw}")
        return value

    @model_validator(mode="after")
    def _certificates(self) -> OpenAdrConfig:
        if (self.cert_file is None) != (self.key_file is None):
            missing = "key_file" if self.key_file is None else "cert_file"
            raise ValueError(f"{missing}: cert_file and key_file go together")
        if self.cert_file is not None and self.ca_file is None:
            raise ValueError("ca_file: needed with a client certificate, to verify the VTN")
        if self.ca_file is not None and self.cert_file is None:
            raise ValueError("ca_file: used only together with cert_file and key_file")
        return self


def parse_openadr_config(table: Mapping[str, Any], site_config: SiteConfig) -> OpenAdrConfig:
    """Validate the table; resolve files against the config's folder and check they exist."""
    try:
        config = OpenAdrConfig.model_validate(dict(table))
    except ValidationError as exc:
        raise DrConfigError(_format(exc)) from None
    resolved: dict[str, Path] = {}
    for name in ("cert_file", "key_file", "ca_file"):
        path = getattr(config, name)
        if path is None:
            continue
        full = site_config.resolve(path)
        if not full.is_file():
            raise DrConfigError(f"{PREFIX}.{name}: no such file {str(full)!r}")
        resolved[name] = full
    if config.simple_levels_kw or config.level_offsets_kw:
        grid_kw = site_config.site.grid_limit_kw
        for name in ("simple_levels_kw", "level_offsets_kw"):
            for level, cap_kw in getattr(config, name).items():
                if cap_kw > grid_kw:
                    raise DrConfigError(
                        f"{PREFIX}.{name}.{level}: cap {cap_kw} kW exceeds the grid connection "
                        f"(site.grid_limit_kw = {grid_kw} kW)"
                    )
    return config.model_copy(update=resolved) if resolved else config


def _format(exc: ValidationError) -> str:
    lines = []
    for error in exc.errors():
        location = ".".join(str(part) for part in error["loc"])
        message = error["msg"].removeprefix("Value error, ")
        field, _, rest = message.partition(": ")
        if not location and rest and field.isidentifier():
            location, message = field, rest  # a cross-field check names its field first
        lines.append(f"{PREFIX}{'.' + location if location else ''}: {message}")
    return "\n".join(lines)
