"""Pipeline: carries water from the tanks to consumers; a leak shows as inlet > outlet flow.

Simulator: the inlet flow Q is the consumers' demand, ``flow_m3h`` swinging by ``demand_swing``
(a fraction) four times a day (peak at ``demand_peak_hour`` UTC). Water is incompressible and
the pipe holds no store, so the outlet flow is the inlet flow less what a leak loses, at once.
The pressure drop is Darcy-Weisbach over each stretch of pipe:

    dp = f (L / D) rho v^2 / 2,   v = Q / (pi D^2 / 4),   Re = v D / nu

with f = 64 / Re in laminar flow (Re < 2,300) and from Colebrook-White otherwise (``roughness_mm``
is the wall's absolute roughness, ``kinematic_viscosity_m2_s`` and ``density_kg_m3`` the
water's: the defaults are water at about 60 C). The default 100 mm bore puts the drop in the
sensor's normal range at the design flows.

Faults: a leak at ``leak_position`` (a fraction of the length from the inlet) loses
``leak_fraction`` of the flow there: the outlet flow falls below the inlet flow and, with less
water in the stretch after the leak, the pressure drop falls too. Overuse multiplies the demand.
State: none (the flow has no memory at a minute's scale).
"""

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from app.calculations import Carry, advance
from app.generator import SignalSpec
from app.twins import physics
from app.twins.base import AssetType, SensorSpec
from app.twins.rules import FlatLine, Imbalance, Spike, Threshold

LAMINAR_RE = 2300.0
COLEBROOK_ITERATIONS = 20  # fixed-point from Swamee-Jain: converged to ~1e-12 in under 10


def calculate(wide: pd.DataFrame, carry: Carry, parameters: dict[str, Any]) -> tuple[pd.DataFrame, Carry]:
    """Flow imbalance between inlet and outlet: a leak loses what goes in and does not come out."""
    imbalance = wide["inlet_flow"] - wide["outlet_flow"]
    out = pd.DataFrame({
        "flow_imbalance_m3h": imbalance,
        "imbalance_fraction": (imbalance / wide["inlet_flow"].where(wide["inlet_flow"] > 0)).fillna(0.0),
    })
    return out, advance(carry, out, [])


def friction_factor(reynolds: np.ndarray, relative_roughness: float) -> np.ndarray:
    """Darcy friction factor: 64/Re when laminar, Colebrook-White when turbulent (0 at rest)."""
    re = np.asarray(reynolds, dtype=float)
    f = np.zeros_like(re)
    laminar = (re > 0) & (re < LAMINAR_RE)
    f[laminar] = 64.0 / re[laminar]
    turbulent = re >= LAMINAR_RE
    if turbulent.any():
        r = re[turbulent]
        # Swamee-Jain as the starting guess, then Colebrook's 1/sqrt(f) = -2 log10(e/3.7D +
        # 2.51/(Re sqrt f)) by fixed-point iteration, which contracts fast for pipe flows.
        x = -2.0 * np.log10(relative_roughness / 3.7 + 5.74 / r**0.9)
        for _ in range(COLEBROOK_ITERATIONS):
            x = -2.0 * np.log10(relative_roughness / 3.7 + 2.51 * x / r)
        f[turbulent] = 1.0 / x**2
    return f


def pressure_drop_kpa(flow_m3h: Any, length_m: float, p: dict[str, Any]) -> np.ndarray:
    """Darcy-Weisbach pressure drop (kPa) of ``flow_m3h`` over ``length_m`` of this pipe."""
    diameter = float(p["diameter_m"])
    velocity = np.asarray(flow_m3h, dtype=float) / 3600.0 / (np.pi * diameter**2 / 4.0)
    reynolds = np.abs(velocity) * diameter / float(p["kinematic_viscosity_m2_s"])
    f = friction_factor(reynolds, float(p["roughness_mm"]) / 1000.0 / diameter)
    return f * (length_m / diameter) * float(p["density_kg_m3"]) * velocity**2 / 2.0 / 1000.0


def simulate(parameters: dict[str, Any], times: pd.DatetimeIndex, rng: np.random.Generator,
             state: dict[str, float] | None) -> tuple[pd.DataFrame, dict[str, float]]:
    """The pipeline's sensors over ``times`` (see the module docstring for the physics)."""
    p = {**ASSET_TYPE.default_parameters, **parameters}
    n = len(times)
    demand = physics.input_array(p, physics.DEMAND, n, 1.0)
    lost = np.clip(physics.input_array(p, physics.LEAK, n, 0.0), 0.0, 1.0)
    wave = physics.daily_wave(physics.epoch_seconds(times), 4.0, float(p["demand_peak_hour"]))
    inlet = np.maximum(float(p["flow_m3h"]) * demand * (1.0 + float(p["demand_swing"]) * wave), 0.0)
    outlet = inlet * (1.0 - lost)
    length, position = float(p["length_m"]), float(p["leak_position"])
    drop = (pressure_drop_kpa(inlet, position * length, p)
            + pressure_drop_kpa(outlet, (1.0 - position) * length, p))
    clean = {"inlet_flow": inlet, "outlet_flow": outlet, "pressure_drop": drop}
    # Flow meters are good to about 1 % of reading, plus a little zero noise.
    noise = {"inlet_flow": 0.05 + 0.01 * inlet, "outlet_flow": 0.05 + 0.01 * outlet,
             "pressure_drop": 0.3}
    measured = physics.measured(clean, noise, rng, times, p)
    noisy = {name: np.maximum(values, 0.0) for name, values in measured.items()}
    return physics.sensor_frame(noisy, times, [s.name for s in ASSET_TYPE.sensors]), {}


