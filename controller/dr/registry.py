"""Demand-response source types by name: each ``[dr.<type>]`` table builds one source.

A type has its own config model (validated here, errors naming ``dr.<type>.<field>``) and a
builder; builders import their protocol library only when a site configures them. Unknown
table names are errors, as elsewhere in the site config: a typo must not silently disable
demand response.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from controller.config import SiteConfig
from controller.dr.base import DrConfigError, DrContext, DrSource
from controller.dr.openadr_config import OpenAdrConfig, parse_openadr_config

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SourceType:
    name: str
    parse: Callable[[Mapping[str, Any], SiteConfig], Any]  # -> a config with ``enabled``
    build: Callable[[DrContext, Any], DrSource]


_REGISTRY: dict[str, SourceType] = {}


def register(source_type: SourceType) -> None:
    """Add a type (e.g. the API's REST source); a name can be registered once."""
    if source_type.name in _REGISTRY and _REGISTRY[source_type.name] != source_type:
        raise ValueError(f"demand-response type {source_type.name!r} is already registered")
    _REGISTRY[source_type.name] = source_type


def source_types() -> tuple[str, ...]:
    return tuple(sorted(_REGISTRY))


def validate_dr_config(config: SiteConfig) -> dict[str, Any]:
    """Each ``[dr.<type>]`` table parsed by its type; raises DrConfigError naming the field."""
    parsed: dict[str, Any] = {}
    for name, table in config.dr.items():
        source_type = _REGISTRY.get(name)
        if source_type is None:
            known = ", ".join(source_types()) or "none"
            raise DrConfigError(f"dr.{name}: unknown demand-response type (known: {known})")
        if not isinstance(table, Mapping):
            raise DrConfigError(f"dr.{name}: must be a table, got {type(table).__name__}")
        parsed[name] = source_type.parse(table, config)
    return parsed


def build_dr_sources(ctx: DrContext) -> list[DrSource]:
    """The enabled sources of the site's config, not started."""
    sources = []
    for name, config in validate_dr_config(ctx.config).items():
        if getattr(config, "enabled", True):
            sources.append(_REGISTRY[name].build(ctx, config))
        else:
            log.info("demand response: %s is configured but disabled", name)
    return sources


async def start_dr_sources(ctx: DrContext) -> list[DrSource]:
    """Build and start the site's sources (each connects in the background)."""
    sources = build_dr_sources(ctx)
    for source in sources:
        await source.start()
    return sources


async def stop_dr_sources(sources: Iterable[DrSource]) -> None:
    """Stop each source; one that fails to stop is logged and does not keep others running."""
    for source in sources:
        try:
            # Bounded: a VTN that does not answer must not keep the controller from stopping.
            await asyncio.wait_for(source.stop(), timeout=10.0)
        except TimeoutError:
            log.error("demand response: %s did not stop within 10 s", source.name)
        except Exception:
            log.exception("demand response: stopping %s failed", source.name)


def _build_openadr(ctx: DrContext, config: OpenAdrConfig) -> DrSource:
    from controller.dr.openadr import OpenAdrSource  # imports openleadr only when configured

    return OpenAdrSource(ctx, config)


register(SourceType("openadr", parse_openadr_config, _build_openadr))
