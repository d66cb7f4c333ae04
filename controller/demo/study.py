"""The notebooks' runs: the demo's cars through :func:`controller.replay.run_scenario`.

Every run is the real controller (the one ``serve`` runs) over real OCPP websockets to
simulated chargers on the event-stepped clock, as in ``sitecharge demo``. The notebooks must
execute in under a minute in CI on two cores, so their site differs from the demo's in
settings a site file can set, stated in :data:`NOTEBOOK_CONTROL` and :data:`NOTEBOOK_OCPP`:
a control cycle every 15 minutes on 30-minute slots over 12 hours, and meter values every
5 minutes (the controller's cost per simulated hour is mostly its OCPP traffic).

A week is seven day replays, one per local day (:func:`week_jobs`), merged into one result
per strategy (:func:`merge`): a workplace car arrives and leaves on the same day, so nothing
carries over a night, and the nights are not simulated at all.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import tempfile
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from controller.config import SiteConfig
from controller.demo.setup import DemoDay, DemoSettings, demo_day, write_config
from controller.replay import LimitEntry, ReplayResult, ReplaySettings, run_scenario
from simulator.scenario import Scenario, generate

#: the control loop of the notebooks' site (a site file's ``[control]`` keys)
NOTEBOOK_CONTROL = {"interval_s": 900, "slot_s": 1800, "horizon_h": 12.0}
#: its chargers' reporting (``[ocpp]`` keys): fewer messages per simulated hour
NOTEBOOK_OCPP = {"meter_value_sample_interval_s": 300, "heartbeat_interval_s": 3600}


class StudyError(ValueError):
    """A study asked for something it cannot run (names the argument)."""


def notebook_config(settings: DemoSettings, grid_kw: float, folder: Path) -> SiteConfig:
    """The demo's site file (``controller.demo.setup.write_config``) with the notebooks'
    control and reporting settings."""
    config = write_config(settings, grid_kw, folder)
    return config.model_copy(
        update={
            "control": config.control.model_copy(update=NOTEBOOK_CONTROL),
            "ocpp": config.ocpp.model_copy(update=NOTEBOOK_OCPP),
        }
    )


@dataclass(frozen=True)
class Job:
    """One replay: the site (settings and grid limit), the cars, the window, how to run it."""

    settings: DemoSettings
    grid_kw: float
    scenario: Scenario
    start_utc: datetime
    end_utc: datetime
    strategy: str
    needs: str
    limits: tuple[LimitEntry, ...]
    keep_record: bool = False  # every sample (the per-car plots need it; costly to pickle)


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Errors only from the packages a replay runs, for a while (the levels come back: a
    run in this process must not change its logging)."""
    names = ("controller", "simulator", "ocpp", "websockets")
    levels = {name: logging.getLogger(name).level for name in names}
    try:
        for name in names:
            logging.getLogger(name).setLevel(logging.ERROR)
        yield
    finally:
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)


def run_job(job: Job) -> ReplayResult:
    """Run one job (in a worker process, or here)."""
    with _quiet(), tempfile.TemporaryDirectory(prefix="sitecharge-study-") as folder:
        config = notebook_config(job.settings, job.grid_kw, Path(folder))
        settings = ReplaySettings(strategy=job.strategy, needs=job.needs, limits=job.limits)
        result = run_scenario(config, job.scenario, settings, job.start_utc, job.end_utc)
    return result if job.keep_record else replace(result, record=None)


def run_jobs(jobs: Sequence[Job], workers: int = 2) -> list[ReplayResult]:
    """Every job, side by side in ``workers`` spawned processes (no forked event loops or
    solver threads), in the order given; the longest first keeps both cores busy."""
    if workers <= 1:
        return [run_job(job) for job in jobs]
    order = sorted(range(len(jobs)), key=lambda i: _expected_cost(jobs[i]), reverse=True)
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        futures = {i: pool.submit(run_job, jobs[i]) for i in order}
        return [futures[i].result() for i in range(len(jobs))]


def _expected_cost(job: Job) -> float:
    hours = (job.end_utc - job.start_utc).total_seconds() / 3600.0
    return hours * (4.0 if job.strategy == "sitecharge" else 1.0)


def day_jobs(
    day: DemoDay, strategies: Sequence[str], needs: Sequence[str] = ("known",)
) -> list[Job]:
    """The demo day under each strategy (and, for sitecharge, each kind of needs)."""
    return [
        Job(
            day.settings,
            day.grid_kw,
            day.scenario,
            day.start_utc,
            day.end_utc,
            strategy,
            need,
            day.events,
            keep_record=True,
        )
        for strategy in strategies
        for need in (needs if strategy == "sitecharge" else ("known",))
    ]


@dataclass(frozen=True)
class Week:
    """Seven days of one site: the first is the demo day (its grid limit and events); the
    operator cap recurs every day, the demand-response event is the first day's."""

    first: DemoDay
    days: tuple[tuple[date, Scenario, datetime, datetime], ...]  # local day, cars, window

    @property
    def sessions(self) -> int:
        return sum(len(s.sessions) for _, s, _, _ in self.days)


