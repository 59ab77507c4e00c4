"""Boiler: burns fuel to heat water for the site's heat network."""

from app.generator import SignalSpec
from app.twins.base import AssetType, SensorSpec

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
    default_parameters={
        "rated_output_kw": 500.0,
        "rated_temperature_c": 90.0,
        "efficiency": 0.9,
        "water_mass_kg": 2000.0,
    },
)
