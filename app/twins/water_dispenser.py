"""Hot and cold water dispenser: a 20 L tank kept near 60 C by a heater, drawn on by users.

Simulator, one step per interval (the state at each row, then what happens until the next):

1. Users draw. Each of ``users`` makes ``draws_per_user_per_day`` draws, spread evenly over
   office hours (``office_start_h`` to ``office_end_h``, local time in ``timezone``, Monday to
   Friday; none at night or at weekends): the draws in a step are Poisson, keyed to the clock
   and the seed. A draw runs ``draw_minutes`` at ``flow_l_per_min`` from the hot tank (the cold
   tap bypasses it and is not metered).
2. A leak (a fault) loses ``leak_fraction`` x ``refill_l_per_min`` at the same time.
3. The mains refill valve, opened when the level is below ``refill_below_level`` and closed
   when the tank is full, lets in up to ``refill_l_per_min`` at ``inlet_c``, mixing at once.
4. The heater (``heater_kw`` electrical, efficiency ``heater_efficiency``) runs by its regime:
   "thermostat" (on below ``setpoint_c`` - ``deadband_k``/2, off above setpoint + deadband/2),
   "always_on", "off", or "eco" (the thermostat in office hours, off otherwise); never above
   ``high_limit_c`` (the safety cut-out) nor with the tank empty. Over the step

       m cp dT/dt = eta P - UA (T - T_ambient)

   is linear with constant inputs, so the step is solved exactly: T -> T_inf + (T - T_inf)
   exp(-dt/tau), T_inf = T_ambient + eta P / UA, tau = m cp / UA (``ua_kw_per_k``).

Draws and refills are discrete events; the thermostat and the valve are decided at each row
(sampled control, like a controller scanning once a minute). Splitting each step into mixing
then heating keeps the energy books exact: heater energy in = stored + drawn + lost, to
rounding, whatever the step (see the tests).

Rows: ``temperature`` (C) and ``level`` (fraction of ``tank_litres``) at the row's time;
``flow`` (L/min) and ``power`` (kW) are the means over the step that ends at the row (the
convention of :mod:`app.calculations`, whose running totals then equal the simulated litres
and kWh). The power meter cannot read above the heater's rating.

Faults: a leak makes the level fall with no draw and the cold refill pull the temperature
down (the heater runs more); overuse multiplies the draws, so flow and heater power rise.
State: temperature, level, flow, power (of the last step), heater_on, valve_open.
"""

import math
from typing import Any

import numpy as np
import pandas as pd

from app.calculations import Carry, advance, running_total
from app.generator import SignalSpec
from app.twins import physics
from app.twins.base import AssetType, SensorSpec
from app.twins.rules import FlatLine, Spike, Threshold

REGIMES = ("thermostat", "always_on", "off", "eco")
NOISE_SD = {"temperature": 0.05, "level": 0.001, "power": 0.0003}
FLOW_NOISE_FRACTION = 0.02  # flow meters: about 2 % of reading, nothing at zero flow


def calculate(wide: pd.DataFrame, carry: Carry, parameters: dict[str, Any]) -> tuple[pd.DataFrame, Carry]:
    """Energy drawn by the heater (kWh) and water dispensed (L), as running totals."""
    out = pd.DataFrame({
        "energy_kwh": running_total(wide["power"] / 3600, carry, "energy_kwh"),
        "litres_dispensed": running_total(wide["flow"] / 60, carry, "litres_dispensed"),
    })
    return out, advance(carry, out, ["energy_kwh", "litres_dispensed"])


def office_hours(times: pd.DatetimeIndex, p: dict[str, Any]) -> np.ndarray:
    """Whether each time falls in office hours (local time, Monday to Friday)."""
    local = times.tz_convert(p["timezone"])
    hour = local.hour + local.minute / 60.0 + local.second / 3600.0
    weekday = local.day_of_week < 5
    opens, closes = physics.floats(p, "office_start_h", "office_end_h")
    return np.asarray(weekday & (hour >= opens) & (hour < closes))


