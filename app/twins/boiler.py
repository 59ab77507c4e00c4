"""Boiler: burns fuel to heat water for the site's heat network.

Simulator: the water temperature T follows the energy balance

    m cp dT/dt = eta P(T) - L(t) - UA (T - T_ambient)

solved with SciPy's ``solve_ivp`` (see :func:`app.twins.physics.integrate`). P is the burner's
fuel input: fixed (``control="fixed"``: ``firing_fraction`` of ``burner_kw``) or modulating
(``control="modulating"``: a proportional band of ``band_k`` around ``setpoint_c``, full fire at
its bottom, off at its top). L is the network's heat demand, ``load_kw`` swinging by
``load_swing`` (a fraction) twice a day, peaks at ``load_peak_hour`` (UTC), but never more than
the circulating water carries, ``circulation_kg_s`` x cp x (T - ``return_c``): a network asking
for more than the burner gives gets less, and the water cools towards where the two meet
(not below its return temperature). Then:

* fuel_flow = P / 10.55 kWh/m3 (natural gas), so the calculations' heat input is P again;
* flue_temperature = T + ``flue_rise_k`` x P / burner_kw (flue gas leaves hotter at high fire);
* pressure (sealed system, expansion vessel) = ``fill_pressure_bar`` + ``pressure_bar_per_k``
  x (T - ``fill_temperature_c``) - ``pressure_bar_per_litre`` x litres lost to a leak.

Parameters (defaults below): rated_output_kw, rated_temperature_c (damage accrues above it),
efficiency, water_mass_kg, burner_kw (fuel input at full fire), control, firing_fraction,
setpoint_c, band_k, load_kw, load_swing, load_peak_hour, ua_kw_per_k (losses to ambient),
ambient_c, flue_rise_k, fill_pressure_bar, fill_temperature_c, pressure_bar_per_k,
pressure_bar_per_litre, circulation_kg_s (the network's circulating flow), return_c (the
temperature the network's water comes back at).

Faults: a leak loses ``leak_fraction`` of the circulating flow, so the pressure falls; overuse
multiplies the heat demand, so the burner fires harder and the water cools.
State: water_temperature (C) and water_lost_l (L).
"""

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from app.calculations import Carry, advance, running_total
from app.generator import SignalSpec
from app.twins import physics
from app.twins.base import AssetType, SensorSpec
from app.twins.rules import Expected, FlatLine, Spike, Threshold

GAS_KWH_PER_M3 = 10.55  # natural gas, gross: 38 MJ/m3 / 3.6
NOISE_SD = {"water_temperature": 0.2, "pressure": 0.01, "fuel_flow": 0.3, "flue_temperature": 1.0}


def calculate(wide: pd.DataFrame, carry: Carry, parameters: dict[str, Any]) -> tuple[pd.DataFrame, Carry]:
    """Heat input from the fuel flow, heat output at the boiler's efficiency, and the damage
    indicator: hours spent above the rated water temperature."""
    heat_input = wide["fuel_flow"] * GAS_KWH_PER_M3
    above = (wide["water_temperature"] > parameters.get("rated_temperature_c", 90.0)).astype(float) / 3600
    out = pd.DataFrame({
        "heat_input_kw": heat_input,
        "heat_output_kw": heat_input * parameters.get("efficiency", 0.9),
        "hours_above_rated": running_total(above, carry, "hours_above_rated"),
    })
    return out, advance(carry, out, ["hours_above_rated"])


def firing(temperature: np.ndarray, p: dict[str, Any]) -> np.ndarray:
    """The burner's firing fraction (0..1) at each water temperature."""
    if p["control"] == "fixed":
        return np.full(np.shape(temperature), float(p["firing_fraction"]))
    band = float(p["band_k"])
    return np.clip((float(p["setpoint_c"]) + band / 2 - temperature) / band, 0.0, 1.0)


