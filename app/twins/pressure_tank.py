"""Pressure tank: buffers hot water between the boiler and the distribution pipelines.

Simulator: a vertical tank of cross-section A = ``volume_m3`` / ``height_m``; the level h follows
the mass balance

    A dh/dt = Q_in - Q_out - Q_leak        (flows in m3/h, divided by 3,600)

solved with SciPy's ``solve_ivp``. Q_out is the consumers' demand, ``outflow_m3h`` swinging by
``demand_swing`` (a fraction) four times a day (peak at ``demand_peak_hour`` UTC). Q_in is the
feed pump: fixed at ``inflow_m3h`` (``inflow_control="fixed"``) or level-controlled
(``"level"``): the design flow ``outflow_m3h`` plus a correction that would close the gap to
``level_setpoint_m`` in ``level_time_constant_min``, within 0..``inflow_max_m3h``. Outflow stops
as the water reaches the outlet, inflow as it reaches the top.

Pressure at the bottom sensor = the gas cushion above the water (Boyle, isothermal: precharged
to ``precharge_bar`` gauge with the tank empty) plus the water's head rho g h.

Faults: a leak loses ``leak_fraction`` x ``outflow_m3h`` through no meter, so the level and
pressure fall and the level controller feeds more; overuse multiplies the demand.
State: level (m).
"""

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from app.calculations import Carry, advance
from app.generator import SignalSpec
from app.twins import physics
from app.twins.base import AssetType, SensorSpec
from app.twins.rules import Balance, Expected, FlatLine, Spike, Threshold

NOISE_SD = {"level": 0.005, "pressure": 0.01, "inflow": 0.1, "outflow": 0.1}
#: Within this of the outlet (bottom) or the top, outflow or inflow tapers to nothing, so the
#: level never leaves the tank and the solver sees no jump.
EDGE_M = 0.05


def calculate(wide: pd.DataFrame, carry: Carry, parameters: dict[str, Any]) -> tuple[pd.DataFrame, Carry]:
    """Net flow into the tank (mass balance): positive fills it, negative drains it."""
    out = pd.DataFrame({"net_flow_m3h": wide["inflow"] - wide["outflow"]})
    return out, advance(carry, out, [])


def pressure_bar(level: Any, p: dict[str, Any]) -> Any:
    """Gauge pressure at the bottom at a level: the gas cushion plus the water's head."""
    height = float(p["height_m"])
    gas = (float(p["precharge_bar"]) + physics.ATMOSPHERE_BAR) * height / (height - level)
    return gas - physics.ATMOSPHERE_BAR + physics.RHO_WATER * physics.G * level / 1e5


def _flows(level: Any, demand: Any, p: dict[str, Any]) -> tuple[Any, Any]:
    """(inflow, outflow) in m3/h at a level, given the demand (m3/h) the consumers ask for."""
    height, area = float(p["height_m"]), float(p["volume_m3"]) / float(p["height_m"])
    outlet = np.clip(level / EDGE_M, 0.0, 1.0)
    room = np.clip((height - level) / EDGE_M, 0.0, 1.0)
    if p["inflow_control"] == "fixed":
        inflow = float(p["inflow_m3h"])
    else:
        setpoint, minutes = physics.floats(p, "level_setpoint_m", "level_time_constant_min")
        correction = (setpoint - level) * area * 60.0 / minutes
        inflow = np.clip(float(p["outflow_m3h"]) + correction, 0.0, float(p["inflow_max_m3h"]))
    return inflow * room, demand * outlet


