"""Pressure tank: buffers hot water between the boiler and the distribution pipelines."""

from typing import Any

import pandas as pd

from app.calculations import Carry, advance
from app.generator import SignalSpec
from app.twins.base import AssetType, SensorSpec


def calculate(wide: pd.DataFrame, carry: Carry, parameters: dict[str, Any]) -> tuple[pd.DataFrame, Carry]:
    """Net flow into the tank (mass balance): positive fills it, negative drains it."""
    out = pd.DataFrame({"net_flow_m3h": wide["inflow"] - wide["outflow"]})
    return out, advance(carry, out, [])


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
    default_parameters={"volume_m3": 20.0, "height_m": 5.0, "design_pressure_bar": 8.0},
)
