"""Every write through real HTTP: it takes effect through the loop and lands in the audit log."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone

import pytest
from prometheus_client.parser import text_string_to_metric_families

from controller.store import sessions as sessions_table
from tests.controller.api.harness import auth, charging_session, serving, utc

OPERATOR, UTILITY, VIEWER = auth("operator"), auth("utility"), auth("viewer")


async def test_permanent_cap_create_change_cancel(tmp_path):
    async with serving(tmp_path) as api:
        ctl, client = api.ctl, api.client
        made = await client.post(
            "/caps", json={"kind": "permanent", "limit_kw": 60, "note": "x"}, headers=OPERATOR
        )
        assert made.status_code == 201, made.text
        cap = made.json()
        cap_id = cap["id"]
        assert (cap["kind"], cap["limit_kw"], cap["status"], cap["source"]) == (
            "permanent",
            60.0,
            "active",
            "operator",
        )
        now = ctl.clock.now()
        windows = ctl.limits.windows(now, now + timedelta(hours=1))
        assert [(w.window_id, w.limit_kw, w.end_utc) for w in windows] == [(cap_id, 60.0, None)]
        site = (await client.get("/site", headers=VIEWER)).json()
        assert (site["limit_kw"], site["limit_source"]) == (60.0, f"operator:{cap_id}")
        # The book announced it: the loop re-planned under the cap.
        record = await api.cycle_for(f"limit_changed:{cap_id}")
        assert (record.limit_kw, record.limit_source) == (60.0, f"operator:{cap_id}")

        changed = await client.put(
            f"/caps/{cap_id}", json={"kind": "permanent", "limit_kw": 45}, headers=OPERATOR
        )
        assert changed.status_code == 200 and changed.json()["limit_kw"] == 45.0
        assert (await client.get("/site", headers=VIEWER)).json()["limit_kw"] == 45.0

        gone = await client.delete(f"/caps/{cap_id}", headers=OPERATOR)
        assert gone.json()["status"] == "cancelled"
        site = (await client.get("/site", headers=VIEWER)).json()
        assert (site["limit_kw"], site["limit_source"]) == (100.0, "grid")
        assert (await client.delete(f"/caps/{cap_id}", headers=OPERATOR)).status_code == 404
        assert (
            await client.put(
                f"/caps/{cap_id}", json={"kind": "permanent", "limit_kw": 5}, headers=OPERATOR
            )
        ).status_code == 404

        audit = await api.audit(target=cap_id)
        by_action = {row["action"]: row for row in audit}
        assert set(by_action) == {"permanent.create", "permanent.update", "permanent.cancel"}
        assert all(row["actor"] == "olga" for row in audit)
        assert by_action["permanent.create"]["old_value"] is None
        assert by_action["permanent.create"]["new_value"]["limit_kw"] == 60.0
        assert by_action["permanent.update"]["old_value"]["limit_kw"] == 60.0
        assert by_action["permanent.update"]["new_value"]["limit_kw"] == 45.0
        assert by_action["permanent.cancel"]["old_value"]["cancelled_utc"] is None
        assert by_action["permanent.cancel"]["new_value"]["cancelled_utc"] is not None
        listed = (await client.get("/caps", headers=VIEWER)).json()
        assert [(c["id"], c["status"]) for c in listed] == [(cap_id, "cancelled")]


async def test_window_and_recurring_caps(tmp_path):
    async with serving(tmp_path) as api:
        ctl, client = api.ctl, api.client
        now = ctl.clock.now()
        india = timezone(timedelta(hours=5, minutes=30))
        window = {
            "kind": "window",
            "limit_kw": 40,
            "start": (now - timedelta(hours=1)).isoformat(),
            "end": (now + timedelta(hours=2)).astimezone(india).isoformat(),
        }
        made = await client.post("/caps", json=window, headers=OPERATOR)
        assert made.status_code == 201, made.text
        cap = made.json()
        # Any offset in; the same instant stored and shown in UTC.
        assert _parse(cap["end"]) == now + timedelta(hours=2)
        assert cap["end"].endswith("Z") and cap["status"] == "active"
        site = (await client.get("/site", headers=VIEWER)).json()
        assert (site["limit_kw"], site["limit_source"]) == (40.0, f"operator:{cap['id']}")

        weekday_evenings = {
            "kind": "recurring",
            "limit_kw": 60,
            "start_local": "17:00",
            "end_local": "20:00",
            "weekdays": ["mon", "tue", "wed", "thu", "fri"],
        }
        made = await client.post("/caps", json=weekday_evenings, headers=OPERATOR)
        assert made.status_code == 201, made.text
        recurring = made.json()
        assert (recurring["timezone"], recurring["weekdays"], recurring["start_local"]) == (
            "Europe/Berlin",
            [0, 1, 2, 3, 4],
            "17:00",
        )
        for monday, utc_hours in ((utc(2027, 1, 4), (16, 19)), (utc(2027, 7, 5), (15, 18))):
            windows = [
                w
                for w in ctl.limits.windows(monday, monday + timedelta(days=7))
                if w.window_id.startswith(recurring["id"])
            ]
            # Five weekday evenings, 17:00-20:00 Berlin time: CET in January, CEST in July.
            assert [w.start_utc.date() for w in windows] == [
                (monday + timedelta(days=d)).date() for d in range(5)
            ]
            assert {(w.start_utc.hour, w.end_utc.hour) for w in windows} == {utc_hours}
            assert {w.limit_kw for w in windows} == {60.0}

        limits = (await client.get("/limits", headers=VIEWER, params={"hours": 24 * 7})).json()
        assert {e["id"] for e in limits["entries"]} == {cap["id"], recurring["id"]}
        occurrences = [w for w in limits["windows"] if w["id"].startswith(recurring["id"])]
        assert len(occurrences) == 5
        assert limits["limit_kw"] == 40.0
        only = (await client.get("/limits", headers=VIEWER, params={"kind": "recurring"})).json()
        assert [e["id"] for e in only["entries"]] == [recurring["id"]]


def _parse(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


async def test_demand_response_events(tmp_path):
    async with serving(tmp_path) as api:
        ctl, client = api.ctl, api.client
        now = ctl.clock.now()
        future = {
            "id": "evt-1",
            "start": (now + timedelta(minutes=30)).isoformat(),
            "duration": "PT1H",
            "limit_kw": 30,
            "ramp_s": 600,
        }
        made = await client.post("/dr/events", json=future, headers=UTILITY)
        assert made.status_code == 201, made.text
        event = made.json()
        assert (event["id"], event["status"], event["source"], event["ramp_s"]) == (
            "evt-1",
            "scheduled",
            "rest",
            600.0,
        )
        assert _parse(event["end"]) - _parse(event["start"]) == timedelta(hours=1)
        (window,) = ctl.limits.windows(now, now + timedelta(hours=3))
        assert (window.kind, window.source, window.limit_kw, window.ramp_s) == (
            "dr",
            "rest",
            30.0,
            600.0,
        )
        again = await client.post("/dr/events", json=future, headers=UTILITY)
        assert again.status_code == 409

        active = {
            "start": (now - timedelta(minutes=1)).isoformat(),
            "end": future["start"],
            "reduction_pct": 75,
        }
        made = await client.post("/dr/events", json=active, headers=UTILITY)
        assert made.status_code == 201, made.text
        active_id = made.json()["id"]
        site = (await client.get("/site", headers=auth("utility"))).json()
        assert (site["limit_kw"], site["limit_source"]) == (25.0, f"rest:{active_id}")
        record = await api.cycle_for(f"limit_changed:{active_id}")
        assert record.limit_kw == 25.0

        changed = {**future, "limit_kw": None, "reduction_kw": 10}
        answer = await client.put("/dr/events/evt-1", json=changed, headers=UTILITY)
        assert answer.status_code == 200, answer.text
        assert (answer.json()["reduction_kw"], answer.json()["limit_kw"]) == (10.0, None)
        cancelled = await client.delete(f"/dr/events/{active_id}", headers=UTILITY)
        assert cancelled.json()["status"] == "cancelled"
        assert (await client.get("/site", headers=VIEWER)).json()["limit_kw"] == 100.0

        # Caps and events are separate: neither endpoint touches the other's entries.
        assert (await client.delete("/caps/evt-1", headers=OPERATOR)).status_code == 404
        listed = (await client.get("/dr/events", headers=auth("operator"))).json()
        assert {(e["id"], e["status"]) for e in listed} == {
            ("evt-1", "scheduled"),
            (active_id, "cancelled"),
        }
        audit = await api.audit(target="evt-1")
        assert [(r["action"], r["actor"]) for r in audit] == [
            ("dr.update", "ute"),
            ("dr.create", "ute"),
        ]
        assert audit[0]["old_value"]["limit_kw"] == 30.0
        assert audit[0]["new_value"]["reduction_kw"] == 10.0
        assert "limit_kw" not in audit[0]["new_value"]
        assert [r["action"] for r in await api.audit(target=active_id)] == [
            "dr.cancel",
            "dr.create",
        ]


async def test_events_from_other_sources_are_read_only(tmp_path):
    async with serving(tmp_path) as api:
        now = api.ctl.clock.now()
        spec = {
            "start_utc": (now + timedelta(hours=1)).isoformat(),
            "end_utc": (now + timedelta(hours=2)).isoformat(),
            "limit_kw": 20.0,
        }
        await api.ctl.limits.put("oadr-1", source="openadr", kind="dr", spec=spec, actor="ven")
        body = {"start": spec["start_utc"], "duration": 600, "limit_kw": 5}
        answer = await api.client.put("/dr/events/oadr-1", json=body, headers=UTILITY)
        assert answer.status_code == 409
        assert "openadr" in answer.json()["message"]
        assert (await api.client.delete("/dr/events/oadr-1", headers=UTILITY)).status_code == 409
        shown = (await api.client.get("/dr/events/oadr-1", headers=UTILITY)).json()
        assert (shown["source"], shown["limit_kw"]) == ("openadr", 20.0)
        assert api.ctl.limits.entries["oadr-1"].spec == spec


async def test_session_override_changes_the_next_plan(tmp_path):
    async with serving(tmp_path) as api:
        ctl, client = api.ctl, api.client
        async with charging_session(api) as (_cp, tx):
            await api.cycle_for("session_started")
            (need,) = ctl.loop.state.snapshot.needs
            session = ctl.site.sessions[tx]
            assert need.departure_utc == session.start_utc + timedelta(hours=8)  # the default
            departure = (ctl.clock.now() + timedelta(hours=3)).replace(microsecond=0)
            body = {"departure": departure.isoformat(), "energy_kwh": 12.0, "priority": 2}
            answer = await client.put(f"/sessions/{tx}/overrides", json=body, headers=OPERATOR)
            assert answer.status_code == 200, answer.text
            result = answer.json()
            assert result["previous"] == {}
            await api.cycle_for(result["replan_reason"])
            (need,) = ctl.loop.state.snapshot.needs
            assert (need.energy_kwh, need.departure_utc, need.priority) == (
                pytest.approx(10.0),
                departure,
                2.0,
            )
            (view,) = (await client.get("/sessions", headers=VIEWER)).json()
            assert (view["transaction_id"], view["energy_remaining_kwh"]) == (tx, 10.0)
            assert _parse(view["departure_utc"]) == departure
            assert view["overrides"]["energy_kwh"] == 12.0

            # Left out keeps, null removes.
            answer = await client.put(
                f"/sessions/{tx}/overrides", json={"priority": None}, headers=OPERATOR
            )
            assert answer.json()["overrides"] == {
                "departure_utc": departure.isoformat(),
                "energy_kwh": 12.0,
                "need_source": "operator",  # a car's charging needs do not replace these
            }
            past = {"departure": (ctl.clock.now() - timedelta(minutes=5)).isoformat()}
            answer = await client.put(f"/sessions/{tx}/overrides", json=past, headers=OPERATOR)
            assert answer.status_code == 422 and "departure" in answer.json()["message"]
            answer = await client.put(f"/sessions/{tx}/overrides", json={}, headers=OPERATOR)
            assert answer.status_code == 422 and "energy_kwh" in answer.json()["message"]

            audit = await api.audit(target=f"session:{tx}")
            assert [(r["action"], r["actor"]) for r in audit] == [("session.overrides", "olga")] * 2
            assert audit[0]["old_value"]["priority"] == 2.0
            assert "priority" not in audit[0]["new_value"]
            assert audit[1]["old_value"] == {}
            stored = await ctl.store.run(ctl.store.store.rows, sessions_table, transaction_id=tx)
            assert stored[0]["overrides"] == audit[0]["new_value"] == session.overrides


async def test_manual_replan_waits_for_its_cycle(tmp_path):
    async with serving(tmp_path) as api:
        answer = await api.client.post("/replan", params={"wait": True}, headers=OPERATOR)
        assert answer.status_code == 200, answer.text
        result = answer.json()
        assert result["reason"] in result["cycle"]["reasons"]
        assert result["cycle"]["method"] == "edf"
        (row,) = await api.audit(action="replan")
        assert (row["actor"], row["new_value"]["reason"]) == ("olga", result["reason"])


async def test_without_a_control_loop(tmp_path):
    async with serving(tmp_path, control=False) as api:
        assert (await api.client.get("/plan", headers=VIEWER)).status_code == 404
        assert (await api.client.post("/replan", headers=OPERATOR)).status_code == 409
        made = await api.client.post(
            "/caps", json={"kind": "permanent", "limit_kw": 70}, headers=OPERATOR
        )
        assert made.status_code == 201
        assert (await api.client.get("/site", headers=VIEWER)).json()["limit_kw"] == 70.0


async def test_reads_and_metrics_with_a_charging_session(tmp_path):
    async with serving(tmp_path) as api:
        ctl, client = api.ctl, api.client
        async with charging_session(api, power_w=11040) as (cp, tx):
            record = await api.cycle_for("session_started")
            await _until(lambda: ctl.loop.state.acks > 0)
            await _settle(ctl.loop)
            ctl.site.chargers["CP002"].non_compliant = True

            site = (await client.get("/site", headers=VIEWER)).json()
            assert (site["measured_kw"], site["measured_source"]) == (11.04, "chargers")
            assert site["headroom_kw"] == pytest.approx(100.0 - 11.04)
            (feeder,) = site["circuits"]
            # 11.04 kW over three phases at 230 V: 16 A on each.
            assert feeder["load_a"] == pytest.approx([16.0, 16.0, 16.0])
            assert feeder["headroom_a"] == pytest.approx(160.0 - 16.0)

            chargers = {c["id"]: c for c in (await client.get("/chargers", headers=VIEWER)).json()}
            cp1 = chargers["CP001"]
            assert (cp1["online"], cp1["controllable"], cp1["power_kw"]) == (True, True, 11.04)
            assert cp1["capabilities"]["max_stack_level"] == 8
            assert cp1["assigned_kw"] == ctl.loop.state.assigned_kw[tx]
            assert [c["transaction_id"] for c in cp1["connectors"] if c["connector_id"] == 1] == [
                tx
            ]
            assert chargers["CP002"]["non_compliant"] is True

            plan = (await client.get("/plan", headers=VIEWER)).json()
            assert [e["transaction_id"] for e in plan["evs"]] == [tx]
            first = plan["slots"][0]
            assert first["price_per_kwh"] == pytest.approx(0.30)
            assert first["site_kw"] == pytest.approx(first["ev_total_kw"] + first["base_load_kw"])
            assert first["ev_kw"][f"tx{tx}"] == pytest.approx(
                float(ctl.loop.state.plan.power_kw[0, 0])
            )
            assert all(s["site_kw"] <= s["limit_kw"] + 1e-6 for s in plan["slots"])

            (session,) = (await client.get("/sessions", headers=VIEWER)).json()
            assert (session["energy_kwh"], session["power_kw"]) == (2.0, 11.04)
            assert session["assigned_kw"] == ctl.loop.state.assigned_kw[tx]
            assert session["planned"] is True
            # Its energy is unknown (the default is an assumption): the plan gives it at least
            # that, and more where the site has room.
            assert session["planned_energy_kwh"] >= session["energy_remaining_kwh"] - 0.01
            one = await client.get(f"/sessions/{tx}", headers=VIEWER)
            assert one.json() == session
            assert (await client.get("/sessions/999", headers=VIEWER)).status_code == 404

            text = (await client.get("/metrics", headers=VIEWER)).text
            metrics = {
                (s.name, tuple(sorted(s.labels.items()))): s.value
                for family in text_string_to_metric_families(text)
                for s in family.samples
            }
            site_label = (("site", "test-site"),)
            assert metrics[("sitecharge_site_power_kw", site_label)] == 11.04
            assert metrics[("sitecharge_site_limit_kw", site_label)] == 100.0
            assert metrics[("sitecharge_site_headroom_kw", site_label)] == pytest.approx(88.96)
            charger_label = (("charger", "CP001"), ("site", "test-site"))
            assert metrics[("sitecharge_charger_power_kw", charger_label)] == 11.04
            # every family carries the site, so one Prometheus can scrape many sites
            assert all(dict(labels).get("site") == "test-site" for _name, labels in metrics)
            cp002 = (("charger", "CP002"), ("site", "test-site"))
            assert metrics[("sitecharge_charger_non_compliant", cp002)] == 1.0
            assert metrics[("sitecharge_non_compliant_chargers", site_label)] == 1.0
            assert metrics[("sitecharge_profile_acks_total", site_label)] == ctl.loop.state.acks
            assert metrics[("sitecharge_profile_rejections_total", site_label)] == 0.0
            last = ctl.loop.state.history[-1]
            assert metrics[("sitecharge_plan_solve_seconds", site_label)] == last.solve_s
            method = (("method", "edf"), ("site", "test-site"), ("status", last.status))
            assert metrics[("sitecharge_plan_info", method)] == 1.0
            assert record.sessions == 1
            assert cp.profiles  # the plan reached the charger


async def _settle(loop, quiet_s: float = 0.3) -> None:
    """Wait until no cycle has run for ``quiet_s`` (reads then see one plan)."""
    while True:
        cycles = loop.cycles
        await asyncio.sleep(quiet_s)
        if loop.cycles == cycles:
            return


async def _until(predicate, timeout_s: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, "condition not reached"
        await asyncio.sleep(0.02)