def simulate(parameters: dict[str, Any], times: pd.DatetimeIndex, rng: np.random.Generator,
             state: dict[str, float] | None) -> tuple[pd.DataFrame, dict[str, float]]:
    """The tank's sensors over ``times`` (see the module docstring for the physics)."""
    p = {**ASSET_TYPE.default_parameters, **parameters}
    if p["inflow_control"] not in ("fixed", "level"):
        raise ValueError(f"inflow_control must be 'fixed' or 'level', not {p['inflow_control']!r}")
    n, dt = len(times), physics.interval_seconds(times)
    epoch = physics.epoch_seconds(times)
    t = epoch - epoch[0]
    factor = physics.input_array(p, physics.DEMAND, n, 1.0)
    leak = physics.input_array(p, physics.LEAK, n, 0.0)
    design, swing, peak = physics.floats(p, "outflow_m3h", "demand_swing", "demand_peak_hour")
    area = float(p["volume_m3"]) / float(p["height_m"])

    def demand_at(epoch_s: Any, row_factor: Any) -> Any:
        return design * row_factor * (1.0 + swing * physics.daily_wave(epoch_s, 4.0, peak))

    def rhs_for(row: int) -> Callable[[float, np.ndarray], list[float]]:
        start, row_factor, lost = epoch[0], factor[row], leak[row] * design

        def rhs(tt: float, y: np.ndarray) -> list[float]:
            level = float(y[0])
            inflow, outflow = _flows(level, demand_at(start + tt, row_factor), p)
            escaping = lost * min(max(level / EDGE_M, 0.0), 1.0)
            return [float(inflow - outflow - escaping) / 3600.0 / area]

        return rhs

    level0 = float((state or {}).get("level", p["level_setpoint_m"]))
    runs = physics.constant_runs(factor, leak)
    solved, end = physics.integrate(rhs_for, [level0], t, t[-1] + dt, runs)
    level = solved[:, 0]
    inflow, outflow = _flows(level, demand_at(epoch, factor), p)
    clean = {"level": level, "pressure": pressure_bar(level, p),
             "inflow": np.broadcast_to(inflow, (n,)), "outflow": outflow}
    noisy = physics.measured(clean, NOISE_SD, rng, times, p)
    for name in ("level", "inflow", "outflow"):
        noisy[name] = np.maximum(noisy[name], 0.0)
    frame = physics.sensor_frame(noisy, times, [s.name for s in ASSET_TYPE.sensors])
    return frame, {"level": float(end[0])}


def pressure_from_level(frame: pd.DataFrame, p: dict[str, Any]) -> pd.Series:
    """The pressure the level gives (an anomaly rule's model: the two must agree)."""
    return pd.Series(pressure_bar(frame["level"].to_numpy(), p), index=frame.index)


def controlled_inflow(frame: pd.DataFrame, p: dict[str, Any]) -> pd.Series | None:
    """The feed the level controller sets at the measured level (an anomaly rule's model);
    None for a fixed feed, which the level does not set."""
    if p.get("inflow_control") != "level":
        return None
    inflow, _ = _flows(frame["level"].to_numpy(), 0.0, p)
    return pd.Series(np.broadcast_to(inflow, (len(frame),)), index=frame.index)


ASSET_TYPE = AssetType(
    name="pressure_tank",
    label="Pressure tank",
    description="Pressurised buffer vessel; level and pressure follow inflow minus outflow.",
    sensors=(
        SensorSpec("level", "m", 0.5, 4.5, SignalSpec(1.5, 2.0, 2, 1.5, lower=0)),
        SensorSpec("pressure", "bar", 1.0, 6.0, SignalSpec(2.5, 1.5, 2, 1.5, lower=0)),
        SensorSpec("inflow", "m³/h", 0.0, 40.0, SignalSpec(10, 15, 4, 4.0, lower=0)),
        SensorSpec("outflow", "m³/h", 0.0, 40.0, SignalSpec(10, 15, 4, 4.0, lower=0, phase=0.3)),
    ),
    calculate=calculate,
    calculations={'net_flow_m3h': 'm³/h'},
    default_parameters={
        "volume_m3": 20.0,
        "height_m": 5.0,
        "design_pressure_bar": 8.0,
        "precharge_bar": 1.0,
        "outflow_m3h": 10.0,
        "demand_swing": 0.5,
        "demand_peak_hour": 7.0,
        "inflow_control": "level",
        "inflow_m3h": 10.0,
        "inflow_max_m3h": 40.0,
        "level_setpoint_m": 2.5,
        "level_time_constant_min": 30.0,
    },
    simulate=simulate,
    uses={"outflow": "outflow"},
    physical_faults={"leak": ("level", "pressure", "inflow"),
                     "overuse": ("outflow", "inflow", "level", "pressure")},
    anomaly_rules=(
        Balance("level", "inflow", "outflow"),
        Threshold("outflow", "high", consumption=True),
        Expected("pressure", pressure_from_level, uses=("level",), bound="both",
                 meaning="sensor_error",
                 because="the pressure and the level must agree: one of the two sensors reads wrong"),
        Expected("inflow", controlled_inflow, uses=("level",), bound="both", meaning="sensor_error",
                 because="the level controller sets the inflow from the level: the inflow meter or "
                         "the level sensor reads wrong"),
        *(FlatLine(name) for name in ("level", "pressure", "inflow", "outflow")),
        *(Spike(name) for name in ("level", "pressure", "inflow", "outflow")),
    ),
)
