"""Who may connect: passwords with backoff, explicit auth = "none", connection limits."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import websockets
from ocpp.v16 import call

from controller.config import ConfigError, load_config
from controller.security import hash_secret
from controller.store import Store, StoreError
from tests.controller.ocpp_client import connect
from tests.controller.site_factory import running, site_config

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"


def _password_site(tmp_path: Path, **ocpp):
    chargers = [
        {
            "id": "CP001",
            "max_current_a": 32,
            "password_hash": hash_secret("right-pass", iterations=1000),
        },
        {"id": "CP002", "max_current_a": 32, "auth": "none"},
    ]
    return site_config(
        f"sqlite:///{tmp_path / 's.db'}", chargers=chargers, circuits=[], ocpp=ocpp or {}
    )


async def _status(url: str, charger_id: str, password: str | None) -> int:
    try:
        async with connect(url, charger_id, password=password):
            return 101
    except websockets.InvalidStatus as refused:
        return refused.response.status_code


async def test_repeated_failures_back_off_then_recover(tmp_path):
    config = _password_site(tmp_path, limits={"auth_free_failures": 3, "auth_backoff_max_s": 1})
    async with running(config) as ctl:
        statuses = [await _status(ctl.url, "CP001", "wrong") for _ in range(4)]
        assert statuses == [401, 401, 401, 401]  # the 4th failure starts a 1 s backoff
        refused = await _status(ctl.url, "CP001", "right-pass")
        assert refused == 429  # even the right password waits: no guessing during a backoff
        assert ctl.central.stats.refused_connections["429"] == 1
        await asyncio.sleep(1.1)
        assert await _status(ctl.url, "CP001", "right-pass") == 101


async def test_a_second_connection_for_a_password_charger_must_authenticate(tmp_path):
    async with running(_password_site(tmp_path)) as ctl:
        async with connect(ctl.url, "CP001", password="right-pass") as cp:
            await cp.boot()
            assert await _status(ctl.url + "", "CP001?x=1", None) == 401
            assert (await cp.call(call.Heartbeat(), suppress=False)).current_time
        # the charger that says auth = "none" connects without credentials
        assert await _status(ctl.url, "CP002", None) == 101


async def test_connections_per_source_are_bounded(tmp_path):
    limits = {"max_connections_per_source": 2}
    config = site_config(f"sqlite:///{tmp_path / 's.db'}", ocpp={"limits": limits})
    async with running(config) as ctl:
        async with connect(ctl.url, "CP001"), connect(ctl.url, "CP002"):
            assert await _status(ctl.url, "CP003", None) == 503
        await asyncio.sleep(0.1)
        assert await _status(ctl.url, "CP003", None) == 101


def test_a_charger_without_password_on_a_password_site_must_say_auth_none(tmp_path):
    chargers = [
        {"id": "CP001", "max_current_a": 32, "password_hash": hash_secret("x", iterations=1000)},
        {"id": "CP002", "max_current_a": 32},
    ]
    with pytest.raises(ConfigError, match=r"chargers\[1\]\.password_hash"):
        site_config(f"sqlite:///{tmp_path / 's.db'}", chargers=chargers, circuits=[])


def test_examples_load_and_the_secure_one_uses_tls_and_passwords():
    lab = load_config(EXAMPLES / "site.toml")
    secure = load_config(EXAMPLES / "site-secure.toml")
    assert lab.ocpp.tls is None
    assert secure.ocpp.tls is not None
    assert all(c.password_hash for c in secure.chargers)
    assert secure.security_warnings() == []


def test_store_errors_do_not_show_the_password():
    with pytest.raises(StoreError) as failed:
        Store("postgresql://sitecharge:very-secret-pw@127.0.0.1:1/nowhere?connect_timeout=2")
    assert "very-secret-pw" not in str(failed.value)
    assert "***" in str(failed.value)


async def test_the_frame_size_is_configurable(tmp_path):
    limits = {"max_frame_bytes": 4096}
    config = site_config(f"sqlite:///{tmp_path / 's.db'}", ocpp={"limits": limits})
    async with running(config) as ctl:
        async with connect(ctl.url, "CP001") as cp:
            await cp._connection.send(
                '[2, "big", "DataTransfer", {"vendorId": "' + "x" * 8000 + '"}]'
            )
            await cp._connection.wait_closed()
            assert cp._connection.close_code == 1009
        async with connect(ctl.url, "CP001") as cp:  # the charger may come back at once
            assert (await cp.boot()).status == "Accepted"


async def test_unlisted_chargers_are_bounded(tmp_path):
    ocpp = {"allow_unknown_chargers": True, "limits": {"max_unknown_chargers": 2}}
    config = site_config(f"sqlite:///{tmp_path / 's.db'}", ocpp=ocpp)
    async with running(config) as ctl:
        assert [await _status(ctl.url, f"NEW{i}", None) for i in range(3)] == [101, 101, 503]
        assert await _status(ctl.url, "NEW0", None) == 101  # one already known comes back
        assert await _status(ctl.url, "CP001", None) == 101  # listed ones are not counted
