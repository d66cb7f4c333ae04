"""Absurd API inputs are a 4xx naming the field; big bodies and floods are bounded."""

from __future__ import annotations

import pytest

from tests.controller.api.harness import auth, charging_session, serving

FAR = "9999-12-31T23:59:59-12:00"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"start": "2026-12-01T00:00:00Z", "duration": "P9999Y", "limit_kw": 30}, "duration"),
        ({"start": "2026-12-01T00:00:00Z", "duration": "P999999999D", "limit_kw": 30}, "duration"),
        ({"start": FAR, "duration": "PT1H", "limit_kw": 30}, "start"),
        ({"start": "2026-12-01T00:00:00Z", "end": FAR, "limit_kw": 30}, "end"),
    ],
)
async def test_dr_event_out_of_range_is_a_422_naming_the_field(tmp_path, body, field):
    async with serving(tmp_path) as api:
        answer = await api.client.post("/dr/events", json=body, headers=auth("utility"))
        assert answer.status_code == 422, answer.text
        assert answer.json()["message"].startswith(field), answer.text
        listed = await api.client.get("/dr/events", headers=auth("utility"))
        assert listed.json() == []


@pytest.mark.parametrize("departure", [FAR, "9999-12-31T23:59:59Z", "3000-01-01T00:00:00Z"])
async def test_override_departure_out_of_range_is_a_422(tmp_path, departure):
    async with serving(tmp_path) as api, charging_session(api) as (_cp, tx):
        answer = await api.client.put(
            f"/sessions/{tx}/overrides", json={"departure": departure}, headers=auth("operator")
        )
        assert answer.status_code == 422, answer.text
        assert answer.json()["message"].startswith("departure"), answer.text
        assert api.ctl.site.sessions[tx].overrides == {}


async def test_a_big_body_is_a_413_and_a_flood_a_429(tmp_path):
    async with serving(tmp_path, api={"requests_per_s": 0.001, "request_burst": 3}) as api:
        big = {"kind": "permanent", "limit_kw": 10, "note": "x" * 100_000}
        answer = await api.client.post("/caps", json=big, headers=auth("operator"))
        assert answer.status_code == 413
        statuses = [
            (await api.client.get("/site", headers=auth("viewer"))).status_code for _ in range(4)
        ]
        assert statuses == [200, 200, 200, 429]
        refused = await api.client.get("/site", headers=auth("viewer"))
        assert int(refused.headers["retry-after"]) >= 1
        # another client (token) is not slowed down by this one
        assert (await api.client.get("/site", headers=auth("utility"))).status_code == 200


async def test_rejected_readings_are_counted_in_metrics(tmp_path):
    from datetime import UTC, datetime

    from ocpp.v16 import call

    async with serving(tmp_path) as api, charging_session(api) as (cp, tx):
        sampled = [{"value": "1e12", "measurand": "Power.Active.Import", "unit": "W"}]
        now = datetime.now(UTC).isoformat()
        await cp.call(
            call.MeterValues(
                connector_id=1,
                transaction_id=tx,
                meter_value=[{"timestamp": now, "sampled_value": sampled}],
            ),
            suppress=False,
        )
        text = (await api.client.get("/metrics", headers=auth("viewer"))).text
        line = (
            "sitecharge_ocpp_rejected_readings_total"
            '{measurand="Power.Active.Import",site="test-site"} 1.0'
        )
        assert line in text
        assert 'sitecharge_store_dropped_rows_total{site="test-site"} 0.0' in text
        site = (await api.client.get("/site", headers=auth("viewer"))).json()
        assert "1000000" not in str(site)
