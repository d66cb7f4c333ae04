"""What the API answers with: the response models (pydantic), one per view."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel


class CircuitView(BaseModel):
    id: str
    parent: str | None
    limit_a: float
    load_a: list[float]  # per grid phase L1..L3, from the sessions' measured power
    load_kw: float
    headroom_a: float


class SiteView(BaseModel):
    site_id: str
    name: str
    timezone: str
    now_utc: datetime
    grid_limit_kw: float
    limit_kw: float
    limit_source: str  # "grid", or "<source>:<id>" of the cap or event in force
    measured_kw: float
    measured_source: str  # "site_meter" or "chargers"
    ev_kw: float
    headroom_kw: float
    planned_kw: float | None
    sessions: int
    chargers_online: int
    circuits: list[CircuitView]


class ConnectorView(BaseModel):
    connector_id: int
    status: str
    error_code: str
    transaction_id: int | None


class ChargerView(BaseModel):
    id: str
    configured: bool
    online: bool
    booted: bool
    vendor: str | None
    model: str | None
    firmware_version: str | None
    last_seen_utc: datetime | None
    max_current_a: float | None
    phases: int | None
    circuit: str | None
    capabilities: dict[str, Any]
    controllable: bool
    uncontrollable_reason: str | None
    non_compliant: bool
    power_kw: float
    assigned_kw: float | None
    connectors: list[ConnectorView]
    ocpp_version: str | None = None  # the subprotocol of its current or last connection
    # OCPP 2.0.1 NotifyChargingLimit per EVSE, as the station reported them
    reported_limits: dict[int, dict[str, Any]] = {}


class SessionView(BaseModel):
    transaction_id: int
    charger_id: str
    connector_id: int
    id_tag: str
    start_utc: datetime
    energy_kwh: float  # delivered so far
    power_kw: float | None  # measured
    assigned_kw: float | None  # the limit sent for now
    soc_percent: float | None
    departure_utc: datetime | None  # expected, as the last plan saw it
    energy_remaining_kwh: float | None  # still wanted, as the last plan saw it
    planned_energy_kwh: float | None  # what the last plan gives it before departure
    planned_finish_utc: datetime | None = None  # end of its last slot with power in the plan
    priority: float | None
    planned: bool  # in the last plan (False: reserved, e.g. uncontrollable, or not yet)
    overrides: dict[str, Any]
    need_source: str  # where departure and energy come from: car, operator, id_tag_group, default
    ocpp_transaction_id: str | None = None  # OCPP 2.0.1: the station's id, as it sent it


class PlanSlot(BaseModel):
    start_utc: datetime
    end_utc: datetime
    limit_kw: float
    limit_source: str
    price_per_kwh: float
    base_load_kw: float
    ev_total_kw: float
    site_kw: float
    ev_kw: dict[str, float]


class PlanEv(BaseModel):
    ev_id: str
    transaction_id: int
    charger_id: str
    connector_id: int
    energy_remaining_kwh: float
    departure_utc: datetime


class PlanView(BaseModel):
    at_utc: datetime
    reasons: list[str]
    method: str
    status: str
    reason: str
    solve_s: float
    objective: dict[str, float]
    evs: list[PlanEv]
    slots: list[PlanSlot]


class EntryView(BaseModel):
    id: str
    source: str
    kind: str
    status: str  # active | scheduled | past | cancelled (| invalid: a stored spec unusable)
    limit_kw: float | None = None
    reduction_kw: float | None = None
    reduction_pct: float | None = None
    ramp_s: float | None = None
    start: datetime | None = None
    end: datetime | None = None
    start_local: str | None = None
    end_local: str | None = None
    weekdays: list[int] | None = None
    timezone: str | None = None
    note: str | None = None
    created_utc: datetime
    updated_utc: datetime
    cancelled_utc: datetime | None = None


class WindowView(BaseModel):
    id: str
    source: str
    kind: str
    start: datetime | None
    end: datetime | None
    limit_kw: float | None
    reduction_kw: float | None
    reduction_pct: float | None
    ramp_s: float


class LimitsView(BaseModel):
    now_utc: datetime
    grid_limit_kw: float
    limit_kw: float
    limit_source: str
    entries: list[EntryView]
    windows: list[WindowView]  # concrete windows over the next ``hours``


class AuditRow(BaseModel):
    id: int
    at_utc: datetime
    actor: str
    action: str
    target: str | None
    old_value: Any
    new_value: Any
