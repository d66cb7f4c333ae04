"""The page's HTTP side over real HTTP: assets without a token, the event stream, history,
closed sessions, the DR sources' state, anonymous read-only viewing, offline docs."""

from __future__ import annotations

import asyncio
import json
import re
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from ocpp.v16 import call
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select

from controller.history import prune_history
from controller.store import site_history
from tests.controller.api.harness import auth, charging_session, serving

OPERATOR, UTILITY, VIEWER = auth("operator"), auth("utility"), auth("viewer")


async def test_page_and_assets_load_without_a_token_data_does_not(tmp_path):
    async with serving(tmp_path) as api:
        client = api.client
        page = await client.get("/")
        assert page.status_code == 200 and "text/html" in page.headers["content-type"]
        for asset in ("static/page.js", "static/page.css", "static/vendor/uPlot.iife.min.js"):
            assert asset in page.text
            assert (await client.get(f"/{asset}")).status_code == 200
        # Nothing in the page points at another host.
        assert "http://" not in page.text and "https://" not in page.text
        config = (await client.get("/page/config")).json()
        assert config == {"site_id": "test-site", "name": "test-site", "anonymous_read": False}
        for path in ("/events", "/history", "/me", "/site", "/dr"):
            assert (await client.get(path)).status_code == 401, path
        assert (await client.get("/me", headers=OPERATOR)).json() == {
            "name": "olga",
            "role": "operator",
        }


async def test_docs_are_served_from_the_package(tmp_path):
    async with serving(tmp_path) as api:
        html = (await api.client.get("/docs")).text
        assert "cdn" not in html.lower()
        for src in (
            "/static-offline-docs/swagger-ui-bundle.js",
            "/static-offline-docs/swagger-ui.css",
        ):
            assert src in html
            answer = await api.client.get(src)
            assert answer.status_code == 200 and len(answer.content) > 10_000


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


async def _next_state(lines, timeout_s: float = 10.0) -> dict:
    async def read() -> dict:
        event = None
        async for line in lines:
            if line.startswith("event:"):
                event = line.split(":", 1)[1].strip()
            elif line.startswith("data:") and event == "state":
                return json.loads(line.split(":", 1)[1])
        raise AssertionError("the stream ended")

    return await asyncio.wait_for(read(), timeout_s)


async def test_event_stream_sends_the_state_and_follows_a_cap(tmp_path):
    async with serving(tmp_path) as api, charging_session(api, power_w=11040):
        client = api.client
        async with client.stream("GET", "/events", headers=VIEWER) as stream:
            assert stream.headers["content-type"].startswith("text/event-stream")
            lines = stream.aiter_lines()
            state = await _next_state(lines)
            assert (state["site"]["measured_kw"], state["site"]["limit_kw"]) == (11.04, 100.0)
            assert [c["id"] for c in state["chargers"]] == ["CP001", "CP002", "CP003"]
            assert [s["charger_id"] for s in state["sessions"]] == ["CP001"]
            made = await client.post(
                "/caps", json={"kind": "permanent", "limit_kw": 60}, headers=OPERATOR
            )
            cap_id = made.json()["id"]
            while state["site"]["limit_kw"] != 60.0:
                state = await _next_state(lines)
            assert state["site"]["limit_source"] == f"operator:{cap_id}"
            assert [e["id"] for e in state["limits"]["entries"]] == [cap_id]
            await api.cycle_for(f"limit_changed:{cap_id}")
            plan = (await client.get("/plan", headers=VIEWER)).json()
            while state["plan"] is None or _time(state["plan"]["at_utc"]) != _time(plan["at_utc"]):
                state = await _next_state(lines)
            # Nothing changes now: the stream stays quiet (keep-alive comments only).
            with pytest.raises(TimeoutError):
                await _next_state(lines, timeout_s=2.5)
        # The page's condensed plan: the site totals, limits and prices of /plan, per slot.
        rows = [
            [s["limit_kw"], round(s["site_kw"], 3), s["price_per_kwh"], s["limit_source"]]
            for s in plan["slots"]
        ]
        assert [row[2:] for row in state["plan"]["slots"]] == rows
        assert rows[0][0] == 60.0 and rows[0][1] > 0


async def test_history_is_sampled_kept_and_paginated(tmp_path):
    async with (
        serving(tmp_path, history={"sample_s": 0.1}) as api,
        charging_session(api, power_w=11040),
    ):
        client, ctl = api.client, api.ctl
        await client.post("/caps", json={"kind": "permanent", "limit_kw": 70}, headers=OPERATOR)
        rows: list[dict] = []
        for _ in range(200):
            rows = (await client.get("/history", headers=VIEWER)).json()["rows"]
            if sum(r["limit_kw"] == 70.0 and r["measured_kw"] == 11.04 for r in rows) >= 4:
                break
            await asyncio.sleep(0.05)
        capped = [r for r in rows if r["limit_kw"] == 70.0]
        assert len(capped) >= 4, rows
        assert all(r["limit_source"].startswith("operator:cap-") for r in capped)
        assert all(r["ev_kw"] == 11.04 for r in capped if r["measured_kw"] == 11.04)
        times = [r["at_utc"] for r in rows]
        assert times == sorted(times)

        # Pages of two rows, each continuing after the last: every row once.
        start = rows[0]["at_utc"]
        end = rows[-1]["at_utc"]
        paged, params = [], {"from": start, "to": end, "limit": 2}
        while True:
            page = (await client.get("/history", params=params, headers=VIEWER)).json()
            paged.extend(r["at_utc"] for r in page["rows"])
            if page["next_from"] is None:
                break
            params["from"] = page["next_from"]
        assert paged == [t for t in times if t < end]

        assert (
            await client.get("/history", params={"from": end, "to": start}, headers=VIEWER)
        ).status_code == 422
        assert (
            await client.get("/history", params={"from": "2026-01-01T00:00:00"}, headers=VIEWER)
        ).status_code == 422  # naive times are refused

        # Retention: rows older than the cutoff go; recent ones stay.
        store = ctl.store
        now = ctl.clock.now()
        old = dict(
            at_utc=now - timedelta(days=100),
            measured_kw=1.0,
            ev_kw=1.0,
            limit_kw=100.0,
            limit_source="grid",
        )
        await store.run(store.store.insert_many, site_history, [old])
        removed = await store.run(prune_history, store.store, now - timedelta(days=90))
        assert removed == 1

        def times_kept() -> list:
            with store.store.engine.connect() as conn:
                return conn.execute(select(site_history.c.at_utc)).all()

        left = await store.run(times_kept)
        assert left and min(r[0] for r in left) > now - timedelta(days=1)
        assert ctl.history.recent and ctl.history.recent[-1].limit_kw == 70.0


