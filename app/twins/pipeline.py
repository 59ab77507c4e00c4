"""Pipeline: carries water from the tanks to consumers; a leak shows as inlet > outlet flow."""

from app.generator import SignalSpec
from app.twins.base import AssetType, SensorSpec

ASSET_TYPE = AssetType(
    name="pipeline",
    label="Pipeline",
    description="Distribution pipe; pressure drop by Darcy-Weisbach, leaks by flow imbalance.",
    sensors=(
        SensorSpec("inlet_flow", "m³/h", 0.0, 50.0, SignalSpec(12, 20, 4, 2.0, lower=0)),
        SensorSpec("outlet_flow", "m³/h", 0.0, 50.0, SignalSpec(12, 20, 4, 2.0, lower=0)),
        SensorSpec("pressure_drop", "kPa", 0.0, 120.0, SignalSpec(20, 50, 4, 3.0, lower=0)),
    ),
    default_parameters={"length_m": 800.0, "diameter_m": 0.15, "roughness_mm": 0.045},
)
