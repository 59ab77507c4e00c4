"""Wind-turbine drivetrain: torque, shaft speed and gearbox oil temperature."""

from app.generator import SignalSpec
from app.twins.base import AssetType, SensorSpec

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
    default_parameters={"rated_power_kw": 90.0},
)
