"""Hot and cold water dispenser: a 20 L tank kept near 60 C by a heater, drawn on by users."""

from typing import Any

import pandas as pd

from app.calculations import Carry, advance, running_total
from app.generator import SignalSpec
from app.twins.base import AssetType, SensorSpec


def calculate(wide: pd.DataFrame, carry: Carry, parameters: dict[str, Any]) -> tuple[pd.DataFrame, Carry]:
    """Energy drawn by the heater (kWh) and water dispensed (L), as running totals."""
    out = pd.DataFrame({
        "energy_kwh": running_total(wide["power"] / 3600, carry, "energy_kwh"),
        "litres_dispensed": running_total(wide["flow"] / 60, carry, "litres_dispensed"),
    })
    return out, advance(carry, out, ["energy_kwh", "litres_dispensed"])


ASSET_TYPE = AssetType(
    name="water_dispenser",
    label="Water dispenser",
    description="Office hot/cold water dispenser with a heated 20 L tank.",
    sensors=(
        SensorSpec("temperature", "°C", 58.0, 62.0, SignalSpec(59.2, 1.6, 24, 5.0)),
        SensorSpec("level", "fraction", 0.2, 1.0, SignalSpec(0.55, 0.4, 6, 3.0, lower=0, upper=1)),
        SensorSpec("flow", "L/min", 0.0, 2.0, SignalSpec(0.0, 1.2, 12, 8.0, lower=0)),
        SensorSpec("power", "kW", 0.0, 0.04, SignalSpec(0.005, 0.03, 24, 5.0, lower=0)),
    ),
    calculate=calculate,
    calculations={'energy_kwh': 'kWh', 'litres_dispensed': 'L'},
    default_parameters={
        "tank_litres": 20.0,
        "heater_efficiency": 0.8,
        "setpoint_c": 60.0,
        "heater_kw": 0.04,
    },
)
