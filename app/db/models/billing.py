"""Customers, their meters and readings, and the dated tariffs that price them."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.db.base import Base, UTCDateTime, utcnow

FUELS = ("electricity", "gas")
READING_KINDS = ("actual", "estimated")


class Tariff(Base):
    """One dated price of a supplier's tariff ``code``: rates hold from ``valid_from`` up to,
    not including, ``valid_to`` (open-ended when null). Rates are in pence; ``prices_include_vat``
    says whether they are quoted gross (as Ofgem quotes the price cap) or net of VAT."""

    __tablename__ = "tariffs"
    __table_args__ = (
        UniqueConstraint("supplier_id", "code", "valid_from"),
        CheckConstraint("fuel IN ('electricity', 'gas')", name="fuel"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    supplier_id: Mapped[int] = mapped_column(ForeignKey("suppliers.id"), index=True)
    code: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(200))
    fuel: Mapped[str] = mapped_column(String(16))
    unit_rate_p_per_kwh: Mapped[Decimal] = mapped_column(Numeric(12, 6))
    standing_charge_p_per_day: Mapped[Decimal] = mapped_column(Numeric(12, 6))
    vat_rate: Mapped[Decimal] = mapped_column(Numeric(6, 4))
    prices_include_vat: Mapped[bool] = mapped_column(Boolean, default=False)
    valid_from: Mapped[date] = mapped_column(Date)
    valid_to: Mapped[date | None] = mapped_column(Date)


class Customer(Base):
    """A billing account of a supplier."""

    __tablename__ = "customers"
    __table_args__ = (UniqueConstraint("supplier_id", "account_number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    supplier_id: Mapped[int] = mapped_column(ForeignKey("suppliers.id"), index=True)
    account_number: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(254))
    address: Mapped[str] = mapped_column(String(500))

    meters: Mapped[list[Meter]] = relationship(back_populates="customer")


class Meter(Base):
    """A customer's electricity or gas meter, priced by the supplier's tariff ``tariff_code``.
    Gas meters register cubic metres; electricity meters kWh."""

    __tablename__ = "meters"
    __table_args__ = (
        UniqueConstraint("supplier_id", "serial"),
        CheckConstraint("fuel IN ('electricity', 'gas')", name="fuel"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    supplier_id: Mapped[int] = mapped_column(ForeignKey("suppliers.id"), index=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    serial: Mapped[str] = mapped_column(String(32))
    fuel: Mapped[str] = mapped_column(String(16))
    tariff_code: Mapped[str] = mapped_column(String(32))
    register_digits: Mapped[int] = mapped_column(Integer, default=6)
    supply_address: Mapped[str] = mapped_column(String(500))
    installed_on: Mapped[date] = mapped_column(Date)
    is_smart: Mapped[bool] = mapped_column(Boolean, default=False)
    # Running summary, recomputed from the readings whenever one is saved (never incremented,
    # so it cannot drift): the grid sorts and totals on these without aggregating history.
    last_read_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_value: Mapped[Decimal | None] = mapped_column(Numeric(14, 3))
    last_kind: Mapped[str | None] = mapped_column(String(16))
    cost_to_date_p: Mapped[Decimal] = mapped_column(Numeric(18, 6), default=Decimal(0),
                                                    server_default="0")

    customer: Mapped[Customer] = relationship(back_populates="meters")


class MeterReading(Base):
    """A register reading, with the supply period it closes priced: ``advance`` (register units)
    since the previous reading, its ``kwh``, ``days`` and exact pence (net energy, net standing
    charge, VAT; total = their sum). A meter's first reading opens the history: no period.
    ``flags`` records why a suspicious read was accepted anyway, ``reason`` the user's words."""

    __tablename__ = "meter_readings"
    __table_args__ = (
        UniqueConstraint("meter_id", "read_at"),
        CheckConstraint("kind IN ('actual', 'estimated')", name="kind"),
        Index("ix_meter_readings_supplier_read_at", "supplier_id", "read_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    supplier_id: Mapped[int] = mapped_column(ForeignKey("suppliers.id"))
    meter_id: Mapped[int] = mapped_column(ForeignKey("meters.id"))
    read_at: Mapped[datetime] = mapped_column(UTCDateTime)
    value: Mapped[Decimal] = mapped_column(Numeric(14, 3))
    kind: Mapped[str] = mapped_column(String(16), default="actual")
    source: Mapped[str] = mapped_column(String(16))
    advance: Mapped[Decimal | None] = mapped_column(Numeric(14, 3))
    kwh: Mapped[Decimal | None] = mapped_column(Numeric(18, 6))
    days: Mapped[int | None] = mapped_column(Integer)
    energy_p: Mapped[Decimal | None] = mapped_column(Numeric(18, 6))
    standing_p: Mapped[Decimal | None] = mapped_column(Numeric(18, 6))
    vat_p: Mapped[Decimal | None] = mapped_column(Numeric(18, 6))
    total_p: Mapped[Decimal | None] = mapped_column(Numeric(18, 6))
    flags: Mapped[str | None] = mapped_column(String(200))
    reason: Mapped[str | None] = mapped_column(String(500))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
