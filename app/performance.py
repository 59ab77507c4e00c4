"""The asset page's Performance card: an asset's readings and anomaly episodes over a range,
measured with :mod:`app.metrics`. Answers only for the given supplier's assets."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select

from app.db import Database
from app.db.models import Alert
from app.metrics import Metric, Span, compute
from app.model_registry import owned_asset
from app.pipeline import read_wide, sensor_names
from app.twins import ASSET_TYPES
from settings import Settings


@dataclass(frozen=True)
class Performance:
    """The metrics of one asset over [start, end); ``shortened`` when the range asked for was
    longer than ``metrics.max_days`` and only its newest days were measured."""

    metrics: list[Metric]
    start: datetime
    end: datetime
    readings: int
    episodes: int
    shortened: bool


def asset_performance(db: Database, settings: Settings, supplier_id: int, asset_id: int,
                      start: datetime, end: datetime) -> Performance:
    """The metrics of the supplier's asset over [start, end); ``AssetNotFound`` for an asset
    of another supplier."""
    longest = timedelta(days=settings.metrics.max_days)
    shortened = end - start > longest
    if shortened:
        start = end - longest
    with db.Session() as session:
        asset = owned_asset(session, supplier_id, asset_id)
        kind = ASSET_TYPES.get(asset.asset_type)
        parameters = {**(kind.default_parameters if kind else {}), **(asset.parameters or {})}
        sensors = sensor_names(session, asset.id)
        spans: list[Span] = [(s, e) for s, e in session.execute(
            select(Alert.started_at, Alert.ended_at)
            .where(Alert.asset_id == asset.id, Alert.started_at >= start, Alert.started_at < end)
            .order_by(Alert.started_at))]
        asset_type = asset.asset_type
    frame = read_wide(db.sensors_engine, sensors, start, end) if sensors else None
    if kind is None or frame is None:
        return Performance([], start, end, 0, len(spans), shortened)
    metrics = compute(asset_type, frame, parameters, spans, settings.metrics)
    return Performance(metrics, start, end, len(frame), len(spans), shortened)
