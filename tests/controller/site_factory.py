"""Build site configs and running controllers for tests."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

from controller.app import SiteController
from controller.config import SiteConfig, parse_config


def site_config(
    store_url: str,
    *,
    chargers: int | list[dict[str, Any]] = 3,
    base_dir: Path = Path(),
    **sections: Any,
) -> SiteConfig:
    data: dict[str, Any] = {
        "site": {"id": "test-site", "timezone": "Europe/Berlin", "grid_limit_kw": 100.0},
        "ocpp": {"host": "127.0.0.1", "port": 0, "heartbeat_interval_s": 60},
        "store": {"url": store_url},
        "api": {"enabled": False, "port": 0},
        "circuits": [{"id": "feeder", "limit_a": 160.0}],
        "chargers": chargers
        if isinstance(chargers, list)
        else [
            {"id": f"CP{i:03d}", "max_current_a": 32.0, "circuit": "feeder"}
            for i in range(1, chargers + 1)
        ],
    }
    for name, value in sections.items():
        if isinstance(value, dict) and isinstance(data.get(name), dict):
            data[name] = {**data[name], **value}
        else:
            data[name] = value
    return parse_config(data, source="test", base_dir=base_dir)


@contextlib.asynccontextmanager
async def running(config: SiteConfig, **kwargs: Any):
    controller = SiteController(config, **kwargs)
    port = await controller.start()
    controller.url = f"ws://127.0.0.1:{port}{config.ocpp.path_prefix}"
    try:
        yield controller
    finally:
        await controller.stop()