def _hour_floor(at: datetime) -> datetime:
    return at.replace(minute=0, second=0, microsecond=0)


def week(settings: DemoSettings, days: int = 7) -> Week:
    """``days`` consecutive days of the scenario from ``settings.day``, each cut to the hours
    its cars are there (an hour before the first arrival to the hour after the last leaves)."""
    first = demo_day(settings)
    full = generate(
        settings.scenario,
        settings.chargers,
        settings.seed,
        start_local_day=settings.day,
        tz=settings.timezone,
        days=days,
    )
    zone = ZoneInfo(settings.timezone)
    out = []
    for index in range(days):
        local_day = settings.day + timedelta(days=index)
        cars = [s for s in full.sessions if s.arrival_utc.astimezone(zone).date() == local_day]
        if not cars:
            continue
        if any(s.departure_utc.astimezone(zone).date() != local_day for s in cars):
            raise StudyError(
                f"scenario {settings.scenario!r}: cars stay overnight; a week of separate days "
                "fits only sites whose cars leave the day they come (workplace, retail)"
            )
        start = _hour_floor(min(s.arrival_utc for s in cars)) - timedelta(hours=1)
        end = _hour_floor(max(s.departure_utc for s in cars)) + timedelta(hours=1)
        out.append((local_day, full.window(start, end), start, end))
    return Week(first, tuple(out))


def _limits_for(events: Sequence[LimitEntry], start: datetime, end: datetime):
    """Recurring caps on every day; a one-off event only on the day it falls in."""
    kept = []
    for entry in events:
        at = entry.spec.get("start_utc")
        if at is None or start <= datetime.fromisoformat(at) < end:
            kept.append(entry)
    return tuple(kept)


def week_jobs(
    the_week: Week, strategies: Sequence[str], needs: Sequence[str] = ("known",)
) -> list[Job]:
    """Each day of the week under each strategy (sitecharge: under each kind of needs)."""
    first = the_week.first
    return [
        Job(
            first.settings,
            first.grid_kw,
            scenario,
            start,
            end,
            strategy,
            need,
            _limits_for(first.events, start, end),
        )
        for _, scenario, start, end in the_week.days
        for strategy in strategies
        for need in (needs if strategy == "sitecharge" else ("known",))
    ]


def merge(results: Sequence[ReplayResult]) -> ReplayResult:
    """Consecutive runs of one strategy as one result: the power and the limit between two
    runs are zero and the grid limit; energies, costs and time over the limit add up."""
    if not results:
        raise StudyError("merge: no results")
    ordered = sorted(results, key=lambda r: r.start_utc)
    if {(r.strategy, r.needs) for r in ordered} != {(ordered[0].strategy, ordered[0].needs)}:
        raise StudyError("merge: results of different strategies or needs")
    power: list[tuple[datetime, float]] = []
    limit: list[tuple[datetime, float]] = []
    for previous, result in zip([None, *ordered], ordered, strict=False):
        if previous is not None:
            if result.start_utc < previous.end_utc:
                raise StudyError("merge: runs overlap")
            if result.start_utc > previous.end_utc:
                power.append((previous.end_utc, 0.0))
                limit.append((previous.end_utc, max(v for _, v in previous.limit_kw)))
        power.extend(result.site_power_kw)
        limit.extend(result.limit_kw)
    summary = {
        "delivered_kwh": round(sum(r.summary["delivered_kwh"] for r in ordered), 4),
        "energy_cost": round(sum(r.summary["energy_cost"] for r in ordered), 4),
        "peak_kw": max(r.summary["peak_kw"] for r in ordered),
        "seconds_over_limit": round(sum(r.summary["seconds_over_limit"] for r in ordered), 3),
    }
    stats = {
        key: sum(r.stats.get(key, 0) for r in ordered)
        for key in ("cycles", "solves_at_time_limit", "real_s")
    }
    return ReplayResult(
        ordered[0].strategy,
        ordered[0].needs,
        ordered[0].start_utc,
        ordered[-1].end_utc,
        tuple(s for r in ordered for s in r.sessions),
        power,
        limit,
        summary,
        stats,
        None,
    )


def run_name(result: ReplayResult) -> str:
    """``strategy``, or ``sitecharge (needs unknown)`` for sitecharge without known needs."""
    unknown = result.strategy == "sitecharge" and result.needs == "unknown"
    return f"{result.strategy} (needs unknown)" if unknown else result.strategy


def by_run(results: Sequence[ReplayResult]) -> dict[str, ReplayResult]:
    """Results keyed by :func:`run_name`, each merged over its days."""
    groups: dict[str, list[ReplayResult]] = {}
    for result in results:
        groups.setdefault(run_name(result), []).append(result)
    return {name: merge(group) if len(group) > 1 else group[0] for name, group in groups.items()}


__all__ = [
    "NOTEBOOK_CONTROL",
    "NOTEBOOK_OCPP",
    "Job",
    "StudyError",
    "Week",
    "by_run",
    "day_jobs",
    "merge",
    "notebook_config",
    "run_job",
    "run_jobs",
    "run_name",
    "week",
    "week_jobs",
]
