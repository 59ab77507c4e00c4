"""Heat exchanger: passes the network's heat to a customer loop.

Simulator: outlet temperatures by the effectiveness-NTU method. With heat capacity rates
C = m cp of each stream, C_min and C_max, Cr = C_min / C_max and NTU = UA / C_min:

    counter-flow:  eps = (1 - exp(-NTU (1 - Cr))) / (1 - Cr exp(-NTU (1 - Cr)))
                   (NTU / (1 + NTU) when Cr = 1)
    parallel flow: eps = (1 - exp(-NTU (1 + Cr))) / (1 + Cr)

q = eps C_min (T_hot,in - T_cold,in); T_hot,out = T_hot,in - q / C_hot; T_cold,out = T_cold,in
+ q / C_cold. A plate exchanger holds seconds of water, so at a minute's scale the outlets follow
the inlets at once (quasi-steady).

Inputs: the hot inlet ``hot_inlet_c`` swinging by ``hot_inlet_swing_k`` once a day (the network
is hottest at ``hot_peak_hour`` UTC), the cold (return) inlet ``cold_inlet_c`` swinging by
``cold_inlet_swing_k`` once a day, ``hot_flow_kg_s`` fixed, and the customer loop's
``cold_flow_kg_s`` swinging by ``cold_flow_swing`` (a fraction) twice a day. ``ua_kw_per_k`` and
``arrangement`` ("counterflow" or "parallel") describe the exchanger.

Faults: overuse multiplies the customer loop's flow: both outlets cool. (A leak between the
streams is not modelled.) State: none.
"""

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from app.calculations import Carry, advance
from app.generator import SignalSpec
from app.twins import physics
from app.twins.base import AssetType, SensorSpec
from app.twins.rules import FlatLine, Spike

WATER_CP_KJ_PER_KG_K = physics.CP_WATER
NOISE_SD = {"hot_inlet_temperature": 0.2, "hot_outlet_temperature": 0.2,
            "cold_inlet_temperature": 0.2, "cold_outlet_temperature": 0.2}


def calculate(wide: pd.DataFrame, carry: Carry, parameters: dict[str, Any]) -> tuple[pd.DataFrame, Carry]:
    """Heat duty on the hot side (m x cp x dT) and the effectiveness achieved."""
    drop = wide["hot_inlet_temperature"] - wide["hot_outlet_temperature"]
    span = (wide["hot_inlet_temperature"] - wide["cold_inlet_temperature"]).where(lambda s: s > 0)
    out = pd.DataFrame({
        "duty_kw": parameters.get("hot_flow_kg_s", 2.0) * WATER_CP_KJ_PER_KG_K * drop,
        "effectiveness": (drop / span).fillna(0.0),
    })
    return out, advance(carry, out, [])


def effectiveness(ntu: Any, cr: Any, arrangement: str = "counterflow") -> np.ndarray:
    """The exchanger's effectiveness for NTU and capacity ratio Cr (0 <= Cr <= 1)."""
    ntu, cr = np.broadcast_arrays(np.asarray(ntu, dtype=float), np.asarray(cr, dtype=float))
    if arrangement == "parallel":
        return (1.0 - np.exp(-ntu * (1.0 + cr))) / (1.0 + cr)
    if arrangement != "counterflow":
        raise ValueError(f"arrangement must be 'counterflow' or 'parallel', not {arrangement!r}")
    balanced = np.isclose(cr, 1.0)
    decay = np.exp(-ntu * (1.0 - np.where(balanced, 0.0, cr)))
    with np.errstate(invalid="ignore", divide="ignore"):
        unbalanced = (1.0 - decay) / (1.0 - cr * decay)
    return np.where(balanced, ntu / (1.0 + ntu), unbalanced)


def outlet_temperatures(hot_in: Any, cold_in: Any, hot_flow_kg_s: Any, cold_flow_kg_s: Any,
                        ua_kw_per_k: float,
                        arrangement: str = "counterflow") -> tuple[np.ndarray, np.ndarray]:
    """(hot outlet, cold outlet) temperatures by effectiveness-NTU; a stream with no flow passes
    no heat."""
    hot_in, cold_in, c_hot, c_cold = np.broadcast_arrays(
        np.asarray(hot_in, dtype=float), np.asarray(cold_in, dtype=float),
        np.asarray(hot_flow_kg_s, dtype=float) * physics.CP_WATER,
        np.asarray(cold_flow_kg_s, dtype=float) * physics.CP_WATER)
    c_min, c_max = np.minimum(c_hot, c_cold), np.maximum(c_hot, c_cold)
    flowing = c_min > 0
    safe_min, safe_max = np.where(flowing, c_min, 1.0), np.where(flowing, c_max, 1.0)
    eps = effectiveness(ua_kw_per_k / safe_min, safe_min / safe_max, arrangement)
    duty = np.where(flowing, eps * c_min * (hot_in - cold_in), 0.0)
    return (hot_in - duty / np.where(c_hot > 0, c_hot, 1.0),
            cold_in + duty / np.where(c_cold > 0, c_cold, 1.0))


