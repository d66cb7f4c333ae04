"""Demand-response sources (OpenADR VEN; the REST source lives in the API) -> limit events.

Each source writes into the controller's LimitBook, which persists, audits and announces the
events to the control loop. The composition root starts them with ``start_dr_sources``.
"""

from controller.dr.base import DrConfigError, DrContext, DrError, DrSource, SignalError
from controller.dr.openadr_config import OpenAdrConfig
from controller.dr.registry import (
    SourceType,
    build_dr_sources,
    register,
    source_types,
    start_dr_sources,
    stop_dr_sources,
    validate_dr_config,
)

__all__ = [
    "DrConfigError",
    "DrContext",
    "DrError",
    "DrSource",
    "OpenAdrConfig",
    "SignalError",
    "SourceType",
    "build_dr_sources",
    "register",
    "source_types",
    "start_dr_sources",
    "stop_dr_sources",
    "validate_dr_config",
]
