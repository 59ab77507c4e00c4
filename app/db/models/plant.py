"""Sites, their assets, the assets' sensors, the sensor time series and its hourly rollups."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Float, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.db.base import Base, HourSummary, UTCDateTime, utcnow


class Site(Base):
    """A plant site of a supplier (a heat plant, a wind farm...)."""

    __tablename__ = "sites"
    __table_args__ = (UniqueConstraint("supplier_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    supplier_id: Mapped[int] = mapped_column(ForeignKey("suppliers.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    location: Mapped[str | None] = mapped_column(String(200))
    maintenance_emails: Mapped[str | None] = mapped_column(String(1000))
    #: Retired sites keep their history but take no part in the pipeline or the lists.
    retired_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    assets: Mapped[list[Asset]] = relationship(back_populates="site", order_by="Asset.id")


class Asset(Base):
    """A twinned piece of plant. ``asset_type`` names a module in ``app.twins``; ``parameters``
    holds that type's physical parameters (ratings, sizes, setpoints)."""

    __tablename__ = "assets"
    __table_args__ = (UniqueConstraint("site_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    asset_type: Mapped[str] = mapped_column(String(32))
    parameters: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    upstream_id: Mapped[int | None] = mapped_column(ForeignKey("assets.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    #: User-defined calculations: ``[{"name", "unit", "formula"}]`` over the asset's sensors
    #: (see app/plant/formulas.py), evaluated after the type's own calculations.
    formulas: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)
    #: The sensors or calculations to forecast; None means the schedule's default for the type.
    forecast_targets: Mapped[list[str] | None] = mapped_column(JSON)
    retired_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    site: Mapped[Site] = relationship(back_populates="assets")
    sensors: Mapped[list[Sensor]] = relationship(back_populates="asset", order_by="Sensor.id")


class Sensor(Base):
    """One measured quantity of an asset, with its unit and normal operating range."""

    __tablename__ = "sensors"
    __table_args__ = (UniqueConstraint("asset_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    asset_id: Mapped[int] = mapped_column(ForeignKey("assets.id"), index=True)
    name: Mapped[str] = mapped_column(String(64))
    unit: Mapped[str] = mapped_column(String(16))
    normal_min: Mapped[float | None] = mapped_column(Float)
    normal_max: Mapped[float | None] = mapped_column(Float)
    #: Seconds between readings: set by the user, or detected from the data on import.
    interval_s: Mapped[int | None] = mapped_column(Integer)
    retired_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    asset: Mapped[Asset] = relationship(back_populates="sensors")


class SensorReading(Base):
    """A sensor value at a time. The primary key (sensor_id, ts) is both the uniqueness rule
    the idempotent bulk path relies on and the index every time-range scan uses."""

    __tablename__ = "sensor_readings"

    sensor_id: Mapped[int] = mapped_column(ForeignKey("sensors.id"), primary_key=True)
    ts: Mapped[datetime] = mapped_column(UTCDateTime, primary_key=True)
    value: Mapped[float] = mapped_column(Float)


class SensorRollup(Base, HourSummary):
    """One sensor's readings in one UTC hour, summarised: how many, their extremes and sum, and
    the first and last reading times.

    Kept in the main database (the sensor source may be a read-only historian) by
    :func:`app.series.refresh_rollups`, so a year's plot reads 8,760 rows instead of 525,600.
    The primary key (sensor_id, bucket) is the index every range scan uses. ``bucket`` is the
    hour's start.
    """

    __tablename__ = "sensor_rollups"

    sensor_id: Mapped[int] = mapped_column(ForeignKey("sensors.id"), primary_key=True)
    bucket: Mapped[datetime] = mapped_column(UTCDateTime, primary_key=True)
