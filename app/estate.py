"""A supplier's estate at a glance: customers and meters, sites, assets and their data."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from app.db.models import Asset, Customer, Meter, MeterReading, Sensor, SensorReading, Site
from app.twins import ASSET_TYPES


@dataclass(frozen=True)
class AssetSummary:
    id: int
    name: str
    type_label: str
    sensors: int
    latest_reading_at: datetime | None


@dataclass(frozen=True)
class SiteSummary:
    id: int
    name: str
    location: str | None
    assets: list[AssetSummary] = field(default_factory=list)


@dataclass(frozen=True)
class EstateSummary:
    customers: int
    meters: int
    meter_readings: int
    latest_meter_read_at: datetime | None
    sites: list[SiteSummary]


def estate_summary(session: Session, sensor_source: Engine, supplier_id: int) -> EstateSummary:
    """Counts and freshness of everything the supplier owns; every query is scoped to it.

    Sensor readings are read from ``sensor_source`` (the plant historian, when configured).
    """
    customers = session.scalar(
        select(func.count()).select_from(Customer).where(Customer.supplier_id == supplier_id)
    )
    meters = session.scalar(
        select(func.count()).select_from(Meter).where(Meter.supplier_id == supplier_id)
    )
    readings, latest_read = session.execute(
        select(func.count(), func.max(MeterReading.read_at)).where(
            MeterReading.supplier_id == supplier_id
        )
    ).one()
    sites = session.scalars(
        select(Site).where(Site.supplier_id == supplier_id).order_by(Site.name)
    ).all()
    site_summaries = []
    for site in sites:
        assets = []
        for asset in session.scalars(select(Asset).where(Asset.site_id == site.id).order_by(Asset.name)):
            sensor_ids = session.scalars(select(Sensor.id).where(Sensor.asset_id == asset.id)).all()
            # One primary-key seek per sensor: max(ts) of a single sensor_id is an index lookup
            # on every database, where a GROUP BY over many sensors may scan their history.
            with sensor_source.connect() as conn:
                latest = [
                    conn.scalar(select(func.max(SensorReading.ts)).where(SensorReading.sensor_id == sid))
                    for sid in sensor_ids
                ]
            seen = [ts for ts in latest if ts is not None]
            type_ = ASSET_TYPES.get(asset.asset_type)
            assets.append(
                AssetSummary(
                    id=asset.id,
                    name=asset.name,
                    type_label=type_.label if type_ else asset.asset_type,
                    sensors=len(sensor_ids),
                    latest_reading_at=max(seen) if seen else None,
                )
            )
        site_summaries.append(SiteSummary(site.id, site.name, site.location, assets))
    return EstateSummary(customers or 0, meters or 0, readings or 0, latest_read, site_summaries)