def simulate(parameters: dict[str, Any], times: pd.DatetimeIndex, rng: np.random.Generator,
             state: dict[str, float] | None) -> tuple[pd.DataFrame, dict[str, float]]:
    """The boiler's sensors over ``times`` (see the module docstring for the physics)."""
    p = {**ASSET_TYPE.default_parameters, **parameters}
    if p["control"] not in ("fixed", "modulating"):
        raise ValueError(f"boiler control must be 'fixed' or 'modulating', not {p['control']!r}")
    state = state or {}
    n, dt = len(times), physics.interval_seconds(times)
    epoch = physics.epoch_seconds(times)
    t = epoch - epoch[0]
    demand = physics.input_array(p, physics.DEMAND, n, 1.0)
    leak = physics.input_array(p, physics.LEAK, n, 0.0)
    eta, burner_kw, ua, ambient = physics.floats(p, "efficiency", "burner_kw", "ua_kw_per_k",
                                                 "ambient_c")
    heat_capacity = float(p["water_mass_kg"]) * physics.CP_WATER  # kJ/K
    load_kw, swing, peak = physics.floats(p, "load_kw", "load_swing", "load_peak_hour")

    # The network takes what it asks for only while the circulating water carries it: at most
    # circulation x cp x (T - return temperature).
    carried = float(p["circulation_kg_s"]) * physics.CP_WATER
    returned = float(p["return_c"])
    fixed = p["control"] == "fixed"
    fraction, band, setpoint = physics.floats(p, "firing_fraction", "band_k", "setpoint_c")
    top = setpoint + band / 2

    def rhs_for(row: int) -> Callable[[float, np.ndarray], list[float]]:
        factor, start = demand[row] * load_kw, epoch[0]

        def rhs(tt: float, y: np.ndarray) -> list[float]:
            # Plain floats: the solver calls this some 10^4 times a simulated month, and
            # numpy's per-call overhead on scalars would dominate. Same law as firing().
            water = float(y[0])
            fire = fraction if fixed else min(max((top - water) / band, 0.0), 1.0)
            load = min(factor * (1.0 + swing * physics.daily_wave_at(start + tt, 2.0, peak)),
                       carried * max(water - returned, 0.0))
            return [(eta * burner_kw * fire - load - ua * (water - ambient)) / heat_capacity]

        return rhs

    temperature0 = float(state.get("water_temperature", p["setpoint_c"]))
    solved, end = physics.integrate(rhs_for, [temperature0], t, t[-1] + dt,
                                    physics.constant_runs(demand))
    temperature = solved[:, 0]
    fire = firing(temperature, p)

    fill, per_k, fill_temperature, per_litre = physics.floats(
        p, "fill_pressure_bar", "pressure_bar_per_k", "fill_temperature_c",
        "pressure_bar_per_litre")

    def expected_pressure(temp: Any) -> Any:  # with no water lost
        return fill + per_k * (temp - fill_temperature)

    if "water_lost_l" in state:
        lost0 = float(state["water_lost_l"])
    elif "pressure" in state:  # resuming from stored readings: what the pressure says was lost
        lost0 = max(0.0, (expected_pressure(temperature0) - state["pressure"]) / per_litre)
    else:
        lost0 = 0.0
    # Litres lost by the start of each row: the leak is constant over a row (it changes only
    # at rows), so the sum is exact.
    lost_per_row = leak * float(p["circulation_kg_s"]) / physics.LITRE_KG * dt
    lost = lost0 + np.concatenate(([0.0], np.cumsum(lost_per_row)))
    clean = {
        "water_temperature": temperature,
        "pressure": np.maximum(expected_pressure(temperature) - per_litre * lost[:-1], 0.0),
        "fuel_flow": burner_kw * fire / GAS_KWH_PER_M3,
        "flue_temperature": temperature + float(p["flue_rise_k"]) * fire,
    }
    noisy = physics.measured(clean, NOISE_SD, rng, times, p)
    noisy["fuel_flow"] = np.maximum(noisy["fuel_flow"], 0.0)
    frame = physics.sensor_frame(noisy, times, [s.name for s in ASSET_TYPE.sensors])
    return frame, {"water_temperature": float(end[0]), "water_lost_l": float(lost[-1])}


def sealed_pressure(frame: pd.DataFrame, p: dict[str, Any]) -> pd.Series:
    """The pressure the water temperature gives a sealed system that has lost no water (an
    anomaly rule's model: below it, water has leaked out)."""
    fill, per_k, fill_temperature = physics.floats(p, "fill_pressure_bar", "pressure_bar_per_k",
                                                   "fill_temperature_c")
    return fill + per_k * (frame["water_temperature"] - fill_temperature)


def flue_from_firing(frame: pd.DataFrame, p: dict[str, Any]) -> pd.Series:
    """The flue temperature the water temperature and the fuel flow give (an anomaly rule's
    model: far from it, one of the three sensors reads wrong)."""
    fire = frame["fuel_flow"] * GAS_KWH_PER_M3 / float(p["burner_kw"])
    return frame["water_temperature"] + float(p["flue_rise_k"]) * fire


ASSET_TYPE = AssetType(
    name="boiler",
    label="Boiler",
    description="Gas-fired hot-water boiler feeding the site's pressure tanks.",
    sensors=(
        SensorSpec("water_temperature", "°C", 60.0, 90.0, SignalSpec(68, 16, 1, 1.5, lower=0)),
        SensorSpec("pressure", "bar", 1.0, 3.0, SignalSpec(1.6, 0.8, 1, 2.0, lower=0)),
        SensorSpec("fuel_flow", "m³/h", 0.0, 60.0, SignalSpec(15, 30, 2, 3.0, lower=0)),
        SensorSpec("flue_temperature", "°C", 90.0, 220.0, SignalSpec(120, 60, 2, 2.0)),
    ),
    calculate=calculate,
    calculations={'heat_input_kw': 'kW', 'heat_output_kw': 'kW', 'hours_above_rated': 'h'},
    default_parameters={
        "rated_output_kw": 500.0,
        "rated_temperature_c": 90.0,
        "efficiency": 0.9,
        "water_mass_kg": 2000.0,
        "burner_kw": 560.0,
        "control": "modulating",
        "firing_fraction": 0.6,
        "setpoint_c": 80.0,
        "band_k": 10.0,
        "load_kw": 250.0,
        "load_swing": 0.4,
        "load_peak_hour": 7.0,
        "ua_kw_per_k": 0.3,
        "ambient_c": 15.0,
        "flue_rise_k": 120.0,
        "fill_pressure_bar": 1.2,
        "fill_temperature_c": 10.0,
        "pressure_bar_per_k": 0.015,
        "pressure_bar_per_litre": 0.005,
        "circulation_kg_s": 3.0,
        "return_c": 40.0,
    },
    simulate=simulate,
    uses={"fuel_flow": "fuel_flow"},
    physical_faults={"leak": ("pressure",),
                     "overuse": ("water_temperature", "fuel_flow", "flue_temperature")},
    anomaly_rules=(
        Expected("pressure", sealed_pressure, uses=("water_temperature",), meaning="leakage",
                 because="water is leaking out of the sealed system"),
        Expected("flue_temperature", flue_from_firing, uses=("water_temperature", "fuel_flow"),
                 bound="both", meaning="sensor_error",
                 because="flue and water temperatures and the firing must agree: one of them reads wrong"),
        Threshold("fuel_flow", "high", consumption=True),
        *(FlatLine(name) for name in ("water_temperature", "pressure", "fuel_flow", "flue_temperature")),
        *(Spike(name) for name in ("water_temperature", "pressure", "fuel_flow", "flue_temperature")),
    ),
)