#: Where along the pipe (0 inlet, 1 outlet) the pressure drop puts a loss, within which of
#: either end it is a meter reading wrong rather than a leak.
METER_FRACTION = 0.15


def which_meter(episode: pd.DataFrame, p: dict[str, Any]) -> tuple[str, str] | None:
    """Whether an outlet flow short of the inlet flow is a leak or a meter reading wrong, from
    the pressure drop (an anomaly rule's explanation). With a leak part way along, the drop lies
    between the drop of the inlet flow over the whole length and that of the outlet flow; a
    drop that matches the inlet flow all along means the outlet meter reads low, one that
    matches the outlet flow, that the inlet meter reads high. None: a leak."""
    length = float(p["length_m"])
    whole_inlet = pressure_drop_kpa(episode["inlet_flow"].to_numpy(), length, p)
    whole_outlet = pressure_drop_kpa(episode["outlet_flow"].to_numpy(), length, p)
    spread = whole_inlet - whole_outlet
    usable = spread > 0
    if not usable.any():
        return None
    # 0 where the drop is the inlet flow's, 1 where it is the outlet flow's
    along = float(np.median((whole_inlet - episode["pressure_drop"].to_numpy())[usable] / spread[usable]))
    if along < METER_FRACTION:
        return ("sensor_error", "the pressure drop is the inlet flow's all the way along, so no "
                                "water is lost: the outlet meter reads low")
    if along > 1 - METER_FRACTION:
        return ("sensor_error", "the pressure drop is the outlet flow's all the way along, so no "
                                "water is lost: the inlet meter reads high")
    return None


def drop_of(flow: str) -> Callable[[pd.DataFrame, Mapping[str, Any]], pd.Series]:
    """The pressure drop ``flow`` would give over the whole pipe (the drift check's physics)."""
    def expected(frame: pd.DataFrame, p: Mapping[str, Any]) -> pd.Series:
        return pd.Series(pressure_drop_kpa(frame[flow].to_numpy(), float(p["length_m"]), dict(p)),
                         index=frame.index)
    return expected


ASSET_TYPE = AssetType(
    name="pipeline",
    label="Pipeline",
    description="Distribution pipe; pressure drop by Darcy-Weisbach, leaks by flow imbalance.",
    sensors=(
        SensorSpec("inlet_flow", "m³/h", 0.0, 50.0, SignalSpec(12, 20, 4, 2.0, lower=0)),
        SensorSpec("outlet_flow", "m³/h", 0.0, 50.0, SignalSpec(12, 20, 4, 2.0, lower=0)),
        SensorSpec("pressure_drop", "kPa", 0.0, 120.0, SignalSpec(20, 50, 4, 3.0, lower=0)),
    ),
    calculate=calculate,
    calculations={'flow_imbalance_m3h': 'm³/h', 'imbalance_fraction': '1'},
    default_parameters={
        "length_m": 800.0,
        "diameter_m": 0.1,
        "roughness_mm": 0.045,
        "kinematic_viscosity_m2_s": 4.7e-7,
        "density_kg_m3": 983.0,
        "flow_m3h": 22.0,
        "demand_swing": 0.45,
        "demand_peak_hour": 7.0,
        "leak_position": 0.5,
    },
    simulate=simulate,
    uses={"inlet_flow": "inlet_flow"},
    # Darcy-Weisbach: the drop either flow would give over the whole pipe
    expectations={"pressure_drop": (drop_of("inlet_flow"), drop_of("outlet_flow"))},
    physical_faults={"leak": ("outlet_flow", "pressure_drop"),
                     "overuse": ("inlet_flow", "outlet_flow", "pressure_drop")},
    anomaly_rules=(
        Imbalance("inlet_flow", "outlet_flow", explain=which_meter),
        Threshold("inlet_flow", "high", consumption=True),
        *(FlatLine(name) for name in ("inlet_flow", "outlet_flow", "pressure_drop")),
        *(Spike(name) for name in ("inlet_flow", "outlet_flow", "pressure_drop")),
    ),
)