def draw_counts(times: pd.DatetimeIndex, rng: np.random.Generator, p: dict[str, Any],
                demand: np.ndarray) -> np.ndarray:
    """How many draws start in each step: Poisson with the office-hours rate, times demand."""
    dt_min = physics.interval_seconds(times) / 60.0
    office_minutes = (float(p["office_end_h"]) - float(p["office_start_h"])) * 60.0
    per_minute = float(p["users"]) * float(p["draws_per_user_per_day"]) / office_minutes
    rate = per_minute * dt_min * office_hours(times, p) * demand
    return physics.poisson_from_uniform(physics.clock_uniform(rng, "draws", times), rate)


def heater_modes(times: pd.DatetimeIndex, p: dict[str, Any]) -> np.ndarray:
    """Per step: 0 off, 1 thermostat, 2 always on."""
    regime = p["heater_regime"]
    if regime not in REGIMES:
        raise ValueError(f"heater_regime must be one of {', '.join(REGIMES)}, not {regime!r}")
    if regime == "eco":
        return np.where(office_hours(times, p), 1, 0)
    return np.full(len(times), {"off": 0, "thermostat": 1, "always_on": 2}[regime])


def simulate(parameters: dict[str, Any], times: pd.DatetimeIndex, rng: np.random.Generator,
             state: dict[str, float] | None) -> tuple[pd.DataFrame, dict[str, float]]:
    """The dispenser's sensors over ``times`` (see the module docstring for the physics)."""
    p = {**ASSET_TYPE.default_parameters, **parameters}
    state = state or {}
    n, dt = len(times), physics.interval_seconds(times)
    dt_min = dt / 60.0
    demand = physics.input_array(p, physics.DEMAND, n, 1.0)
    leak = physics.input_array(p, physics.LEAK, n, 0.0)
    capacity = float(p["tank_litres"])
    flow_rate, draw_minutes = physics.floats(p, "flow_l_per_min", "draw_minutes")
    draws = draw_counts(times, rng, p, demand) * flow_rate * draw_minutes  # litres per step
    leaks = leak * float(p["refill_l_per_min"]) * dt_min
    modes = heater_modes(times, p)
    refill_max = float(p["refill_l_per_min"]) * dt_min
    refill_below = float(p["refill_below_level"]) * capacity
    heater_kw, eta, ua = physics.floats(p, "heater_kw", "heater_efficiency", "ua_kw_per_k")
    setpoint, deadband = physics.floats(p, "setpoint_c", "deadband_k")
    half_band = deadband / 2.0
    high_limit, ambient, inlet = physics.floats(p, "high_limit_c", "ambient_c", "inlet_c")

    temperature = float(state.get("temperature", setpoint))
    volume = float(state.get("level", 1.0)) * capacity
    power_before = float(state.get("power", 0.0))
    heater_on = bool(state.get("heater_on", power_before > heater_kw / 2))
    valve_open = bool(state.get("valve_open", volume < refill_below))
    temperatures, volumes = np.empty(n), np.empty(n)
    drawn, power = np.empty(n + 1), np.empty(n + 1)  # row k + 1 reports step k
    drawn[0], power[0] = float(state.get("flow", 0.0)) * dt_min, power_before
    # A plain loop: the thermostat's deadband and the valve make each step depend on the last,
    # and 43,200 steps of float arithmetic (on lists: numpy scalars are slower) take ~0.1 s.
    draw_l, leak_l, mode_l = draws.tolist(), leaks.tolist(), modes.tolist()
    for k in range(n):
        temperatures[k], volumes[k] = temperature, volume
        mode = mode_l[k]
        if mode == 1:
            if temperature < setpoint - half_band:
                heater_on = True
            elif temperature > setpoint + half_band:
                heater_on = False
        else:
            heater_on = mode == 2
        if volume < refill_below:
            valve_open = True
        served = min(draw_l[k], volume)
        kept = max(volume - served - leak_l[k], 0.0)
        refill = min(refill_max, capacity - kept) if valve_open else 0.0
        if kept + refill >= capacity:
            valve_open = False
        volume = kept + refill
        if volume > 0:
            temperature = (kept * temperature + refill * inlet) / volume
        on = heater_on and temperature < high_limit and volume > 0
        heat_kw = eta * heater_kw if on else 0.0
        if volume > 0:
            heat_capacity = volume * physics.LITRE_KG * physics.CP_WATER
            if ua > 0:
                settled = ambient + heat_kw / ua
                temperature = settled + (temperature - settled) * math.exp(-ua * dt / heat_capacity)
            else:
                temperature += heat_kw * dt / heat_capacity
        drawn[k + 1], power[k + 1] = served, heater_kw if on else 0.0

    flow = drawn / dt_min
    clean = {"temperature": temperatures, "level": volumes / capacity,
             "flow": flow[:-1], "power": power[:-1]}
    noise = {**NOISE_SD, "flow": FLOW_NOISE_FRACTION * clean["flow"]}
    noisy = physics.measured(clean, noise, rng, times, p)
    noisy["level"] = np.clip(noisy["level"], 0.0, 1.0)
    noisy["flow"] = np.maximum(noisy["flow"], 0.0)
    noisy["power"] = np.clip(noisy["power"], 0.0, heater_kw)
    frame = physics.sensor_frame(noisy, times, [s.name for s in ASSET_TYPE.sensors])
    end = {"temperature": float(temperature), "level": float(volume / capacity),
           "flow": float(flow[-1]), "power": float(power[-1]),
           "heater_on": float(heater_on), "valve_open": float(valve_open)}
    return frame, end


