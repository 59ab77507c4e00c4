"""Heat exchanger: passes the network's heat to a customer loop."""

from typing import Any

import pandas as pd

from app.calculations import Carry, advance
from app.generator import SignalSpec
from app.twins.base import AssetType, SensorSpec

WATER_CP_KJ_PER_KG_K = 4.186


def calculate(wide: pd.DataFrame, carry: Carry, parameters: dict[str, Any]) -> tuple[pd.DataFrame, Carry]:
    """Heat duty on the hot side (m x cp x dT) and the effectiveness achieved."""
    drop = wide["hot_inlet_temperature"] - wide["hot_outlet_temperature"]
    span = (wide["hot_inlet_temperature"] - wide["cold_inlet_temperature"]).where(lambda s: s > 0)
    out = pd.DataFrame({
        "duty_kw": parameters.get("hot_flow_kg_s", 2.0) * WATER_CP_KJ_PER_KG_K * drop,
        "effectiveness": (drop / span).fillna(0.0),
    })
    return out, advance(carry, out, [])


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
    default_parameters={"ua_kw_per_k": 12.0, "hot_flow_kg_s": 2.0, "cold_flow_kg_s": 2.2},
)
