"""Boiler: burns fuel to heat water for the site's heat network."""

from typing import Any

import pandas as pd

from app.calculations import Carry, advance, running_total
from app.generator import SignalSpec
from app.twins.base import AssetType, SensorSpec

GAS_KWH_PER_M3 = 10.55  # natural gas, gross: 38 MJ/m3 / 3.6


def calculate(wide: pd.DataFrame, carry: Carry, parameters: dict[str, Any]) -> tuple[pd.DataFrame, Carry]:
    """Heat input from the fuel flow, heat output at the boiler's efficiency, and the damage
    indicator: hours spent above the rated water temperature."""
    heat_input = wide["fuel_flow"] * GAS_KWH_PER_M3
    above = (wide["water_temperature"] > parameters.get("rated_temperature_c", 90.0)).astype(float) / 3600
    out = pd.DataFrame({
        "heat_input_kw": heat_input,
        "heat_output_kw": heat_input * parameters.get("efficiency", 0.9),
        "hours_above_rated": running_total(above, carry, "hours_above_rated"),
    })
    return out, advance(carry, out, ["hours_above_rated"])


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
    calculate=calculate,
    calculations={'heat_input_kw': 'kW', 'heat_output_kw': 'kW', 'hours_above_rated': 'h'},
    default_parameters={
        "rated_output_kw": 500.0,
        "rated_temperature_c": 90.0,
        "efficiency": 0.9,
        "water_mass_kg": 2000.0,
    },
)
