"""OCPP 2.0.1 behind the same central system: frame in to frame out over real sockets, with
the ocpp package's v201 charge point as the station."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
import websockets
from ocpp.v201 import call

from tests.controller.ocpp201_client import connect_v201
from tests.controller.site_factory import running, site_config


async def wait_for(predicate, timeout_s: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.02)


def pinned(version: str | None) -> list[dict]:
    charger = {"id": "CP001", "max_current_a": 32.0, "circuit": "feeder"}
    if version is not None:
        charger["ocpp_version"] = version
    return [charger]


@pytest.mark.parametrize(
    ("version", "offered", "chosen"),
    [
        (None, ["ocpp1.6", "ocpp2.0.1"], "ocpp2.0.1"),
        (None, ["ocpp2.0.1"], "ocpp2.0.1"),
        (None, ["ocpp1.6"], "ocpp1.6"),
        ("1.6", ["ocpp2.0.1", "ocpp1.6"], "ocpp1.6"),
        ("2.0.1", ["ocpp1.6", "ocpp2.0.1"], "ocpp2.0.1"),
    ],
)
async def test_subprotocol_negotiation(tmp_path, version, offered, chosen):
    config = site_config(f"sqlite:///{tmp_path / 's.db'}", chargers=pinned(version))
    async with running(config, control=False) as ctl:
        async with websockets.connect(f"{ctl.url}/CP001", subprotocols=offered) as ws:
            assert ws.subprotocol == chosen
            await wait_for(lambda: "CP001" in ctl.central.connections)
            assert ctl.site.chargers["CP001"].ocpp_version == chosen.removeprefix("ocpp")


@pytest.mark.parametrize(
    ("version", "offered"),
    [("1.6", ["ocpp2.0.1"]), ("2.0.1", ["ocpp1.6"]), (None, ["ocpp2.0"]), (None, [])],
)
async def test_a_version_not_allowed_gets_400(tmp_path, caplog, version, offered):
    config = site_config(f"sqlite:///{tmp_path / 's.db'}", chargers=pinned(version))
    async with running(config, control=False) as ctl:
        with pytest.raises(websockets.InvalidStatus) as refused:
            async with websockets.connect(f"{ctl.url}/CP001", subprotocols=offered or None):
                pass
        assert refused.value.response.status_code == 400
        assert b"CP001 may speak" in refused.value.response.body
    assert any("CP001: connection refused" in r.getMessage() for r in caplog.records)


T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)


async def test_whole_transaction_and_the_store(store_url, caplog):
    config = site_config(store_url)
    async with running(config, control=False) as ctl:
        async with connect_v201(ctl.url, "CP001") as st:
            boot = await st.boot()
            assert (boot.status, boot.interval) == ("Accepted", 60)
            # After the boot the controller reads the device model and sets the sampling.
            await asyncio.wait_for(st.configured.wait(), 10)
            assert st.variables["SampledDataCtrlr.TxUpdatedInterval"] == "60"
            assert "Power.Active.Import" in st.variables["SampledDataCtrlr.TxUpdatedMeasurands"]
            await wait_for(lambda: ctl.site.chargers["CP001"].capabilities.max_periods == 24)
            caps = ctl.site.chargers["CP001"].capabilities
            assert (caps.max_stack_level, caps.allowed_rate_units) == (8, ("A", "W"))
            assert caps.max_profiles_installed == 10

            await st.status(1, "Occupied", T0)
            assert ctl.site.chargers["CP001"].connectors[1].status == "Occupied"
            auth = await st.call(
                call.Authorize(id_token={"id_token": "TAG1", "type": "ISO14443"}), suppress=False
            )
            assert auth.id_token_info["status"] == "Accepted"
            tx = "a2c4-0001-station-chosen-id"
            started = await st.event(
                "Started",
                tx,
                T0,
                energy_wh=1000,
                state="EVConnected",
                id_token="TAG1",
                context="Transaction.Begin",
                trigger_reason="Authorized",
            )
            assert started.id_token_info["status"] == "Accepted"
            (session,) = ctl.site.sessions.values()
            assert session.ocpp_transaction_id == tx
            assert (session.charger_id, session.connector_id, session.id_tag) == (
                "CP001",
                1,
                "TAG1",
            )
            assert session.meter_start_wh == 1000
            await st.event(
                "Updated",
                tx,
                T0 + timedelta(minutes=30),
                energy_wh=6500,
                power_w=11040,
                state="Charging",
                number_of_phases_used=3,
            )
            assert session.energy_kwh == pytest.approx(5.5)
            assert session.power_kw == pytest.approx(11.04)
            assert session.phases_used == 3
            assert ctl.site.chargers["CP001"].connectors[1].status == "Charging"
            # A lost event: seqNo jumps from 1 to 3; logged, and the session carries on.
            await st.event("Updated", tx, T0 + timedelta(minutes=40), seq_no=3, energy_wh=8000)
            assert any("1 event(s) missing" in r.getMessage() for r in caplog.records)
            await st.call(
                call.MeterValues(
                    evse_id=1,
                    meter_value=[
                        {
                            "timestamp": "2026-03-01T08:45:00Z",
                            "sampled_value": [
                                {
                                    "value": 9.0,
                                    "measurand": "Energy.Active.Import.Register",
                                    "unit_of_measure": {"unit": "kWh"},
                                },
                                {
                                    "value": 7.2,
                                    "measurand": "Power.Active.Import",
                                    "unit_of_measure": {"unit": "W", "multiplier": 3},
                                },
                            ],
                        }
                    ],
                ),
                suppress=False,
            )
            assert session.energy_kwh == pytest.approx(8.0)
            assert session.power_kw == pytest.approx(7.2)
            internal = session.transaction_id
            await st.event(
                "Ended",
                tx,
                T0 + timedelta(hours=1),
                energy_wh=12000,
                context="Transaction.End",
                trigger_reason="EVCommunicationLost",
            )
            assert ctl.site.sessions == {}
            # A repeated Ended is answered and changes nothing.
            await st.event("Ended", tx, T0 + timedelta(hours=2), energy_wh=99999)
        await ctl.store.flush()
        row = ctl.store.store.session_row(internal)
        assert row["ocpp_transaction_id"] == tx
        assert row["stop_utc"] == T0 + timedelta(hours=1)
        assert row["meter_stop_wh"] == 12000
        assert row["energy_kwh"] == pytest.approx(11.0)
        assert row["stop_reason"] == "EVDisconnected"


BAD_FRAMES_V201 = [
    ("not json", '[2, "raw-1", "Heartbeat", {', "raw-1", "RpcFrameworkError"),
    ("not an array", '{"a": 1}', "-1", "RpcFrameworkError"),
    ("unknown message type", '[7, "raw-12", "Heartbeat", {}]', "raw-12", "MessageTypeNotSupported"),
    ("unknown action", '[2, "raw-2", "FlyToTheMoon", {}]', "raw-2", "NotImplemented"),
    ("known action, not for a CSMS", '[2, "raw-3", "GetVariables", {}]', "raw-3", "NotSupported"),
    (
        "missing required field",
        '[2, "raw-4", "BootNotification", {"chargingStation": {"model": "M", "vendorName": "V"}}]',
        "raw-4",
        "OccurrenceConstraintViolation",
    ),
    (
        "wrong type",
        '[2, "raw-5", "StatusNotification", {"timestamp": "2026-01-01T00:00:00Z", '
        '"connectorStatus": "Available", "evseId": "one", "connectorId": 1}]',
        "raw-5",
        "TypeConstraintViolation",
    ),
    (
        "bad enum value",
        '[2, "raw-6", "StatusNotification", {"timestamp": "2026-01-01T00:00:00Z", '
        '"connectorStatus": "Dancing", "evseId": 1, "connectorId": 1}]',
        "raw-6",
        "PropertyConstraintViolation",
    ),
    ("extra property", '[2, "raw-7", "Heartbeat", {"extra": 1}]', "raw-7", "FormatViolation"),
    ("payload not an object", '[2, "raw-11", "Heartbeat", []]', "raw-11", "FormatViolation"),
    (
        "string too long",
        '[2, "raw-8", "Authorize", {"idToken": {"idToken": "' + "X" * 40 + '", "type": "Local"}}]',
        "raw-8",
        "TypeConstraintViolation",
    ),
    (
        "bad timestamp",
        '[2, "raw-9", "TransactionEvent", {"eventType": "Started", "timestamp": "yesterday", '
        '"triggerReason": "Authorized", "seqNo": 0, "transactionInfo": {"transactionId": "T1"}}]',
        "raw-9",
        "PropertyConstraintViolation",
    ),
    (
        "non-numeric meter value",
        '[2, "raw-10", "MeterValues", {"evseId": 1, "meterValue": '
        '[{"timestamp": "2026-01-01T00:00:00Z", "sampledValue": [{"value": "lots"}]}]}]',
        "raw-10",
        "TypeConstraintViolation",
    ),
]


@pytest.mark.parametrize(
    ("case", "frame", "unique_id", "code"), BAD_FRAMES_V201, ids=[c[0] for c in BAD_FRAMES_V201]
)
async def test_bad_input_gets_the_2_0_1_callerror(tmp_path, case, frame, unique_id, code):
    config = site_config(f"sqlite:///{tmp_path / 's.db'}")
    async with running(config, control=False) as ctl:
        async with connect_v201(ctl.url, "CP001") as st:
            await st.boot()
            reply = await st.send_raw(frame)
            assert reply[0] == 4, reply
            assert reply[1] == unique_id
            assert reply[2] == code, reply
            # The connection stays open and the station is still served.
            assert (await st.call(call.Heartbeat(), suppress=False)).current_time
            assert ctl.site.sessions == {}


async def _started(ctl, st, tx: str, at: datetime):
    await st.event("Started", tx, at, energy_wh=0, id_token="TAG1", trigger_reason="Authorized")
    return next(s for s in ctl.site.sessions.values() if s.ocpp_transaction_id == tx)


async def test_outbound_requests_through_the_same_api(tmp_path):
    from controller.ocpp.errors import ChargerRequestError
    from controller.ocpp.profiles import tx_default_profile, tx_profile

    config = site_config(f"sqlite:///{tmp_path / 's.db'}")
    async with running(config, control=False) as ctl:
        async with connect_v201(ctl.url, "CP001") as st:
            st.variables["SmartChargingCtrlr.PeriodsPerSchedule"] = "3"
            st.variables["SmartChargingCtrlr.ProfileStackLevel"] = "0"
            st.variables["SmartChargingCtrlr.RateUnit"] = "W"
            await st.boot()
            await asyncio.wait_for(st.configured.wait(), 10)
            await wait_for(lambda: ctl.site.chargers["CP001"].capabilities.max_periods == 3)
            session = await _started(ctl, st, "TX-77", T0)
            caps = ctl.site.chargers["CP001"].capabilities
            requests = ctl.central.requests("CP001")
            # The loop's own profile, 1.6-shaped, with the internal transaction id.
            profile = tx_profile(
                transaction_id=session.transaction_id,
                connector_id=1,
                power_kw=[11.0, 7.0, 9.0, 4.0, 6.0],
                start_utc=T0,
                durations_s=[900] * 5,
                phases=3,
                voltage_v=230.0,
                capabilities=caps,
                valid_for_s=1800,
            )
            answer = await requests.set_charging_profile(1, profile)
            assert answer.status == "Accepted"
            sent = st.profiles[-1]
            assert sent["evse_id"] == 1
            assert sent["charging_profile_purpose"] == "TxProfile"
            assert sent["transaction_id"] == "TX-77"
            assert sent["stack_level"] == 0
            (schedule,) = sent["charging_schedule"]
            assert schedule["id"] == sent["id"]
            assert schedule["charging_rate_unit"] == "W"
            limits = [p["limit"] for p in schedule["charging_schedule_period"]]
            # Three periods at most; the last is the lowest of the rest, never a raise.
            assert limits == [11000.0, 7000.0, 4000.0]

            station_max = tx_default_profile(
                current_a=16, phases=3, voltage_v=230, capabilities=caps, start_utc=T0
            )
            station_max["charging_profile_purpose"] = "ChargePointMaxProfile"
            station_max["charging_profile_id"] = 2
            await requests.set_charging_profile(0, station_max)
            assert st.profiles[-1]["evse_id"] == 0
            assert st.profiles[-1]["charging_profile_purpose"] == "ChargingStationMaxProfile"

            await requests.clear_charging_profile(connector_id=1, purpose="ChargePointMaxProfile")
            await requests.get_composite_schedule(1, 3600, "A")
            await requests.remote_start_transaction("TAG9", 1)
            await requests.remote_stop_transaction(session.transaction_id)
            await requests.trigger_message("StatusNotification", 1)
            await requests.change_availability(1, "Inoperative")
            await requests.reset("Hard")
            await requests.unlock_connector(1)
            assert (await requests.get_charging_profiles(1)).status == "NoProfiles"
            assert (await requests.get_base_report()).status == "Accepted"
            got = dict(st.received)
            assert got["ClearChargingProfile"]["charging_profile_criteria"] == {
                "evse_id": 1,
                "charging_profile_purpose": "ChargingStationMaxProfile",
            }
            assert got["GetCompositeSchedule"] == {"duration": 3600, "evse_id": 1}
            assert got["RequestStartTransaction"]["id_token"]["id_token"] == "TAG9"
            assert got["RequestStopTransaction"] == {"transaction_id": "TX-77"}
            assert got["TriggerMessage"]["evse"] == {"id": 1, "connector_id": 1}
            assert got["ChangeAvailability"]["operational_status"] == "Inoperative"
            assert got["Reset"] == {"type": "Immediate"}
            assert got["UnlockConnector"] == {"evse_id": 1, "connector_id": 1}
            assert got["GetChargingProfiles"]["evse_id"] == 1
            assert got["GetBaseReport"] == {"report_base": "FullInventory"}
            # A TxProfile for a transaction the site does not know is not sent.
            with pytest.raises(ChargerRequestError):
                await requests.set_charging_profile(1, {**profile, "transaction_id": 999_999})


async def test_a_station_that_rejects_variables_and_profiles(tmp_path):
    config = site_config(f"sqlite:///{tmp_path / 's.db'}", control={"debounce_s": 0})
    async with running(config) as ctl:
        async with connect_v201(ctl.url, "CP001") as st:
            st.reject_variables = {
                "SampledDataCtrlr.TxUpdatedInterval",
                "SampledDataCtrlr.TxUpdatedMeasurands",
            }
            del st.variables["SmartChargingCtrlr.PeriodsPerSchedule"]  # lacks a variable
            st.profile_status = "Rejected"
            await st.boot()
            # Still configured with what it has, and ready: the loop sends its standing default,
            # which the station rejects, so the charger counts as uncontrollable.
            await wait_for(lambda: ctl.site.chargers["CP001"].capabilities.raw)
            await wait_for(lambda: st.profiles)
            assert st.profiles[0]["charging_profile_purpose"] == "TxDefaultProfile"
            assert st.profiles[0]["evse_id"] == 0
            await wait_for(lambda: not ctl.site.chargers["CP001"].controllable)
            caps = ctl.site.chargers["CP001"].capabilities
            assert caps.max_periods is None
            assert caps.meter_values_sampled_data == "Energy.Active.Import.Register"
            assert caps.meter_value_sample_interval_s == 300
            tried = [v["value"] for k, v in st.received if k == "SetVariables"]
            assert len(tried) == 3  # the interval, the measurands, the fallback measurands


def _energy_by_kwh(profile: dict, until: datetime, phases: int = 3, voltage_v: float = 230.0):
    """The energy a profile allows from its start until ``until`` [kWh]."""
    (schedule,) = profile["charging_schedule"]
    start = datetime.fromisoformat(schedule["start_schedule"].replace("Z", "+00:00"))
    end_s = min((until - start).total_seconds(), float(schedule.get("duration", 1e9)))
    periods = schedule["charging_schedule_period"]
    total = 0.0
    for i, period in enumerate(periods):
        a = period["start_period"]
        b = periods[i + 1]["start_period"] if i + 1 < len(periods) else end_s
        b = min(b, end_s)
        if b > a:
            kw = period["limit"] * phases * voltage_v / 1000.0
            if schedule["charging_rate_unit"] == "W":
                kw = period["limit"] / 1000.0
            total += kw * (b - a) / 3600.0
    return total


async def test_charging_needs_set_departure_and_energy_and_a_txprofile_follows(tmp_path):
    from tests.controller.api.harness import auth, serving

    async with serving(tmp_path) as api:
        ctl = api.ctl
        async with connect_v201(ctl.url, "CP001") as st:
            await st.boot()
            await wait_for(lambda: ctl.site.chargers["CP001"].capabilities.raw)
            now = ctl.clock.now()
            # Started an hour ago: 2 kWh by now is what the charger can deliver.
            session = await _started(ctl, st, "EV-NEEDS-1", now - timedelta(hours=1))
            await st.event("Updated", "EV-NEEDS-1", now, energy_wh=2000, power_w=11000)
            (view,) = (await api.client.get("/sessions", headers=auth("viewer"))).json()
            assert view["need_source"] == "default"
            assert view["ocpp_transaction_id"] == "EV-NEEDS-1"
            sent_before = len(st.profiles)
            departure = (now + timedelta(hours=1, minutes=30)).replace(microsecond=0)
            answer = await st.call(
                call.NotifyEVChargingNeeds(
                    evse_id=1,
                    charging_needs={
                        "requested_energy_transfer": "AC_three_phase",
                        "departure_time": departure.isoformat().replace("+00:00", "Z"),
                        "ac_charging_parameters": {
                            "energy_amount": 18000,
                            "ev_min_current": 6,
                            "ev_max_current": 32,
                            "ev_max_voltage": 400,
                        },
                    },
                ),
                suppress=False,
            )
            assert answer.status == "Accepted"
            assert session.overrides == {
                "departure_utc": departure.isoformat(),
                "energy_kwh": 20.0,  # 2 kWh delivered + the 18 kWh the car still wants
                "need_source": "car",
            }
            # The next plan honours it, and its TxProfile names the station's transaction.
            record = await api.cycle_for("session_needs")
            assert record.sessions == 1
            (need,) = ctl.loop.state.snapshot.needs
            assert need.departure_utc == departure
            assert need.energy_kwh == pytest.approx(18.0)

            def honoured() -> list[dict]:
                # A cycle already under way may send a profile from the plan before the needs.
                # Within 10 %: limits are rounded down to 0.1 A and raises start a little late
                # (the default need's plan gave about 6 kWh by then).
                return [
                    p
                    for p in st.profiles[sent_before:]
                    if p["charging_profile_purpose"] == "TxProfile"
                    and _energy_by_kwh(p, departure) >= 18.0 * 0.9
                ]

            await wait_for(lambda: honoured())
            assert honoured()[-1]["transaction_id"] == "EV-NEEDS-1"
            (view,) = (await api.client.get("/sessions", headers=auth("viewer"))).json()
            assert view["need_source"] == "car"
            assert datetime.fromisoformat(view["departure_utc"]) == departure
        # Needs for an EVSE without a transaction are rejected.
        async with connect_v201(ctl.url, "CP002") as other:
            await other.boot()
            answer = await other.call(
                call.NotifyEVChargingNeeds(
                    evse_id=1, charging_needs={"requested_energy_transfer": "DC"}
                ),
                suppress=False,
            )
            assert answer.status == "Rejected"


async def test_reconnect_and_restart_with_an_open_transaction(store_url, caplog):
    caplog.set_level("INFO", logger="controller.ocpp.v201_handlers")
    config = site_config(store_url)
    async with running(config, control=False) as ctl:
        async with connect_v201(ctl.url, "CP001") as st:
            await st.boot()
            session = await _started(ctl, st, "TX-R", T0)
            internal = session.transaction_id
            await st.event("Updated", "TX-R", T0 + timedelta(minutes=10), energy_wh=3000)
        # Back without a boot: the same session carries on.
        async with connect_v201(ctl.url, "CP001") as st:
            st.seq_no = 2
            await st.event("Updated", "TX-R", T0 + timedelta(minutes=20), energy_wh=4000)
            assert list(ctl.site.sessions) == [internal]
            assert ctl.site.sessions[internal].energy_kwh == pytest.approx(4.0)
    async with running(config, control=False) as ctl:  # the controller restarts
        restored = ctl.site.sessions[internal]
        assert restored.ocpp_transaction_id == "TX-R"
        async with connect_v201(ctl.url, "CP001") as st:
            # Events the station queued while the controller was away, in order.
            st.seq_no = 3
            await st.event(
                "Updated", "TX-R", T0 + timedelta(minutes=30), energy_wh=5000, offline=True
            )
            await st.event(
                "Ended",
                "TX-R",
                T0 + timedelta(minutes=40),
                energy_wh=6000,
                context="Transaction.End",
                offline=True,
            )
            assert ctl.site.sessions == {}
            assert any("queued offline" in r.getMessage() for r in caplog.records)
            later = await _started(ctl, st, "TX-S", T0 + timedelta(hours=1))
            assert later.transaction_id > internal  # internal ids are never reused
        await ctl.store.flush()
        row = ctl.store.store.session_row(internal)
        assert row["energy_kwh"] == pytest.approx(6.0)
        assert row["stop_utc"] == T0 + timedelta(minutes=40)
        assert row["ocpp_transaction_id"] == "TX-R"


async def test_an_event_for_an_unknown_transaction_opens_it_and_a_rejected_token_does_not(
    tmp_path,
):
    config = site_config(
        f"sqlite:///{tmp_path / 's.db'}",
        authorization={"allow_all": False, "id_tags": [{"id_tag": "GOOD"}]},
    )
    async with running(config, control=False) as ctl:
        async with connect_v201(ctl.url, "CP001") as st:
            await st.boot()
            # The Started event was lost: the first Updated opens the session.
            await st.event("Updated", "TX-LOST-START", T0, evse_id=2, energy_wh=500, seq_no=4)
            (session,) = ctl.site.sessions.values()
            assert (session.ocpp_transaction_id, session.connector_id) == ("TX-LOST-START", 2)
            answer = await st.event("Started", "TX-BAD", T0, id_token="STRANGER")
            assert answer.id_token_info["status"] == "Invalid"
            await st.event("Updated", "TX-BAD", T0 + timedelta(minutes=1), energy_wh=100)
            assert [s.ocpp_transaction_id for s in ctl.site.sessions.values()] == ["TX-LOST-START"]


async def test_a_limit_the_station_reports_constrains_the_plan(tmp_path):
    from tests.controller.api.harness import auth, serving

    async with serving(tmp_path) as api:
        ctl = api.ctl
        async with connect_v201(ctl.url, "CP001") as st:
            await st.boot()
            await wait_for(lambda: ctl.site.chargers["CP001"].capabilities.raw)
            now = ctl.clock.now()
            session = await _started(ctl, st, "TX-LIM", now)
            await api.cycle_for("session_started")
            (need,) = ctl.loop.state.snapshot.needs
            assert need.max_kw == pytest.approx(32 * 3 * 230 / 1000)
            sent_before = len(st.profiles)
            await st.call(
                call.NotifyChargingLimit(
                    charging_limit={"charging_limit_source": "EMS", "is_grid_critical": False},
                    evse_id=1,
                    charging_schedule=[
                        {
                            "id": 1,
                            "charging_rate_unit": "A",
                            "charging_schedule_period": [{"start_period": 0, "limit": 10.0}],
                        }
                    ],
                ),
                suppress=False,
            )
            assert session.external_limit_kw == pytest.approx(6.9)
            chargers = (await api.client.get("/chargers", headers=auth("viewer"))).json()
            (view,) = [c for c in chargers if c["id"] == "CP001"]
            assert view["ocpp_version"] == "2.0.1"
            assert view["reported_limits"]["1"]["limit"]["charging_limit_source"] == "EMS"
            await api.cycle_for("session_needs")
            await wait_for(lambda: ctl.loop.state.snapshot.needs[0].max_kw == pytest.approx(6.9))

            def capped() -> bool:  # a TxProfile within the station's 10 A
                for p in st.profiles[sent_before:]:
                    if p["charging_profile_purpose"] == "TxProfile":
                        (schedule,) = p["charging_schedule"]
                        periods = schedule["charging_schedule_period"]
                        if max(x["limit"] for x in periods) <= 10.0:
                            return True
                return False

            await wait_for(capped)
            await st.call(
                call.ClearedChargingLimit(charging_limit_source="EMS", evse_id=1), suppress=False
            )
            assert session.external_limit_kw is None
            full_kw = 32 * 3 * 230 / 1000
            await wait_for(lambda: ctl.loop.state.snapshot.needs[0].max_kw == full_kw)


async def test_basic_auth_for_a_2_0_1_station(tmp_path):
    import base64

    from controller.security import hash_secret

    config = site_config(
        f"sqlite:///{tmp_path / 's.db'}",
        chargers=[{"id": "CP001", "max_current_a": 32, "password_hash": hash_secret("pw-201")}],
        circuits=[],
    )

    def headers(password: str) -> dict[str, str]:
        return {"Authorization": "Basic " + base64.b64encode(f"CP001:{password}".encode()).decode()}

    async with running(config, control=False) as ctl:
        async with websockets.connect(
            f"{ctl.url}/CP001", subprotocols=["ocpp2.0.1"], additional_headers=headers("pw-201")
        ) as ws:
            assert ws.subprotocol == "ocpp2.0.1"
        with pytest.raises(websockets.InvalidStatus) as refused:
            async with websockets.connect(
                f"{ctl.url}/CP001", subprotocols=["ocpp2.0.1"], additional_headers=headers("no")
            ):
                pass
        assert refused.value.response.status_code == 401


async def test_firmware_and_logs_the_same_way_on_both_versions(tmp_path):
    from tests.controller.ocpp_client import connect

    config = site_config(f"sqlite:///{tmp_path / 's.db'}")
    url = "https://files.example/fw-2.bin"
    async with running(config, control=False) as ctl:
        async with connect(ctl.url, "CP001") as old, connect_v201(ctl.url, "CP002") as new:
            await old.boot()
            await new.boot()
            for charger_id in ("CP001", "CP002"):
                requests = ctl.central.requests(charger_id)
                await requests.update_firmware(url, T0)
                await requests.upload_log("ftp://logs.example/")
            assert dict(old.received)["UpdateFirmware"] == {"location": url}
            assert dict(old.received)["GetDiagnostics"] == {"location": "ftp://logs.example/"}
            assert dict(new.received)["UpdateFirmware"] == {"location": url}
            assert dict(new.received)["GetLog"]["location"] == "ftp://logs.example/"
            await new.call(
                call.FirmwareStatusNotification(status="Downloading", request_id=1),
                suppress=False,
            )
            assert ctl.site.chargers["CP002"].firmware_status == "Downloading"


@pytest.fixture(autouse=True)
async def _stacks_if_stuck():
    """Print every task's stack if a test here runs for over a minute (a hang shows where)."""
    import sys

    async def dump() -> None:
        await asyncio.sleep(60)
        for task in asyncio.all_tasks():
            print(f"--- {task.get_name()}", file=sys.stderr)
            task.print_stack(file=sys.stderr)

    watcher = asyncio.create_task(dump())
    yield
    watcher.cancel()
