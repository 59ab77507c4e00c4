"""What the asset page plots: the asset's channels (sensors and calculations), the range its
data spans, its pipeline batches, and its forecasts against what happened.

Every function takes the supplier and answers only for that supplier's assets. Long series
come from :mod:`app.series`, cut to at most ``max_points`` a trace.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
import pandas as pd
from sqlalchemy import Engine, case, func, select
from sqlalchemy.orm import Session

from app import plain_text
from app import series as series_
from app.db import Database
from app.db.base import utcnow
from app.db.models import (
    Asset,
    Calculation,
    ModelVersion,
    PipelineRun,
    Prediction,
    Sensor,
    SensorReading,
    Site,
    Validation,
)
from app.forecasting import Metrics, load_target, score
from app.model_registry import AssetNotFound, Served, Slot, slots
from app.plant.catalogue import calculation_units
from app.twins import ASSET_TYPES

MAX_POINTS = 2000
FORECAST_POINTS = 5000


@dataclass(frozen=True)
class Channel:
    """Something plottable over time: a sensor (``s:<id>``) or a calculation (``c:<name>``)."""

    key: str
    name: str
    unit: str
    kind: str  # sensor | calculation
    sensor_id: int | None = None

    @property
    def words(self) -> str:
        """The name in words, without a last word that only repeats the unit: ``heat_input_kw``
        in kW is "Heat input"."""
        return plain_text.words(self.name, self.unit)

    @property
    def label(self) -> str:
        return plain_text.label(self.name, self.unit)


@dataclass(frozen=True)
class AssetInfo:
    id: int
    name: str
    site_name: str
    asset_type: str
    type_label: str
    description: str
    sensors: tuple[Channel, ...]
    calculations: tuple[Channel, ...]
    first_ts: datetime | None
    last_ts: datetime | None
    models: tuple[tuple[str, str], ...]  # (target, mode) of each model slot

    @property
    def targets(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(target for target, _ in self.models))

    @property
    def channels(self) -> tuple[Channel, ...]:
        return self.sensors + self.calculations

    def channel(self, key: str | None) -> Channel | None:
        return next((c for c in self.channels if c.key == key), None)


def asset_info(session: Session, sensors_engine: Engine, supplier_id: int, asset_id: int) -> AssetInfo:
    """The asset's facts and channels; :class:`AssetNotFound` for another supplier's asset."""
    row = session.execute(
        select(Asset, Site.name).join(Site, Site.id == Asset.site_id)
        .where(Asset.id == asset_id, Site.supplier_id == supplier_id)
    ).one_or_none()
    if row is None:
        raise AssetNotFound(asset_id)
    asset, site_name = row
    kind = ASSET_TYPES.get(asset.asset_type)
    sensors = tuple(
        Channel(f"s:{s.id}", s.name, s.unit, "sensor", s.id)
        for s in session.scalars(select(Sensor).where(Sensor.asset_id == asset.id).order_by(Sensor.id))
    )
    # The type's own calculations, then the asset's formulas (a generic asset has only those).
    calculations = tuple(Channel(f"c:{name}", name, unit, "calculation")
                         for name, unit in calculation_units(asset).items())
    first, last = None, None
    # The extent of the data: a PK seek per sensor for min and max (cheap at any size).
    with sensors_engine.connect() as conn:
        for channel in sensors:
            lo = conn.scalar(select(func.min(SensorReading.ts)).where(SensorReading.sensor_id == channel.sensor_id))
            hi = conn.scalar(select(func.max(SensorReading.ts)).where(SensorReading.sensor_id == channel.sensor_id))
            first = lo if first is None or (lo is not None and lo < first) else first
            last = hi if last is None or (hi is not None and hi > last) else last
    models = tuple((target, mode) for target, mode in session.execute(
        select(ModelVersion.target, ModelVersion.mode).where(ModelVersion.asset_id == asset.id).distinct()
        .order_by(ModelVersion.target, ModelVersion.mode)))
    return AssetInfo(asset.id, asset.name, site_name, asset.asset_type, kind.label if kind else asset.asset_type,
                     kind.description if kind else "", sensors, calculations, first, last, models)


def model_key(target: str, mode: str) -> str:
    """A model slot as one picker value, e.g. ``forecast:oil_temperature``."""
    return f"{mode}:{target}"


def parse_model_key(key: object) -> tuple[str, str] | None:
    """(target, mode) of a :func:`model_key`, or None for anything else."""
    if not isinstance(key, str) or ":" not in key:
        return None
    mode, target = key.split(":", 1)
    return target, mode


def channel_series(db: Database, info: AssetInfo, channel: Channel, start: datetime, end: datetime,
                   max_points: int = MAX_POINTS) -> series_.Series:
    if channel.kind == "sensor":
        assert channel.sensor_id is not None
        return series_.load_series(db, channel.sensor_id, start, end, max_points=max_points)
    return series_.load_calculation(db, info.id, channel.name, start, end, max_points=max_points)


@dataclass(frozen=True)
class Batch:
    id: int
    started_at: datetime
    start: datetime
    end: datetime
    rows: int
    status: str

    @property
    def label(self) -> str:
        return (f"#{self.id}: {self.start:%d %b %H:%M} – {self.end:%d %b %H:%M} UTC, "
                f"{self.rows:,} readings ({self.status})")


def pipeline_batches(session: Session, info: AssetInfo, limit: int = 50) -> list[Batch]:
    """The asset's newest calculate runs that read data, each with the range it read."""
    out = []
    for run in session.scalars(
        select(PipelineRun).where(PipelineRun.asset_id == info.id, PipelineRun.kind == "calculate",
                                  PipelineRun.rows > 0)
        .order_by(PipelineRun.id.desc()).limit(limit)
    ):
        start, end = (run.summary or {}).get("start"), (run.summary or {}).get("end")
        if start and end:
            out.append(Batch(run.id, run.started_at, datetime.fromisoformat(start),
                             datetime.fromisoformat(end), run.rows, run.status))
    return out


