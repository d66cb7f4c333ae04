"""The VEN's event handler against a running controller's LimitBook, without the network."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime, timedelta

import pytest

from controller.dr.openadr import OPT_IN, OPT_OUT, OpenAdrSource
from controller.dr.openadr_config import parse_openadr_config
from controller.store import audit_log
from controller.units import kw_from_a
from tests.controller.dr.events import event, signal
from tests.controller.site_factory import running, site_config

START = (datetime.now(UTC) + timedelta(hours=3)).replace(minute=0, second=0, microsecond=0)
TABLE = {
    "vtn_url": "http://127.0.0.1:9/OpenADR2/Simple/2.0b",
    "ven_name": "ven",
    "simple_levels_kw": {"1": 70.0, "2": 45.0, "3": 20.0},
}


@contextlib.asynccontextmanager
async def source(tmp_path, **table):
    config = site_config(f"sqlite:///{tmp_path / 's.db'}", dr={"openadr": {**TABLE, **table}})
    async with running(config, control=False) as controller:
        yield (
            controller,
            OpenAdrSource(controller, parse_openadr_config({**TABLE, **table}, config)),
        )


def specs(controller, event_id="e1"):
    return {
        e.entry_id: e.spec for e in controller.limits.active() if e.spec.get("event_id") == event_id
    }


@pytest.mark.parametrize(
    "bad",
    [
        {},
        {"event_descriptor": {"event_id": "e1"}},  # no active period
        {"event_descriptor": {"event_id": "e1", "modification_number": "x"}, "active_period": {}},
    ],
)
async def test_a_malformed_event_is_answered_opt_out_without_raising(tmp_path, bad):
    async with source(tmp_path) as (controller, ven):
        assert await ven.handle_event(bad) == OPT_OUT
        assert controller.limits.active() == []


@pytest.mark.parametrize(("act", "applied"), [(False, 0), (True, 1)])
async def test_test_events_are_acknowledged_and_applied_only_if_configured(tmp_path, act, applied):
    async with source(tmp_path, act_on_test_events=act) as (controller, ven):
        test_event = event(signal("SIMPLE", "level", [2]), start=START, test_event=True)
        assert await ven.handle_event(test_event) == OPT_IN
        assert len(specs(controller)) == applied


async def test_an_older_modification_does_not_undo_a_newer_one(tmp_path):
    async with source(tmp_path) as (controller, ven):
        newer = event(signal("SIMPLE", "level", [3]), start=START, modification_number=2)
        older = event(signal("SIMPLE", "level", [1]), start=START, modification_number=1)
        assert await ven.handle_event(newer) == OPT_IN
        assert await ven.handle_event(older) == OPT_IN
        assert {k: v["limit_kw"] for k, v in specs(controller).items()} == {"openadr:e1:0": 20.0}


async def test_an_unreadable_modification_withdraws_the_earlier_windows(tmp_path):
    async with source(tmp_path) as (controller, ven):
        first = event(signal("LOAD_DISPATCH", "setpoint", [50, 30]), start=START)
        assert await ven.handle_event(first) == OPT_IN
        assert len(specs(controller)) == 2
        broken = event(
            signal("LOAD_CONTROL", "x-loadControlCapacity", [2.0]),
            start=START,
            modification_number=1,
        )
        assert await ven.handle_event(broken) == OPT_OUT
        assert specs(controller) == {}
        assert "capacity must be a fraction" in ven.answers["e1"].reason


@pytest.mark.parametrize(
    ("percent", "expected"),
    [
        (-70.0, OPT_IN),  # 30 kW left >= 22.08 kW that CP001 may draw uncontrolled
        (-80.0, OPT_OUT),  # 20 kW left < 22.08 kW
    ],
)
async def test_reductions_are_judged_against_the_grid_connection(tmp_path, percent, expected):
    async with source(tmp_path) as (controller, ven):
        controller.site.charger("CP001").non_compliant = True
        sig = signal("LOAD_CONTROL", "x-loadControlPercentOffset", [percent])
        assert await ven.handle_event(event(sig, start=START)) == expected
        assert specs(controller)["openadr:e1:0"]["reduction_pct"] == pytest.approx(-percent)


def test_the_floor_in_the_cases_above_is_one_charger_at_full_power():
    assert kw_from_a(32.0, 3, 230.0) == pytest.approx(22.08)


async def test_an_event_already_over_is_not_judged(tmp_path):
    async with source(tmp_path) as (controller, ven):
        controller.site.charger("CP001").controllable = False
        past = START - timedelta(days=2)
        assert await ven.handle_event(event(signal("SIMPLE", "level", [3]), start=past)) == OPT_IN
        assert ven.answers["e1"].reason == "no limit ahead"


async def test_answers_are_in_the_audit_log(tmp_path):
    async with source(tmp_path) as (controller, ven):
        controller.site.charger("CP001").non_compliant = True
        ok = event(signal("SIMPLE", "level", [1]), start=START)
        assert await ven.handle_event(ok) == OPT_IN
        too_low = event(signal("SIMPLE", "level", [3]), start=START, event_id="e2")
        assert await ven.handle_event(too_low) == OPT_OUT
        rows = await controller.store.run(
            controller.store.store.rows, audit_log, actor="openadr-ven"
        )
        answers = {r["target"]: r for r in rows if r["action"].startswith("openadr.opt")}
        assert {t: r["action"] for t, r in answers.items()} == {
            "openadr:e1": "openadr.optIn",
            "openadr:e2": "openadr.optOut",
        }
        assert "below" in answers["openadr:e2"]["new_value"]["reason"]
        # The operator API shows the source's state with each answer.
        assert ven.status()["events"]["e2"]["opt"] == OPT_OUT
