"""What every asset type declares: its sensors (name, unit, normal range, demo signal)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from app.calculations import Carry
from app.generator import SignalSpec

#: calculate(wide batch, carry, asset parameters) -> (calculations frame, carry after it)
Calculate = Callable[[pd.DataFrame, Carry, dict[str, Any]], tuple[pd.DataFrame, Carry]]


@dataclass(frozen=True)
class SensorSpec:
    """A sensor an asset type carries, its unit and normal operating range, and the signal
    the generator draws for it."""

    name: str
    unit: str
    normal_min: float | None
    normal_max: float | None
    signal: SignalSpec


@dataclass(frozen=True)
class AssetType:
    """One kind of twinned plant. Each lives in its own module of ``app.twins``."""

    name: str
    label: str
    description: str
    sensors: tuple[SensorSpec, ...]
    calculate: Calculate
    #: name -> unit of each calculation ``calculate`` returns
    calculations: dict[str, str] = field(default_factory=dict)
    default_parameters: dict[str, Any] = field(default_factory=dict)

    def sensor(self, name: str) -> SensorSpec:
        for spec in self.sensors:
            if spec.name == name:
                return spec
        raise KeyError(f"{self.name} has no sensor {name!r}")
