"""The OCPP 1.6J central system, frame in to frame out over real sockets."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
import websockets
from ocpp.v16 import call

from controller.store import meter_values as meter_values_table
from controller.store import ocpp_messages
from tests.controller.ocpp_client import connect, meter_values
from tests.controller.site_factory import running, site_config


def iso(dt: datetime) -> str:
    return dt.isoformat().replace("+00:00", "Z")


async def wait_for(predicate, timeout_s: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.02)


async def test_full_session_state_and_database(store_url):
    config = site_config(store_url)
    async with running(config) as ctl:
        async with connect(ctl.url, "CP001") as cp:
            boot = await cp.boot()
            assert boot.status == "Accepted"
            assert boot.interval == 60
            # The controller reads the smart-charging keys and sets the sampling it needs.
            await asyncio.wait_for(cp.configured.wait(), 5)
            assert cp.config["MeterValueSampleInterval"] == "60"
            assert "Power.Active.Import" in cp.config["MeterValuesSampledData"]
            await wait_for(lambda: ctl.site.chargers["CP001"].capabilities.max_stack_level == 8)
            caps = ctl.site.chargers["CP001"].capabilities
            assert caps.allowed_rate_units == ("Current", "Power")
            assert caps.max_periods == 24

            await cp.call(
                call.StatusNotification(connector_id=0, error_code="NoError", status="Available")
            )
            await cp.call(
                call.StatusNotification(connector_id=1, error_code="NoError", status="Preparing")
            )
            auth = await cp.call(call.Authorize(id_tag="TAG1"), suppress=False)
            assert auth.id_tag_info["status"] == "Accepted"
            t0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
            start = await cp.call(
                call.StartTransaction(
                    connector_id=1, id_tag="TAG1", meter_start=1000, timestamp=iso(t0)
                ),
                suppress=False,
            )
            tx = start.transaction_id
            assert start.id_tag_info["status"] == "Accepted"
            await cp.call(
                meter_values(
                    1,
                    iso(t0 + timedelta(minutes=30)),
                    energy_wh=6500,
                    power_w=11040,
                    currents_a=(16.0, 16.0, 16.0),
                    soc=55,
                    transaction_id=tx,
                ),
                suppress=False,
            )
            session = ctl.site.sessions[tx]
            assert session.energy_kwh == pytest.approx(5.5)
            assert session.power_kw == pytest.approx(11.04)
            assert session.current_a == (16.0, 16.0, 16.0)
            assert session.soc_percent == 55
            assert ctl.site.chargers["CP001"].connectors[1].status == "Preparing"
            assert ctl.site.chargers["CP001"].connectors[0].status == "Available"

            stop = await cp.call(
                call.StopTransaction(
                    meter_stop=12000,
                    timestamp=iso(t0 + timedelta(hours=1)),
                    transaction_id=tx,
                    reason="EVDisconnected",
                    id_tag="TAG1",
                    transaction_data=[
                        {
                            "timestamp": iso(t0 + timedelta(hours=1)),
                            "sampled_value": [
                                {
                                    "value": "12.0",
                                    "measurand": "Energy.Active.Import.Register",
                                    "unit": "kWh",
                                }
                            ],
                        }
                    ],
                ),
                suppress=False,
            )
            assert stop.id_tag_info["status"] == "Accepted"
            assert tx not in ctl.site.sessions
            # A repeated StopTransaction is answered normally and changes nothing.
            again = await cp.call(
                call.StopTransaction(
                    meter_stop=99999, timestamp=iso(t0 + timedelta(hours=2)), transaction_id=tx
                ),
                suppress=False,
            )
            assert again is not None
        await ctl.store.flush()
        row = ctl.store.store.session_row(tx)
        assert row["stop_utc"] == t0 + timedelta(hours=1)
        assert row["meter_stop_wh"] == 12000
        assert row["energy_kwh"] == pytest.approx(11.0)
        assert row["stop_reason"] == "EVDisconnected"
        samples = ctl.store.store.rows(meter_values_table, transaction_id=tx)
        measurands = {s["measurand"] for s in samples}
        assert {
            "Energy.Active.Import.Register",
            "Power.Active.Import",
            "Current.Import",
            "SoC",
        } <= measurands
        power = next(s for s in samples if s["measurand"] == "Power.Active.Import")
        assert (power["value"], power["unit"]) == (pytest.approx(11.04), "kW")
        frames = ctl.store.store.rows(ocpp_messages, charger_id="CP001", limit=500)
        assert any('"BootNotification"' in f["frame"] for f in frames if f["direction"] == "in")
        assert any('"GetConfiguration"' in f["frame"] for f in frames if f["direction"] == "out")
        charger_row = next(r for r in ctl.store.store.charger_rows() if r["charger_id"] == "CP001")
        assert charger_row["vendor"] == "TestVendor"
        assert charger_row["capabilities"]["max_periods"] == 24


async def test_second_connection_replaces_the_first(tmp_path):
    config = site_config(f"sqlite:///{tmp_path / 's.db'}")
    async with running(config) as ctl:
        async with connect(ctl.url, "CP001") as first:
            await first.boot()
            first_cp = ctl.central.connections["CP001"]
            async with connect(ctl.url, "CP001") as second:
                boot = await second.boot()
                assert boot.status == "Accepted"
                await wait_for(lambda: first._connection.state.name == "CLOSED")
                assert ctl.central.connections["CP001"] is not first_cp
                assert ctl.site.chargers["CP001"].online
                heartbeat = await second.call(call.Heartbeat(), suppress=False)
                assert heartbeat.current_time
        await wait_for(lambda: not ctl.site.chargers["CP001"].online)


@pytest.mark.parametrize(
    ("path", "subprotocols", "status"),
    [
        ("/ocpp/CP001", ["ocpp2.0"], 400),
        ("/elsewhere/CP001", ["ocpp1.6"], 404),
        ("/ocpp/", ["ocpp1.6"], 404),
        ("/ocpp/NOT-LISTED", ["ocpp1.6"], 404),
    ],
)
async def test_handshake_refusals(tmp_path, path, subprotocols, status):
    config = site_config(f"sqlite:///{tmp_path / 's.db'}")
    async with running(config) as ctl:
        port = ctl.central.port
        with pytest.raises(websockets.InvalidStatus) as refused:
            async with websockets.connect(
                f"ws://127.0.0.1:{port}{path}", subprotocols=subprotocols
            ):
                pass
        assert refused.value.response.status_code == status


async def test_unknown_chargers_accepted_when_allowed(tmp_path):
    config = site_config(f"sqlite:///{tmp_path / 's.db'}", ocpp={"allow_unknown_chargers": True})
    async with running(config) as ctl:
        async with connect(ctl.url, "NEWCOMER") as cp:
            assert (await cp.boot()).status == "Accepted"
        assert "NEWCOMER" in ctl.site.chargers


async def test_basic_auth(tmp_path):
    from controller.security import hash_secret

    config = site_config(
        f"sqlite:///{tmp_path / 's.db'}",
        chargers=[
            {"id": "CP001", "max_current_a": 32, "password_hash": hash_secret("s3cret-pass")}
        ],
        circuits=[],
    )
    async with running(config) as ctl:
        async with connect(ctl.url, "CP001", password="s3cret-pass") as cp:
            assert (await cp.boot()).status == "Accepted"
        for password in ("wrong", None):
            with pytest.raises(websockets.InvalidStatus) as refused:
                async with connect(ctl.url, "CP001", password=password):
                    pass
            assert refused.value.response.status_code == 401


async def test_tls_with_basic_auth(tmp_path):
    import ssl

    from controller.security import hash_secret
    from tests.controller.tls import self_signed

    cert, key = self_signed(tmp_path)
    config = site_config(
        f"sqlite:///{tmp_path / 's.db'}",
        ocpp={"tls": {"cert_file": str(cert), "key_file": str(key)}},
        chargers=[
            {"id": "CP001", "max_current_a": 32, "password_hash": hash_secret("pw-over-tls")}
        ],
        circuits=[],
    )
    async with running(config) as ctl:
        client_ssl = ssl.create_default_context(cafile=str(cert))
        url = ctl.url.replace("ws://", "wss://").replace("127.0.0.1", "localhost")
        async with connect(url, "CP001", password="pw-over-tls", ssl=client_ssl) as cp:
            assert (await cp.boot()).status == "Accepted"
        with pytest.raises((OSError, websockets.InvalidMessage, websockets.InvalidHandshake)):
            async with websockets.connect(
                ctl.url + "/CP001", subprotocols=["ocpp1.6"], open_timeout=3
            ):
                pass


BAD_FRAMES = [
    ("not json", '[2, "raw-1", "Heartbeat", {', "raw-1", "FormationViolation"),
    ("not an array", '{"a": 1}', "-1", "FormationViolation"),
    ("unknown action", '[2, "raw-2", "FlyToTheMoon", {}]', "raw-2", "NotImplemented"),
    ("known action, not for a CS", '[2, "raw-3", "GetConfiguration", {}]', "raw-3", "NotSupported"),
    (
        "missing required field",
        '[2, "raw-4", "BootNotification", {"chargePointVendor": "V"}]',
        "raw-4",
        "OccurenceConstraintViolation",
    ),
    (
        "wrong type",
        '[2, "raw-5", "StatusNotification", {"connectorId": "one", "errorCode": "NoError", '
        '"status": "Available"}]',
        "raw-5",
        "TypeConstraintViolation",
    ),
    (
        "bad enum value",
        '[2, "raw-6", "StatusNotification", {"connectorId": 1, "errorCode": "NoError", '
        '"status": "Dancing"}]',
        "raw-6",
        "PropertyConstraintViolation",
    ),
    ("extra property", '[2, "raw-7", "Heartbeat", {"extra": 1}]', "raw-7", "FormationViolation"),
    (
        "string too long",
        '[2, "raw-8", "Authorize", {"idTag": "' + "X" * 40 + '"}]',
        "raw-8",
        "TypeConstraintViolation",
    ),
    (
        "bad timestamp",
        '[2, "raw-9", "StartTransaction", {"connectorId": 1, "idTag": "T", "meterStart": 0, '
        '"timestamp": "yesterday"}]',
        "raw-9",
        "PropertyConstraintViolation",
    ),
    (
        "non-numeric meter value",
        '[2, "raw-10", "MeterValues", {"connectorId": 1, "meterValue": '
        '[{"timestamp": "2026-01-01T00:00:00Z", "sampledValue": [{"value": "lots"}]}]}]',
        "raw-10",
        "PropertyConstraintViolation",
    ),
]


@pytest.mark.parametrize(
    ("case", "frame", "unique_id", "code"), BAD_FRAMES, ids=[c[0] for c in BAD_FRAMES]
)
async def test_bad_input_gets_the_right_callerror(tmp_path, case, frame, unique_id, code):
    config = site_config(f"sqlite:///{tmp_path / 's.db'}")
    async with running(config) as ctl:
        async with connect(ctl.url, "CP001") as cp:
            await cp.boot()
            reply = await cp.send_raw(frame)
            assert reply[0] == 4, reply
            assert reply[1] == unique_id
            assert reply[2] == code, reply
            # The connection stays open and the charger is still served.
            assert (await cp.call(call.Heartbeat(), suppress=False)).current_time
            assert ctl.site.sessions == {}


async def test_odd_but_valid_messages_are_answered_and_change_nothing(tmp_path):
    config = site_config(f"sqlite:///{tmp_path / 's.db'}")
    async with running(config) as ctl:
        async with connect(ctl.url, "CP001") as cp:
            await cp.boot()
            stop = await cp.call(
                call.StopTransaction(
                    meter_stop=5, timestamp="2026-01-01T00:00:00Z", transaction_id=424242
                ),
                suppress=False,
            )
            assert stop is not None
            reply = await cp.call(
                meter_values(
                    7, "2026-01-01T00:00:00Z", energy_wh=1, power_w=1, currents_a=(1, 1, 1)
                ),
                suppress=False,
            )
            assert reply is not None
            data = await cp.call(
                call.DataTransfer(vendor_id="com.example", message_id="x"), suppress=False
            )
            assert data.status == "UnknownVendorId"
            firmware = await cp.call(
                call.FirmwareStatusNotification(status="Downloading"), suppress=False
            )
            assert firmware is not None
            diag = await cp.call(
                call.DiagnosticsStatusNotification(status="Uploaded"), suppress=False
            )
            assert diag is not None
            assert ctl.site.chargers["CP001"].firmware_status == "Downloading"
            assert ctl.site.sessions == {}


async def test_id_tag_list_with_expiry(tmp_path):
    config = site_config(
        f"sqlite:///{tmp_path / 's.db'}",
        authorization={
            "allow_all": False,
            "id_tags": [
                {"id_tag": "GOOD", "expires": "2099-01-01T00:00:00Z"},
                {"id_tag": "OLD", "expires": "2001-01-01T00:00:00Z"},
            ],
        },
    )
    async with running(config) as ctl:
        async with connect(ctl.url, "CP001") as cp:
            await cp.boot()
            results = {}
            for tag in ("GOOD", "OLD", "STRANGER"):
                answer = await cp.call(call.Authorize(id_tag=tag), suppress=False)
                results[tag] = answer.id_tag_info["status"]
            assert results == {"GOOD": "Accepted", "OLD": "Expired", "STRANGER": "Invalid"}
            start = await cp.call(
                call.StartTransaction(
                    connector_id=1,
                    id_tag="STRANGER",
                    meter_start=0,
                    timestamp="2026-01-01T00:00:00Z",
                ),
                suppress=False,
            )
            assert start.id_tag_info["status"] == "Invalid"
            assert ctl.site.sessions == {}


async def test_restart_resumes_open_session_and_never_reuses_ids(store_url):
    config = site_config(store_url)
    t0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
    async with running(config) as ctl:
        async with connect(ctl.url, "CP001") as cp:
            await cp.boot()
            first = await cp.call(
                call.StartTransaction(connector_id=1, id_tag="A", meter_start=0, timestamp=iso(t0)),
                suppress=False,
            )
            await cp.call(
                meter_values(
                    1,
                    iso(t0 + timedelta(minutes=10)),
                    energy_wh=2000,
                    power_w=11000,
                    currents_a=(16, 16, 16),
                    transaction_id=first.transaction_id,
                )
            )
    async with running(config) as ctl:
        restored = ctl.site.sessions[first.transaction_id]
        assert restored.energy_kwh == pytest.approx(2.0)
        async with connect(ctl.url, "CP001") as cp:
            await cp.boot()
            await cp.call(
                meter_values(
                    1,
                    iso(t0 + timedelta(minutes=20)),
                    energy_wh=4000,
                    power_w=11000,
                    currents_a=(16, 16, 16),
                    transaction_id=first.transaction_id,
                )
            )
            assert restored.energy_kwh == pytest.approx(4.0)
            await cp.call(
                call.StopTransaction(
                    meter_stop=5000,
                    timestamp=iso(t0 + timedelta(minutes=30)),
                    transaction_id=first.transaction_id,
                ),
                suppress=False,
            )
            second = await cp.call(
                call.StartTransaction(
                    connector_id=1,
                    id_tag="B",
                    meter_start=0,
                    timestamp=iso(t0 + timedelta(hours=1)),
                ),
                suppress=False,
            )
            assert second.transaction_id > first.transaction_id
        row = ctl.store.store.session_row(first.transaction_id)
        assert row["energy_kwh"] == pytest.approx(5.0)


async def test_outbound_requests_return_answers_and_raise_on_errors(tmp_path):
    from controller.ocpp.errors import ChargerCallError, ChargerOffline, ChargerTimeout

    config = site_config(f"sqlite:///{tmp_path / 's.db'}", ocpp={"response_timeout_s": 3.0})
    async with running(config) as ctl:
        async with connect(ctl.url, "CP001") as cp:
            await cp.boot()
            await asyncio.wait_for(cp.configured.wait(), 5)
            requests = ctl.central.requests("CP001")
            assert (await requests.reset("Soft")).status == "Accepted"
            assert (await requests.trigger_message("Heartbeat")).status == "Accepted"
            assert (await requests.clear_charging_profile(profile_id=5)).status == "Accepted"
            # The test charger has no UnlockConnector handler: it answers with a CALLERROR.
            with pytest.raises(ChargerCallError) as error:
                await requests.unlock_connector(1)
            assert "CP001" in str(error.value) and error.value.code in (
                "NotImplemented",
                "NotSupported",
            )
            # A charger that does not answer at all.
            cp.route_map.pop("Reset")
            original = cp.route_message

            async def swallow(raw):
                if '"Reset"' not in raw:
                    await original(raw)

            cp.route_message = swallow
            with pytest.raises(ChargerTimeout):
                await requests.reset("Hard")
        await wait_for(lambda: "CP001" not in ctl.central.connections)
        with pytest.raises(ChargerOffline):
            ctl.central.requests("CP001")


async def test_two_hundred_chargers_at_once(tmp_path):
    config = site_config(f"sqlite:///{tmp_path / 's.db'}", chargers=200)
    async with running(config) as ctl:

        async def one(i: int) -> bool:
            async with connect(ctl.url, f"CP{i:03d}") as cp:
                boot = await cp.boot()
                beats = [await cp.call(call.Heartbeat(), suppress=False) for _ in range(2)]
                await asyncio.sleep(0.5)
                return boot.status == "Accepted" and all(b.current_time for b in beats)

        results = await asyncio.gather(*(one(i) for i in range(1, 201)))
        assert all(results)
        assert sum(c.booted for c in ctl.site.chargers.values()) == 200


async def test_missed_heartbeats_mark_a_charger_offline(tmp_path):
    config = site_config(f"sqlite:///{tmp_path / 's.db'}", ocpp={"heartbeat_interval_s": 10})
    async with running(config) as ctl:
        async with connect(ctl.url, "CP001") as cp:
            await cp.boot()
            state = ctl.site.chargers["CP001"]
            assert state.online
            state.last_seen_utc = ctl.clock.now() - timedelta(seconds=60)
            ctl.site.expire_silent(ctl.clock.now(), 25)
            assert not state.online
            await cp.call(call.Heartbeat())
            assert state.online
