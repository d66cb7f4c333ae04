"""What `sitecharge simulate` learns before it starts: the site file's chargers, the server's clock.

A central system refuses charger ids it does not list (``serve`` answers HTTP 404), so with
``--config SITE.toml`` the simulated chargers take the site file's ids, connectors, currents,
phases and pinned OCPP versions. And a central system whose clock runs at another speed than
the simulator's makes every charging profile start and lapse at the wrong time (at ``--speed
60`` against a real-time server a profile meant for an hour lapses after a minute of the cars'
time), so :func:`measure_server_speed` measures the server's clock over the wire: two
Heartbeats a couple of seconds apart; their ``currentTime`` difference over the wall time
between them is the server's speed. Any OCPP 1.6J or 2.0.1 central system answers a Heartbeat.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from dataclasses import dataclass, replace
from datetime import datetime

import websockets
from websockets.asyncio.client import connect

from controller.config import ConfigError, SiteConfig, load_config
from simulator.charger import ChargerSpec, refusal_text
from simulator.errors import SimulatorError
from simulator.scenario import Scenario

#: a server clock within this factor of the simulator's counts as the same speed
SPEED_TOLERANCE = 1.5


@dataclass(frozen=True)
class SiteChargers:
    """The chargers of a site file, as the simulator needs them."""

    path: str
    url: str  # ws://host:port/prefix from [ocpp]
    timezone: str
    specs: tuple[ChargerSpec, ...]

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(s.charger_id for s in self.specs)

    def listed(self) -> str:
        """``CP001, CP002, … CP010`` for a message."""
        ids = self.ids
        return ", ".join(ids) if len(ids) <= 6 else f"{', '.join(ids[:3])}, … {ids[-1]}"


def read_site(path: str, template: ChargerSpec, default_version: str) -> SiteChargers:
    """The site file's chargers on top of ``template`` (vendor, sampled data, password…)."""
    try:
        config: SiteConfig = load_config(path)
    except ConfigError as exc:
        raise SimulatorError(f"--config: {exc}") from None
    specs = []
    for i, charger in enumerate(config.chargers):
        version = charger.ocpp_version or default_version
        if default_version == "mixed":
            version = charger.ocpp_version or ("2.0.1" if i % 2 else "1.6")
        specs.append(
            replace(
                template,
                charger_id=charger.id,
                n_connectors=charger.connectors,
                max_current_a=charger.max_current_a,
                phases=charger.phases,
                voltage_v=charger.voltage_v or config.site.voltage_v,
                meter_interval_s=config.ocpp.meter_value_sample_interval_s,
                ocpp_version=version,
            )
        )
    if not specs:
        raise SimulatorError(f"--config: {path} lists no [[chargers]]")
    host = config.ocpp.host if config.ocpp.host not in ("0.0.0.0", "::", "") else "127.0.0.1"
    scheme = "wss" if config.ocpp.tls is not None else "ws"
    url = f"{scheme}://{host}:{config.ocpp.port}{config.ocpp.path_prefix}"
    return SiteChargers(path, url, config.site.timezone, tuple(specs))


def on_site(scenario: Scenario, site: SiteChargers) -> Scenario:
    """The scenario with its chargers renamed, in order, to the site's (CP001 -> first listed).

    Sessions on connectors a site charger does not have are dropped.
    """
    ids = site.ids
    if set(scenario.charger_ids) <= set(ids):
        names = {cid: cid for cid in scenario.charger_ids}
    else:
        names = dict(zip(scenario.charger_ids, ids, strict=False))
    connectors = {s.charger_id: s.n_connectors for s in site.specs}
    sessions = tuple(
        replace(s, charger_id=names[s.charger_id])
        for s in scenario.sessions
        if s.charger_id in names and s.connector_id <= connectors[names[s.charger_id]]
    )
    return replace(scenario, charger_ids=tuple(names.values()), sessions=sessions)


class ChargerRefused(SimulatorError):
    """The server refused the websocket upgrade for this charger id (e.g. HTTP 404)."""

    def __init__(self, charger_id: str, why: str) -> None:
        self.charger_id, self.why = charger_id, why
        super().__init__(f"charger {charger_id}: refused by the server ({why})")


async def measure_server_speed(
    url: str, charger_id: str, *, headers: dict[str, str] | None, wall_s: float = 2.0
) -> float:
    """The central system's clock speed: simulated seconds per wall second (1 = real time).

    Connects as ``charger_id`` (an id the server accepts), sends two Heartbeats ``wall_s``
    apart and divides the difference of their ``currentTime`` by the wall time between them
    (each reading taken halfway through its round trip). Raises :class:`SimulatorError` when
    the server refuses the connection or does not answer with a time.
    """
    ids = itertools.count(1)
    loop = asyncio.get_running_loop()  # its time(): monotonic wall time, or a stepped loop's
    try:
        async with connect(
            url.rstrip("/") + "/" + charger_id,
            subprotocols=["ocpp1.6", "ocpp2.0.1"],  # type: ignore[list-item]
            additional_headers=headers,
            open_timeout=10,
            ping_interval=None,
        ) as ws:

            async def reading() -> tuple[float, datetime]:
                message_id = f"clock-probe-{next(ids)}"
                sent = loop.time()
                await ws.send(json.dumps([2, message_id, "Heartbeat", {}]))
                while True:
                    frame = json.loads(await asyncio.wait_for(ws.recv(), 10))
                    if frame[0] in (3, 4) and frame[1] == message_id:
                        break
                if frame[0] != 3 or "currentTime" not in frame[2]:
                    raise SimulatorError(f"the server did not answer a Heartbeat: {frame}")
                when = datetime.fromisoformat(frame[2]["currentTime"].replace("Z", "+00:00"))
                return (sent + loop.time()) / 2, when

            wall0, server0 = await reading()
            await asyncio.sleep(wall_s)
            wall1, server1 = await reading()
    except websockets.InvalidStatus as exc:
        raise ChargerRefused(charger_id, refusal_text(exc)) from None
    except (OSError, TimeoutError, websockets.WebSocketException, ValueError, LookupError) as exc:
        raise SimulatorError(f"could not read the server's clock at {url}: {exc}") from None
    return (server1 - server0).total_seconds() / max(1e-3, wall1 - wall0)


def same_speed(server_speed: float, speed: float) -> bool:
    ratio = server_speed / speed
    return 1 / SPEED_TOLERANCE <= ratio <= SPEED_TOLERANCE
