"""A generic asset: anything that is not one of the built-in types.

It has no fixed sensors and no physics of its own. Its user adds the sensors (each with its
unit, normal range and reporting interval), calculations as formulas over them
(:mod:`app.plant.formulas`, e.g. ``power_kw = flow_m3h * dp_bar * 100 / 3.6 / efficiency``),
and chooses what to forecast. Each sensor's normal range is a static limit that raises alerts,
and every sensor is watched for flat lines and spikes, as the built-in types' sensors are
(:func:`app.plant.twin.effective_type`).
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from app.calculations import Carry
from app.twins.base import AssetType


def calculate(wide: pd.DataFrame, carry: Carry, parameters: dict[str, Any]) -> tuple[pd.DataFrame, Carry]:
    """Nothing of its own: the asset's formulas are its calculations."""
    return pd.DataFrame(index=wide.index), carry


ASSET_TYPE = AssetType(
    name="generic",
    label="Generic asset",
    description="Any plant: your own sensors, formula calculations and static limits.",
    sensors=(),
    calculate=calculate,
)
