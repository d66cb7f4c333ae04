"""The safe share: the current every connector may draw with no plan at all.

It is what each charger's TxDefaultProfile allows, and what the charger falls back to when
its TxProfile lapses (the controller is gone). Sized so that every connector drawing it at
once stays inside the site limit and every circuit's limit, per phase.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from controller.config import ChargerConfig, SiteConfig
from controller.planning import circuit_path, phase_share
from controller.units import kw_from_a


def safe_share_a(
    config: SiteConfig,
    site_limit_kw: float,
    other_load_kw: float = 0.0,
    chargers: Sequence[ChargerConfig] | None = None,
) -> float:
    """Per-phase current [A] for every connector; 0 when even the minimum current would not fit.

    ``chargers``: the site's roster (listed and admitted; default the listed ones). Where
    unknown chargers may be admitted, room is left for ``unknown_charger_allowance`` more of
    them, each with one connector at the site root, so a newcomer's default fits too."""
    roster = list(config.chargers if chargers is None else chargers)
    if config.ocpp.allow_unknown_chargers:
        control = config.control
        roster += [
            ChargerConfig(id=f"unknown-{k}", max_current_a=control.unknown_charger_max_current_a)
            for k in range(control.unknown_charger_allowance)
        ]
    wanted_a = (
        min(config.control.idle_default_current_a, *(c.max_current_a for c in roster))
        if roster
        else 0.0
    )
    if wanted_a <= 0:
        return 0.0
    # kW drawn at 1 A per phase by all connectors together, per site and per circuit phase.
    site_kw_per_a = 0.0
    circuit_kw_per_a: dict[str, list[float]] = {}
    for charger in roster:
        voltage = config.charger_voltage_v(charger)
        share = phase_share(charger, charger.phases)
        per_a_kw = kw_from_a(1.0, charger.phases, voltage) * charger.connectors
        site_kw_per_a += per_a_kw
        for node in circuit_path(config, charger)[1:]:
            bucket = circuit_kw_per_a.setdefault(node, [0.0, 0.0, 0.0])
            for p in range(3):
                bucket[p] += per_a_kw * share[p]
    bound_a = wanted_a
    headroom_kw = max(0.0, site_limit_kw - other_load_kw)
    if site_kw_per_a > 0:
        bound_a = min(bound_a, headroom_kw / site_kw_per_a)
    for circuit in config.circuits:
        per_phase = circuit_kw_per_a.get(circuit.id)
        if per_phase is None:
            continue
        limit_kw = kw_from_a(circuit.limit_a, 1, config.site.voltage_v)
        for p in range(3):
            if per_phase[p] > 0:
                bound_a = min(bound_a, limit_kw / per_phase[p])
    bound_a = math.floor(bound_a * 10 + 1e-9) / 10
    if bound_a < config.control.min_current_a:
        return 0.0
    return bound_a
