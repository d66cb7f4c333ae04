"""A running controller with its API on a free port, and an HTTP client for it."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from ocpp.v16 import call

from controller.api import start_api, stop_api
from controller.security import hash_secret
from tests.controller.ocpp_client import connect
from tests.controller.site_factory import running, site_config

TOKENS = {
    "viewer": ("vera", "viewer-token-0123456789"),
    "operator": ("olga", "operator-token-0123456789"),
    "utility": ("ute", "utility-token-0123456789"),
}


def auth(role: str | None) -> dict[str, str]:
    """Headers for a role's token; ``"bogus"`` a token nobody has; None no header at all."""
    if role is None:
        return {}
    if role == "bogus":
        return {"Authorization": "Bearer not-a-configured-token"}
    return {"Authorization": f"Bearer {TOKENS[role][1]}"}


def iso(dt: datetime) -> str:
    return dt.isoformat()


@dataclass
class Api:
    ctl: Any
    client: httpx.AsyncClient
    port: int

    async def audit(self, **filters: Any) -> list[dict[str, Any]]:
        answer = await self.client.get("/audit", params=filters, headers=auth("viewer"))
        assert answer.status_code == 200, answer.text
        return answer.json()

    async def cycle_for(self, reason_prefix: str, timeout_s: float = 10.0) -> Any:
        """The first cycle record with a reason starting with ``reason_prefix``."""
        loop = self.ctl.loop
        deadline = asyncio.get_running_loop().time() + timeout_s
        while True:
            for record in loop.state.history:
                if any(r.startswith(reason_prefix) for r in record.reasons):
                    return record
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"no cycle for {reason_prefix!r}")
            await asyncio.sleep(0.02)


@contextlib.asynccontextmanager
async def serving(tmp_path: Path, *, control: bool = True, **sections: Any):
    tokens = [
        {"name": name, "role": role, "token_hash": hash_secret(secret, iterations=1000)}
        for role, (name, secret) in TOKENS.items()
    ]
    sections.setdefault("control", {"debounce_s": 0.0})
    # The test starts the API itself (enabled = false keeps a controller that starts its own
    # API from binding the config's port as well).
    api = {"tokens": tokens, "enabled": False, "port": 0, **sections.pop("api", {})}
    config = site_config(f"sqlite:///{tmp_path / 'api.db'}", api=api, **sections)
    async with running(config, control=control, method="edf") as ctl:
        server, task, port = await start_api(ctl, "127.0.0.1", 0)
        try:
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
                yield Api(ctl, client, port)
        finally:
            await stop_api(server, task)


@contextlib.asynccontextmanager
async def charging_session(api: Api, charger_id: str = "CP001", *, power_w: float = 11040):
    """A real OCPP 1.6 charger with one running transaction; yields (charge point, tx id)."""
    async with connect(api.ctl.url, charger_id) as cp:
        await cp.boot()
        await asyncio.wait_for(cp.configured.wait(), 5)
        await cp.call(
            call.StatusNotification(connector_id=1, error_code="NoError", status="Preparing")
        )
        # Started an hour ago: the 2 kWh its register shows (and a meterStop of a few kWh) are
        # what a charger can deliver by now, so the controller believes them.
        started = api.ctl.clock.now() - timedelta(hours=1)
        start = await cp.call(
            call.StartTransaction(
                connector_id=1,
                id_tag="TAG1",
                meter_start=0,
                timestamp=started.isoformat(),
            ),
            suppress=False,
        )
        tx = start.transaction_id
        sampled = [
            {"value": "2000", "measurand": "Energy.Active.Import.Register", "unit": "Wh"},
            {"value": str(power_w), "measurand": "Power.Active.Import", "unit": "W"},
        ]
        await cp.call(
            call.MeterValues(
                connector_id=1,
                transaction_id=tx,
                meter_value=[
                    {
                        "timestamp": api.ctl.clock.now().isoformat(),
                        "sampled_value": sampled,
                    }
                ],
            ),
            suppress=False,
        )
        yield cp, tx


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)