async def test_closed_sessions_with_their_energy(tmp_path):
    async with serving(tmp_path) as api:
        client, ctl = api.client, api.ctl
        before = ctl.clock.now()
        txs = []
        for charger_id in ("CP001", "CP002"):
            async with charging_session(api, charger_id) as (cp, tx):
                txs.append(tx)
                stop = call.StopTransaction(
                    meter_stop=12_500,  # an hour's charging: what a 22 kW charger can deliver
                    timestamp=ctl.clock.now().isoformat(),
                    transaction_id=tx,
                    reason="EVDisconnected",
                )
                await cp.call(stop, suppress=False)
        opened = (await client.get("/sessions", headers=VIEWER)).json()
        assert opened == []
        params = {"state": "closed", "from": before.isoformat(), "limit": 1}
        first = (await client.get("/sessions", params=params, headers=VIEWER)).json()
        assert [s["transaction_id"] for s in first["sessions"]] == txs[:1]
        assert first["sessions"][0]["energy_kwh"] == 12.5
        assert first["sessions"][0]["stop_reason"] == "EVDisconnected"
        assert first["next_offset"] == 1
        params["offset"] = 1
        second = (await client.get("/sessions", params=params, headers=VIEWER)).json()
        assert [s["transaction_id"] for s in second["sessions"]] == txs[1:]
        params["offset"] = 2
        assert (await client.get("/sessions", params=params, headers=VIEWER)).json()[
            "sessions"
        ] == []
        later = {"state": "closed", "from": (ctl.clock.now() + timedelta(hours=1)).isoformat()}
        assert (await client.get("/sessions", params=later, headers=VIEWER)).status_code == 422


async def test_anonymous_read_lets_anyone_read_but_not_write(tmp_path):
    async with serving(tmp_path, api={"anonymous_read": True}) as api:
        client = api.client
        assert (await client.get("/page/config")).json()["anonymous_read"] is True
        assert (await client.get("/site")).status_code == 200
        assert (await client.get("/history")).status_code == 200
        assert (await client.get("/me")).json() == {"name": "anonymous", "role": "viewer"}
        refused = await client.post("/caps", json={"kind": "permanent", "limit_kw": 50})
        assert refused.status_code == 401
        assert (await client.post("/replan")).status_code == 401
        # A token still counts: a wrong one is refused, not treated as anonymous.
        assert (await client.get("/site", headers=auth("bogus"))).status_code == 401


async def test_dr_sources_state(tmp_path):
    async with serving(tmp_path) as api:
        assert (await api.client.get("/dr", headers=VIEWER)).json() == []
        assert (await api.client.get("/dr", headers=UTILITY)).status_code == 200


async def test_grafana_example_uses_only_metrics_the_controller_exports(tmp_path):
    dashboard = json.loads(
        (Path(__file__).parents[3] / "examples" / "grafana-dashboard.json").read_text()
    )
    exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    used = {name for e in exprs for name in re.findall(r"sitecharge_\w+", e)}
    assert all('site="$site"' in e for e in exprs)
    async with serving(tmp_path) as api, charging_session(api):
        await api.cycle_for("session_started")  # a plan exists, so the plan_* gauges are there
        text = (await api.client.get("/metrics", headers=VIEWER)).text
        (session,) = (await api.client.get("/sessions", headers=VIEWER)).json()
    # the page shows when the plan finishes each session: before its departure
    assert session["planned_energy_kwh"] > 0
    finish, departure = (_time(session[k]) for k in ("planned_finish_utc", "departure_utc"))
    assert finish <= departure
    exported = {s.name for f in text_string_to_metric_families(text) for s in f.samples}
    assert used and used <= exported, used - exported


async def test_a_restart_resumes_the_last_24_h_and_todays_cost(tmp_path):
    async with serving(tmp_path, history={"sample_s": 0.1}) as api:
        async with charging_session(api, power_w=11040):
            await api.cycle_for("session_started")
            for _ in range(400):
                if sum(s.price_per_kwh is not None for s in api.ctl.history.recent) >= 3:
                    break
                await asyncio.sleep(0.05)
        before = list(api.ctl.history.recent)
    async with serving(tmp_path, history={"sample_s": 3600}) as api:
        # Restored from the store at start (plus the first sample of this run).
        restored = list(api.ctl.history.recent)[: len(before)]
        assert [(s.at_utc, s.measured_kw, s.price_per_kwh) for s in restored] == [
            (s.at_utc, s.measured_kw, s.price_per_kwh) for s in before
        ]
        cost = api.ctl.history.cost_today()
        assert cost is not None and cost > 0
