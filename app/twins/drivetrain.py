"""Wind-turbine drivetrain: torque, shaft speed and gearbox oil temperature."""

from typing import Any

import pandas as pd

from app.calculations import Carry, advance, running_total
from app.generator import SignalSpec
from app.twins.base import AssetType, SensorSpec


def calculate(wide: pd.DataFrame, carry: Carry, parameters: dict[str, Any]) -> tuple[pd.DataFrame, Carry]:
    """Destruction per second = ((torque / 1e6) x (speed / 60) + oil temperature) / 5e6, and its
    running total over time: the wear the drivetrain has accumulated."""
    rate = ((wide["torque"] / 1e6) * (wide["speed"] / 60) + wide["oil_temperature"]) / 5e6
    out = pd.DataFrame({"destruction_rate": rate,
                        "accumulated_destruction": running_total(rate, carry, "accumulated_destruction")})
    return out, advance(carry, out, ["accumulated_destruction"])


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
)
