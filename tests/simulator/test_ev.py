"""EV physics: energy is the integral of power, taper, minimum current, phases."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from simulator.ev import CAR_MODELS, EVSpec, EVState, ideal_ev


@pytest.mark.parametrize(
    ("spec", "limit_a", "phases_allowed", "current_a", "power_w"),
    [
        (EVSpec(max_current_a=16, phases=3), None, 3, 16.0, 16 * 3 * 230),
        (EVSpec(max_current_a=16, phases=3), 10.0, 3, 10.0, 10 * 3 * 230),
        (EVSpec(max_current_a=16, phases=3), 32.0, 3, 16.0, 16 * 3 * 230),
        (EVSpec(max_current_a=16, phases=3), 10.0, 1, 10.0, 10 * 1 * 230),
        (EVSpec(max_current_a=32, phases=1), 20.0, 3, 20.0, 20 * 1 * 230),
        (EVSpec(max_current_a=16, phases=3), 6.0, 3, 6.0, 6 * 3 * 230),
        (EVSpec(max_current_a=16, phases=3), 5.9, 3, 0.0, 0.0),
        (EVSpec(max_current_a=16, phases=3), 0.0, 3, 0.0, 0.0),
    ],
)
def test_draw_is_min_of_car_and_offer(spec, limit_a, phases_allowed, current_a, power_w) -> None:
    car = EVState(spec, soc=0.2)
    draw = car.draw(limit_a, phases_allowed)
    assert draw.current_a == pytest.approx(current_a)
    assert draw.power_w == pytest.approx(power_w)
    assert car.power_w == pytest.approx(power_w)


@settings(max_examples=40, deadline=None)
@given(
    steps=st.lists(st.tuples(st.floats(0, 40), st.floats(1, 900)), min_size=1, max_size=40),
    soc=st.floats(0.0, 0.95),
    model=st.sampled_from(sorted(CAR_MODELS)),
)
def test_energy_is_integral_of_power(steps, soc, model) -> None:
    car = EVState(CAR_MODELS[model], soc=soc, target_soc=1.0)
    integral_wh = 0.0
    for limit_a, dt_s in steps:
        car.draw(limit_a)
        power_w = car.power_w
        taken_wh = car.step(dt_s)
        assert taken_wh <= power_w * dt_s / 3600 + 1e-9
        integral_wh += taken_wh
        assert 0.0 <= car.soc <= 1.0
    assert car.energy_wh == pytest.approx(integral_wh)
    assert car.soc == pytest.approx(soc + integral_wh / 1000 / car.spec.capacity_kwh)


def test_constant_power_energy() -> None:
    car = EVState(EVSpec(capacity_kwh=100, max_current_a=16, phases=3), soc=0.1)
    car.draw(16.0)
    for _ in range(60):
        car.step(60)
    assert car.energy_wh == pytest.approx(16 * 3 * 230)  # one hour at 11.04 kW


def test_taper_falls_linearly_above_its_soc() -> None:
    spec = EVSpec(max_current_a=16, phases=3, taper_start_soc=0.8, taper_end_fraction=0.1)
    assert spec.power_limit_kw(0.8) == pytest.approx(spec.max_power_kw)
    assert spec.power_limit_kw(0.9) == pytest.approx(spec.max_power_kw * 0.55)
    assert spec.power_limit_kw(1.0) == pytest.approx(spec.max_power_kw * 0.1)
    car = EVState(spec, soc=0.9)
    assert car.draw(32.0).power_w == pytest.approx(spec.max_power_kw * 550)


def test_stops_exactly_at_target() -> None:
    car = EVState(EVSpec(capacity_kwh=10, max_current_a=16), soc=0.79, target_soc=0.8)
    car.draw(16.0)
    car.step(3600)
    assert car.soc == pytest.approx(0.8)
    assert car.energy_wh == pytest.approx(100.0)
    assert car.power_w == 0.0
    assert car.draw(16.0).current_a == 0.0


@pytest.mark.parametrize(("resumes", "after_pause_a"), [(True, 16.0), (False, 0.0)])
def test_pause_below_minimum_and_resume(resumes, after_pause_a) -> None:
    car = EVState(EVSpec(resumes_after_pause=resumes), soc=0.3)
    assert car.draw(16.0).current_a == 16.0
    assert car.draw(3.0).current_a == 0.0
    assert car.draw(16.0).current_a == after_pause_a


def test_car_that_has_not_drawn_yet_wakes_up() -> None:
    car = EVState(EVSpec(resumes_after_pause=False), soc=0.3)
    assert car.draw(0.0).current_a == 0.0
    assert car.draw(16.0).current_a == 16.0


@pytest.mark.parametrize(
    "kwargs", [{"phases": 2}, {"capacity_kwh": 0}, {"min_current_a": 20, "max_current_a": 16}]
)
def test_bad_specs_are_refused(kwargs) -> None:
    with pytest.raises(ValueError):
        EVSpec(**kwargs)


def test_ideal_car_draws_exactly_its_limit_to_the_end() -> None:
    car = EVState(ideal_ev(max_current_a=16.0, capacity_kwh=20.0), soc=0.1, target_soc=0.9)
    assert car.draw(3.0).current_a == 3.0  # no minimum current
    assert car.draw(0.0).current_a == 0.0
    assert car.draw(25.0).current_a == 16.0  # resumes, capped at its maximum
    car.step(3600 * 14.0 / 11.04)  # 14 kWh at 16 A x 3 x 230 V: no taper near full
    assert car.energy_wh == pytest.approx(14000.0, rel=1e-9)
    assert car.draw(16.0).current_a == 16.0
    car.step(3600)
    assert car.energy_wh == pytest.approx(16000.0) and car.full
