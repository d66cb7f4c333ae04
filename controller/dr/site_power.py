"""What the site draws now, and the least it can be held to: for DR answers and telemetry.

Computed from the controller's live state only. The site meter, where configured, reads the
whole connection (chargers included), as controller/planning.py reads it.
"""

from __future__ import annotations

from datetime import datetime

from controller.site import SiteState
from controller.units import kw_from_a

METER_MAX_AGE_S = 300.0  # an older site-meter reading is not trusted


def ev_power_kw(site: SiteState) -> float:
    """Measured power of the open sessions [kW] (a session without a reading counts 0)."""
    return sum(max(0.0, s.power_kw or 0.0) for s in site.sessions.values())


def fresh_meter_kw(site: SiteState, now_utc: datetime) -> float | None:
    """The site meter [kW] if it has read within METER_MAX_AGE_S, else None."""
    if site.site_meter_kw is None:
        return None
    if site.site_meter_utc is not None:
        if (now_utc - site.site_meter_utc).total_seconds() > METER_MAX_AGE_S:
            return None
    return max(0.0, site.site_meter_kw)


def measured_site_power_kw(site: SiteState, now_utc: datetime) -> float:
    """The site's draw now [kW]: the meter when fresh (never below the sessions' sum).

    Without a site meter this is the chargers' draw only; other loads are unseen.
    """
    ev_kw = ev_power_kw(site)
    meter_kw = fresh_meter_kw(site, now_utc)
    return ev_kw if meter_kw is None else max(meter_kw, ev_kw)


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
    meter_kw = fresh_meter_kw(site, now_utc)
    if meter_kw is not None:
        floor_kw += max(0.0, meter_kw - ev_power_kw(site))
    return floor_kw
