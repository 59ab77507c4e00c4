"""A supplier's estate as lists a machine pages through: assets with their sensors, each
sensor's newest reading, a sensor's readings in a time range, a meter's readings.

Every function is scoped to ``supplier_id``; an id of another supplier's record behaves exactly
like an id that does not exist.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from app.db.models import Asset, Meter, MeterReading, Sensor, SensorReading, Site
from app.model_registry import AssetNotFound
from app.readings import MeterNotFound

MICROSECOND = timedelta(microseconds=1)


class SensorNotFound(LookupError):
    """No such sensor for this supplier (it may exist for another: we do not say)."""


@dataclass(frozen=True)
class SensorInfo:
    id: int
    name: str
    unit: str
    normal_min: float | None
    normal_max: float | None


@dataclass(frozen=True)
class AssetInfo:
    id: int
    name: str
    asset_type: str
    site_id: int
    site: str
    upstream_id: int | None
    parameters: dict[str, Any]
    sensors: tuple[SensorInfo, ...]


@dataclass(frozen=True)
class LatestValue:
    sensor: SensorInfo
    ts: datetime | None
    value: float | None


def _sensors(session: Session, asset_ids: Sequence[int]) -> dict[int, list[SensorInfo]]:
    found: dict[int, list[SensorInfo]] = {asset_id: [] for asset_id in asset_ids}
    if asset_ids:
        for s in session.scalars(select(Sensor).where(Sensor.asset_id.in_(list(asset_ids)))
                                 .order_by(Sensor.asset_id, Sensor.id)):
            found[s.asset_id].append(SensorInfo(s.id, s.name, s.unit, s.normal_min, s.normal_max))
    return found


def list_assets(session: Session, supplier_id: int, *, offset: int, limit: int,
                site_id: int | None = None, asset_type: str | None = None) -> tuple[list[AssetInfo], int]:
    """A page of the supplier's assets (by site, then id) and how many match in all."""
    conditions = [Site.supplier_id == supplier_id]
    if site_id is not None:
        conditions.append(Site.id == site_id)
    if asset_type is not None:
        conditions.append(Asset.asset_type == asset_type)
    total = session.scalar(select(func.count()).select_from(Asset)
                           .join(Site, Site.id == Asset.site_id).where(*conditions)) or 0
    rows = session.execute(select(Asset, Site.name).join(Site, Site.id == Asset.site_id)
                           .where(*conditions).order_by(Site.name, Site.id, Asset.id)
                           .offset(offset).limit(limit)).all()
    sensors = _sensors(session, [asset.id for asset, _ in rows])
    return [_asset_info(asset, site, sensors[asset.id]) for asset, site in rows], total


def get_asset(session: Session, supplier_id: int, asset_id: int) -> AssetInfo:
    row = session.execute(select(Asset, Site.name).join(Site, Site.id == Asset.site_id)
                          .where(Asset.id == asset_id, Site.supplier_id == supplier_id)).first()
    if row is None:
        raise AssetNotFound(asset_id)
    asset, site = row
    return _asset_info(asset, site, _sensors(session, [asset.id])[asset.id])


def _asset_info(asset: Asset, site: str, sensors: list[SensorInfo]) -> AssetInfo:
    return AssetInfo(asset.id, asset.name, asset.asset_type, asset.site_id, site, asset.upstream_id,
                     dict(asset.parameters or {}), tuple(sensors))


def get_sensor(session: Session, supplier_id: int, sensor_id: int) -> SensorInfo:
    sensor = session.scalar(select(Sensor).join(Asset, Asset.id == Sensor.asset_id)
                            .join(Site, Site.id == Asset.site_id)
                            .where(Sensor.id == sensor_id, Site.supplier_id == supplier_id))
    if sensor is None:
        raise SensorNotFound(sensor_id)
    return SensorInfo(sensor.id, sensor.name, sensor.unit, sensor.normal_min, sensor.normal_max)


def owned_sensor_ids(session: Session, supplier_id: int, sensor_ids: Sequence[int]) -> set[int]:
    """Which of ``sensor_ids`` are the supplier's (one query per 1,000 ids)."""
    wanted = sorted(set(sensor_ids))
    owned: set[int] = set()
    for start in range(0, len(wanted), 1000):
        owned.update(session.scalars(
            select(Sensor.id).join(Asset, Asset.id == Sensor.asset_id)
            .join(Site, Site.id == Asset.site_id)
            .where(Site.supplier_id == supplier_id, Sensor.id.in_(wanted[start:start + 1000]))))
    return owned


def latest_values(sensor_source: Engine, sensors: Sequence[SensorInfo]) -> list[LatestValue]:
    """Each sensor's newest reading (None for a sensor that never reported)."""
    # One primary-key seek per sensor, as in app.health: a GROUP BY would scan the history.
    with sensor_source.connect() as conn:
        newest = {
            s.id: conn.execute(select(SensorReading.ts, SensorReading.value)
                               .where(SensorReading.sensor_id == s.id)
                               .order_by(SensorReading.ts.desc()).limit(1)).first()
            for s in sensors
        }
    return [LatestValue(s, *(newest[s.id] or (None, None))) for s in sensors]


def sensor_readings(sensor_source: Engine, sensor_id: int, start: datetime, end: datetime, *,
                    limit: int) -> tuple[list[tuple[datetime, float]], datetime | None]:
    """The sensor's readings in [start, end), oldest first, at most ``limit``, and where the
    next page starts (None when this page reaches ``end``): keyset paging, so a page costs
    one index range scan however deep into the history it is."""
    rows = []
    if end > start:
        with sensor_source.connect() as conn:
            rows = conn.execute(select(SensorReading.ts, SensorReading.value)
                                .where(SensorReading.sensor_id == sensor_id,
                                       SensorReading.ts >= start, SensorReading.ts < end)
                                .order_by(SensorReading.ts).limit(limit + 1)).all()
    more = len(rows) > limit
    rows = rows[:limit]
    return [(ts, value) for ts, value in rows], (rows[-1][0] + MICROSECOND) if more else None


def owned_meter(session: Session, supplier_id: int, meter_id: int) -> Meter:
    meter = session.scalar(select(Meter).where(Meter.id == meter_id, Meter.supplier_id == supplier_id))
    if meter is None:
        raise MeterNotFound(meter_id)
    return meter


def meter_readings(session: Session, supplier_id: int, meter_id: int, *, offset: int,
                   limit: int) -> tuple[list[MeterReading], int]:
    """A page of the meter's readings, newest first, and how many it has."""
    owned_meter(session, supplier_id, meter_id)
    condition = MeterReading.meter_id == meter_id
    total = session.scalar(select(func.count()).select_from(MeterReading).where(condition)) or 0
    rows = session.scalars(select(MeterReading).where(condition)
                           .order_by(MeterReading.read_at.desc()).offset(offset).limit(limit)).all()
    return list(rows), total
