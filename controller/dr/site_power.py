"""What the site draws now, and the least it can be held to: for DR answers and telemetry.

Computed from the controller's live state only; what the site draws now is defined once, in
``SiteState.measured_kw``, for planning, the API, the history and DR alike.
"""

from __future__ import annotations

from datetime import datetime

from controller.site import SiteState
from controller.units import kw_from_a


def measured_site_power_kw(site: SiteState, now_utc: datetime) -> float:
    """The site's draw now [kW] (see ``SiteState.measured_kw``)."""
    return site.measured_kw(now_utc)[0]


def uncontrollable_kw(site: SiteState, now_utc: datetime) -> float:
    """The least the site can be held to [kW].

    Chargers that do not take profiles (``controllable`` False) or do not follow them
    (``non_compliant``) may draw their rated power whatever the plan says; loads other than
    the chargers (the fresh site meter minus the sessions) are not ours to control either.
    Chargers without a configured rating cannot be counted and are left out.
    """
    floor_kw = 0.0
    config = site.config
    for state in site.chargers.values():
        if state.controllable and not state.non_compliant:
            continue
        rating = state.config or config.charger(state.charger_id)
        if rating is None:
            continue
        floor_kw += kw_from_a(rating.max_current_a, rating.phases, config.charger_voltage_v(rating))
    return floor_kw + site.other_load_kw(now_utc)
