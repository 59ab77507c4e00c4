"""What every asset type declares: its sensors (name, unit, normal range, demo signal), its
calculations, its simulator and its anomaly rules."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from app.calculations import Carry
from app.generator import SignalSpec

#: calculate(wide batch, carry, asset parameters) -> (calculations frame, carry after it)
Calculate = Callable[[pd.DataFrame, Carry, dict[str, Any]], tuple[pd.DataFrame, Carry]]

#: simulate(parameters, times, rng, state) -> (frame of the sensors at ``times``, state at the
#: end). Clean physics plus measurement noise; see :mod:`app.twins.physics` for the conventions
#: (clock-keyed randomness, time-varying inputs, what "the end" is) and :mod:`app.simulation`
#: for the entry point that adds faults.
Simulate = Callable[
    [dict[str, Any], pd.DatetimeIndex, np.random.Generator, dict[str, float] | None],
    tuple[pd.DataFrame, dict[str, float]],
]


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
    #: The physical parameters the simulator and calculations read, with their defaults (each
    #: type's module docstring gives their units and meaning). Stored on new assets as JSON.
    default_parameters: dict[str, Any] = field(default_factory=dict)
    simulate: Simulate | None = None
    #: Faults the physics can show (``leak``, ``overuse``) -> the sensors each visibly moves.
    #: Sensor faults (stuck, drift, spike) need no physics and apply to every type.
    physical_faults: dict[str, tuple[str, ...]] = field(default_factory=dict)
    anomaly_rules: tuple[Any, ...] = ()
    #: What the asset uses: quantity (a sensor, or one of ``calculations``) -> the sensor its
    #: overuse alert is on. Each is judged against what the asset usually uses at that time.
    uses: dict[str, str] = field(default_factory=dict)
    #: The physics' expectation of a sensor from the others (sensor -> functions of the frame
    #: and the parameters): inputs of its consistency model (app/expectations.py), beside the
    #: models of the type's ``Expected`` rules.
    expectations: dict[str, tuple[Callable[..., Any], ...]] = field(default_factory=dict)
    #: Static limits of sensors the catalogue added (their normal ranges), beside the settings'
    #: ``anomaly.static[type]`` (which win): see :func:`app.plant.twin.effective_type`.
    limits: dict[str, Any] = field(default_factory=dict)

    def sensor(self, name: str) -> SensorSpec:
        for spec in self.sensors:
            if spec.name == name:
                return spec
        raise KeyError(f"{self.name} has no sensor {name!r}")
