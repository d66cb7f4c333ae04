"""The OCPP 1.6 composite-schedule rules, on hand-worked cases."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from simulator import profiles as prof
from simulator.errors import ProfileError

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)  # a Monday


def iso(t: datetime) -> str:
    return t.isoformat().replace("+00:00", "Z")


def profile(
    pid: int,
    purpose: str,
    periods: list[tuple[int, float]] | list[tuple[int, float, int]],
    *,
    stack: int = 0,
    kind: str = "Absolute",
    unit: str = "A",
    start: datetime | None = T0,
    duration: int | None = None,
    valid_from: datetime | None = None,
    valid_to: datetime | None = None,
    recurrency: str | None = None,
    tx_id: int | None = None,
) -> dict[str, Any]:
    schedule: dict[str, Any] = {
        "charging_rate_unit": unit,
        "charging_schedule_period": [
            {
                "start_period": p[0],
                "limit": Decimal(str(p[1])),
                **({"number_phases": p[2]} if len(p) > 2 else {}),
            }
            for p in periods
        ],
    }
    if start is not None and kind != "Relative":
        schedule["start_schedule"] = iso(start)
    if duration is not None:
        schedule["duration"] = duration
    data: dict[str, Any] = {
        "charging_profile_id": pid,
        "stack_level": stack,
        "charging_profile_purpose": purpose,
        "charging_profile_kind": kind,
        "charging_schedule": schedule,
    }
    for key, value in (
        ("valid_from", valid_from and iso(valid_from)),
        ("valid_to", valid_to and iso(valid_to)),
        ("recurrency_kind", recurrency),
        ("transaction_id", tx_id),
    ):
        if value is not None:
            data[key] = value
    return data


CPMAX, TXD, TX = prof.CP_MAX, prof.TX_DEFAULT, prof.TX
TX_START = T0 - timedelta(minutes=30)

# (name, installed [(connector, profile)], at, in transaction, expected A per phase, phases)
CASES = [
    ("no profile: no limit", [], T0, True, None, 3),
    ("single TxDefault", [(0, profile(1, TXD, [(0, 16)]))], T0, True, 16.0, 3),
    (
        "higher stack level wins",
        [(0, profile(1, TXD, [(0, 16)], stack=0)), (0, profile(2, TXD, [(0, 10)], stack=1))],
        T0,
        True,
        10.0,
        3,
    ),
    (
        "higher stack wins even when higher limit",
        [(0, profile(1, TXD, [(0, 10)], stack=0)), (0, profile(2, TXD, [(0, 20)], stack=3))],
        T0,
        True,
        20.0,
        3,
    ),
    (
        "TxProfile overrides TxDefault",
        [(0, profile(1, TXD, [(0, 16)], stack=5)), (1, profile(2, TX, [(0, 8)], tx_id=7))],
        T0,
        True,
        8.0,
        3,
    ),
    (
        "TxProfile ignored without a transaction",
        [(0, profile(1, TXD, [(0, 16)])), (1, profile(2, TX, [(0, 8)]))],
        T0,
        False,
        16.0,
        3,
    ),
    (
        "TxProfile of another transaction ignored",
        [(0, profile(1, TXD, [(0, 16)])), (1, profile(2, TX, [(0, 8)], tx_id=99))],
        T0,
        True,
        16.0,
        3,
    ),
    (
        "ChargePointMax caps",
        [(0, profile(1, CPMAX, [(0, 12)])), (1, profile(2, TX, [(0, 20)]))],
        T0,
        True,
        12.0,
        3,
    ),
    (
        "ChargePointMax does not raise",
        [(0, profile(1, CPMAX, [(0, 32)])), (0, profile(2, TXD, [(0, 6)]))],
        T0,
        True,
        6.0,
        3,
    ),
    (
        "periods: second period in force",
        [(0, profile(1, TXD, [(0, 16), (3600, 10), (7200, 6)]))],
        T0 + timedelta(minutes=90),
        True,
        10.0,
        3,
    ),
    (
        "past duration the next lower level applies",
        [
            (0, profile(1, TXD, [(0, 16)], stack=0)),
            (0, profile(2, TXD, [(0, 6)], stack=1, duration=600)),
        ],
        T0 + timedelta(minutes=11),
        True,
        16.0,
        3,
    ),
    (
        "before its start the next lower level applies",
        [
            (0, profile(1, TXD, [(0, 16)], stack=0)),
            (0, profile(2, TXD, [(0, 6)], stack=1, start=T0 + timedelta(hours=1))),
        ],
        T0,
        True,
        16.0,
        3,
    ),
    (
        "validTo passed: next lower level",
        [(0, profile(1, TXD, [(0, 16)])), (0, profile(2, TXD, [(0, 6)], stack=1, valid_to=T0))],
        T0,
        True,
        16.0,
        3,
    ),
    (
        "validFrom not reached: next lower level",
        [
            (0, profile(1, TXD, [(0, 16)])),
            (0, profile(2, TXD, [(0, 6)], stack=1, valid_from=T0 + timedelta(seconds=1))),
        ],
        T0,
        True,
        16.0,
        3,
    ),
    (
        "Relative runs from the transaction start",
        [(0, profile(1, TXD, [(0, 16), (1800, 8)], kind="Relative"))],
        TX_START + timedelta(minutes=29),
        True,
        16.0,
        3,
    ),
    (
        "Relative second period after 30 min of transaction",
        [(0, profile(1, TXD, [(0, 16), (1800, 8)], kind="Relative"))],
        TX_START + timedelta(minutes=30),
        True,
        8.0,
        3,
    ),
    (
        "W converted with voltage × phases",
        [(0, profile(1, TXD, [(0, 11040)], unit="W"))],
        T0,
        True,
        16.0,
        3,
    ),
    (
        "W on one phase",
        [(0, profile(1, TXD, [(0, 3680, 1)], unit="W"))],
        T0,
        True,
        16.0,
        1,
    ),
    (
        "W cap converted with the result's phases",
        [(0, profile(1, CPMAX, [(0, 7360)], unit="W")), (1, profile(2, TX, [(0, 32, 1)]))],
        T0,
        True,
        32.0,
        1,
    ),
    (
        "connector's own TxDefault beats connector 0 at the same level",
        [(0, profile(1, TXD, [(0, 16)])), (1, profile(2, TXD, [(0, 10)]))],
        T0,
        True,
        10.0,
        3,
    ),
    (
        "other connector's TxDefault does not apply",
        [(2, profile(1, TXD, [(0, 6)]))],
        T0,
        True,
        None,
        3,
    ),
    (
        "Daily recurring: next day's 08:30 is in the second period",
        [
            (
                0,
                profile(
                    1,
                    TXD,
                    [(0, 16), (1800, 6)],
                    kind="Recurring",
                    recurrency="Daily",
                    duration=3600,
                ),
            )
        ],
        T0 + timedelta(days=1, minutes=30),
        True,
        6.0,
        3,
    ),
    (
        "Daily recurring outside its daily window: no limit",
        [(0, profile(1, TXD, [(0, 6)], kind="Recurring", recurrency="Daily", duration=3600))],
        T0 + timedelta(days=2, hours=2),
        True,
        None,
        3,
    ),
    (
        "Weekly recurring: same weekday next week",
        [(0, profile(1, TXD, [(0, 7)], kind="Recurring", recurrency="Weekly", duration=3600))],
        T0 + timedelta(days=7, minutes=5),
        True,
        7.0,
        3,
    ),
    (
        "Weekly recurring: not on other days",
        [(0, profile(1, TXD, [(0, 7)], kind="Recurring", recurrency="Weekly", duration=3600))],
        T0 + timedelta(days=3, minutes=5),
        True,
        None,
        3,
    ),
]


@pytest.mark.parametrize(
    ("installed", "at", "in_tx", "expected_a", "phases"),
    [c[1:] for c in CASES],
    ids=[c[0] for c in CASES],
)
def test_composite_limit(installed, at, in_tx, expected_a, phases) -> None:
    limit = prof.composite_limit(
        installed, 1, at, TX_START if in_tx else None, 7 if in_tx else None
    )
    if expected_a is None:
        assert limit.limit_a is None
    else:
        assert limit.limit_a == pytest.approx(expected_a)
        assert limit.number_phases == phases


def test_composite_schedule_merges_and_reports_changes() -> None:
    installed = [
        (0, profile(1, CPMAX, [(0, 20)])),
        (0, profile(2, TXD, [(0, 16), (600, 16), (1200, 8)], stack=0)),
        (0, profile(3, TXD, [(0, 25)], stack=1, start=T0 + timedelta(seconds=1800), duration=600)),
    ]
    schedule = prof.composite_schedule(installed, 1, T0, 3600)
    periods = [(p["start_period"], p["limit"]) for p in schedule["charging_schedule_period"]]
    # 16 (merged 0–1200 s), 8 from 1200 s, the stack-1 profile capped at 20 from 1800 s,
    # back to 8 after its 600 s duration.
    assert periods == [(0, 16.0), (1200, 8.0), (1800, 20.0), (2400, 8.0)]
    assert schedule["charging_rate_unit"] == "A"
    watts = prof.composite_schedule(installed, 1, T0, 3600, rate_unit="W")
    assert watts["charging_schedule_period"][0]["limit"] == pytest.approx(16 * 230 * 3)


def test_composite_schedule_without_profiles_reports_hardware() -> None:
    schedule = prof.composite_schedule([], 1, T0, 600, hardware_limit_a=25.0)
    assert schedule["charging_schedule_period"] == [
        {"start_period": 0, "limit": 25.0, "number_phases": 3}
    ]


def test_composite_schedule_rounds_down_to_a_tenth() -> None:
    installed = [(0, profile(1, TXD, [(0, 10000)], unit="W"))]  # 14.49 A per phase
    schedule = prof.composite_schedule(installed, 1, T0, 600)
    assert schedule["charging_schedule_period"][0]["limit"] == 14.4


RULES = prof.ChargerRules(n_connectors=2, max_stack_level=3, allowed_units=("A",), max_periods=3)


@pytest.mark.parametrize(
    ("connector", "data", "running", "reason_part"),
    [
        (1, profile(1, TX, [(0, 16)]), {}, "no transaction"),
        (1, profile(1, TX, [(0, 16)], tx_id=5), {1: 6}, "not the running"),
        (0, profile(1, TX, [(0, 16)]), {1: 6}, "connector > 0"),
        (1, profile(1, CPMAX, [(0, 16)]), {}, "connector 0"),
        (0, profile(1, TXD, [(0, 16)], stack=4), {}, "above max"),
        (0, profile(1, TXD, [(0, 11000)], unit="W"), {}, "not allowed"),
        (0, profile(1, TXD, [(0, 16), (60, 10), (120, 8), (180, 6)]), {}, "periods"),
        (3, profile(1, TXD, [(0, 16)]), {}, "does not exist"),
        (1, profile(1, TX, [(0, 16)], tx_id=6), {1: 6}, None),
        (0, profile(1, TXD, [(0, 16)], stack=3), {}, None),
    ],
)
def test_check_new_profile(connector, data, running, reason_part) -> None:
    reason = prof.check_new_profile(
        [], connector, prof.ChargingProfile.from_dict(data), RULES, running
    )
    if reason_part is None:
        assert reason is None
    else:
        assert reason is not None and reason_part in reason


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (profile(1, CPMAX, [(0, 16)], kind="Relative"), "Relative"),
        (profile(1, TXD, [(0, 16)], start=None), "start_schedule"),
        (profile(1, TXD, [(0, 16)], kind="Recurring"), "recurrency_kind"),
        (profile(1, TXD, [(60, 16)]), "first start_period"),
        (profile(1, TXD, [(0, 16), (0, 8)]), "increase"),
        (profile(1, TXD, [(0, 16, 4)]), "number_phases"),
    ],
)
def test_malformed_profiles_are_refused(data, message) -> None:
    with pytest.raises(ProfileError, match=message):
        prof.ChargingProfile.from_dict(data)


def parsed(connector: int, data: dict[str, Any]) -> prof.InstalledProfile:
    return prof.InstalledProfile(connector, prof.ChargingProfile.from_dict(data))


def test_install_replaces_same_id_and_same_purpose_level_connector() -> None:
    installed = [parsed(0, profile(1, TXD, [(0, 16)])), parsed(1, profile(2, TXD, [(0, 10)]))]
    by_id = prof.install(
        installed, 0, prof.ChargingProfile.from_dict(profile(2, TXD, [(0, 8)], stack=2))
    )
    assert sorted((i.connector_id, i.profile.id) for i in by_id) == [(0, 1), (0, 2)]
    by_level = prof.install(installed, 0, prof.ChargingProfile.from_dict(profile(9, TXD, [(0, 8)])))
    assert sorted((i.connector_id, i.profile.id) for i in by_level) == [(0, 9), (1, 2)]


@pytest.mark.parametrize(
    ("filters", "left_ids", "removed"),
    [
        ({"profile_id": 2}, [1, 3, 4], 1),
        ({"connector_id": 0}, [3, 4], 2),
        ({"purpose": TXD}, [1, 4], 2),
        ({"purpose": TXD, "stack_level": 1}, [1, 2, 4], 1),
        ({"profile_id": 42}, [1, 2, 3, 4], 0),
        ({}, [], 4),
    ],
)
def test_clear(filters, left_ids, removed) -> None:
    installed = [
        parsed(0, profile(1, CPMAX, [(0, 32)])),
        parsed(0, profile(2, TXD, [(0, 16)], stack=0)),
        parsed(1, profile(3, TXD, [(0, 10)], stack=1)),
        parsed(1, profile(4, TX, [(0, 8)])),
    ]
    left, count = prof.clear(installed, **filters)
    assert sorted(i.profile.id for i in left) == left_ids
    assert count == removed


def test_next_change_finds_the_period_boundary() -> None:
    installed = [(0, profile(1, TXD, [(0, 16), (450, 8)]))]
    assert prof.next_change_utc(installed, T0, 3600) == T0 + timedelta(seconds=450)
    assert prof.next_change_utc(installed, T0 + timedelta(seconds=450), 3600) is None


@st.composite
def profile_sets(draw: st.DrawFn) -> list[tuple[int, dict[str, Any]]]:
    installed = []
    for pid in range(1, draw(st.integers(1, 5)) + 1):
        purpose = draw(st.sampled_from([CPMAX, TXD, TX]))
        kind = draw(st.sampled_from(["Absolute", "Relative", "Recurring"]))
        if purpose == CPMAX and kind == "Relative":
            kind = "Absolute"
        starts = sorted(draw(st.sets(st.integers(1, 7000), max_size=3)))
        periods = [(s, float(draw(st.integers(0, 64)))) for s in [0, *starts]]
        installed.append(
            (
                0 if (purpose in (CPMAX, TXD) and draw(st.booleans())) or purpose == CPMAX else 1,
                profile(
                    pid,
                    purpose,
                    periods,
                    stack=draw(st.integers(0, 3)),
                    kind=kind,
                    unit=draw(st.sampled_from(["A", "W"])),
                    start=T0 + timedelta(seconds=draw(st.integers(-7200, 7200))),
                    duration=draw(st.one_of(st.none(), st.integers(60, 9000))),
                    recurrency="Daily" if kind == "Recurring" else None,
                ),
            )
        )
    return installed


@settings(max_examples=60, deadline=None)
@given(installed=profile_sets(), probes=st.lists(st.integers(0, 10_799), min_size=1, max_size=8))
def test_composite_schedule_agrees_with_composite_limit(installed, probes) -> None:
    """Every instant of the reported composite equals the limit applied then (rounded down)."""
    schedule = prof.composite_schedule(
        installed, 1, T0, 10_800, transaction_start_utc=TX_START, transaction_id=7
    )
    periods = schedule["charging_schedule_period"]
    for offset in probes:
        period = [p for p in periods if p["start_period"] <= offset][-1]
        at = T0 + timedelta(seconds=offset)
        limit = prof.composite_limit(installed, 1, at, TX_START, 7)
        expected = 32.0 if limit.limit_a is None else min(limit.limit_a, 32.0)
        assert period["limit"] == pytest.approx(math.floor(expected * 10 + 1e-6) / 10)
        # a ChargePointMax profile in force always caps
        cap = prof.composite_limit(
            [(c, p) for c, p in installed if p["charging_profile_purpose"] == CPMAX], 1, at
        )
        if cap.limit_a is not None and limit.limit_a is not None:
            assert limit.limit_a <= cap.limit_a * 3 / limit.number_phases + 1e-9
