"""Pressure tank: buffers hot water between the boiler and the distribution pipelines."""

from app.generator import SignalSpec
from app.twins.base import AssetType, SensorSpec

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
    default_parameters={"volume_m3": 20.0, "height_m": 5.0, "design_pressure_bar": 8.0},
)
