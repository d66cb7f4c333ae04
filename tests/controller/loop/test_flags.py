"""A restart keeps what the loop learned about each charger (issue 12, case 9)."""

from __future__ import annotations

from tests.controller.site_factory import running, site_config


async def test_a_non_compliant_charger_stays_flagged_across_a_restart(store_url):
    config = site_config(store_url, chargers=2)
    async with running(config) as ctl:
        ctl.site.chargers["CP001"].non_compliant = True
        ctl.site.chargers["CP002"].controllable = False
        ctl.site.chargers["CP002"].uncontrollable_reason = "answered Rejected"
        await ctl.loop.flags.save()
    async with running(config) as again:
        assert again.site.chargers["CP001"].non_compliant  # no fresh grace period
        assert not again.site.chargers["CP002"].controllable
        assert again.site.chargers["CP002"].uncontrollable_reason == "answered Rejected"
        again.site.chargers["CP001"].non_compliant = False  # it followed its limit
        await again.loop.flags.save()
    async with running(config) as third:
        assert not third.site.chargers["CP001"].non_compliant
