"""The asset simulators: physics against hand-worked cases, determinism, faults, resuming.

Hand-worked values are written out in comments next to the numbers they give. Simulations run
with ``noise_scale`` 0 (the clean physics) wherever a value is compared with a formula.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from app.calculations import Carry
from app.cli import main
from app.db import Database
from app.db.models import SensorReading
from app.simulation import (
    FAULT_KINDS,
    Fault,
    SimulationResult,
    initial_state_from,
    simulate,
    simulate_asset,
    write,
)
from app.twins import SIMULATED_TYPES, asset_type
from app.twins.heat_exchanger import effectiveness
from app.twins.pipeline import friction_factor
from tests.conftest import add_plant, make_settings, utc

T0 = utc(2024, 10, 1)  # a Tuesday; 01:00 in London
CLEAN = {"noise_scale": 0.0}
CP = 4.186


def run(kind: str, parameters: dict[str, Any] | None = None, *, hours: float = 24,
        start: datetime = T0, **options: Any) -> SimulationResult:
    return simulate(kind, parameters or {}, start, start + timedelta(hours=hours), **options)


def window(frame: pd.DataFrame, start: datetime, end: datetime) -> np.ndarray:
    return np.asarray((frame.index >= start) & (frame.index < end))


# -- every type ------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", sorted(SIMULATED_TYPES))
def test_every_type_simulates_exactly_its_sensors_on_a_utc_grid(kind: str) -> None:
    result = run(kind, hours=2, interval_s=30)
    assert list(result.frame.columns) == [s.name for s in asset_type(kind).sensors]
    assert len(result.frame) == 240
    assert str(result.frame.index.tz) == "UTC" and result.frame.index[0] == T0
    assert (np.diff(result.frame.index.asi8) == np.diff(result.frame.index.asi8)[0]).all()
    assert all(dtype == np.float64 for dtype in result.frame.dtypes)
    assert np.isfinite(result.frame.to_numpy()).all()
    assert result.labels.empty
    assert list(result.labels.columns)[:4] == ["kind", "sensor", "start", "end"]


@pytest.mark.parametrize("kind", sorted(SIMULATED_TYPES))
def test_defaults_keep_every_type_in_its_normal_ranges_almost_always(kind: str) -> None:
    frame = run(kind, hours=72, seed=1).frame
    for spec in asset_type(kind).sensors:
        inside = frame[spec.name].between(spec.normal_min - 1e-9, spec.normal_max + 1e-9)
        assert inside.mean() > 0.95, f"{spec.name}: {inside.mean():.3f} of readings in range"


@pytest.mark.parametrize("kind", sorted(SIMULATED_TYPES))
def test_same_seed_same_frame_and_another_seed_other_noise(kind: str) -> None:
    first, again, other = (run(kind, hours=6, seed=seed).frame for seed in (4, 4, 5))
    pd.testing.assert_frame_equal(first, again)
    changed = (first != other).mean()
    assert changed.max() > 0.5, changed  # noise differs on (nearly) every reading of a sensor


# -- boiler ----------------------------------------------------------------------------------

# Fixed full fire: burner 500 kW at 90 % gives 450 kW; the load is 450 - 4.186 x 60 = 198.84 kW;
# UA = 4.186 kW/K and 1,000 kg of water (cp 4.186), so
#   steady state T = T_amb + (eta P - L) / UA = 15 + 251.16 / 4.186 = 15 + 60 = 75 C
#   time constant tau = m cp / UA = 1,000 x 4.186 / 4.186 = 1,000 s
FIXED_BOILER = {**CLEAN, "control": "fixed", "firing_fraction": 1.0, "burner_kw": 500.0,
                "efficiency": 0.9, "load_kw": 450.0 - CP * 60, "load_swing": 0.0,
                "ua_kw_per_k": CP, "water_mass_kg": 1000.0, "ambient_c": 15.0,
                # a network that takes its load at any water temperature: the linear ODE whose
                # solution these tests know by hand
                "return_c": -273.0}


def test_boiler_with_fixed_firing_settles_at_ambient_plus_net_heat_over_ua() -> None:
    held = run("boiler", FIXED_BOILER, hours=2, initial_state={"water_temperature": 75.0})
    assert np.allclose(held.frame["water_temperature"], 75.0, atol=1e-6)
    settled = run("boiler", FIXED_BOILER, hours=8, initial_state={"water_temperature": 15.0})
    assert settled.state["water_temperature"] == pytest.approx(75.0, abs=1e-6)  # 28 tau


def test_an_overloaded_boilers_water_settles_where_the_network_takes_what_the_burner_gives() -> None:
    # Demand x3 (750 kW at the default 250 kW) is more than the 504 kW the burner can give: the
    # network gets what the water carries, 3 kg/s x cp x (T - 40 C), and the water settles where
    # the modulating burner's heat meets it: 0.9 x 560 (85 - T) / 10 = 3 cp (T - 40) + 0.3 (T - 15).
    loaded = run("boiler", {"noise_scale": 0.0, "load_swing": 0.0, "demand_factor": 3.0}, hours=6)
    settled = loaded.frame["water_temperature"].iloc[-1]
    ua, carried = 0.3, 3.0 * CP
    expected = (50.4 * 85 + carried * 40 + ua * 15) / (50.4 + carried + ua)
    assert settled == pytest.approx(expected, abs=0.05)
    assert 40.0 < loaded.frame["water_temperature"].min() < 80.0


def test_boiler_reaches_63_percent_of_its_step_after_one_time_constant() -> None:
    result = run("boiler", FIXED_BOILER, hours=1, interval_s=10,
                 initial_state={"water_temperature": 15.0})
    temperature = result.frame["water_temperature"]
    # 15 + 60 (1 - e^-1) = 52.9272 C at tau = 1,000 s (row 100);
    # 15 + 60 (1 - e^-2) = 66.8799 C at 2 tau (row 200)
    assert temperature.iloc[100] == pytest.approx(15 + 60 * (1 - math.exp(-1)), abs=1e-4)
    assert temperature.iloc[100] == pytest.approx(52.9272, abs=1e-4)
    assert temperature.iloc[200] == pytest.approx(66.8799, abs=1e-4)


def test_boiler_fuel_flue_and_pressure_follow_the_burner_and_the_water_by_hand() -> None:
    frame = run("boiler", FIXED_BOILER, hours=1, initial_state={"water_temperature": 75.0}).frame
    # fuel: 500 kW / 10.55 kWh/m3 = 47.393 m3/h; flue: 75 + 120 x 1 = 195 C;
    # pressure: 1.2 + 0.015 x (75 - 10) = 2.175 bar
    assert np.allclose(frame["fuel_flow"], 47.393, atol=1e-3)
    assert np.allclose(frame["flue_temperature"], 195.0, atol=1e-5)
    assert np.allclose(frame["pressure"], 2.175, atol=1e-6)
    # The calculations read the simulated fuel flow back as the heat the water receives: eta P.
    calculated, _ = asset_type("boiler").calculate(frame, Carry(), FIXED_BOILER)
    assert np.allclose(calculated["heat_output_kw"], 450.0)


def test_boiler_modulating_burner_settles_inside_its_proportional_band() -> None:
    # Defaults: band 75..85 C, burner 560 kW at 90 %, load 250 kW, UA 0.3, ambient 15:
    #   0.9 x 560 x (85 - T) / 10 = 250 + 0.3 (T - 15)  ->  50.7 T = 4,038.5  ->  T = 79.655 C
    result = run("boiler", {**CLEAN, "load_swing": 0.0}, hours=6,
                 initial_state={"water_temperature": 60.0})
    assert result.state["water_temperature"] == pytest.approx(4038.5 / 50.7, abs=1e-3)


def test_boiler_time_above_its_rating_is_the_damage_the_calculations_count() -> None:
    # The fixed boiler with 20 kW less load settles at 75 + 20 / 4.186 = 79.78 C; with
    # a rating of 78 C every reading is above it: 60 readings a minute apart are 59 minutes.
    parameters = {**FIXED_BOILER, "load_kw": FIXED_BOILER["load_kw"] - 20.0,
                  "rated_temperature_c": 78.0}
    frame = run("boiler", parameters, hours=1, initial_state={"water_temperature": 79.78}).frame
    calculated, _ = asset_type("boiler").calculate(frame, Carry(), parameters)
    assert calculated["hours_above_rated"].iloc[-1] == pytest.approx(59 / 60)


def test_boiler_leak_lowers_the_pressure_by_the_water_lost() -> None:
    # 1 % of 3 kg/s circulating = 0.03 L/s: 108 L an hour, 0.005 bar a litre = 0.54 bar.
    fault = Fault("leak", T0 + timedelta(hours=1), T0 + timedelta(hours=2), magnitude=0.01)
    result = run("boiler", FIXED_BOILER, hours=3, faults=[fault],
                 initial_state={"water_temperature": 75.0})
    pressure = result.frame["pressure"]
    assert pressure.iloc[0] - pressure.iloc[-1] == pytest.approx(0.54, abs=1e-9)
    assert result.state["water_lost_l"] == pytest.approx(108.0)


# -- pressure tank ---------------------------------------------------------------------------


def test_pressure_tank_level_changes_by_net_inflow_over_its_area() -> None:
    # A = 20 m3 / 5 m = 4 m2; (20 - 10) m3/h / 4 m2 = 2.5 m an hour: 1.0 m -> 2.25 m at 30 min.
    parameters = {**CLEAN, "inflow_control": "fixed", "inflow_m3h": 20.0, "outflow_m3h": 10.0,
                  "demand_swing": 0.0}
    result = run("pressure_tank", parameters, hours=1, initial_state={"level": 1.0})
    assert result.frame["level"].iloc[30] == pytest.approx(2.25, abs=1e-6)
    assert result.state["level"] == pytest.approx(3.5, abs=1e-6)
    assert np.allclose(result.frame["inflow"], 20.0) and np.allclose(result.frame["outflow"], 10.0)


def test_pressure_tank_level_controller_closes_the_gap_with_its_time_constant() -> None:
    # Demand = the design flow, so dh/dt = (2.5 - h) / 30 min: 1.5 m -> 2.5 - e^-1 = 2.1321 m
    # after 30 min and 2.5 - e^-2 = 2.3647 m after 60.
    result = run("pressure_tank", {**CLEAN, "demand_swing": 0.0}, hours=1,
                 initial_state={"level": 1.5})
    assert result.frame["level"].iloc[30] == pytest.approx(2.5 - math.exp(-1), abs=1e-5)
    assert result.state["level"] == pytest.approx(2.5 - math.exp(-2), abs=1e-5)


def test_pressure_tank_pressure_is_the_gas_cushion_plus_the_water_head() -> None:
    # Precharged to 1 bar gauge empty: at 2.5 m of 5 m the gas is at half its volume,
    # 2.01325 x 2 = 4.0265 bar abs = 3.01325 gauge, plus 1000 x 9.81 x 2.5 Pa = 0.24525 bar.
    frame = run("pressure_tank", {**CLEAN, "demand_swing": 0.0}, hours=1).frame
    assert np.allclose(frame["pressure"], 3.2585, atol=1e-6)


def test_pressure_tank_leak_settles_the_level_lower_and_the_feed_higher() -> None:
    # A leak of 0.2 x 10 m3/h = 2 m3/h: the controller feeds 2 m3/h more, which takes a level
    # 2 m3/h x 0.5 h / 4 m2 = 0.25 m below the setpoint.
    fault = Fault("leak", T0, T0 + timedelta(hours=5), magnitude=0.2)
    result = run("pressure_tank", {**CLEAN, "demand_swing": 0.0}, hours=5, faults=[fault])
    assert result.state["level"] == pytest.approx(2.25, abs=1e-3)  # after 10 time constants
    assert result.frame["inflow"].iloc[-1] == pytest.approx(12.0, abs=1e-2)
    assert np.allclose(result.frame["outflow"], 10.0)  # the meter sees only what consumers take


# -- pipeline --------------------------------------------------------------------------------

# 25 m3/h in a 100 mm pipe, 800 m, roughness 0.045 mm, water at nu = 1e-6 m2/s, 1,000 kg/m3:
#   A = pi 0.1^2 / 4 = 0.0078540 m2; v = 25 / 3600 / A = 0.88419 m/s; Re = 0.88419 x 0.1 / 1e-6
#   = 88,419; e/D = 0.00045. Colebrook, iterated by hand from Swamee-Jain (0.02054):
#   0.020464, 0.020469, 0.020469 -> f = 0.020469.
#   dp = f (L/D) rho v^2 / 2 = 0.020469 x 8,000 x 1,000 x 0.39090 = 64.01 kPa
PIPE = {**CLEAN, "flow_m3h": 25.0, "demand_swing": 0.0, "diameter_m": 0.1, "length_m": 800.0,
        "roughness_mm": 0.045, "kinematic_viscosity_m2_s": 1e-6, "density_kg_m3": 1000.0}


def test_pipeline_pressure_drop_is_darcy_weisbach_by_hand() -> None:
    frame = run("pipeline", PIPE, hours=1).frame
    assert np.allclose(frame["pressure_drop"], 64.01, atol=0.01)
    assert np.allclose(frame["inlet_flow"], 25.0) and np.allclose(frame["outlet_flow"], 25.0)


def test_pipeline_friction_factor_solves_colebrook_and_is_64_over_re_when_laminar() -> None:
    f = float(friction_factor(np.array([88_419.4]), 0.00045)[0])
    residual = 1 / math.sqrt(f) + 2 * math.log10(0.00045 / 3.7 + 2.51 / (88_419.4 * math.sqrt(f)))
    assert f == pytest.approx(0.020469, abs=1e-6) and abs(residual) < 1e-9
    assert friction_factor(np.array([1000.0, 0.0]), 0.00045).tolist() == [0.064, 0.0]


def test_pipeline_leak_loses_its_fraction_and_halves_the_drop_it_saves_at_mid_length() -> None:
    fault = Fault("leak", T0, T0 + timedelta(hours=1), magnitude=0.2)
    leaking = run("pipeline", PIPE, hours=1, faults=[fault]).frame
    assert np.allclose(leaking["outlet_flow"], 20.0) and np.allclose(leaking["inlet_flow"], 25.0)
    # First half at 25 m3/h: 64.01 / 2 = 32.005 kPa. Second half at 20 m3/h: v = 0.70736 m/s,
    # Re = 70,736, f = 0.021162 (Colebrook as above): 0.021162 x 4,000 x 1,000 x 0.70736^2 / 2
    # = 21.177 kPa. Without the leak the whole pipe would lose 64.01 kPa.
    assert np.allclose(leaking["pressure_drop"], 32.005 + 21.177, atol=0.01)


# -- heat exchanger --------------------------------------------------------------------------

# Hot 1 kg/s (C_hot = 4.186 kW/K = C_min), cold 2 kg/s (8.372 kW/K), UA 4.186 kW/K: NTU = 1,
# Cr = 0.5. Counter-flow: eps = (1 - e^-0.5) / (1 - 0.5 e^-0.5) = 0.39347 / 0.69673 = 0.56473.
# Hot in 80 C, cold in 20 C: q = 0.56473 x 4.186 x 60 = 141.84 kW;
# hot out = 80 - 0.56473 x 60 = 46.116 C; cold out = 20 + 141.84 / 8.372 = 36.942 C.
EXCHANGER = {**CLEAN, "hot_flow_kg_s": 1.0, "cold_flow_kg_s": 2.0, "ua_kw_per_k": CP,
             "hot_inlet_c": 80.0, "hot_inlet_swing_k": 0.0, "cold_inlet_c": 20.0,
             "cold_inlet_swing_k": 0.0, "cold_flow_swing": 0.0}


def test_heat_exchanger_counterflow_outlets_match_epsilon_ntu_by_hand() -> None:
    frame = run("heat_exchanger", EXCHANGER, hours=1).frame
    assert np.allclose(frame["hot_outlet_temperature"], 46.116, atol=1e-3)
    assert np.allclose(frame["cold_outlet_temperature"], 36.942, atol=1e-3)


def test_heat_exchanger_balanced_and_parallel_effectiveness_by_hand() -> None:
    # Cr = 1, NTU = 2: eps = 2 / 3, so with equal flows hot 80 -> 40 C and cold 20 -> 60 C.
    balanced = run("heat_exchanger", {**EXCHANGER, "cold_flow_kg_s": 1.0, "ua_kw_per_k": 2 * CP},
                   hours=1).frame
    assert np.allclose(balanced["hot_outlet_temperature"], 40.0)
    assert np.allclose(balanced["cold_outlet_temperature"], 60.0)
    # Parallel flow, NTU = 1, Cr = 0.5: eps = (1 - e^-1.5) / 1.5 = 0.51791.
    assert float(effectiveness(1.0, 0.5, "parallel")) == pytest.approx(0.51791, abs=1e-5)
    assert float(effectiveness(1.0, 0.5)) == pytest.approx(0.56473, abs=1e-5)


def test_heat_exchanger_heat_leaving_the_hot_stream_enters_the_cold_one() -> None:
    frame = run("heat_exchanger", {**CLEAN, "cold_flow_swing": 0.0}, hours=24).frame  # defaults
    given = 2.0 * CP * (frame["hot_inlet_temperature"] - frame["hot_outlet_temperature"])
    taken = 2.2 * CP * (frame["cold_outlet_temperature"] - frame["cold_inlet_temperature"])
    assert np.allclose(given, taken) and (given > 100).all()


# -- drivetrain ------------------------------------------------------------------------------


def test_drivetrain_torque_and_speed_cycle_four_times_a_day_and_oil_once_within_limits() -> None:
    clean = run("drivetrain", CLEAN, hours=24).frame
    for sensor, cycles in (("torque", 4), ("speed", 4), ("oil_temperature", 1)):
        spectrum = np.abs(np.fft.rfft(clean[sensor] - clean[sensor].mean()))
        assert int(np.argmax(spectrum)) == cycles, sensor
    noisy = run("drivetrain", hours=24, seed=2).frame
    assert noisy["torque"].between(0, 3000).all() and noisy["speed"].between(0, 300).all()
    assert noisy["oil_temperature"].between(-20, 100).all()
    assert clean["torque"].max() == pytest.approx(3000, rel=1e-3)


# -- water dispenser -------------------------------------------------------------------------

NOBODY = {**CLEAN, "users": 0}


def test_dispenser_cools_towards_ambient_with_its_time_constant() -> None:
    # Heater off, no draws: tau = m cp / UA = 20 x 4.186 / 0.004186 = 20,000 s (row 2,000 at
    # 10 s): 21 + (60 - 21) e^-1 = 35.3474 C.
    parameters = {**NOBODY, "heater_regime": "off", "ua_kw_per_k": 0.004186}
    frame = run("water_dispenser", parameters, hours=6, interval_s=10).frame
    assert frame["temperature"].iloc[2000] == pytest.approx(21 + 39 * math.exp(-1), abs=1e-9)
    assert (frame["power"] == 0).all() and (frame["level"] == 1.0).all()


def test_dispenser_heater_always_on_settles_at_ambient_plus_eta_p_over_ua() -> None:
    # 0.8 x 0.04 kW / 0.004186 kW/K = 7.6445 K above 21 C; from 21 C after 10 tau (2.3 days)
    # within 39 x e^-10 = 0.0003 K.
    parameters = {**NOBODY, "heater_regime": "always_on", "ua_kw_per_k": 0.004186}
    result = run("water_dispenser", parameters, hours=56, initial_state={"temperature": 21.0})
    assert result.state["temperature"] == pytest.approx(21 + 0.032 / 0.004186, abs=5e-4)
    assert (result.frame["power"].iloc[1:] == 0.04).all()


def energy_books(result: SimulationResult, parameters: dict[str, Any]) -> dict[str, float]:
    """kJ over the run, from the rows alone: row k holds the temperature and level at its time
    and the flow and power of the step before it (the last step's are in the state)."""
    frame, state = result.frame, result.state
    minutes = 1.0  # 60 s rows
    power = np.append(frame["power"].to_numpy()[1:], state["power"])
    litres = np.append(frame["flow"].to_numpy()[1:], state["flow"]) * minutes
    temperature = frame["temperature"].to_numpy()
    inlet, tank = parameters["inlet_c"], 20.0

    def stored(level: float, t: float) -> float:  # relative to mains water
        return level * tank * CP * (t - inlet)

    return {
        "heater": float((0.8 * power * 60).sum()),
        "drawn": float((litres * CP * (temperature - inlet)).sum()),
        "stored": (stored(state["level"], state["temperature"])
                   - stored(frame["level"].iloc[0], temperature[0])),
        "lost": float(parameters["ua_kw_per_k"] * 60 * np.trapezoid(
            np.append(temperature, state["temperature"]) - parameters["ambient_c"])),
    }


def test_dispenser_energy_in_is_stored_plus_drawn_when_insulated() -> None:
    parameters = {**CLEAN, "users": 12, "ua_kw_per_k": 0.0, "inlet_c": 12.0, "ambient_c": 21.0}
    result = run("water_dispenser", parameters, hours=48)
    books = energy_books(result, parameters)
    assert books["drawn"] > 1000 and books["heater"] > 1000  # real traffic, a heater that worked
    assert books["heater"] == pytest.approx(books["stored"] + books["drawn"], rel=1e-9)


def test_dispenser_energy_in_is_stored_plus_drawn_plus_lost() -> None:
    parameters = {**CLEAN, "ua_kw_per_k": 0.0002, "inlet_c": 12.0, "ambient_c": 21.0}
    result = run("water_dispenser", parameters, hours=72)
    books = energy_books(result, parameters)
    assert books["lost"] > 1000 and books["drawn"] > 500
    # The trapezoid is the one approximation (the rows do not show the refills' dips inside a step).
    books_out = books["stored"] + books["drawn"] + books["lost"]
    assert books["heater"] == pytest.approx(books_out, rel=1e-3)


def test_dispenser_level_falls_by_what_is_drawn_when_the_mains_is_off() -> None:
    result = run("water_dispenser", {**CLEAN, "users": 12, "refill_l_per_min": 0.0}, hours=12)
    drawn = result.frame["flow"].iloc[1:].sum() + result.state["flow"]  # L/min x 1 min
    assert drawn > 2
    assert result.state["level"] == pytest.approx(1.0 - drawn / 20.0, abs=1e-12)


def test_dispenser_draws_only_in_office_hours_on_weekdays() -> None:
    frame = run("water_dispenser", {**CLEAN, "users": 40}, hours=24 * 7).frame  # Tue..Mon
    local = frame.index.tz_convert("Europe/London")
    drawing = frame["flow"].shift(-1) > 0  # a row's flow belongs to the step before it
    office = (local.day_of_week < 5) & (local.hour >= 8) & (local.hour < 18)
    assert drawing[office].sum() > 100 and not drawing[~office].any()


def litres_and_kwh(frame: pd.DataFrame) -> tuple[float, float]:
    return float(frame["flow"].sum()), float(frame["power"].sum() / 60)


def test_dispenser_more_users_draw_more_water_and_use_more_energy() -> None:
    few = litres_and_kwh(run("water_dispenser", {**CLEAN, "users": 3}, hours=72).frame)
    many = litres_and_kwh(run("water_dispenser", {**CLEAN, "users": 9}, hours=72).frame)
    assert many[0] > 2 * few[0] and many[1] > few[1] * 1.2


def test_dispenser_flow_rate_scales_the_litres_drawn_exactly() -> None:
    slow = litres_and_kwh(run("water_dispenser", {**CLEAN, "flow_l_per_min": 0.2}, hours=72).frame)
    fast = litres_and_kwh(run("water_dispenser", {**CLEAN, "flow_l_per_min": 0.4}, hours=72).frame)
    assert fast[0] == pytest.approx(2 * slow[0]) and slow[0] > 1  # the same draws, twice as big
    assert fast[1] > slow[1]


def test_dispenser_setpoint_moves_the_temperature_it_holds() -> None:
    for setpoint in (55.0, 70.0):
        frame = run("water_dispenser", {**NOBODY, "setpoint_c": setpoint}, hours=24).frame
        temperature = frame["temperature"]
        assert temperature.mean() == pytest.approx(setpoint, abs=0.5)
        assert temperature.between(setpoint - 0.6, setpoint + 0.6).all()  # the 1 K deadband


def test_dispenser_heater_regime_decides_when_power_is_drawn() -> None:
    def power(regime: str) -> pd.Series:
        return run("water_dispenser", {**CLEAN, "heater_regime": regime}, hours=48).frame["power"]

    assert (power("off") == 0).all()
    assert (power("always_on").iloc[1:] == 0.04).all()
    eco, local = power("eco"), power("eco").index.tz_convert("Europe/London")
    office = (local.day_of_week < 5) & (local.hour >= 8) & (local.hour < 18)
    assert eco[office].sum() > 0 and (eco.shift(-1, fill_value=0.0)[~office] == 0).all()
    assert 0 < power("thermostat").mean() < 0.04


def test_dispenser_power_reading_never_exceeds_the_heater_rating() -> None:
    frame = run("water_dispenser", {"heater_regime": "always_on"}, hours=24, seed=3).frame
    assert frame["power"].max() <= 0.04 and frame["power"].iloc[1:].min() > 0.038


# -- faults ----------------------------------------------------------------------------------

W0, W1 = T0 + timedelta(hours=9), T0 + timedelta(hours=12)  # 10:00-13:00 in London
PHYSICAL = [("boiler", "leak", 0.01), ("boiler", "overuse", 2.0),
            ("pressure_tank", "leak", 0.3), ("pressure_tank", "overuse", 1.5),
            ("pipeline", "leak", 0.2), ("pipeline", "overuse", 1.5),
            ("heat_exchanger", "overuse", 2.0), ("drivetrain", "overuse", 1.5),
            ("water_dispenser", "leak", 0.5), ("water_dispenser", "overuse", 4.0)]


@pytest.mark.parametrize(("kind", "fault", "magnitude"), PHYSICAL, ids=lambda v: str(v))
def test_physical_fault_visibly_moves_its_sensors_in_its_window_and_is_labelled(
        kind: str, fault: str, magnitude: float) -> None:
    base = run(kind, seed=3).frame
    result = run(kind, seed=3, faults=[Fault(fault, W0, W1, magnitude=magnitude)])
    inside, before = window(base, W0, W1), np.asarray(base.index < W0)
    spec = asset_type(kind)
    affected = spec.physical_faults[fault]
    for sensor in affected:
        width = spec.sensor(sensor).normal_max - spec.sensor(sensor).normal_min
        moved = (result.frame[sensor] - base[sensor])[inside].abs().max()
        assert moved > 0.02 * width, f"{sensor} moved {moved:.4g}"
    assert np.allclose(result.frame[before], base[before], atol=1e-5)
    [label] = result.labels.to_dict("records")
    assert label["kind"] == fault and label["sensor"] is None and label["sensors"] == affected
    assert (label["start"], label["end"], label["magnitude"]) == (W0, W1, magnitude)


@pytest.mark.parametrize("kind", sorted(SIMULATED_TYPES))
def test_sensor_faults_are_stuck_drifting_or_spiking_only_in_their_window(kind: str) -> None:
    sensor = asset_type(kind).sensors[-1]
    width = sensor.normal_max - sensor.normal_min
    base = run(kind, seed=3).frame[sensor.name]
    stuck, drift, spike = (Fault(k, W0, W1, sensor.name, m)
                           for k, m in (("stuck_sensor", 1.0), ("drift", 2.0), ("spike", 1.5)))
    for fault in (stuck, drift, spike):
        result = run(kind, seed=3, faults=[fault])
        got, inside = result.frame[sensor.name], window(result.frame, W0, W1)
        assert got[~inside].equals(base[~inside])
        [label] = result.labels.to_dict("records")
        assert (label["kind"], label["sensor"]) == (fault.kind, sensor.name)
        assert label["sensors"] == (sensor.name,)
        difference = (got - base)[inside]
        if fault is stuck:
            assert (got[inside] == base[base.index < W0].iloc[-1]).all()
        elif fault is drift:
            hours = (difference.index - W0).total_seconds() / 3600
            assert np.allclose(difference, 2.0 * hours)  # 2 units an hour since it began
        else:
            hits = difference[difference != 0]
            assert 1 <= len(hits) <= 3 and np.allclose(hits, 1.5 * width)


def test_a_fault_outside_the_range_is_neither_injected_nor_labelled() -> None:
    later = Fault("spike", T0 + timedelta(days=2), T0 + timedelta(days=3), "level")
    result = run("pressure_tank", hours=2, seed=1, faults=[later])
    assert result.labels.empty and result.frame.equals(run("pressure_tank", hours=2, seed=1).frame)


def test_a_fault_a_type_cannot_show_or_a_bad_fault_is_refused_with_a_reason() -> None:
    with pytest.raises(ValueError, match="cannot show a leak fault.*overuse"):
        run("drivetrain", faults=[Fault("leak", W0, W1)])
    with pytest.raises(KeyError, match="no sensor 'nozzle'"):
        run("pipeline", faults=[Fault("drift", W0, W1, "nozzle")])
    with pytest.raises(ValueError, match="unknown fault"):
        Fault("fire", W0, W1)
    with pytest.raises(ValueError, match="above 1"):
        Fault("overuse", W0, W1)
    with pytest.raises(ValueError, match="timezone-aware"):
        Fault("leak", datetime(2024, 10, 1), datetime(2024, 10, 2))
    assert set(FAULT_KINDS) == {"leak", "stuck_sensor", "drift", "spike", "overuse"}


# -- resuming --------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", sorted(SIMULATED_TYPES))
def test_simulating_in_two_chunks_from_the_returned_state_equals_one_pass(kind: str) -> None:
    middle, end = T0 + timedelta(hours=31, minutes=17), T0 + timedelta(hours=48)
    faults = [Fault("drift", T0 + timedelta(hours=30), T0 + timedelta(hours=33), magnitude=1.0)]
    whole = simulate(kind, {}, T0, end, seed=9, faults=faults)
    first = simulate(kind, {}, T0, middle, seed=9, faults=faults)
    second = simulate(kind, {}, middle, end, seed=9, faults=faults, initial_state=first.state)
    joined = pd.concat([first.frame, second.frame])
    pd.testing.assert_index_equal(joined.index, whole.frame.index)
    assert np.allclose(joined, whole.frame, rtol=0, atol=1e-4)  # ODE tolerance; others exact
    assert whole.state.keys() == second.state.keys()
    assert np.allclose(list(second.state.values()), list(whole.state.values()), atol=1e-4)


def resume_through_the_database(db: Database, kind: str, middle: datetime,
                                end: datetime) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(the whole run from [middle, end), the run resumed from the readings of [T0, middle)
    stored in the database, a fresh run from the design point)."""
    plant = add_plant(db, [s.name for s in asset_type(kind).sensors], asset_type=kind)
    stored = simulate(kind, {}, T0, middle, seed=9)
    assert write(db, plant.asset_id, stored) == stored.frame.size
    state = initial_state_from(db, plant.asset_id)
    assert state == pytest.approx(stored.frame.iloc[-1].to_dict())  # the newest readings
    resumed = simulate(kind, {}, middle, end, seed=9, initial_state=state)
    fresh = simulate(kind, {}, middle, end, seed=9)
    return simulate(kind, {}, T0, end, seed=9).frame.loc[middle:], resumed.frame, fresh.frame


def test_tank_resumed_from_its_stored_readings_follows_the_uninterrupted_run(db: Database) -> None:
    whole, resumed, fresh = resume_through_the_database(
        db, "pressure_tank", T0 + timedelta(hours=28), T0 + timedelta(hours=34))
    # From a reading one minute old with 5 mm of noise: within 1 cm throughout.
    assert (resumed["level"] - whole["level"]).abs().max() < 0.01
    assert abs(fresh["level"].iloc[0] - whole["level"].iloc[0]) > 0.3  # starting afresh would not


def test_dispenser_resumed_from_its_stored_readings_carries_on_where_it_was(db: Database) -> None:
    whole, resumed, _ = resume_through_the_database(
        db, "water_dispenser", T0 + timedelta(hours=30), T0 + timedelta(hours=36))
    assert abs(resumed["temperature"].iloc[0] - whole["temperature"].iloc[0]) < 0.3
    assert abs(resumed["level"].iloc[0] - whole["level"].iloc[0]) < 0.01
    # The thermostat's and the refill valve's switching can fall a few minutes apart from a
    # noisy start (a deadband remembers), so the runs agree on the temperature held, not minute
    # by minute.
    assert resumed["temperature"].mean() == pytest.approx(whole["temperature"].mean(), abs=0.3)
    assert resumed["temperature"].between(58, 62).all()


def test_write_stores_each_sensor_once_and_again_replaces(db: Database) -> None:
    plant = add_plant(db, ["inlet_flow", "outlet_flow"], asset_type="pipeline")  # no pressure_drop
    result = run("pipeline", hours=2)
    assert write(db, plant.asset_id, result) == 240
    assert write(db, plant.asset_id, result) == 240
    with db.Session() as session:
        assert session.scalar(select(func.count()).select_from(SensorReading)) == 240
    assert initial_state_from(db, plant.asset_id, before=T0) is None


def test_simulate_asset_uses_its_parameters_and_resumes_before_its_start(db: Database) -> None:
    plant = add_plant(db, ["level", "pressure", "inflow", "outflow"], asset_type="pressure_tank")
    stored = run("pressure_tank", hours=6)
    write(db, plant.asset_id, stored)
    start = T0 + timedelta(hours=3)
    result = simulate_asset(db, plant.asset_id, start, start + timedelta(hours=1))
    # From the readings at 02:59 (not the newest, at 05:59), with the asset's own parameters and,
    # by default, its id as the seed.
    expected = simulate("pressure_tank", {"rated_power_kw": 90.0}, start,
                        start + timedelta(hours=1), seed=plant.asset_id,
                        initial_state=stored.frame.iloc[179].to_dict())
    pd.testing.assert_frame_equal(result.frame, expected.frame)


# -- the command -----------------------------------------------------------------------------


def test_twin_simulate_writes_the_asset_with_a_labelled_fault(tmp_path: Path) -> None:
    env = {"TWIN_HOME": str(tmp_path)}
    assert CliRunner().invoke(main, ["db", "upgrade"], env=env).exit_code == 0
    database = Database(make_settings(tmp_path))
    plant = add_plant(database, ["inlet_flow", "outlet_flow", "pressure_drop"],
                      asset_type="pipeline")
    args = ["simulate", "--asset", str(plant.asset_id), "--from", "2024-10-01",
            "--to", "2024-10-01T02:00", "--fault", "leak:2024-10-01T00:30:2024-10-01T01:00@0.25",
            "--seed", "3"]
    result = CliRunner().invoke(main, args, env=env)
    assert result.exit_code == 0, result.output
    assert "wrote 360 readings" in result.output and "leak" in result.output
    with database.Session() as session:
        assert session.scalar(select(func.count()).select_from(SensorReading)) == 360
    bad = CliRunner().invoke(main, [*args[:-4], "--fault", "flood:2024-10-01:2024-10-02"], env=env)
    assert bad.exit_code == 2 and "flood" in bad.output