ASSET_TYPE = AssetType(
    name="water_dispenser",
    label="Water dispenser",
    description="Office hot/cold water dispenser with a heated 20 L tank.",
    sensors=(
        SensorSpec("temperature", "°C", 58.0, 62.0, SignalSpec(59.2, 1.6, 24, 5.0)),
        SensorSpec("level", "fraction", 0.2, 1.0, SignalSpec(0.55, 0.4, 6, 3.0, lower=0, upper=1)),
        SensorSpec("flow", "L/min", 0.0, 2.0, SignalSpec(0.0, 1.2, 12, 8.0, lower=0)),
        SensorSpec("power", "kW", 0.0, 0.04, SignalSpec(0.005, 0.03, 24, 5.0, lower=0)),
    ),
    calculate=calculate,
    calculations={'energy_kwh': 'kWh', 'litres_dispensed': 'L'},
    # A 40 W heater (the power sensor's range) keeps 20 L at 60 C for a small office only: with
    # these defaults the temperature strays more than 2 C from the setpoint well under 1 % of
    # the time (a burst of draws); more users or bigger draws and it cannot keep up.
    default_parameters={
        "tank_litres": 20.0,
        "heater_efficiency": 0.8,
        "setpoint_c": 60.0,
        "heater_kw": 0.04,
        "heater_regime": "thermostat",
        "deadband_k": 1.0,
        "high_limit_c": 95.0,
        "users": 3,
        "draws_per_user_per_day": 4.0,
        "flow_l_per_min": 0.2,
        "draw_minutes": 1.0,
        "office_start_h": 8.0,
        "office_end_h": 18.0,
        "timezone": "Europe/London",
        "refill_l_per_min": 1.0,
        "refill_below_level": 0.99,
        "inlet_c": 12.0,
        "ambient_c": 21.0,
        "ua_kw_per_k": 0.0002,
    },
    simulate=simulate,
    uses={"flow": "flow"},
    physical_faults={"leak": ("level", "temperature", "power"),
                     "overuse": ("flow", "power", "temperature")},
    # The flow meter reads the draws: at most 0.001 L/min (the static limit) is "nothing
    # drawn", most of the day. On its own that is no anomaly; it tells a leak (the tank cools
    # or empties with nothing drawn) from heavy use (see app/anomalies.py).
    anomaly_rules=(
        Threshold("temperature", "setpoint", drawn_by="flow", refill=("inlet_c", "tank_litres"),
                  heated_by="power"),
        Threshold("level", "low", drawn_by="flow"),
        Threshold("power", "high", consumption=True),
        FlatLine("temperature"), FlatLine("level"), FlatLine("power"),
        FlatLine("flow", resting=(0.0,)),  # at rest a flow meter reads exactly 0
        Spike("temperature"), Spike("level", within=(0.0, 1.0)),
        Spike("power", within=(0.0, "heater_kw")),
        Spike("flow", floor=0.1, within=(0.0, None)),  # two draws at once are no spike
    ),
)