def simulate(parameters: dict[str, Any], times: pd.DatetimeIndex, rng: np.random.Generator,
             state: dict[str, float] | None) -> tuple[pd.DataFrame, dict[str, float]]:
    """The exchanger's sensors over ``times`` (see the module docstring for the physics)."""
    p = {**ASSET_TYPE.default_parameters, **parameters}
    n = len(times)
    epoch = physics.epoch_seconds(times)
    peak = float(p["hot_peak_hour"])
    daily = physics.daily_wave(epoch, 1.0, peak)
    hot_in = float(p["hot_inlet_c"]) + float(p["hot_inlet_swing_k"]) * daily
    cold_in = float(p["cold_inlet_c"]) + float(p["cold_inlet_swing_k"]) * daily
    demand = physics.input_array(p, physics.DEMAND, n, 1.0)
    cold_flow = float(p["cold_flow_kg_s"]) * demand * (
        1.0 + float(p["cold_flow_swing"]) * physics.daily_wave(epoch, 2.0, peak))
    hot_out, cold_out = outlet_temperatures(hot_in, cold_in, float(p["hot_flow_kg_s"]), cold_flow,
                                            float(p["ua_kw_per_k"]), p["arrangement"])
    clean = {"hot_inlet_temperature": hot_in, "hot_outlet_temperature": hot_out,
             "cold_inlet_temperature": cold_in, "cold_outlet_temperature": cold_out}
    noisy = physics.measured(clean, NOISE_SD, rng, times, p)
    return physics.sensor_frame(noisy, times, [s.name for s in ASSET_TYPE.sensors]), {}


def design_outlet(side: int) -> Callable[[pd.DataFrame, Mapping[str, Any]], pd.Series]:
    """The hot (``side`` 0) or cold (1) outlet temperature eps-NTU gives at the measured inlets
    and the design flows (the drift check's physics: the customer loop is not metered)."""
    def expected(frame: pd.DataFrame, p: Mapping[str, Any]) -> pd.Series:
        outlets = outlet_temperatures(frame["hot_inlet_temperature"].to_numpy(),
                                      frame["cold_inlet_temperature"].to_numpy(),
                                      float(p["hot_flow_kg_s"]), float(p["cold_flow_kg_s"]),
                                      float(p["ua_kw_per_k"]), str(p["arrangement"]))
        return pd.Series(outlets[side], index=frame.index)
    return expected


ASSET_TYPE = AssetType(
    name="heat_exchanger",
    label="Heat exchanger",
    description="Counter-flow plate exchanger; outlet temperatures by effectiveness-NTU.",
    sensors=(
        SensorSpec("hot_inlet_temperature", "°C", 60.0, 95.0, SignalSpec(70, 15, 1, 1.0)),
        SensorSpec("hot_outlet_temperature", "°C", 35.0, 70.0, SignalSpec(45, 12, 1, 1.0)),
        SensorSpec("cold_inlet_temperature", "°C", 5.0, 30.0, SignalSpec(10, 8, 1, 1.5)),
        SensorSpec("cold_outlet_temperature", "°C", 30.0, 80.0, SignalSpec(50, 14, 1, 1.0)),
    ),
    calculate=calculate,
    calculations={'duty_kw': 'kW', 'effectiveness': '1'},
    default_parameters={
        "ua_kw_per_k": 12.0,
        "hot_flow_kg_s": 2.0,
        "cold_flow_kg_s": 2.2,
        "arrangement": "counterflow",
        "hot_inlet_c": 80.0,
        "hot_inlet_swing_k": 5.0,
        "hot_peak_hour": 7.0,
        "cold_inlet_c": 15.0,
        "cold_inlet_swing_k": 3.0,
        "cold_flow_swing": 0.2,
    },
    simulate=simulate,
    # The heat passed is what the customer loop uses; its alert is on the hot outlet, whose
    # drop below the inlet measures it.
    uses={"duty_kw": "hot_outlet_temperature"},
    expectations={"hot_outlet_temperature": (design_outlet(0),),
                  "cold_outlet_temperature": (design_outlet(1),)},
    physical_faults={"overuse": ("hot_outlet_temperature", "cold_outlet_temperature")},
    # Sensor faults only: the customer loop's flow, which overuse raises, is not metered.
    anomaly_rules=(
        *(FlatLine(name) for name in ("hot_inlet_temperature", "hot_outlet_temperature",
                                      "cold_inlet_temperature", "cold_outlet_temperature")),
        *(Spike(name) for name in ("hot_inlet_temperature", "hot_outlet_temperature",
                                   "cold_inlet_temperature", "cold_outlet_temperature")),
    ),
)
