"""A supplier's estate at a glance: customers and meters, and the health of its sites' assets."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from app.db.models import Customer, Meter, MeterReading
from app.health import SiteHealth, estate_health


@dataclass(frozen=True)
class EstateSummary:
    customers: int
    meters: int
    meter_readings: int
    latest_meter_read_at: datetime | None
    sites: list[SiteHealth]


def estate_summary(session: Session, sensor_source: Engine, supplier_id: int,
                   now: datetime) -> EstateSummary:
    """Counts of everything the supplier bills, and the health of each of its assets (see
    :mod:`app.health`); every query is scoped to the supplier.

    Sensor readings are read from ``sensor_source`` (the plant historian, when configured);
    ``now`` (timezone-aware UTC) is what the data's age is measured against.
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
    sites = estate_health(session, sensor_source, supplier_id, now)
    return EstateSummary(customers or 0, meters or 0, readings or 0, latest_read, sites)
