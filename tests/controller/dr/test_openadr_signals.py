"""OpenADR events -> limit windows: every limiting signal type, interval timing, refusals."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from openleadr import objects
from openleadr.messaging import create_message, parse_message

from controller.dr import SignalError
from controller.dr.openadr_signals import SignalSettings, event_limits
from controller.limit_book import Entry, windows_of
from tests.controller.dr.events import T0, event, signal

SIMPLE_MAP = {1: 80.0, 2: 50.0, 3: 20.0}
OFFSET_MAP = {1: 70.0, 2: 40.0, -1: 90.0}


def settings(**overrides) -> SignalSettings:
    values = {
        "grid_limit_kw": 100.0,
        "simple_levels_kw": SIMPLE_MAP,
        "level_offsets_kw": OFFSET_MAP,
        "default_power_unit": "kW",
        "percent_offset_reduces": "negative",
    }
    return SignalSettings(**{**values, **overrides})


# (signal, settings overrides, expected [(interval uid, limit_kw, reduction_pct)])
CASES = [
    pytest.param(signal("LOAD_DISPATCH", "setpoint", [50]), {}, [(0, 50.0, None)], id="kw"),
    pytest.param(
        signal("LOAD_DISPATCH", "setpoint", [50_000], measurement={"unit": "W", "scale": "none"}),
        {},
        [(0, 50.0, None)],
        id="watts",
    ),
    pytest.param(
        signal("LOAD_DISPATCH", "setpoint", [45], measurement={"unit": "W", "scale": "k"}),
        {},
        [(0, 45.0, None)],
        id="kilo-watts-by-scale",
    ),
    pytest.param(
        signal("LOAD_DISPATCH", "setpoint", [0.06], measurement={"unit": "W", "scale": "M"}),
        {},
        [(0, 60.0, None)],
        id="mega-watts",
    ),
    pytest.param(
        signal("LOAD_DISPATCH", "setpoint", [30_000]),
        {"default_power_unit": "W"},
        [(0, 30.0, None)],
        id="default-unit-watts",
    ),
    pytest.param(
        signal("LOAD_CONTROL", "x-loadControlCapacity", [0.4, 0.25, 1.0]),
        {},
        [(0, 40.0, None), (1, 25.0, None), (2, 100.0, None)],
        id="capacity-fraction-of-grid",
    ),
    pytest.param(
        signal("LOAD_CONTROL", "x-loadControlSetpoint", [30, 35]),
        {},
        [(0, 30.0, None), (1, 35.0, None)],
        id="load-control-setpoint",
    ),
    pytest.param(
        signal("LOAD_CONTROL", "x-loadControlPercentOffset", [-25, 10, 0]),
        {},
        [(0, None, 25.0)],
        id="percent-negative-reduces",
    ),
    pytest.param(
        signal("LOAD_CONTROL", "x-loadControlPercentOffset", [25, -10]),
        {"percent_offset_reduces": "positive"},
        [(0, None, 25.0)],
        id="percent-positive-reduces",
    ),
    pytest.param(
        signal("LOAD_CONTROL", "x-loadControlLevelOffset", [1, 2, 0, -1]),
        {},
        [(0, 70.0, None), (1, 40.0, None), (3, 90.0, None)],
        id="level-offsets-mapped",
    ),
    pytest.param(
        signal("SIMPLE", "level", [0, 1, 3, 2]),
        {},
        [(1, 80.0, None), (2, 20.0, None), (3, 50.0, None)],
        id="simple-levels",
    ),
]


@pytest.mark.parametrize(("sig", "overrides", "expected"), CASES)
def test_each_signal_type_becomes_limit_windows(sig, overrides, expected):
    result = event_limits(event(sig), settings(**overrides))
    assert [x.entry_id for x in result.limits] == [f"openadr:e1:{uid}" for uid, _, _ in expected]
    for limit, (_, limit_kw, reduction_pct) in zip(result.limits, expected, strict=True):
        assert limit.limit_kw == pytest.approx(limit_kw)
        assert limit.reduction_pct == pytest.approx(reduction_pct)
    for limit in result.limits:
        uid = int(limit.entry_id.rsplit(":", 1)[1])
        assert limit.start_utc == T0 + timedelta(minutes=15 * uid)
        assert limit.end_utc == T0 + timedelta(minutes=15 * (uid + 1))
    assert result.limiting and not result.ignored_signals


def test_intervals_follow_each_other_from_the_active_period_in_uid_order():
    sig = signal("LOAD_DISPATCH", "setpoint", [60, 40, 20], minutes=10)
    sig["intervals"].reverse()  # delivered out of order: the uid decides
    result = event_limits(event(sig), settings())
    assert [(x.start_utc, x.end_utc, x.limit_kw) for x in result.limits] == [
        (T0, T0 + timedelta(minutes=10), 60.0),
        (T0 + timedelta(minutes=10), T0 + timedelta(minutes=20), 40.0),
        (T0 + timedelta(minutes=20), T0 + timedelta(minutes=30), 20.0),
    ]


def test_an_interval_with_its_own_dtstart_keeps_it():
    later = T0 + timedelta(hours=2)
    result = event_limits(event(signal("SIMPLE", "level", [1, 2], start=later)), settings())
    assert [x.start_utc for x in result.limits] == [later, later + timedelta(minutes=15)]


def test_an_open_ended_last_interval_has_no_end():
    sig = signal("LOAD_DISPATCH", "setpoint", [60, 40])
    sig["intervals"][1]["duration"] = timedelta(0)
    result = event_limits(event(sig), settings())
    assert [x.end_utc for x in result.limits] == [T0 + timedelta(minutes=15), None]


def test_ramp_up_applies_to_the_first_interval_only():
    sig = signal("LOAD_DISPATCH", "setpoint", [60, 40])
    result = event_limits(event(sig, ramp_up=timedelta(minutes=5)), settings())
    assert [x.ramp_s for x in result.limits] == [300.0, 0.0]


def test_several_limiting_signals_get_distinct_entry_ids():
    result = event_limits(
        event(
            signal("SIMPLE", "level", [1]),
            signal("LOAD_DISPATCH", "setpoint", [60]),
        ),
        settings(),
    )
    assert [x.entry_id for x in result.limits] == ["openadr:e1:0.0", "openadr:e1:1.0"]
    assert result.read_signals == ("SIMPLE/level", "LOAD_DISPATCH/setpoint")


def test_price_signals_are_ignored_not_refused():
    result = event_limits(event(signal("ELECTRICITY_PRICE", "price", [0.4])), settings())
    assert result.limits == () and not result.limiting
    assert result.ignored_signals == ("ELECTRICITY_PRICE/price",)


@pytest.mark.parametrize("status", ["cancelled", "completed", "active"])
def test_status_and_modification_are_read(status):
    result = event_limits(
        event(signal("SIMPLE", "level", [1]), status=status, modification_number=3), settings()
    )
    assert (result.status, result.modification_number) == (status, 3)
    assert result.cancelled == (status == "cancelled")


def test_a_spec_is_accepted_by_the_limit_book():
    sig = signal("LOAD_CONTROL", "x-loadControlPercentOffset", [-30, -50])
    result = event_limits(event(sig, ramp_up=timedelta(minutes=2)), settings())
    for limit in result.limits:
        spec = limit.spec("e1", 0)
        entry = Entry(limit.entry_id, "openadr", "dr", spec, T0, T0)
        (window,) = windows_of(entry, "UTC", T0, T0 + timedelta(hours=1))
        assert (window.start_utc, window.end_utc) == (limit.start_utc, limit.end_utc)
        assert window.reduction_pct == limit.reduction_pct
        assert window.ramp_s == limit.ramp_s
        assert window.kind == "dr"
        assert window.level_kw(100.0) == pytest.approx(limit.level_kw(100.0))


REFUSALS = [
    (signal("LOAD_CONTROL", "x-loadControlCapacity", [0.5, 1.5]), "interval 1: capacity"),
    (signal("SIMPLE", "level", [1, 2]), "interval 1: SIMPLE level 2 has no cap"),
    (signal("LOAD_CONTROL", "x-loadControlLevelOffset", [3]), "interval 0: level 3 has no cap"),
    (signal("LOAD_CONTROL", "x-loadControlLevelOffset", [1.5]), "must be an integer"),
    (signal("LOAD_DISPATCH", "delta", [10]), "signal type 'delta' is not supported"),
    (signal("LOAD_DISPATCH", "setpoint", [-5]), "negative"),
    (
        signal("LOAD_DISPATCH", "setpoint", [5], measurement={"unit": "A", "scale": "none"}),
        "unit 'A' is not a power",
    ),
    (signal("LOAD_CONTROL", "x-loadControlPercentOffset", [-150]), "beyond 100 %"),
    (signal("LOAD_DISPATCH", "setpoint", [None]), "signal_payload must be a finite number"),
]


@pytest.mark.parametrize(("sig", "message"), REFUSALS)
def test_unreadable_limiting_signals_are_refused_naming_where(sig, message):
    simple_only_1 = {1: 80.0}
    with pytest.raises(SignalError) as caught:
        event_limits(event(sig), settings(simple_levels_kw=simple_only_1))
    text = str(caught.value)
    assert message in text
    assert "event 'e1'" in text and f"signal {sig['signal_name']}/{sig['signal_type']}" in text


def test_open_ended_interval_before_the_last_is_refused():
    sig = signal("LOAD_DISPATCH", "setpoint", [60, 40])
    sig["intervals"][0]["duration"] = timedelta(0)
    with pytest.raises(SignalError, match="only the last interval"):
        event_limits(event(sig), settings())


def test_naive_start_is_refused():
    naive = datetime(2026, 6, 1, 12, 0)
    with pytest.raises(SignalError, match="naive"):
        event_limits(event(signal("SIMPLE", "level", [1]), start=naive), settings())


def test_aware_non_utc_start_is_normalised():
    from zoneinfo import ZoneInfo

    local = datetime(2026, 6, 1, 14, 0, tzinfo=ZoneInfo("Europe/Berlin"))
    result = event_limits(event(signal("SIMPLE", "level", [1]), start=local), settings())
    assert result.limits[0].start_utc == T0
    assert result.limits[0].start_utc.tzinfo == UTC


@pytest.mark.parametrize(
    ("unit", "scale", "payloads", "expected_kw"),
    [("W", "k", [50.0, 30.0], [50.0, 30.0]), ("W", "none", [50_000.0, 0.0], [50.0, 0.0])],
)
def test_an_event_through_openleadrs_xml_layer(unit, scale, payloads, expected_kw):
    """What a VEN really receives: intervals without dtstart, the ramp as 'ramp_up'."""
    sent = objects.Event(
        event_descriptor=objects.EventDescriptor(
            event_id="xml", modification_number=2, market_context="oadr://x", event_status="far"
        ),
        active_period=objects.ActivePeriod(
            dtstart=T0, duration=timedelta(minutes=30), ramp_up_period=timedelta(minutes=5)
        ),
        event_signals=[
            objects.EventSignal(
                intervals=[
                    objects.Interval(
                        dtstart=None, duration=timedelta(minutes=15), signal_payload=p, uid=i
                    )
                    for i, p in enumerate(payloads)
                ],
                signal_name="LOAD_DISPATCH",
                signal_type="setpoint",
                signal_id="s1",
                measurement=objects.Measurement(
                    name="powerReal",
                    description="RealPower",
                    unit=unit,
                    scale=scale,
                    power_attributes=objects.PowerAttributes(),
                ),
            )
        ],
        targets=[objects.Target(ven_id="v")],
    )
    _, payload = parse_message(
        create_message("oadrDistributeEvent", request_id="r", vtn_id="VTN", events=[sent])
    )
    result = event_limits(payload["events"][0], settings())
    assert result.modification_number == 2
    assert [x.limit_kw for x in result.limits] == pytest.approx(expected_kw)
    assert [(x.start_utc, x.end_utc) for x in result.limits] == [
        (T0, T0 + timedelta(minutes=15)),
        (T0 + timedelta(minutes=15), T0 + timedelta(minutes=30)),
    ]
    assert [x.ramp_s for x in result.limits] == [300.0, 0.0]
