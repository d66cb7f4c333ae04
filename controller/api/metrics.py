"""Prometheus metrics, read off the live controller at scrape time.

One CollectorRegistry per app (several controllers in one process, as in tests, must not
share one), and a collector that builds fresh metric families on each scrape, so nothing has
to be kept in step as the site changes.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, InfoMetricFamily
from prometheus_client.registry import Collector

from controller.api.limit_views import current_limit

PREFIX = "sitecharge"


class SiteCollector(Collector):
    def __init__(self, controller: Any) -> None:
        self.controller = controller

    def collect(self) -> Iterator[Any]:
        ctl = self.controller
        site, config = ctl.site, ctl.config
        now = ctl.clock.now()
        limit_kw, source = current_limit(ctl, now)
        ev_kw = site.ev_power_kw()
        measured_kw, _ = site.measured_kw(now)
        labels = ["site"]
        site_id = [config.site.id]

        def gauge(name: str, doc: str, value: float) -> GaugeMetricFamily:
            family = GaugeMetricFamily(f"{PREFIX}_{name}", doc, labels=labels)
            family.add_metric(site_id, value)
            return family

        yield gauge("site_power_kw", "Measured site power [kW]", measured_kw)
        yield gauge("site_ev_power_kw", "Measured power of all sessions [kW]", ev_kw)
        yield gauge("site_limit_kw", "Effective site limit now [kW]", limit_kw)
        yield gauge("grid_limit_kw", "Grid connection limit [kW]", config.site.grid_limit_kw)
        yield gauge(
            "site_headroom_kw", "Effective limit minus measured power [kW]", limit_kw - measured_kw
        )
        info = InfoMetricFamily(f"{PREFIX}_site_limit_source", "Where the limit now comes from")
        info.add_metric([], {"site": config.site.id, "source": source})
        yield info
        yield gauge("sessions", "Open sessions", len(site.sessions))

        power = GaugeMetricFamily(
            f"{PREFIX}_charger_power_kw",
            "Measured power per charger [kW]",
            labels=["site", "charger"],
        )
        online = GaugeMetricFamily(
            f"{PREFIX}_charger_online", "1 if the charger is connected", labels=["site", "charger"]
        )
        flagged = GaugeMetricFamily(
            f"{PREFIX}_charger_non_compliant",
            "1 if the charger draws more than assigned",
            labels=["site", "charger"],
        )
        controllable = GaugeMetricFamily(
            f"{PREFIX}_charger_controllable",
            "1 if the charger accepts charging profiles",
            labels=["site", "charger"],
        )
        for charger_id, state in sorted(site.chargers.items()):
            drawn = sum(
                s.power_kw or 0.0 for s in site.sessions.values() if s.charger_id == charger_id
            )
            key = [config.site.id, charger_id]
            power.add_metric(key, drawn)
            online.add_metric(key, float(state.online))
            flagged.add_metric(key, float(state.non_compliant))
            controllable.add_metric(key, float(state.controllable))
        yield from (power, online, flagged, controllable)
        yield gauge(
            "non_compliant_chargers",
            "Chargers flagged for drawing more than assigned",
            sum(1 for c in site.chargers.values() if c.non_compliant),
        )
        yield from self._loop_metrics(labels, site_id)
        yield from self._edge_metrics(labels, site_id)

    def _edge_metrics(self, labels: list[str], site_id: list[str]) -> Iterator[Any]:
        """What the OCPP edge and the store refused or dropped (see controller/ocpp/edge.py)."""
        ctl = self.controller
        stats = ctl.central.stats
        for name, doc, label, counts in (
            (
                "ocpp_rejected_readings",
                "Readings refused as implausible",
                "measurand",
                stats.rejected_readings,
            ),
            ("ocpp_dropped_messages", "Messages dropped at the edge", "reason", stats.dropped),
            ("ocpp_refused_connections", "Handshakes refused", "status", stats.refused_connections),
        ):
            family = CounterMetricFamily(f"{PREFIX}_{name}", doc, labels=["site", label])
            for key, value in sorted(counts.items()):
                family.add_metric([site_id[0], key], value)
            yield family
        replaced = CounterMetricFamily(
            f"{PREFIX}_ocpp_replaced_timestamps",
            "Implausible charger timestamps replaced",
            labels=labels,
        )
        replaced.add_metric(site_id, stats.replaced_timestamps)
        lost = CounterMetricFamily(
            f"{PREFIX}_store_dropped_rows", "Rows the store could not write", labels=labels
        )
        lost.add_metric(site_id, ctl.store.dropped_rows)
        yield from (replaced, lost)

    def _loop_metrics(self, labels: list[str], site_id: list[str]) -> Iterator[Any]:
        loop = self.controller.loop
        if loop is None:
            return
        state = loop.state
        no_resume = CounterMetricFamily(
            f"{PREFIX}_cars_not_resuming",
            "Cars that drew nothing again after a pause (held at their minimum since)",
            labels=labels,
        )
        no_resume.add_metric(site_id, self.controller.site.no_resume_count)
        yield no_resume
        cycles = CounterMetricFamily(f"{PREFIX}_cycles", "Control cycles run", labels=labels)
        cycles.add_metric(site_id, loop.cycles)
        acks = CounterMetricFamily(
            f"{PREFIX}_profile_acks", "Charging profiles accepted by chargers", labels=labels
        )
        acks.add_metric(site_id, state.acks)
        rejections = CounterMetricFamily(
            f"{PREFIX}_profile_rejections",
            "Charging profiles rejected or unanswered",
            labels=labels,
        )
        rejections.add_metric(site_id, state.rejections)
        yield from (cycles, acks, rejections)
        if not state.history:
            return
        record = state.history[-1]
        for name, doc, value in (
            ("plan_solve_seconds", "Wall time of the last plan [s]", record.solve_s),
            ("plan_dispatch_seconds", "Wall time of the last dispatch [s]", record.dispatch_s),
            ("plan_site_kw", "Planned site power for now [kW]", record.planned_site_kw),
            ("plan_sessions", "Sessions in the last plan", record.sessions),
            (
                "plan_timestamp_seconds",
                "When the last plan was made [unix s]",
                record.at_utc.timestamp(),
            ),
        ):
            family = GaugeMetricFamily(f"{PREFIX}_{name}", doc, labels=labels)
            family.add_metric(site_id, value)
            yield family
        method = InfoMetricFamily(f"{PREFIX}_plan", "Method and status of the last plan")
        method.add_metric(
            [], {"site": site_id[0], "method": record.method, "status": record.status}
        )
        yield method


def build_registry(controller: Any) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(SiteCollector(controller))
    return registry
