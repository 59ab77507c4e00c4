"""Wind-turbine drivetrain: torque, shaft speed and gearbox oil temperature.

Simulator: each sensor is its declared signal, a sine plus noise (torque and speed cycle four
times a day between 0 and their limits, 3,000 Nm and 300 rpm; the oil temperature once a day
between -20 and 100 C), clipped to those limits. The wear it causes is the calculation below.
No parameters change it; ``rated_power_kw`` is for display.

Faults: overuse multiplies the torque (an overloaded drivetrain, allowed past its 3,000 Nm rating
so the overload shows). A leak is not modelled. State: none.
"""

from typing import Any

import numpy as np
import pandas as pd

from app.calculations import Carry, advance, running_total
from app.generator import SignalSpec
from app.twins import physics
from app.twins.base import AssetType, SensorSpec
from app.twins.rules import FlatLine, Spike, Threshold


def calculate(wide: pd.DataFrame, carry: Carry, parameters: dict[str, Any]) -> tuple[pd.DataFrame, Carry]:
    """Destruction per second = ((torque / 1e6) x (speed / 60) + oil temperature) / 5e6, at
    least 0, and its running total over time: the wear the drivetrain has accumulated.

    The formula as given goes negative whenever the oil is below about 0 °C (its temperature
    term outweighs the load term, at most 0.015), which would make the total fall: worn metal
    does not grow back. Cold oil is counted as no wear, so the rate is 0 there and the total
    never decreases; the plot of the rate shows those times at 0.
    """
    rate = (((wide["torque"] / 1e6) * (wide["speed"] / 60) + wide["oil_temperature"]) / 5e6).clip(lower=0.0)
    out = pd.DataFrame({"destruction_rate": rate,
                        "accumulated_destruction": running_total(rate, carry, "accumulated_destruction")})
    return out, advance(carry, out, ["accumulated_destruction"])


def simulate(parameters: dict[str, Any], times: pd.DatetimeIndex, rng: np.random.Generator,
             state: dict[str, float] | None) -> tuple[pd.DataFrame, dict[str, float]]:
    """Each sensor's sine at ``times`` plus its noise, within its limits (see the docstring)."""
    epoch = physics.epoch_seconds(times)
    demand = physics.input_array(parameters, physics.DEMAND, len(times), 1.0)
    scale = float(parameters.get(physics.NOISE_SCALE, 1.0))
    columns = {}
    for spec in ASSET_TYPE.sensors:
        signal = spec.signal
        factor = demand if spec.name == "torque" else 1.0
        values = signal.clean(epoch) * factor
        if scale:
            values = values + scale * signal.noise_sd * physics.clock_normal(rng, spec.name, times)
        upper = None if signal.upper is None else signal.upper * np.maximum(factor, 1.0)
        columns[spec.name] = np.clip(values, signal.lower, upper)
    return physics.sensor_frame(columns, times, list(columns)), {}


ASSET_TYPE = AssetType(
    name="drivetrain",
    label="Wind drivetrain",
    description="Wind-turbine gearbox and shaft; wear accumulates as 'destruction'.",
    sensors=(
        # Limits from the turbine's data sheet: torque <= 3,000 Nm, speed <= 300 rpm,
        # oil -20..100 C; torque and speed cycle 4 times a day, oil temperature once.
        SensorSpec(
            "torque", "Nm", 0.0, 3000.0, SignalSpec(0, 3000, 4, 3.0, lower=0, upper=3000)
        ),
        SensorSpec("speed", "rpm", 0.0, 300.0, SignalSpec(0, 300, 4, 3.0, lower=0, upper=300)),
        SensorSpec(
            "oil_temperature", "°C", -20.0, 100.0, SignalSpec(-20, 120, 1, 2.0, lower=-20, upper=100)
        ),
    ),
    calculate=calculate,
    calculations={'destruction_rate': '1/s', 'accumulated_destruction': '1'},
    default_parameters={"rated_power_kw": 90.0},
    simulate=simulate,
    uses={"torque": "torque"},
    physical_faults={"overuse": ("torque",)},
    anomaly_rules=(
        Threshold("torque", "high", consumption=True),  # an overloaded drivetrain
        *(FlatLine(name) for name in ("torque", "speed", "oil_temperature")),
        *(Spike(name) for name in ("torque", "speed", "oil_temperature")),
    ),
)
