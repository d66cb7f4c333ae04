"""The site's TOML file, validated once at start.

Every error names the field (``chargers[2].max_current_a``) and the reason, so an operator
can fix the file without reading code. Unknown keys are errors too: a typo must not silently
fall back to a default.
"""

from __future__ import annotations

import logging
import tomllib
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)


class ConfigError(ValueError):
    """The site configuration cannot be used; the message names the file and field."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SiteSection(_Strict):
    id: str = Field(min_length=1)
    name: str = ""
    timezone: str = "UTC"
    grid_limit_kw: float = Field(gt=0)
    voltage_v: float = Field(default=230.0, gt=0, description="phase-to-neutral voltage [V]")
    site_meter_charger_id: str | None = None

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown IANA time zone {value!r}") from exc
        return value


class TlsSection(_Strict):
    cert_file: Path
    key_file: Path


class OcppLimits(_Strict):
    """Bounds on what chargers and the network may cost the controller (defaults: safe, and
    roomy enough for 2,000 chargers behind one address)."""

    max_connections: int = Field(default=10_000, ge=1)
    max_connections_per_source: int = Field(default=5_000, ge=1)
    max_frame_bytes: int = Field(default=2**20, ge=1024, le=2**26)
    max_unknown_chargers: int = Field(default=5_000, ge=0, description="allow_unknown_chargers")
    messages_per_charger_per_s: float = Field(default=20.0, gt=0)
    message_burst: int = Field(default=200, ge=1)
    auth_free_failures: int = Field(default=5, ge=0)
    auth_backoff_max_s: float = Field(default=60.0, ge=0)
    timestamp_max_age_s: float = Field(default=5 * 366 * 86400.0, gt=0)
    timestamp_max_ahead_s: float = Field(default=86400.0, gt=0)
    clock_skew_warn_s: float = Field(default=300.0, gt=0)
    reading_margin: float = Field(default=1.25, ge=1, description="x the charger's rating")


class OcppSection(_Strict):
    host: str = "127.0.0.1"
    port: int = Field(default=9000, ge=0, le=65535)
    path_prefix: str = "/ocpp"
    allow_unknown_chargers: bool = False
    heartbeat_interval_s: int = Field(default=300, ge=10, le=86400)
    offline_after_missed_heartbeats: float = Field(default=2.5, gt=1)
    meter_value_sample_interval_s: int = Field(default=60, ge=1, le=3600)
    response_timeout_s: float = Field(default=10.0, gt=0)
    tls: TlsSection | None = None
    limits: OcppLimits = OcppLimits()

    @field_validator("path_prefix")
    @classmethod
    def _prefix(cls, value: str) -> str:
        if not value.startswith("/"):
            raise ValueError("must start with '/'")
        return value.rstrip("/") or ""


class StoreSection(_Strict):
    url: str = "sqlite:///sitecharge.db"
    meter_value_retention_days: float = Field(default=30, gt=0)
    audit_retention_days: float = Field(default=90, gt=0)


class IdTag(_Strict):
    id_tag: str = Field(min_length=1, max_length=20)
    expires: datetime | None = None
    group: str | None = None

    @field_validator("expires")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("needs a time zone offset, e.g. 2027-01-01T00:00:00Z")
        return value.astimezone(UTC) if value is not None else None


class AuthorizationSection(_Strict):
    allow_all: bool = True
    id_tags: tuple[IdTag, ...] = ()


class ChargerConfig(_Strict):
    id: str = Field(min_length=1, max_length=48)
    max_current_a: float = Field(gt=0, le=1000, description="per phase [A]")
    phases: Literal[1, 3] = 3
    voltage_v: float | None = Field(default=None, gt=0)
    circuit: str | None = None
    connectors: int = Field(default=1, ge=1, le=8)
    phase_rotation: Literal["RST", "RTS", "SRT", "STR", "TRS", "TSR"] = "RST"
    password_hash: str | None = None
    auth: Literal["password", "none"] | None = Field(
        default=None,
        description='"none": connects without credentials on a site that otherwise needs them',
    )
    # None: the charger may speak either; 2.0.1 is chosen when it offers both
    ocpp_version: Literal["1.6", "2.0.1"] | None = None


class CircuitConfig(_Strict):
    id: str = Field(min_length=1)
    parent: str | None = None
    limit_a: float = Field(gt=0, description="per phase [A]")


class SessionDefaults(_Strict):
    dwell_h: float = Field(default=8.0, gt=0, le=168)
    energy_kwh: float = Field(default=30.0, gt=0)


class IdTagGroupDefaults(_Strict):
    group: str
    dwell_h: float | None = Field(default=None, gt=0, le=168)
    energy_kwh: float | None = Field(default=None, gt=0)
    priority: float = Field(default=1.0, gt=0)


class ControlSection(_Strict):
    interval_s: int = Field(default=300, ge=60, le=900)
    slot_s: int = Field(default=900, ge=60, le=3600, description="plan slot length [s]")
    horizon_h: float = Field(default=24.0, gt=0, le=72)
    min_current_a: float = Field(default=6.0, ge=0)
    idle_default_current_a: float = Field(default=6.0, ge=0)
    profile_validity_s: int = Field(default=1800, ge=60)
    raise_delay_s: int = Field(default=30, ge=0, le=300, description="raises wait for cuts [s]")
    solver_time_limit_s: float | None = Field(default=None, gt=0)
    mip_rel_gap: float = Field(
        default=0.05,
        gt=0,
        le=0.5,
        description="minimum-power plans: stop within this share of the costs of the optimum",
    )
    debounce_s: float = Field(default=1.0, ge=0)
    compliance_tolerance_kw: float = Field(default=0.5, ge=0)
    compliance_grace_s: float = Field(default=120.0, ge=0)
    compliance_grace_binding_s: float = Field(
        default=0.0, ge=0, description="grace while a cap, a DR event or the limit binds [s]"
    )
    compliance_reaction_s: float = Field(
        default=15.0, ge=0, description="time a charger gets to apply a new profile [s]"
    )
    uncontrollable_retry_s: float = Field(default=900.0, ge=0)
    departure_margin_min: float = Field(default=30.0, ge=0, le=240)  # assumed departures only
    # a departure someone gave: plan to finish this long before it (0 = exactly by it)
    known_departure_margin_min: float = Field(default=0.0, ge=0, le=240)
    unknown_charger_max_current_a: float = Field(
        default=32.0, gt=0, le=1000, description="rating assumed for an admitted unknown charger"
    )
    unknown_charger_allowance: int = Field(
        default=1, ge=0, le=1000, description="unknown chargers the safe share leaves room for"
    )
    keep_awake: bool = False  # true: hold started cars at their minimum while they want energy
    session_defaults: SessionDefaults = SessionDefaults()
    groups: tuple[IdTagGroupDefaults, ...] = ()


class ApiToken(_Strict):
    name: str
    role: Literal["viewer", "operator", "utility"]
    token_hash: str


class ApiSection(_Strict):
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    enabled: bool = True
    tokens: tuple[ApiToken, ...] = ()
    max_body_bytes: int = Field(default=65_536, ge=1024)
    requests_per_s: float = Field(default=50.0, gt=0, description="per token, else address")
    request_burst: int = Field(default=200, ge=1)
    # The live page: anonymous read-only viewing (a trusted network only), and how often its
    # event stream looks for changes [s].
    anonymous_read: bool = False
    push_s: float = Field(default=1.0, gt=0, le=60)


class HistorySection(_Strict):
    """Site power, limit and price sampled for the page and ``GET /history``."""

    sample_s: float = Field(default=60.0, ge=0.1, le=3600, description="one sample every [s]")
    retention_days: float = Field(default=90.0, gt=0)


class LoggingSection(_Strict):
    """Log format and per-logger levels: ``levels = {"controller.ocpp" = "DEBUG"}``."""

    format: Literal["text", "json"] | None = None  # None: the command line's --log-format
    levels: dict[str, str] = Field(default_factory=dict)

    @field_validator("levels")
    @classmethod
    def _levels(cls, value: dict[str, str]) -> dict[str, str]:
        for name, level in value.items():
            if not isinstance(logging.getLevelName(level.upper()), int):
                raise ValueError(f"{name}: unknown log level {level!r} (DEBUG, INFO, WARNING, ...)")
        return value


class SiteConfig(_Strict):
    site: SiteSection
    ocpp: OcppSection = OcppSection()
    store: StoreSection = StoreSection()
    authorization: AuthorizationSection = AuthorizationSection()
    chargers: tuple[ChargerConfig, ...] = ()
    circuits: tuple[CircuitConfig, ...] = ()
    control: ControlSection = ControlSection()
    api: ApiSection = ApiSection()
    history: HistorySection = HistorySection()
    logging: LoggingSection = LoggingSection()
    tariff: dict[str, Any] = Field(default_factory=lambda: {"type": "flat", "price_per_kwh": 0.30})
    dr: dict[str, Any] = Field(default_factory=dict)
    base_dir: Annotated[Path, Field(exclude=True)] = Path()
    _by_id: dict[str, ChargerConfig] = PrivateAttr(default_factory=dict)
    _by_id_source: Any = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _references(self) -> SiteConfig:
        circuit_ids = [c.id for c in self.circuits]
        _no_duplicates("circuits", circuit_ids)
        _no_duplicates("chargers", [c.id for c in self.chargers])
        known = set(circuit_ids)
        for i, circuit in enumerate(self.circuits):
            if circuit.parent is not None and circuit.parent not in known:
                raise ValueError(f"circuits[{i}].parent: unknown circuit {circuit.parent!r}")
        parents = {c.id: c.parent for c in self.circuits}
        for start in circuit_ids:
            seen, node = set(), start
            while node is not None:
                if node in seen:
                    raise ValueError(f"circuits: the parent chain of {start!r} loops")
                seen.add(node)
                node = parents[node]
        for i, charger in enumerate(self.chargers):
            if charger.circuit is not None and charger.circuit not in known:
                raise ValueError(f"chargers[{i}].circuit: unknown circuit {charger.circuit!r}")
        self._check_auth()
        return self

    def _check_auth(self) -> None:
        """On a site with passwords or TLS, a charger without a password must say so."""
        secured = self.ocpp.tls is not None or any(c.password_hash for c in self.chargers)
        for i, charger in enumerate(self.chargers):
            if charger.auth == "password" and not charger.password_hash:
                raise ValueError(f'chargers[{i}].auth: "password" needs a password_hash')
            if charger.auth == "none" and charger.password_hash:
                raise ValueError(f'chargers[{i}].auth: "none" with a password_hash')
            if secured and not charger.password_hash and charger.auth != "none":
                raise ValueError(
                    f"chargers[{i}].password_hash: required on a site with passwords or TLS "
                    '(or set auth = "none" to let this charger connect without credentials)'
                )

    def security_warnings(self) -> list[str]:
        """What weakens a site that uses passwords or TLS, for the log at start."""
        secured = self.ocpp.tls is not None or any(c.password_hash for c in self.chargers)
        if not secured:
            return []
        warnings = [
            f'chargers[{i}] ({c.id}): auth = "none": connects without credentials'
            for i, c in enumerate(self.chargers)
            if c.auth == "none"
        ]
        if self.ocpp.allow_unknown_chargers:
            warnings.append("ocpp.allow_unknown_chargers: unlisted chargers need no credentials")
        return warnings

    def charger(self, charger_id: str) -> ChargerConfig | None:
        # Looked up for every inbound message: the map is built once per charger tuple.
        if self._by_id_source is not self.chargers:
            self._by_id = {c.id: c for c in self.chargers}
            self._by_id_source = self.chargers
        return self._by_id.get(charger_id)

    def charger_voltage_v(self, charger: ChargerConfig) -> float:
        return charger.voltage_v if charger.voltage_v is not None else self.site.voltage_v

    def resolve(self, path: str | Path) -> Path:
        """A path from the file, relative to the file's own folder."""
        candidate = Path(path)
        return candidate if candidate.is_absolute() else self.base_dir / candidate

    def store_url(self) -> str:
        """The store URL with a relative SQLite path resolved against the config folder."""
        url = self.store.url
        prefix = "sqlite:///"
        if url.startswith(prefix) and not url.startswith(prefix + "/") and ":memory:" not in url:
            return prefix + str(self.resolve(url[len(prefix) :]))
        return url


def _no_duplicates(field: str, ids: list[str]) -> None:
    seen: set[str] = set()
    for i, item in enumerate(ids):
        if item in seen:
            raise ValueError(f"{field}[{i}].id: duplicate id {item!r}")
        seen.add(item)


def _format_errors(source: str, exc: ValidationError) -> str:
    lines = []
    for error in exc.errors():
        location = ""
        for part in error["loc"]:
            location += f"[{part}]" if isinstance(part, int) else (f".{part}" if location else part)
        message = error["msg"].removeprefix("Value error, ")
        lines.append(f"{source}: {location or '(top level)'}: {message}")
    return "\n".join(lines)


def parse_config(
    data: dict[str, Any], *, source: str = "<config>", base_dir: Path = Path()
) -> SiteConfig:
    try:
        return SiteConfig.model_validate({**data, "base_dir": base_dir})
    except ValidationError as exc:
        raise ConfigError(_format_errors(source, exc)) from None


def load_config(path: str | Path) -> SiteConfig:
    """Read and validate a site TOML file; raise ConfigError naming the field on any problem."""
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{file}: cannot read: {exc.strerror}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{file}: not valid TOML: {exc}") from None
    return parse_config(data, source=str(file), base_dir=file.resolve().parent)
