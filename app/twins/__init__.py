"""Asset types, registered in one place: a new type is one new module plus one line here."""

from __future__ import annotations

from app.twins import (
    boiler,
    drivetrain,
    generic,
    heat_exchanger,
    pipeline,
    pressure_tank,
    water_dispenser,
)
from app.twins.base import AssetType, SensorSpec

ASSET_TYPES: dict[str, AssetType] = {
    module.ASSET_TYPE.name: module.ASSET_TYPE
    for module in (boiler, pressure_tank, pipeline, heat_exchanger, drivetrain, water_dispenser,
                   generic)
}

#: The built-in types with physics: each has a simulator (the demo, what-if and the fault
#: benchmarks run them). The generic type has none: its user brings the sensors.
SIMULATED_TYPES: dict[str, AssetType] = {
    name: kind for name, kind in ASSET_TYPES.items() if kind.simulate is not None
}


def asset_type(name: str) -> AssetType:
    """The registered asset type ``name``; a clear error for an unknown one."""
    try:
        return ASSET_TYPES[name]
    except KeyError:
        known = ", ".join(sorted(ASSET_TYPES))
        raise KeyError(f"unknown asset type {name!r} (known: {known})") from None


__all__ = ["ASSET_TYPES", "SIMULATED_TYPES", "AssetType", "SensorSpec", "asset_type"]
