"""Pipeline: carries water from the tanks to consumers; a leak shows as inlet > outlet flow."""

from typing import Any

import pandas as pd

from app.calculations import Carry, advance
from app.generator import SignalSpec
from app.twins.base import AssetType, SensorSpec


def calculate(wide: pd.DataFrame, carry: Carry, parameters: dict[str, Any]) -> tuple[pd.DataFrame, Carry]:
    """Flow imbalance between inlet and outlet: a leak loses what goes in and does not come out."""
    imbalance = wide["inlet_flow"] - wide["outlet_flow"]
    out = pd.DataFrame({
        "flow_imbalance_m3h": imbalance,
        "imbalance_fraction": (imbalance / wide["inlet_flow"].where(wide["inlet_flow"] > 0)).fillna(0.0),
    })
    return out, advance(carry, out, [])


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
    default_parameters={"length_m": 800.0, "diameter_m": 0.15, "roughness_mm": 0.045},
)
