"""An asset's newest forecasts of a target, as the API serves them.

:func:`app.forecasting.predict` stores each run's forecasts (the next horizon after the newest data,
each with its interval) under the active model version, replacing a time forecast before. The
API serves the latest issue of the active model: the rows its newest run wrote. A run stamps
its rows one after the other, within milliseconds, and runs are minutes apart, so the issue is
the rows stamped within :data:`ISSUE_SPREAD` of the newest.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.db.models import Asset, ModelVersion, Prediction, Sensor
from app.plant.catalogue import calculation_names, calculation_units

ISSUE_SPREAD = timedelta(minutes=1)


@dataclass(frozen=True)
class Issue:
    """The latest forecasts of a target: none (and no version) before its first model."""

    target: str
    unit: str | None
    version: int | None
    step_minutes: int | None
    issued_at: datetime | None
    rows: list[tuple[datetime, float, float | None, float | None]]  # ts, value, lower, upper


class UnknownTarget(LookupError):
    """The asset has no sensor, calculation or model of that name; ``str()`` lists those it has."""


def known_targets(session: Session, asset: Asset) -> dict[str, str | None]:
    """What may be forecast for ``asset``, with its unit: its sensors, its calculations, and
    any target it has a model of."""
    units: dict[str, str | None] = {name: unit for name, unit in session.execute(
        select(Sensor.name, Sensor.unit).where(Sensor.asset_id == asset.id))}
    calculated = calculation_units(asset)
    for name in calculation_names(asset):
        units.setdefault(name, calculated.get(name) or None)
    for name in session.scalars(select(ModelVersion.target).where(
            ModelVersion.asset_id == asset.id).distinct()):
        units.setdefault(name, None)
    return units


def latest_issue(session: Session, asset: Asset, target: str, limit: int) -> Issue:
    """The newest issue of the active model of ``asset``'s ``target``, oldest first, at most
    ``limit`` rows (the nearest)."""
    units = known_targets(session, asset)
    if target not in units:
        raise UnknownTarget(f"the asset has no sensor, calculation or model called {target!r} "
                            f"(it has: {', '.join(sorted(units)) or 'none'})")
    version = session.scalar(select(ModelVersion).where(
        ModelVersion.asset_id == asset.id, ModelVersion.target == target,
        ModelVersion.mode == "forecast", ModelVersion.status == "active"))
    if version is None:
        return Issue(target, units[target], None, None, None, [])
    step = (version.params or {}).get("step_minutes")
    newest = session.scalar(select(func.max(Prediction.created_at))
                            .where(Prediction.model_version_id == version.id))
    if newest is None:
        return Issue(target, units[target], version.version, step, None, [])
    rows = session.execute(
        select(Prediction.ts, Prediction.value, Prediction.lower, Prediction.upper)
        .where(Prediction.model_version_id == version.id,
               Prediction.created_at >= newest - ISSUE_SPREAD)
        .order_by(Prediction.ts).limit(limit)).all()
    return Issue(target, units[target], version.version, step, newest,
                 [(ts, value, lower, upper) for ts, value, lower, upper in rows])