@dataclass(frozen=True)
class ForecastView:
    target: str
    mode: str
    ts: pd.DatetimeIndex
    predicted: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    actual: np.ndarray  # NaN where nothing happened yet (the future)
    metrics: Metrics | None  # over the points with both a forecast and an actual
    latest_validation: Validation | None
    truncated: bool
    served: Served | None  # what the slot serves (its active or newest version)
    models: tuple[Slot, ...]  # every model slot of the asset

    @property
    def residuals(self) -> np.ndarray:
        return self.actual - self.predicted


def _with_gaps(frame: pd.DataFrame) -> pd.DataFrame:
    """Forecasts come in runs (an hour ahead each time); a row of NaN after each gap between
    runs longer than twice the usual step makes the plot break the line there instead of
    drawing a straight line across a time nobody forecast."""
    if len(frame) < 3:
        return frame
    ts = pd.to_datetime(frame["ts"], utc=True)
    steps = ts.diff()
    gaps = steps > 2 * steps.median()
    if not gaps.any():
        return frame
    fillers = pd.DataFrame({"ts": (ts[gaps] - steps[gaps] / 2).to_numpy()})
    return pd.concat([frame.assign(ts=ts), fillers.assign(ts=pd.to_datetime(fillers["ts"], utc=True))],
                     ignore_index=True).sort_values("ts", kind="stable").reset_index(drop=True)


def _one_per_time(session: Session, version_ids: list[int], start: datetime, end: datetime,
                  happened: datetime) -> list[tuple[datetime, float, float | None, float | None, int]]:
    """One forecast per time in [start, end), the newest ``FORECAST_POINTS`` times: up to
    ``happened`` the one made furthest ahead (the honest "an hour ahead" view of the past),
    after it the newest issued. A time forecast by several versions shows the newest's."""
    past_horizon = case((Prediction.ts <= happened, Prediction.horizon), else_=0)
    pick = func.row_number().over(
        partition_by=Prediction.ts,
        order_by=(past_horizon.desc(), Prediction.created_at.desc(), Prediction.model_version_id.desc(),
                  Prediction.horizon))
    ranked = (select(Prediction.ts, Prediction.value, Prediction.lower, Prediction.upper, Prediction.horizon,
                     pick.label("pick"))
              .where(Prediction.model_version_id.in_(version_ids or [-1]), Prediction.ts >= start,
                     Prediction.ts < end)
              .subquery())
    return [tuple(row) for row in session.execute(  # type: ignore[misc]
        select(ranked.c.ts, ranked.c.value, ranked.c.lower, ranked.c.upper, ranked.c.horizon)
        .where(ranked.c.pick == 1).order_by(ranked.c.ts.desc()).limit(FORECAST_POINTS))]


def forecast_view(db: Database, supplier_id: int, settings_step_minutes: int, info: AssetInfo, target: str,
                  mode: str, start: datetime, end: datetime) -> ForecastView:
    """The forecasts (or a surrogate's estimates) of ``target`` in [start, end), one per time
    (see :func:`_one_per_time`), what actually happened at the model's step, and the metrics
    over the times that have both; with what the slot serves and the asset's other models."""
    with db.Session() as session:
        models = tuple(slots(session, supplier_id, info.id))
        slot = next((m for m in models if m.target == target and m.mode == mode), None)
        served = slot.served if slot else None
        step = (served.step_minutes if served else None) or settings_step_minutes
        # The newest step that has an actual: the one the newest reading falls in (a step is
        # labelled by its end, see load_target).
        happened = (pd.Timestamp(info.last_ts or utcnow()).floor(f"{step}min")
                    + pd.Timedelta(minutes=step)).to_pydatetime()
        rows = _one_per_time(session, [v.id for v in slot.versions] if slot else [], start, end, happened)
        latest = slot.latest[0] if slot and slot.latest else None
    frame = pd.DataFrame(rows, columns=["ts", "value", "lower", "upper", "horizon"])
    empty = pd.DatetimeIndex([], tz="UTC")
    if frame.empty:
        nothing = np.array([], dtype=float)
        return ForecastView(target, mode, empty, nothing, nothing, nothing, nothing, None, latest, False,
                            served, models)
    frame = _with_gaps(frame.sort_values("ts"))
    ts = pd.DatetimeIndex(pd.to_datetime(frame["ts"], utc=True))
    actual = load_target(db, info.id, target, ts.min().to_pydatetime() - timedelta(minutes=step),
                         ts.max().to_pydatetime() + timedelta(minutes=1), step)
    aligned = actual.reindex(ts).to_numpy(dtype=float)
    predicted = frame["value"].to_numpy(dtype=float)
    lower = frame["lower"].to_numpy(dtype=float)
    upper = frame["upper"].to_numpy(dtype=float)
    both = np.isfinite(aligned) & np.isfinite(predicted)
    metrics = None
    if both.sum() >= 2:
        have_band = np.isfinite(lower[both]).all() and np.isfinite(upper[both]).all()
        metrics = score(aligned[both], predicted[both], lower[both] if have_band else None,
                        upper[both] if have_band else None)
    return ForecastView(target, mode, ts, predicted, lower, upper, aligned, metrics, latest,
                        len(rows) >= FORECAST_POINTS, served, models)


def calculation_exists(session: Session, asset_id: int) -> bool:
    return session.scalar(select(Calculation.ts).where(Calculation.asset_id == asset_id).limit(1)) is not None
