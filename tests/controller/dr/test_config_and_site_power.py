"""The [dr.openadr] table (errors name the field), the registry, and the site's power figures."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from controller.config import load_config
from controller.dr import DrConfigError, OpenAdrConfig, build_dr_sources, validate_dr_config
from controller.dr.site_power import measured_site_power_kw, uncontrollable_kw
from controller.site import SessionState, SiteState
from controller.units import kw_from_a
from tests.controller.dr.events import T0
from tests.controller.site_factory import site_config

EXAMPLE = """
[site]
id = "depot"
grid_limit_kw = 150.0

[[chargers]]
id = "CP001"
max_current_a = 32.0

[dr.openadr]
vtn_url = "https://vtn.example.net/OpenADR2/Simple/2.0b/"
ven_name = "depot-ven"
cert_file = "certs/ven.pem"
key_file = "certs/ven.key"
ca_file = "certs/ca.pem"
telemetry_min_sampling_s = 60

[dr.openadr.simple_levels_kw]
1 = 100.0
2 = 60.0
3 = 20.0

[dr.openadr.level_offsets_kw]
1 = 110.0
2 = 80.0
"""


def test_the_toml_example_validates_and_resolves_files(tmp_path: Path):
    (tmp_path / "certs").mkdir()
    for name in ("ven.pem", "ven.key", "ca.pem"):
        (tmp_path / "certs" / name).write_text("x")
    path = tmp_path / "site.toml"
    path.write_text(EXAMPLE)
    config = load_config(path)
    openadr = validate_dr_config(config)["openadr"]
    assert isinstance(openadr, OpenAdrConfig)
    assert openadr.vtn_url == "https://vtn.example.net/OpenADR2/Simple/2.0b"
    assert openadr.simple_levels_kw == {1: 100.0, 2: 60.0, 3: 20.0}
    assert openadr.level_offsets_kw == {1: 110.0, 2: 80.0}
    assert openadr.cert_file == tmp_path / "certs" / "ven.pem"
    assert openadr.enabled and openadr.ven_id is None


BASE = {"vtn_url": "http://127.0.0.1:8080/OpenADR2/Simple/2.0b", "ven_name": "ven"}

ERRORS = [
    ({"ven_name": "ven"}, "dr.openadr.vtn_url: Field required"),
    ({**BASE, "vtn_url": "ftp://x/y"}, "dr.openadr.vtn_url: must be an http(s) URL"),
    ({**BASE, "ven_name": ""}, "dr.openadr.ven_name:"),
    ({**BASE, "vtn_ur1": "x"}, "dr.openadr.vtn_ur1: Extra inputs are not permitted"),
    ({**BASE, "simple_levels_kw": {"4": 10}}, "dr.openadr.simple_levels_kw: level 4"),
    (
        {**BASE, "simple_levels_kw": {"1": 50, "2": 60}},
        "dr.openadr.simple_levels_kw: level 2 (60.0 kW) must not allow more than level 1",
    ),
    ({**BASE, "simple_levels_kw": {"1": -1}}, "dr.openadr.simple_levels_kw: level 1: cap"),
    ({**BASE, "level_offsets_kw": {"0": 10}}, "dr.openadr.level_offsets_kw: level 0"),
    ({**BASE, "simple_levels_kw": {"1": 500}}, "dr.openadr.simple_levels_kw.1: cap 500.0 kW"),
    ({**BASE, "cert_file": "a.pem"}, "dr.openadr.key_file: cert_file and key_file go together"),
    ({**BASE, "cert_file": "a", "key_file": "b"}, "dr.openadr.ca_file: needed with a client"),
    ({**BASE, "ca_file": "ca.pem"}, "dr.openadr.ca_file: used only together"),
    (
        {**BASE, "cert_file": "a", "key_file": "b", "ca_file": "c"},
        "dr.openadr.cert_file: no such file",
    ),
    ({**BASE, "retry_s": 0}, "dr.openadr.retry_s:"),
    ({**BASE, "percent_offset_reduces": "down"}, "dr.openadr.percent_offset_reduces:"),
]


@pytest.mark.parametrize(("table", "message"), ERRORS)
def test_errors_name_the_field(tmp_path, table, message):
    config = site_config(f"sqlite:///{tmp_path / 's.db'}", base_dir=tmp_path, dr={"openadr": table})
    with pytest.raises(DrConfigError) as caught:
        validate_dr_config(config)
    assert message in str(caught.value)


@pytest.mark.parametrize(
    ("dr", "message"),
    [
        ({"opnadr": BASE}, "dr.opnadr: unknown demand-response type (known: openadr)"),
        ({"openadr": "http://x"}, "dr.openadr: must be a table"),
    ],
)
def test_unknown_types_and_non_tables_are_errors(tmp_path, dr, message):
    config = site_config(f"sqlite:///{tmp_path / 's.db'}", dr=dr)
    with pytest.raises(DrConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        validate_dr_config(config)


@pytest.mark.parametrize(("enabled", "count"), [(True, 1), (False, 0)])
def test_a_disabled_source_is_not_built(tmp_path, enabled, count):
    config = site_config(
        f"sqlite:///{tmp_path / 's.db'}", dr={"openadr": {**BASE, "enabled": enabled}}
    )

    class Ctx:
        pass

    ctx = Ctx()
    ctx.config = config
    sources = build_dr_sources(ctx)
    assert [s.name for s in sources] == ["openadr"] * count


# site power ----------------------------------------------------------------------------------
CHARGERS = [
    {"id": "AC3", "max_current_a": 32.0, "phases": 3},
    {"id": "AC1", "max_current_a": 16.0, "phases": 1},
    {"id": "HV", "max_current_a": 16.0, "phases": 3, "voltage_v": 240.0},
]


def session(tx: int, charger_id: str, power_kw: float | None) -> SessionState:
    return SessionState(tx, charger_id, 1, "TAG", T0, 0.0, power_kw=power_kw)


@pytest.mark.parametrize(
    ("flags", "meter_kw", "powers", "floor_kw", "measured_kw"),
    [
        # nothing flagged, no meter: floor 0, measured = sessions
        ({}, None, {"AC3": 11.0, "AC1": None}, 0.0, 11.0),
        # AC3 uncontrollable (32 A x 3 x 230 V), AC1 non-compliant (16 A x 1 x 230 V)
        (
            {"AC3": "uncontrollable", "AC1": "non_compliant"},
            None,
            {"AC3": 5.0},
            kw_from_a(32, 3, 230) + kw_from_a(16, 1, 230),
            5.0,
        ),
        # HV at its own voltage; a site meter of 30 kW with 12 kW of sessions: 18 kW other load
        ({"HV": "uncontrollable"}, 30.0, {"AC3": 12.0}, kw_from_a(16, 3, 240) + 18.0, 30.0),
        # a meter reading below the sessions' sum (lagging) never lowers the measured power
        ({}, 4.0, {"AC3": 7.0}, 0.0, 7.0),
    ],
)
def test_uncontrollable_floor_and_measured_power(
    tmp_path, flags, meter_kw, powers, floor_kw, measured_kw
):
    config = site_config(f"sqlite:///{tmp_path / 's.db'}", chargers=CHARGERS)
    site = SiteState(config)
    for charger_id, flag in flags.items():
        state = site.charger(charger_id)
        if flag == "uncontrollable":
            state.controllable = False
        else:
            state.non_compliant = True
    for tx, (charger_id, power_kw) in enumerate(powers.items(), start=1):
        site.sessions[tx] = session(tx, charger_id, power_kw)
    site.site_meter_kw, site.site_meter_utc = meter_kw, T0
    now = T0 + timedelta(seconds=10)
    assert uncontrollable_kw(site, now) == pytest.approx(floor_kw)
    assert measured_site_power_kw(site, now) == pytest.approx(measured_kw)


def test_a_stale_site_meter_is_not_trusted(tmp_path):
    site = SiteState(site_config(f"sqlite:///{tmp_path / 's.db'}", chargers=CHARGERS))
    site.sessions[1] = session(1, "AC3", 6.0)
    site.site_meter_kw, site.site_meter_utc = 40.0, T0
    assert measured_site_power_kw(site, T0 + timedelta(seconds=60)) == pytest.approx(40.0)
    assert measured_site_power_kw(site, T0 + timedelta(hours=1)) == pytest.approx(6.0)
    assert uncontrollable_kw(site, T0 + timedelta(hours=1)) == 0.0
